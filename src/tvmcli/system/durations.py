"""Durations as people write them: "90s", "15m", "1h30m", "25h", or a number of seconds."""

from __future__ import annotations

import re
import time

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# Each unit at most once, largest first ("1h30m", not "30m1h" or "1m1m"); a part may have a
# decimal fraction ("1.5h") as long as the whole is a number of seconds.
_NUMBER = r"\d+(?:\.\d+)?"
_ORDERED = re.compile("".join(f"(?:(?P<{unit}>{_NUMBER}){unit})?" for unit in _UNITS))


def parse_duration(value: str | int) -> int:
    """The number of whole seconds `value` names; ValueError says what is allowed."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '90s', '15m', '1h30m' or a number of seconds")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative (got {value})")
        return value
    text = value.strip().lower()
    if text.isdigit():
        return int(text)
    match = _ORDERED.fullmatch(text)
    if not text or match is None:
        raise ValueError(
            f"{value!r} is not a duration; write it like '90s', '15m', '1h30m', '25h' or as "
            "seconds (each unit once, largest first)"
        )
    # Exact, in integers: each part as digits over a power of ten, on one common denominator
    # (fractions.Fraction would load decimal, ~8 ms on every mint that reads a profiles file).
    parts = [
        (number.partition("."), _UNITS[unit])
        for unit, number in match.groupdict().items()
        if number
    ]
    places = max(len(fraction) for (_, _, fraction), _ in parts)
    scaled = sum(
        int(whole + fraction.ljust(places, "0")) * size for (whole, _, fraction), size in parts
    )
    seconds, rest = divmod(int(scaled), int(10**places))  # int ** int is Any to mypy
    if rest:
        raise ValueError(f"{value!r} is not a whole number of seconds")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest readable form: 5400 -> '1h30m', 45 -> '45s', 0 -> '0s'."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_relative(seconds_from_now: float) -> str:
    """'in 14m' for the future, '3h ago' for the past; two units at most."""
    whole = round(abs(seconds_from_now))
    text = format_duration(whole)
    units = re.findall(r"\d+[dhms]", text)
    text = "".join(units[:2]) if units else "0s"
    return f"in {text}" if seconds_from_now >= 0 else f"{text} ago"


def iso_utc(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):
        return None


_FRACTIONAL_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[hms])")
_FRACTIONAL_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|[hms]))+")
_FRACTIONAL_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_seconds(value: str) -> float:
    """A wait in seconds, fractions allowed: "5s", "1m30s", "250ms", "0.5" or "10"."""
    text = value.strip().lower()
    if _FRACTIONAL_WHOLE.fullmatch(text):
        return sum(
            float(number) * _FRACTIONAL_UNITS[unit]
            for number, unit in _FRACTIONAL_PART.findall(text)
        )
    if re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", text):
        return float(text)
    raise ValueError(
        f"{value!r} is not a duration; write it like '5s', '1m30s', '250ms' or as seconds"
    )


def parse_moment(value: str) -> float:
    """An absolute time as epoch seconds, from epoch seconds ("1795715205") or RFC 3339
    ("2026-11-26T17:46:45Z", "2026-11-26T18:46:45+01:00"). A time without a UTC offset is
    refused: which zone it meant would be a guess."""
    from datetime import datetime

    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    iso = re.sub(r"[zZ]$", "+00:00", text)
    iso = re.sub(r"^(\d{4}-\d\d-\d\d)[ tT]", r"\1T", iso)
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d)?", iso):
        raise ValueError(
            f"{value!r} is not a time; write it as RFC 3339 (2026-11-26T17:46:45Z) "
            "or as epoch seconds"
        )
    try:
        moment = datetime.fromisoformat(_six_digit_fraction(iso))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date and time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} needs a UTC offset, e.g. {text}Z or {text}+01:00")
    return moment.timestamp()


def _six_digit_fraction(iso: str) -> str:
    """Python 3.10's fromisoformat takes 3 or 6 fractional digits only."""
    return re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], iso)
