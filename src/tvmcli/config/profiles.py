"""Profiles file (TOML) -> validated, frozen Profile objects.

Every problem in a file is collected before failing, and each names the file, the profile, the
statement index and the field, says what is allowed, and suggests the nearest name for a typo.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tvmcli.errors import UsageError
from tvmcli.permissions.roles import ROLE_ALIASES, Resource, Role, roles_for
from tvmcli.permissions.statements import (
    ALL,
    MAX_LIFETIME_SECONDS,
    MAX_STATEMENTS,
    MAX_TOKEN_ID_LENGTH,
    MIN_LIFETIME_SECONDS,
    Statement,
)
from tvmcli.system.durations import format_duration, parse_duration

T = TypeVar("T")

DEFAULT_EXPIRES_IN = 15 * 60

PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TOP_KEYS = ("defaults", "profiles", "server")
_DEFAULT_KEYS = ("expires_in", "cache")
_PROFILE_KEYS = ("description", "expires_in", "token_id", "permissions", "cache")
_STATEMENT_KEYS = (
    "role",
    "cache",
    "key",
    "key_prefix",
    "topic",
    "topic_prefix",
    "function",
    "function_prefix",
)
_NARROWING = {
    Resource.CACHE: ("key", "key_prefix"),
    Resource.TOPIC: ("topic", "topic_prefix"),
    Resource.FUNCTION: ("function", "function_prefix"),
}


@dataclass(frozen=True)
class Profile:
    name: str
    statements: tuple[Statement, ...]
    expires_in: int = DEFAULT_EXPIRES_IN
    description: str = ""
    token_id: str | None = None
    cache: bool = True


def read_profiles(data: Mapping[str, Any], problems: Problems) -> dict[str, Profile]:
    """The valid profiles of a parsed TOML document; every problem goes to `problems`."""
    return _Reader(problems).read(dict(data))


def listing(names: Mapping[str, Profile]) -> str:
    if not names:
        return "The file defines no profiles."
    return "Profiles in this file: " + ", ".join(sorted(names))


def suggest(word: str, choices: list[str]) -> str | None:
    import difflib  # only when there is a problem to explain

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"Did you mean {close[0]!r}?" if close else None


class Problems:
    """Every problem found in one file, each prefixed with the file's path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.path}: {where}: {message}")

    def unknown_keys(self, where: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                hint = suggest(key, list(allowed))
                self.add(
                    where,
                    f"unknown field {key!r}. "
                    + (hint + " " if hint else "")
                    + "Allowed: "
                    + ", ".join(allowed),
                )


class _Reader:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems

    def read(self, data: dict[str, Any]) -> dict[str, Profile]:
        self.problems.unknown_keys("top level", data, _TOP_KEYS)
        defaults = self._table(data, "defaults", "[defaults]")
        self.problems.unknown_keys("[defaults]", defaults, _DEFAULT_KEYS)
        default_expiry = self._lifetime(defaults, "[defaults]", DEFAULT_EXPIRES_IN)
        default_cache = self._bool(defaults, "[defaults]", "cache", True)
        self._table(data, "server", "[server]")
        profiles = self._table(data, "profiles", "[profiles]")
        result = {}
        for name, body in profiles.items():
            where = f"profile {name!r}"
            if not PROFILE_NAME.fullmatch(name):
                self.problems.add(
                    where,
                    "a profile name is 1 to 64 letters, digits, '-', '_' or '.', "
                    "starting with a letter or digit",
                )
            if not isinstance(body, dict):
                self.problems.add(where, "must be a table ([profiles.NAME])")
                continue
            profile = self._profile(name, body, where, default_expiry, default_cache)
            if profile is not None:
                result[name] = profile
        return result

    def _table(self, data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problems.add(where, "must be a table")
            return {}
        return value

    def _bool(self, table: Mapping[str, Any], where: str, key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.problems.add(f"{where}.{key}", "must be true or false")
            return default
        return value

    def _lifetime(self, table: Mapping[str, Any], where: str, default: int) -> int:
        if "expires_in" not in table:
            return default
        raw = table["expires_in"]
        try:
            seconds = parse_duration(raw) if isinstance(raw, (str, int)) else parse_duration("?")
        except ValueError as exc:
            self.problems.add(f"{where}.expires_in", str(exc))
            return default
        try:
            check_lifetime(seconds)
        except ValueError as exc:
            self.problems.add(f"{where}.expires_in", str(exc))
            return default
        return seconds

    def _profile(
        self, name: str, body: dict[str, Any], where: str, default_expiry: int, default_cache: bool
    ) -> Profile | None:
        self.problems.unknown_keys(where, body, _PROFILE_KEYS)
        description = body.get("description", "")
        if not isinstance(description, str):
            self.problems.add(f"{where}.description", "must be a string")
            description = ""
        token_id = body.get("token_id")
        if token_id is not None:
            try:
                check_token_id(token_id)
            except ValueError as exc:
                self.problems.add(f"{where}.token_id", str(exc))
        expires_in = self._lifetime(body, where, default_expiry)
        cache = self._bool(body, where, "cache", default_cache)
        statements = self._statements(body.get("permissions"), where)
        if statements is None:
            return None
        return Profile(
            name=name,
            statements=statements,
            expires_in=expires_in,
            description=description,
            token_id=token_id if isinstance(token_id, str) else None,
            cache=cache,
        )

    def _statements(self, raw: Any, where: str) -> tuple[Statement, ...] | None:
        if raw is None:
            self.problems.add(
                where,
                "has no 'permissions'; add a list such as "
                '[{ role = "read-only", cache = "my-cache" }]',
            )
            return None
        if not isinstance(raw, list):
            self.problems.add(f"{where}.permissions", "must be a list of tables")
            return None
        if not raw:
            self.problems.add(f"{where}.permissions", "is empty; a token needs 1 to 20 statements")
            return None
        if len(raw) > MAX_STATEMENTS:
            self.problems.add(
                f"{where}.permissions",
                f"has {len(raw)} statements; Momento allows at most {MAX_STATEMENTS} per token",
            )
        statements: list[Statement] = []
        seen: dict[tuple[Any, ...], tuple[int, Statement]] = {}
        ok = True
        for index, item in enumerate(raw):
            at = f"{where}, permissions[{index}]"
            statement = self._statement(item, at)
            if statement is None:
                ok = False
                continue
            if statement.target in seen:
                earlier, other = seen[statement.target]
                if other.role is statement.role:
                    self.problems.add(at, f"duplicates permissions[{earlier}]")
                else:
                    self.problems.add(
                        at,
                        f"conflicts with permissions[{earlier}]: same target, different role "
                        "(Momento refuses both in one token)",
                    )
                ok = False
                continue
            seen[statement.target] = (index, statement)
            statements.append(statement)
        return tuple(statements) if ok else None

    def _statement(self, item: Any, at: str) -> Statement | None:
        if not isinstance(item, dict):
            self.problems.add(at, 'must be a table like { role = "read-only", cache = "c" }')
            return None
        before = len(self.problems.items)
        self.problems.unknown_keys(at, item, _STATEMENT_KEYS)
        for key in _STATEMENT_KEYS:
            if key in item and not isinstance(item[key], str):
                self.problems.add(f"{at}.{key}", "must be a string")
            elif key in item and not item[key]:
                self.problems.add(f"{at}.{key}", "must not be empty")
        role = self._role(item, at)
        if "cache" not in item:
            self.problems.add(at, "needs 'cache': a cache name, or \"*\" for every cache")
        if len(self.problems.items) > before or role is None:
            return None
        return self._selectors(item, at, role)

    def _role(self, item: Mapping[str, Any], at: str) -> Role | None:
        raw = item.get("role")
        if raw is None:
            self.problems.add(at, "needs 'role': " + ", ".join(r.value for r in Role))
            return None
        if not isinstance(raw, str):
            return None
        role = ROLE_ALIASES.get(raw.strip().lower())
        if role is None:
            hint = suggest(raw, list(ROLE_ALIASES))
            self.problems.add(
                f"{at}.role",
                f"unknown role {raw!r}. "
                + (hint + " " if hint else "")
                + "Roles: "
                + ", ".join(r.value for r in Role),
            )
        return role

    def _selectors(self, item: Mapping[str, Any], at: str, role: Role) -> Statement | None:
        resource = role.resource
        given = [key for key in _STATEMENT_KEYS[2:] if key in item]
        wrong = [key for key in given if key not in _NARROWING[resource]]
        if wrong:
            fits = {
                Resource.TOPIC: "topic",
                Resource.FUNCTION: "function",
                Resource.CACHE: "cache",
            }
            other = {r for r in Resource if any(k in _NARROWING[r] for k in wrong)}
            other_roles = ", ".join(v for r in other for v in roles_for(r))
            self.problems.add(
                f"{at}.{wrong[0]}",
                f"role {role.value!r} is a {resource.value} role and takes "
                + (" or ".join(repr(k) for k in _NARROWING[resource]))
                + (
                    f"; {fits[next(iter(other))]} statements take roles {other_roles}"
                    if other
                    else ""
                ),
            )
            return None
        if len(given) > 1:
            self.problems.add(
                at, "conflicting selectors " + " and ".join(map(repr, given)) + "; give one"
            )
            return None
        if resource is not Resource.CACHE and not given:
            name, prefix = _NARROWING[resource]
            self.problems.add(
                at,
                f'{resource.value} statements need {name!r} (a name, or "*" for all) or {prefix!r}',
            )
            return None
        for key in given:
            if item[key] == ALL and key in ("key", "key_prefix", "topic_prefix", "function_prefix"):
                self.problems.add(
                    f"{at}.{key}",
                    "'*' is not a wildcard here; leave the field out to grant everything"
                    if key.startswith("key")
                    else f"'*' is not a wildcard here; use {key.removesuffix('_prefix')!r} = \"*\"",
                )
                return None
        return Statement(role=role, cache=item["cache"], **{key: item[key] for key in given})


# Momento's limits, checked here only: a token's lifetime (`check_lifetime`), its id
# (`check_token_id`) and a profile's statements (`_Reader`); `as_usage` turns a check's
# ValueError into the one UsageError every caller raises for a value it was given.


def as_usage(label: str, check: Callable[[T], object], value: T) -> None:
    """`check(value)`; its ValueError becomes UsageError("LABEL MESSAGE") (label: the flag or
    argument that gave the value, e.g. "--token-id" or "--expires-in:")."""
    try:
        check(value)
    except ValueError as exc:
        raise UsageError(f"{label} {exc}") from None


def lifetime_seconds(value: int | str, label: str) -> int:
    """A token lifetime from seconds or a duration text ("15m"), checked against Momento's
    1 s to 25 h; UsageError("LABEL: ...") otherwise."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{label}: {exc}") from None
    as_usage(f"{label}:", check_lifetime, seconds)
    return seconds


class TokenIdRefused(ValueError):
    """Why `choose_token_id` refused: `source` is "asked" (the id asked for breaks the rule),
    "identity" (the signed-in identity does) or "mismatch" (an id asked for that is not the
    signed-in identity)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source


def choose_token_id(
    fixed: str | None, asked: str | None, identity: str | None = None
) -> str | None:
    """THE token id rule, for the CLI (`--token-id`), the library (`token_id=`), `serve` and
    Lambda (`?name=`, the signed-in identity):

    1. a profile's own `token_id` is final: nothing asked for changes it (it was checked when
       the profiles were loaded; an id asked for beside it is ignored, unchecked);
    2. else the signed-in identity (serve's users, JWT and CI trust): an id asked for must be
       that identity;
    3. else the id asked for;
    4. else none.

    The id chosen is held to `check_token_id`; TokenIdRefused says which part broke it."""
    if fixed is not None:
        return fixed
    if identity is not None:
        if asked is not None and asked != identity:
            raise TokenIdRefused("mismatch", "the token id is your sign-in; it cannot be changed")
        try:
            check_token_id(identity)
        except ValueError as exc:
            raise TokenIdRefused("identity", str(exc)) from None
        return identity
    if asked is not None:
        try:
            check_token_id(asked)
        except ValueError as exc:
            raise TokenIdRefused("asked", str(exc)) from None
    return asked


def token_id_or_usage(fixed: str | None, asked: str | None, label: str) -> str | None:
    """`choose_token_id` for a caller without a sign-in (the CLI, the library): a refusal is
    UsageError("LABEL ...")."""
    try:
        return choose_token_id(fixed, asked)
    except TokenIdRefused as refused:
        raise UsageError(f"{label} {refused}") from None


def check_lifetime(seconds: int) -> None:
    if not MIN_LIFETIME_SECONDS <= seconds <= MAX_LIFETIME_SECONDS:
        raise ValueError(
            f"lifetime {format_duration(seconds)} is outside what Momento allows "
            f"(1s to {format_duration(MAX_LIFETIME_SECONDS)})"
        )


def check_token_id(token_id: object) -> None:
    """THE token id rule, for profiles, `--token-id`, `?name=` and sign-in identities alike.

    Momento allows 64 characters (the JS SDK refuses more, counting UTF-16 units); what the
    service itself counts is not public. So, conservatively: at most 64 UTF-8 bytes (64
    characters for ASCII), which holds under every reading, and printable: no control
    characters (NUL, newlines, escape sequences) and no invisible format characters (bidi
    overrides, zero-width joiners). The id is baked into the token and shown to subscribers.
    """
    if not isinstance(token_id, str):
        raise ValueError("must be a string")
    if not token_id:
        raise ValueError("must not be empty")
    if not token_id.isprintable():
        raise ValueError(
            "must be printable: no control characters (NUL, newlines, escapes) "
            "or invisible format characters"
        )
    if len(token_id) > MAX_TOKEN_ID_LENGTH:
        raise ValueError(
            f"is {len(token_id)} characters; Momento allows at most {MAX_TOKEN_ID_LENGTH}"
        )
    size = len(token_id.encode("utf-8"))
    if size > MAX_TOKEN_ID_LENGTH:
        raise ValueError(
            f"is {size} bytes in UTF-8; at most {MAX_TOKEN_ID_LENGTH} are accepted (Momento "
            f"allows {MAX_TOKEN_ID_LENGTH} characters; counting bytes keeps every reading of it)"
        )
