"""The [server] table of the profiles file -> validated, frozen ServerSettings.

```toml
[server]
host = "127.0.0.1"
port = 8700
auth = "bearer"                       # open | bearer | basic
cors_origins = ["http://localhost:5173"]
profiles = ["chat-reader"]            # what open and bearer callers may use (default: all)
default_profile = "chat-reader"

[server.bearer]
tokens_env = "TVM_BEARER_TOKENS"      # comma-separated; or tokens_file = "path" (one a line)

[server.users.alice]
password_hash = "scrypt$..."          # from `momento-tvm hash-password`; or password_env = "VAR"
groups = ["writers"]

[server.groups.writers]
profiles = ["chat-reader", "chat-writer"]
default_profile = "chat-writer"
```
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvmcli.credentials import DEFAULT_TIMEOUT
from tvmcli.durations import parse_duration
from tvmcli.errors import ConfigError
from tvmcli.netaddr import is_loopback
from tvmcli.profiles import suggest
from tvmcli.server.passwords import hash_problem  # stdlib only; loads no server
from tvmcli.statements import ACCOUNT_MINTS_PER_SECOND

AUTH_MODES = ("open", "bearer", "basic", "jwt")
# Verified with public keys only: an HS* algorithm would let the public key act as a secret.
JWT_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
DEFAULT_PORT = 8700

_KEYS = {
    "host",
    "port",
    "workers",
    "auth",
    "allow_open",
    "cors_origins",
    "profiles",
    "default_profile",
    "bearer",
    "users",
    "groups",
    "reuse_share",
    "min_ttl",
    "mint_rate",
    "mint_queue",
    "client_rate",
    "client_burst",
    "max_body_bytes",
    "max_header_bytes",
    "timeout",
    "jwt",
}
_JWT_KEYS = {
    "issuer",
    "audience",
    "jwks_url",
    "jwks_file",
    "algorithms",
    "leeway",
    "groups_claim",
    "token_id_claim",
}
_BEARER_KEYS = {"tokens_env", "tokens_file"}
_USER_KEYS = {"password_hash", "password_env", "groups", "profiles", "default_profile"}
_GROUP_KEYS = {"profiles", "default_profile"}


@dataclass(frozen=True)
class Access:
    """Profiles a caller may use (None: every profile) and the one used without ?profile=."""

    profiles: tuple[str, ...] | None = None
    default: str | None = None


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str | None = None
    password_env: str | None = None
    groups: tuple[str, ...] = ()
    access: Access | None = None


@dataclass(frozen=True)
class JwtSettings:
    """How to verify sign-in tokens from an OIDC provider (auth = "jwt")."""

    issuer: str
    audience: tuple[str, ...]
    jwks_url: str | None = None
    jwks_file: Path | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: int = 60
    groups_claim: str = "cognito:groups"
    token_id_claim: str = "sub"  # noqa: S105 - a claim name


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    auth: str = "bearer"
    allow_open: bool = False
    cors_origins: tuple[str, ...] = ()
    access: Access = Access()
    bearer_tokens_env: str | None = None
    bearer_tokens_file: Path | None = None
    users: Mapping[str, User] = field(default_factory=dict)
    groups: Mapping[str, Access] = field(default_factory=dict)
    reuse_share: float = 2 / 3
    min_ttl: int = 60
    mint_rate: float = float(ACCOUNT_MINTS_PER_SECOND)
    mint_queue: float = 2.0
    client_rate: float = 20.0
    client_burst: int = 40
    max_body_bytes: int = 1024
    max_header_bytes: int = 8192
    timeout: float = DEFAULT_TIMEOUT
    jwt: JwtSettings | None = None

    @property
    def on_loopback(self) -> bool:
        return is_loopback(self.host)


_DEFAULTS = ServerSettings()  # the one place defaults are written: the dataclasses above
_JWT_DEFAULTS = JwtSettings(issuer="", audience=())


def parse_server_settings(
    raw: Mapping[str, Any], path: Path, profile_names: list[str]
) -> ServerSettings:
    """Validate the [server] table; every problem is reported at once (exit 3)."""
    problems: list[str] = []

    def problem(where: str, message: str) -> None:
        problems.append(f"{path}: [server]{where}: {message}")

    def unknown(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                hint = suggest(key, sorted(allowed))
                hint = f" {hint}" if hint else ""
                problem(where, f"unknown field {key!r}.{hint}")

    def table(value: Any, where: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            problem(where, "must be a table")
            return {}
        return value

    def typed(
        table_: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str
    ) -> Any:
        value = table_.get(key)
        if value is not None and (
            not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
        ):
            problem(f"{where}.{key}", f"must be {_kind_name(kind)}")
            return None
        return value

    def profile_list(table_: Mapping[str, Any], where: str) -> Access:
        names = table_.get("profiles")
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            problem(f"{where}.profiles", "must be a list of profile names")
            names = None
        for name in names or []:
            if name not in profile_names:
                hint = suggest(name, profile_names)  # "Did you mean 'x'?"
                problem(
                    f"{where}.profiles",
                    f"no profile named {name!r}" + (f"; d{hint[1:]}" if hint else ""),
                )
        default = typed(table_, "default_profile", str, where)
        if default is not None and default not in (names if names is not None else profile_names):
            problem(
                f"{where}.default_profile", f"{default!r} is not among the profiles allowed here"
            )
        return Access(tuple(names) if names is not None else None, default)

    raw = dict(raw)
    unknown("", raw, _KEYS)
    auth = typed(raw, "auth", str, "") or _DEFAULTS.auth
    if auth not in AUTH_MODES:
        problem(".auth", f"must be one of {', '.join(AUTH_MODES)}, not {auth!r}")
    port = typed(raw, "port", int, "")
    if port is not None and not 0 <= port <= 65535:
        problem(".port", "must be 0 to 65535")
    workers = typed(raw, "workers", int, "")
    if workers is not None and workers < 1:
        problem(".workers", "must be at least 1")
    origins = raw.get("cors_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        problem(".cors_origins", 'must be a list of origins like "http://localhost:5173"')
        origins = []
    for origin in origins:
        if origin != "*" and (
            not origin.startswith(("http://", "https://")) or origin.endswith("/")
        ):
            problem(".cors_origins", f"{origin!r} is not an origin (scheme://host[:port], no path)")
    bearer = table(raw.get("bearer"), ".bearer")
    unknown(".bearer", bearer, _BEARER_KEYS)
    tokens_file = typed(bearer, "tokens_file", str, ".bearer")
    groups: dict[str, Access] = {}
    for name, body in table(raw.get("groups"), ".groups").items():
        body = table(body, f".groups.{name}")
        unknown(f".groups.{name}", body, _GROUP_KEYS)
        groups[name] = profile_list(body, f".groups.{name}")
    users: dict[str, User] = {}
    for name, body in table(raw.get("users"), ".users").items():
        where = f".users.{name}"
        body = table(body, where)
        unknown(where, body, _USER_KEYS)
        password_hash = typed(body, "password_hash", str, where)
        password_env = typed(body, "password_env", str, where)
        if (password_hash is None) == (password_env is None):
            problem(
                where,
                "needs exactly one of password_hash (see `momento-tvm hash-password`) "
                "or password_env",
            )
        if password_hash is not None and (reason := hash_problem(password_hash)):
            problem(
                f"{where}.password_hash",
                f"is not a hash from `momento-tvm hash-password`: {reason}",
            )
        member_of = body.get("groups", [])
        if not isinstance(member_of, list) or not all(isinstance(g, str) for g in member_of):
            problem(f"{where}.groups", "must be a list of group names")
            member_of = []
        for group in member_of:
            if group not in groups:
                problem(f"{where}.groups", f"no group named {group!r} in [server.groups]")
        own = (
            profile_list(body, where) if ("profiles" in body or "default_profile" in body) else None
        )
        users[name] = User(name, password_hash, password_env, tuple(member_of), own)
    if auth == "basic" and not users:
        problem(".users", 'auth = "basic" needs at least one [server.users.NAME]')
    jwt = _jwt_settings(table(raw.get("jwt"), ".jwt"), problem, unknown) if auth == "jwt" else None
    if auth != "jwt" and "jwt" in raw:
        problem(".jwt", 'is only read with auth = "jwt"')

    def seconds(key: str) -> float:
        default = float(getattr(_DEFAULTS, key))
        value = raw.get(key)
        if value is None:
            return default
        try:
            number = float(parse_duration(value)) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):  # TOML has inf and nan: int(inf) raised OverflowError
            problem(f".{key}", 'must be a duration such as "2s" or a number of seconds')
            return default
        return number

    def number(key: str, low: float, high: float) -> float:
        default = float(getattr(_DEFAULTS, key))
        value = raw.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value <= high
        ):
            problem(f".{key}", f"must be a number from {low:g} to {high:g}")
            return default
        return float(value)

    settings = ServerSettings(
        host=typed(raw, "host", str, "") or _DEFAULTS.host,
        port=port if port is not None else _DEFAULTS.port,
        workers=workers or _DEFAULTS.workers,
        auth=auth,
        allow_open=bool(typed(raw, "allow_open", bool, "")),
        cors_origins=tuple(origins),
        access=profile_list(raw, ""),
        bearer_tokens_env=typed(bearer, "tokens_env", str, ".bearer"),
        bearer_tokens_file=Path(tokens_file) if tokens_file else None,
        users=users,
        groups=groups,
        reuse_share=number("reuse_share", 0.01, 1.0),
        min_ttl=int(seconds("min_ttl")),
        mint_rate=number("mint_rate", 0.1, 1000),
        mint_queue=seconds("mint_queue"),
        client_rate=number("client_rate", 0, 100000),
        client_burst=int(number("client_burst", 1, 100000)),
        max_body_bytes=int(number("max_body_bytes", 0, 1 << 20)),
        max_header_bytes=int(number("max_header_bytes", 1024, 1 << 20)),
        timeout=seconds("timeout"),
        jwt=jwt,
    )
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s) in [server]", problems=problems)
    return settings


def check_startup(settings: ServerSettings) -> None:
    """Refusals that depend on where the server binds (exit 3)."""
    if settings.auth == "open" and not settings.on_loopback and not settings.allow_open:
        raise ConfigError(
            f'auth = "open" on {settings.host} would hand tokens to anyone who can reach it',
            hint='Bind 127.0.0.1, choose auth = "bearer" or "basic", or pass --allow-open.',
        )
    if "*" in settings.cors_origins and settings.auth != "open":
        raise ConfigError(
            'cors_origins = ["*"] is only allowed with auth = "open"',
            hint='List the origins of your web app instead, e.g. "http://localhost:5173".',
        )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", bool: "true or false", float: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _jwt_settings(
    raw: dict[str, Any],
    problem: Callable[[str, str], None],
    unknown: Callable[[str, Mapping[str, Any], set[str]], None],
) -> JwtSettings | None:
    unknown(".jwt", raw, _JWT_KEYS)
    ok = True

    def text(key: str, required: bool = False) -> str | None:
        nonlocal ok
        value = raw.get(key)
        if value is None:
            if required:
                problem(".jwt", f"needs {key!r}")
                ok = False
            return None
        if not isinstance(value, str) or not value:
            problem(f".jwt.{key}", "must be a non-empty string")
            ok = False
            return None
        return value

    issuer = text("issuer", required=True)
    audience_raw = raw.get("audience")
    audience: tuple[str, ...] = ()
    if isinstance(audience_raw, str) and audience_raw:
        audience = (audience_raw,)
    elif (
        isinstance(audience_raw, list)
        and audience_raw
        and all(isinstance(a, str) and a for a in audience_raw)
    ):
        audience = tuple(audience_raw)
    else:
        problem(".jwt.audience", "needs the client id or API identifier (a string or a list)")
        ok = False
    jwks_url, jwks_file = text("jwks_url"), text("jwks_file")
    if (jwks_url is None) == (jwks_file is None):
        problem(".jwt", "needs exactly one of jwks_url or jwks_file")
        ok = False
    if jwks_url is not None and not jwks_url.startswith(("https://", "http://")):
        problem(".jwt.jwks_url", "must be an http(s) URL")
        ok = False
    algorithms = raw.get("algorithms", list(_JWT_DEFAULTS.algorithms))
    if (
        not isinstance(algorithms, list)
        or not algorithms
        or not all(isinstance(a, str) and a in JWT_ALGORITHMS for a in algorithms)
    ):
        problem(
            ".jwt.algorithms",
            "must list algorithms among " + ", ".join(JWT_ALGORITHMS) + " (never none, never HS*)",
        )
        ok = False
    leeway = raw.get("leeway", _JWT_DEFAULTS.leeway)
    if isinstance(leeway, str):
        try:
            leeway = parse_duration(leeway)
        except ValueError:
            leeway = -1
    if isinstance(leeway, bool) or not isinstance(leeway, int) or not 0 <= leeway <= 600:
        problem(".jwt.leeway", "must be 0 to 600 seconds")
        ok = False
    groups_claim = text("groups_claim") or _JWT_DEFAULTS.groups_claim
    token_id_claim = text("token_id_claim") or _JWT_DEFAULTS.token_id_claim
    if not ok or issuer is None:
        return None
    return JwtSettings(
        issuer=issuer,
        audience=audience,
        jwks_url=jwks_url,
        jwks_file=Path(jwks_file) if jwks_file else None,
        algorithms=tuple(algorithms),
        leeway=int(leeway),
        groups_claim=groups_claim,
        token_id_claim=token_id_claim,
    )
