"""The [server] table -> validated, frozen ServerSettings (`parse_server_settings`): every key
read through one TableReader, users and groups, the fleet's state, the sign-in and CI
issuers (`trust_table`); then the start-up checks that depend on where it binds."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tvmcli.config.access import Access, combine
from tvmcli.config.profiles import Problems, check_token_id
from tvmcli.config.settings import (
    AUTH_MODES,
    BEARER_KEYS,
    DEFAULTS,
    GROUP_KEYS,
    METRICS_AUTH,
    SERVER_KEYS,
    STATE_BACKENDS,
    STATE_KEYS,
    USER_KEYS,
    ServerSettings,
    StateSettings,
    User,
    user_access,
)
from tvmcli.config.table_reader import (
    TableReader,
    Unwritten,
)
from tvmcli.config.trust_table import read_oidc
from tvmcli.errors import ConfigError


def parse_server_settings(
    raw: Mapping[str, Any], problems: Problems, profile_names: list[str]
) -> ServerSettings | None:
    """Validate the [server] table, adding every problem to `problems` (the profiles file's
    one collector); None when it found any."""
    before = len(problems.items)
    reader = TableReader(problems, profile_names)
    raw = dict(raw)
    reader.unknown("", raw, SERVER_KEYS)
    auth = reader.typed(raw, "auth", str, "") or DEFAULTS.auth
    if auth not in AUTH_MODES:
        reader.problem(".auth", f"must be one of {', '.join(AUTH_MODES)}, not {auth!r}")
    tokens_env, tokens_file = _bearer(reader, reader.table(raw.get("bearer"), ".bearer"))
    groups = _groups(reader, raw)
    users = _users(reader, raw, groups)
    if auth == "basic" and not users:
        reader.problem(".users", 'auth = "basic" needs at least one [server.users.NAME]')
    jwt, trusts = read_oidc(reader, raw, auth)
    number = functools.partial(reader.number, raw)
    settings = ServerSettings(
        host=reader.typed(raw, "host", str, "") or DEFAULTS.host,
        auth=auth,
        allow_open=_flag(reader, raw, "allow_open"),
        cors_origins=_origins(reader, raw),
        access=reader.profile_list(raw, "", missing="all"),
        bearer_tokens_env=tokens_env,
        bearer_tokens_file=tokens_file,
        users=users,
        groups=groups,
        trusted_proxies=reader.networks(raw),
        jwt=jwt,
        trusts=trusts,
        port=int(number("port")),
        workers=int(number("workers")),
        reuse_share=number("reuse_share"),
        min_ttl=int(number("min_ttl")),
        mint_rate=number("mint_rate"),
        mint_queue=number("mint_queue"),
        client_rate=number("client_rate"),
        client_burst=int(number("client_burst")),
        max_body_bytes=int(number("max_body_bytes")),
        max_header_bytes=int(number("max_header_bytes")),
        timeout=number("timeout"),
        header_timeout=number("header_timeout"),
        idle_timeout=number("idle_timeout"),
        max_connections=int(number("max_connections")),
        state=_state_settings(reader, reader.table(raw.get("state"), ".state")),
        metrics=_flag(reader, raw, "metrics"),
        metrics_auth=_choice(reader, raw, "metrics_auth", METRICS_AUTH),
        audit_log=reader.typed(raw, "audit_log", str, "") or None,
        canary=_flag(reader, raw, "canary"),
    )
    if settings.metrics and not extra_installed("prometheus_client"):
        reader.problem(
            ".metrics",
            "true needs prometheus-client, which is not installed: "
            "pip install 'momento-tvm[metrics]'",
        )
    if len(problems.items) != before:
        return None
    return dataclasses.replace(settings, warnings=access_warnings(settings))


def extra_installed(module: str) -> bool:
    """Whether an optional extra's module imports (looked for only when a setting needs it)."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def access_warnings(settings: ServerSettings) -> tuple[str, ...]:
    """Grants that load but grant less than they seem to: since a missing `profiles` grants
    nothing and a user's own `profiles` only narrow its groups', an old file may rely on the
    old reading. Each warning names the fix."""
    if settings.auth not in ("basic", "jwt"):
        return ()
    found: list[str] = []
    every = 'profiles = ["*"] for every profile'
    for name, group in settings.groups.items():
        if group.profiles == ():
            found.append(
                f"[server.groups.{name}] grants no profile: a group without profiles grants "
                "none"
                + (f" (its default_profile {group.default!r} included)" if group.default else "")
                + f"; add profiles = [...], or {every}"
            )
    if settings.auth != "basic":
        return tuple(found)
    for name, user in settings.users.items():
        where = f"[server.users.{name}]"
        access = user_access(user, settings.groups)
        granted = [settings.groups[g] for g in user.groups if g in settings.groups]
        wider = combine(granted).profiles
        if user.access is not None and user.access.profiles is not None and granted:
            for profile in user.access.profiles:
                if wider is not None and profile not in wider:
                    found.append(
                        f"{where} profiles names {profile!r}, which none of its groups grant: "
                        "a user's own profiles only narrow its groups'; grant it in a group"
                    )
        if access.profiles == ():
            found.append(
                f"{where} may use no profile: give it groups = [...] or profiles = [...] ({every})"
            )
        elif user.default_profile is not None and access.default != user.default_profile:
            found.append(
                f"{where} default_profile {user.default_profile!r} is not among the profiles "
                "it may use (its groups', narrowed by its own profiles): a request without "
                "?profile= gets another default or none; grant it in one of its groups"
            )
    return tuple(found)


