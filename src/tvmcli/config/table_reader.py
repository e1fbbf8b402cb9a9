"""Reading one table of the profiles file's [server] section: typed values, numbers in their
ranges, profile lists, environment variable names, every problem collected (never the first
only) into the profiles file's one collector."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from tvmcli.config.access import EVERY, Access
from tvmcli.config.profiles import Problems, suggest
from tvmcli.config.settings import (
    DEFAULTS,
    NUMBERS,
    Network,
    Range,
)
from tvmcli.system.durations import parse_duration

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class Unwritten:
    """A table without `profiles` (which grants none by itself)."""


UNWRITTEN = Unwritten()


class TableReader:
    """Reads one [server] table, collecting every problem instead of stopping at the first."""

    def __init__(self, problems: Problems, profile_names: list[str]) -> None:
        self.problems = problems  # the profiles' collector: one list, one wording
        self.profile_names = profile_names

    def problem(self, where: str, message: str) -> None:
        self.problems.add(f"[server]{where}", message)

    def unknown(self, where: str, table: Mapping[str, Any], allowed: AbstractSet[str]) -> None:
        self.problems.unknown_keys(f"[server]{where}", table, tuple(sorted(allowed)))

    def table(self, value: Any, where: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, "must be a table")
            return {}
        return value

    def typed(
        self, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str
    ) -> Any:
        value = table.get(key)
        if value is not None and (
            not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
        ):
            self.problem(f"{where}.{key}", f"must be {kind_name(kind)}")
            return None
        return value

    def strings(self, table: Mapping[str, Any], key: str, where: str, what: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{where}.{key}", f"must be a list of {what}")
            return []
        return value

    def variable_name(self, table: Mapping[str, Any], key: str, where: str) -> str | None:
        """The NAME of an environment variable. The value is never echoed: a user who put the
        secret itself here must not see it in an error (or a CI log)."""
        value: str | None = self.typed(table, key, str, where)
        if value is not None and not VARIABLE_NAME.fullmatch(value):
            self.problem(
                f"{where}.{key}",
                "must name an environment variable (letters, digits, _), not hold the secret",
            )
        return value

    def profile_list(
        self, table: Mapping[str, Any], where: str, *, missing: str = "none", every: bool = True
    ) -> Access:
        """`profiles` and `default_profile` of one table. `profiles = ["*"]` is every profile
        (unless `every` is False: a trust rule names its own); a missing `profiles` grants none
        (`missing = "none"`: groups, users) or every profile (`"all"`: [server] itself, for
        open and bearer callers). The default must be among what the table allows."""
        names = self.names_of(table, where, every=every)
        default = self.typed(table, "default_profile", str, where)
        if names is UNWRITTEN:
            profiles: tuple[str, ...] | None = None if missing == "all" else ()
        else:
            assert not isinstance(names, Unwritten)
            profiles = names
        if default is None:
            return Access(profiles, default)
        allowed = self.profile_names if profiles is None else profiles
        if names is UNWRITTEN:
            # An old file's group may name only its default (a missing profiles used to mean
            # every profile): it grants none now, and access_warnings names the fix.
            allowed = self.profile_names
        if default not in allowed:
            self.problem(
                f"{where}.default_profile", f"{default!r} is not among the profiles allowed here"
            )
        return Access(profiles, default)

    def names_of(
        self, table: Mapping[str, Any], where: str, *, every: bool = True
    ) -> tuple[str, ...] | Unwritten | None:
        """A table's `profiles`: the names, None for ["*"], UNWRITTEN when not written."""
        if "profiles" not in table:
            return UNWRITTEN
        names = table["profiles"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.problem(f"{where}.profiles", "must be a list of profile names")
            return ()
        if EVERY in names:
            if every and names == [EVERY]:
                return None
            self.problem(
                f"{where}.profiles",
                '"*" (every profile) stands alone'
                if every
                else 'name the profiles a rule grants ("*" is not allowed here)',
            )
            names = [n for n in names if n != EVERY]
        for name in names:
            if name not in self.profile_names:
                hint = suggest(name, self.profile_names)  # "Did you mean 'x'?"
                self.problem(
                    f"{where}.profiles",
                    f"no profile named {name!r}" + (f"; d{hint[1:]}" if hint else ""),
                )
        return tuple(names)

    def number(self, raw: Mapping[str, Any], key: str) -> float:
        """`raw[key]` within NUMBERS[key], else the dataclass default (and a problem)."""
        limits = NUMBERS[key]
        default = float(getattr(DEFAULTS, key))
        if key not in raw:
            return default
        value = raw[key]
        try:
            if isinstance(value, bool):
                raise ValueError
            if limits.kind == "duration" and isinstance(value, str):
                value = parse_duration(value)
            if not isinstance(value, (int, float)) or value != value:  # NaN is not a number
                raise ValueError
            if limits.kind == "whole" and not isinstance(value, int):
                raise ValueError
        except ValueError:
            value = None
        if value is None or not limits.low <= value <= limits.high:
            self.problem(f".{key}", range_text(limits))
            return default
        return float(value)

    def networks(self, raw: Mapping[str, Any]) -> tuple[Network, ...]:
        found: list[Network] = []
        for text in self.strings(raw, "trusted_proxies", "", 'CIDR blocks like "10.0.0.0/8"'):
            try:
                found.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                self.problem(".trusted_proxies", f"{text[:60]!r} is not an address or CIDR block")
        return tuple(found)


def range_text(limits: Range) -> str:
    if limits.kind == "duration":
        return f'must be a duration from {limits.low:g}s to {limits.high:g}s, such as "5s"'
    kind = "a whole number" if limits.kind == "whole" else "a number"
    return f"must be {kind} from {limits.low:g} to {limits.high:g}"


def kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", bool: "true or false", float: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)
