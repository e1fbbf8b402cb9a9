"""Durations as people write them: "90s", "15m", "1h30m", "25h", or a number of seconds."""

from __future__ import annotations

import re
import time

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"(?:\d+[dhms])+")


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
    if not _WHOLE.fullmatch(text):
        raise ValueError(
            f"{value!r} is not a duration; write it like '90s', '15m', '1h30m', '25h' or as seconds"
        )
    return sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(text))


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