def _flag(reader: TableReader, raw: Mapping[str, Any], key: str) -> bool:
    """A true/false key; its default when absent (or not true or false: a problem then)."""
    value = reader.typed(raw, key, bool, "")
    return bool(getattr(DEFAULTS, key)) if value is None else bool(value)


def _bearer(reader: TableReader, bearer: dict[str, Any]) -> tuple[str | None, Path | None]:
    """[server.bearer]: the variable or the file that holds the accepted tokens."""
    reader.unknown(".bearer", bearer, BEARER_KEYS)
    tokens_file = reader.typed(bearer, "tokens_file", str, ".bearer")
    tokens_env = reader.variable_name(bearer, "tokens_env", ".bearer")
    return tokens_env, Path(tokens_file) if tokens_file else None


def _origins(reader: TableReader, raw: Mapping[str, Any]) -> tuple[str, ...]:
    origins = reader.strings(raw, "cors_origins", "", 'origins like "http://localhost:5173"')
    for origin in origins:
        if origin != "*" and (
            not origin.startswith(("http://", "https://")) or origin.endswith("/")
        ):
            reader.problem(
                ".cors_origins", f"{origin!r} is not an origin (scheme://host[:port], no path)"
            )
    return tuple(origins)


def _groups(reader: TableReader, raw: Mapping[str, Any]) -> dict[str, Access]:
    groups: dict[str, Access] = {}
    for name, body in reader.table(raw.get("groups"), ".groups").items():
        body = reader.table(body, f".groups.{name}")
        reader.unknown(f".groups.{name}", body, GROUP_KEYS)
        groups[name] = reader.profile_list(body, f".groups.{name}")
    return groups


def _users(
    reader: TableReader, raw: Mapping[str, Any], groups: Mapping[str, Access]
) -> dict[str, User]:
    users: dict[str, User] = {}
    for name, body in reader.table(raw.get("users"), ".users").items():
        where = f".users.{name}"
        body = reader.table(body, where)
        reader.unknown(where, body, USER_KEYS)
        try:
            check_token_id(name)
        except ValueError as exc:
            reader.problem(where, f"the user name becomes the token id: it {exc}")
        password_hash = reader.typed(body, "password_hash", str, where)
        password_env = reader.variable_name(body, "password_env", where)
        if (password_hash is None) == (password_env is None):
            reader.problem(
                where,
                "needs exactly one of password_hash (see `momento-tvm hash-password`) "
                "or password_env",
            )
        if password_hash is not None and (reason := _hash_problem(password_hash)):
            reader.problem(
                f"{where}.password_hash",
                f"is not a hash from `momento-tvm hash-password`: {reason}",
            )
        member_of = reader.strings(body, "groups", where, "group names")
        for group in member_of:
            if group not in groups:
                reader.problem(f"{where}.groups", f"no group named {group!r} in [server.groups]")
        names = reader.names_of(body, where)
        own = None if isinstance(names, Unwritten) else Access(names)
        default = reader.typed(body, "default_profile", str, where)
        if default is not None and default not in reader.profile_names:
            reader.problem(f"{where}.default_profile", f"no profile named {default!r}")
        elif default is not None and own is not None and not own.allowed([default]):
            reader.problem(
                f"{where}.default_profile", f"{default!r} is not among the profiles allowed here"
            )
        users[name] = User(name, password_hash, password_env, tuple(member_of), own, default)
    return users


def check_startup(settings: ServerSettings) -> None:
    """Refusals that depend on where the server binds (exit 3)."""
    if settings.auth == "open" and not settings.on_loopback and not settings.allow_open:
        raise ConfigError(
            f'auth = "open" on {settings.host} would hand tokens to anyone who can reach it',
            hint='Bind 127.0.0.1, choose auth = "bearer" or "basic", or pass --allow-open.',
        )
    if settings.metrics and settings.metrics_auth == "none" and not settings.on_loopback:
        raise ConfigError(
            f'metrics_auth = "none" on {settings.host} would publish /metrics to anyone',
            hint='Bind 127.0.0.1, or keep metrics_auth = "server" (the same auth as /token).',
        )
    if "*" in settings.cors_origins and settings.auth != "open":
        raise ConfigError(
            'cors_origins = ["*"] is only allowed with auth = "open"',
            hint='List the origins of your web app instead, e.g. "http://localhost:5173".',
        )


def _hash_problem(encoded: str) -> str | None:
    # hashlib, secrets and friends load only for files with basic-auth users: every other
    # command that reads the file (mint, on every call) would pay for them
    from tvmcli.config.passwords import hash_problem

    return hash_problem(encoded)


def _choice(reader: TableReader, raw: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(key, getattr(DEFAULTS, key))
    if value not in allowed:
        reader.problem(f".{key}", f"must be one of {', '.join(allowed)}, not {value!r}")
        return str(getattr(DEFAULTS, key))
    return str(value)


def _state_settings(reader: TableReader, raw: dict[str, Any]) -> StateSettings:
    reader.unknown(".state", raw, STATE_KEYS)
    defaults = StateSettings()
    backend = raw.get("backend", defaults.backend)
    if backend not in STATE_BACKENDS:
        reader.problem(
            ".state.backend", f"must be one of {', '.join(STATE_BACKENDS)}, not {backend!r}"
        )
        backend = defaults.backend
    cache = raw.get("cache", defaults.cache)
    # Momento cache names: letters, digits, '-', '_' and '.', at most 255 characters.
    if (
        not isinstance(cache, str)
        or not 0 < len(cache) <= 255
        or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in cache)
    ):
        reader.problem(".state.cache", "must be a cache name: letters, digits, '-', '_' or '.'")
        cache = defaults.cache
    return StateSettings(backend=backend, cache=cache)
