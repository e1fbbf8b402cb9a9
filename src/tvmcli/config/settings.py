"""The [server] table of the profiles file -> validated, frozen ServerSettings.

```toml
[server]
host = "127.0.0.1"
port = 8700
auth = "bearer"                       # open | bearer | basic | jwt
cors_origins = ["http://localhost:5173"]
profiles = ["chat-reader"]            # what open and bearer callers may use (default: all)
default_profile = "chat-reader"
trusted_proxies = ["10.0.0.0/8"]      # peers whose X-Forwarded-For is believed (default: none)

[server.bearer]
tokens_env = "TVM_BEARER_TOKENS"      # comma-separated; or tokens_file = "path" (one a line)

[server.users.alice]
password_hash = "scrypt$..."          # from `momento-tvm hash-password`; or password_env = "VAR"
groups = ["writers"]

[server.groups.writers]
profiles = ["chat-reader", "chat-writer"]
default_profile = "chat-writer"

[server.trust.github]                 # auth = "jwt": a CI issuer; see README "Keyless CI"
issuer = "https://token.actions.githubusercontent.com"
audience = "momento-tvm"
[[server.trust.github.rules]]
claims = { repository = "acme/web", ref = "refs/heads/main" }
profiles = ["ci-deploy"]
token_id = "{repository}#{run_id}"    # optional; default: the token's sub
```

Every number has a range (`NUMBERS`), checked at load: a bad value is a problem naming its
field (exit 3), never a server that answers every request with an error.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from tvmcli.config.access import EVERY, Access, combine
from tvmcli.config.profiles import Problems, check_token_id, suggest
from tvmcli.credentials.sources import DEFAULT_TIMEOUT
from tvmcli.errors import ConfigError
from tvmcli.permissions.statements import ACCOUNT_MINTS_PER_SECOND, MAX_LIFETIME_SECONDS
from tvmcli.system.durations import parse_duration
from tvmcli.system.netaddr import http_url_problem, is_loopback

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
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

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
    "header_timeout",
    "idle_timeout",
    "max_connections",
    "trusted_proxies",
    "jwt",
    "trust",
    "state",
    "metrics",
    "metrics_auth",
    "audit_log",
    "canary",
}
METRICS_AUTH = ("server", "none")
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
_TRUST_KEYS = {
    "issuer",
    "audience",
    "jwks_url",
    "jwks_file",
    "algorithms",
    "leeway",
    "provider",
    "rules",
}
CI_PROVIDERS = ("github", "gitlab")
_RULE_KEYS = {"claims", "profiles", "token_id"}
_BEARER_KEYS = {"tokens_env", "tokens_file"}
_USER_KEYS = {"password_hash", "password_env", "groups", "profiles", "default_profile"}
_GROUP_KEYS = {"profiles", "default_profile"}


class _Unwritten:
    """A table without `profiles` (which grants none by itself)."""


_UNWRITTEN = _Unwritten()


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str | None = None
    password_env: str | None = None
    groups: tuple[str, ...] = ()
    access: Access | None = None  # its own `profiles` (None: not written): narrow its groups'
    default_profile: str | None = None


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
class TrustRule:
    """One [[server.trust.NAME.rules]]: when every claim matches its pattern (exact, or `*`
    as a glob), the caller may use `profiles`; `token_id` is a template of {claim}s (None: the
    token's `sub`)."""

    claims: tuple[tuple[str, str], ...]
    profiles: tuple[str, ...]
    token_id: str | None = None


@dataclass(frozen=True)
class TrustSettings:
    """A CI issuer (GitHub Actions, GitLab, ...) whose ID tokens are traded for profiles by
    claim rules. Verified as [server.jwt] is; without jwks_url or jwks_file the keys are found
    by OIDC discovery at the issuer."""

    name: str
    issuer: str
    audience: tuple[str, ...]
    jwks_url: str | None = None
    jwks_file: Path | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: int = 60
    provider: str | None = None  # "github" or "gitlab": which claims its tokens carry
    rules: tuple[TrustRule, ...] = ()


@dataclass(frozen=True)
class StateSettings:
    """Where a fleet keeps shared state: "memory" (this process) or Momento's cache."""

    backend: str = "memory"
    cache: str = "momento-tvm-state"


STATE_BACKENDS = ("memory", "momento")
_STATE_KEYS = {"backend", "cache"}


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    auth: str = "bearer"
    allow_open: bool = False
    cors_origins: tuple[str, ...] = ()
    access: Access = Access()  # noqa: RUF009 - Access is frozen
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
    # The connection: a request's head must arrive within header_timeout of the connection
    # opening (or of the previous response); an idle keep-alive connection closes after
    # idle_timeout; at most max_connections are open at once (the next is answered 503).
    header_timeout: float = 10.0
    idle_timeout: float = 5.0
    max_connections: int = 1000
    # Peers (CIDR) whose X-Forwarded-For names the client; from anyone else it is ignored.
    trusted_proxies: tuple[Network, ...] = ()
    jwt: JwtSettings | None = None
    trusts: tuple[TrustSettings, ...] = ()
    # The emulator's gRPC-web URL when serve mints from it (--emulator-web, or
    # MOMENTO_TVM_EMULATOR_WEB_ENDPOINT): token answers carry it as webEndpoint. Not a file key.
    web_endpoint: str | None = None
    state: StateSettings = StateSettings()
    # Operations: GET /metrics (Prometheus), its auth ("server": as /token; "none": loopback
    # only), the audit trail (a file, "stderr", or none), the start-up check.
    metrics: bool = False
    metrics_auth: str = "server"
    audit_log: str | None = None
    canary: bool = True
    # Grants that are valid but probably not what was meant (`profiles validate` and `serve`
    # print them): a group without profiles, a default a user may not use, ...
    warnings: tuple[str, ...] = ()

    @property
    def on_loopback(self) -> bool:
        return is_loopback(self.host)


_DEFAULTS = ServerSettings()  # the one place defaults are written: the dataclasses above
_JWT_DEFAULTS = JwtSettings(issuer="", audience=())


@dataclass(frozen=True)
class _Range:
    kind: str  # "number", "whole" or "duration" (a number of seconds or "90s", "2m")
    low: float
    high: float


# Every number in [server] and its range. A value outside is a problem naming the field.
NUMBERS = {
    "port": _Range("whole", 0, 65535),
    "workers": _Range("whole", 1, 256),
    "reuse_share": _Range("number", 0.01, 1.0),
    "min_ttl": _Range("duration", 0, MAX_LIFETIME_SECONDS),
    "mint_rate": _Range("number", 0.1, 1000),
    "mint_queue": _Range("duration", 0, 60),
    "client_rate": _Range("number", 0, 100_000),
    "client_burst": _Range("whole", 1, 100_000),
    "max_body_bytes": _Range("whole", 0, 1 << 20),
    "max_header_bytes": _Range("whole", 1024, 1 << 20),
    "timeout": _Range("duration", 0.1, 600),
    "header_timeout": _Range("duration", 0.1, 300),
    "idle_timeout": _Range("duration", 0.1, 3600),
    "max_connections": _Range("whole", 1, 1_000_000),
}


class _Reader:
    """Reads one [server] table, collecting every problem instead of stopping at the first."""

    def __init__(self, problems: Problems, profile_names: list[str]) -> None:
        self.problems = problems  # the profiles' collector: one list, one wording
        self.profile_names = profile_names

    def problem(self, where: str, message: str) -> None:
        self.problems.add(f"[server]{where}", message)

    def unknown(self, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
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
            self.problem(f"{where}.{key}", f"must be {_kind_name(kind)}")
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
        if value is not None and not _VARIABLE_NAME.fullmatch(value):
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
        if names is _UNWRITTEN:
            profiles: tuple[str, ...] | None = None if missing == "all" else ()
        else:
            assert not isinstance(names, _Unwritten)
            profiles = names
        if default is None:
            return Access(profiles, default)
        allowed = self.profile_names if profiles is None else profiles
        if names is _UNWRITTEN:
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
    ) -> tuple[str, ...] | _Unwritten | None:
        """A table's `profiles`: the names, None for ["*"], _UNWRITTEN when not written."""
        if "profiles" not in table:
            return _UNWRITTEN
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
        default = float(getattr(_DEFAULTS, key))
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
            self.problem(f".{key}", _range_text(limits))
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


def parse_server_settings(
    raw: Mapping[str, Any], problems: Problems, profile_names: list[str]
) -> ServerSettings | None:
    """Validate the [server] table, adding every problem to `problems` (the profiles file's
    one collector); None when it found any."""
    before = len(problems.items)
    reader = _Reader(problems, profile_names)
    raw = dict(raw)
    reader.unknown("", raw, _KEYS)
    auth = reader.typed(raw, "auth", str, "") or _DEFAULTS.auth
    if auth not in AUTH_MODES:
        reader.problem(".auth", f"must be one of {', '.join(AUTH_MODES)}, not {auth!r}")
    bearer = reader.table(raw.get("bearer"), ".bearer")
    reader.unknown(".bearer", bearer, _BEARER_KEYS)
    tokens_file = reader.typed(bearer, "tokens_file", str, ".bearer")
    groups = _groups(reader, raw)
    users = _users(reader, raw, groups)
    if auth == "basic" and not users:
        reader.problem(".users", 'auth = "basic" needs at least one [server.users.NAME]')
    jwt, trusts = _oidc(reader, raw, auth)
    number = functools.partial(reader.number, raw)
    settings = ServerSettings(
        host=reader.typed(raw, "host", str, "") or _DEFAULTS.host,
        auth=auth,
        allow_open=bool(reader.typed(raw, "allow_open", bool, "")),
        cors_origins=_origins(reader, raw),
        access=reader.profile_list(raw, "", missing="all"),
        bearer_tokens_env=reader.variable_name(bearer, "tokens_env", ".bearer"),
        bearer_tokens_file=Path(tokens_file) if tokens_file else None,
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
        metrics=bool(reader.typed(raw, "metrics", bool, "")),
        metrics_auth=_choice(reader, raw, "metrics_auth", METRICS_AUTH),
        audit_log=reader.typed(raw, "audit_log", str, "") or None,
        canary=_DEFAULTS.canary
        if raw.get("canary") is None
        else bool(reader.typed(raw, "canary", bool, "")),
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


def user_access(user: User, groups: Mapping[str, Access]) -> Access:
    """What a [server.users.NAME] may use: its groups' profiles, narrowed by its own."""
    member_of = [groups[g] for g in user.groups if g in groups]
    return combine(member_of, user.access, user.default_profile)


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


def extra_installed(module: str) -> bool:
    """Whether an optional extra's module imports (looked for only when a setting needs it)."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _range_text(limits: _Range) -> str:
    if limits.kind == "duration":
        return f'must be a duration from {limits.low:g}s to {limits.high:g}s, such as "5s"'
    kind = "a whole number" if limits.kind == "whole" else "a number"
    return f"must be {kind} from {limits.low:g} to {limits.high:g}"


def _origins(reader: _Reader, raw: Mapping[str, Any]) -> tuple[str, ...]:
    origins = reader.strings(raw, "cors_origins", "", 'origins like "http://localhost:5173"')
    for origin in origins:
        if origin != "*" and (
            not origin.startswith(("http://", "https://")) or origin.endswith("/")
        ):
            reader.problem(
                ".cors_origins", f"{origin!r} is not an origin (scheme://host[:port], no path)"
            )
    return tuple(origins)


def _groups(reader: _Reader, raw: Mapping[str, Any]) -> dict[str, Access]:
    groups: dict[str, Access] = {}
    for name, body in reader.table(raw.get("groups"), ".groups").items():
        body = reader.table(body, f".groups.{name}")
        reader.unknown(f".groups.{name}", body, _GROUP_KEYS)
        groups[name] = reader.profile_list(body, f".groups.{name}")
    return groups


def _users(
    reader: _Reader, raw: Mapping[str, Any], groups: Mapping[str, Access]
) -> dict[str, User]:
    users: dict[str, User] = {}
    for name, body in reader.table(raw.get("users"), ".users").items():
        where = f".users.{name}"
        body = reader.table(body, where)
        reader.unknown(where, body, _USER_KEYS)
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
        own = None if isinstance(names, _Unwritten) else Access(names)
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


def _choice(reader: _Reader, raw: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(key, getattr(_DEFAULTS, key))
    if value not in allowed:
        reader.problem(f".{key}", f"must be one of {', '.join(allowed)}, not {value!r}")
        return str(getattr(_DEFAULTS, key))
    return str(value)


def _state_settings(reader: _Reader, raw: dict[str, Any]) -> StateSettings:
    reader.unknown(".state", raw, _STATE_KEYS)
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


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", bool: "true or false", float: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


class _Verifying(NamedTuple):
    """What [server.jwt] and each [server.trust.NAME] share: how a token is verified."""

    issuer: str
    audience: tuple[str, ...]
    jwks_url: str | None
    jwks_file: Path | None
    algorithms: tuple[str, ...]
    leeway: int


def _verifying(
    reader: _Reader, raw: dict[str, Any], where: str, audience_hint: str, discovery: bool
) -> _Verifying | None:
    """Issuer, audience, key source, algorithms and leeway of one table, or None (and the
    problems). With `discovery`, no key source means OIDC discovery at the issuer."""
    ok = True

    def text(key: str, required: bool = False) -> str | None:
        nonlocal ok
        value = raw.get(key)
        if value is None:
            if required:
                reader.problem(where, f"needs {key!r}")
                ok = False
            return None
        if not isinstance(value, str) or not value:
            reader.problem(f"{where}.{key}", "must be a non-empty string")
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
        reader.problem(f"{where}.audience", f"{audience_hint} (a string or a list)")
        ok = False
    jwks_url, jwks_file = text("jwks_url"), text("jwks_file")
    if jwks_url is not None and jwks_file is not None:
        reader.problem(where, "needs one of jwks_url or jwks_file, not both")
        ok = False
    elif jwks_url is None and jwks_file is None and not discovery:
        reader.problem(where, "needs exactly one of jwks_url or jwks_file")
        ok = False
    elif jwks_url is None and jwks_file is None and issuer is not None:
        problem = http_url_problem(issuer)
        if problem is not None:
            reader.problem(
                f"{where}.issuer",
                f"{problem}: its keys are found by OIDC discovery there "
                "(or set jwks_url or jwks_file)",
            )
            ok = False
    url_problem = http_url_problem(jwks_url) if jwks_url is not None else None
    if url_problem is not None:
        reader.problem(f"{where}.jwks_url", url_problem)
        ok = False
    algorithms = raw.get("algorithms", list(_JWT_DEFAULTS.algorithms))
    if (
        not isinstance(algorithms, list)
        or not algorithms
        or not all(isinstance(a, str) and a in JWT_ALGORITHMS for a in algorithms)
    ):
        reader.problem(
            f"{where}.algorithms",
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
        reader.problem(f"{where}.leeway", "must be 0 to 600 seconds")
        ok = False
    if not ok or issuer is None:
        return None
    return _Verifying(
        issuer,
        audience,
        jwks_url,
        Path(jwks_file) if jwks_file else None,
        tuple(algorithms),
        int(leeway),
    )


def _jwt_settings(reader: _Reader, raw: dict[str, Any]) -> JwtSettings | None:
    reader.unknown(".jwt", raw, _JWT_KEYS)
    verifying = _verifying(
        reader,
        raw,
        ".jwt",
        "needs the client id or API identifier",
        discovery=False,
    )
    names = {}
    for key in ("groups_claim", "token_id_claim"):
        value = raw.get(key, getattr(_JWT_DEFAULTS, key))
        if not isinstance(value, str) or not value:
            reader.problem(f".jwt.{key}", "must be a non-empty string")
            value = getattr(_JWT_DEFAULTS, key)
        names[key] = value
    if verifying is None:
        return None
    return JwtSettings(**verifying._asdict(), **names)


def _oidc(
    reader: _Reader, raw: Mapping[str, Any], auth: str
) -> tuple[JwtSettings | None, tuple[TrustSettings, ...]]:
    """[server.jwt] (sign-in) and [server.trust.NAME] (CI issuers): read with auth = "jwt",
    which needs at least one of them; each issuer is trusted by one table only."""
    if auth != "jwt":
        for table in ("jwt", "trust"):
            if table in raw:
                reader.problem(f".{table}", 'is only read with auth = "jwt"')
        return None, ()
    if "jwt" not in raw and "trust" not in raw:
        reader.problem(
            ".auth",
            'auth = "jwt" needs [server.jwt] (sign-in tokens) or [server.trust.NAME] '
            "(CI identity tokens)",
        )
        return None, ()
    trusts = _trusts(reader, raw)
    jwt = _jwt_settings(reader, reader.table(raw["jwt"], ".jwt")) if "jwt" in raw else None
    issuers = [trust.issuer for trust in trusts] + ([jwt.issuer] if jwt else [])
    for issuer in sorted({i for i in issuers if issuers.count(i) > 1}):
        reader.problem(
            ".trust",
            f"issuer {issuer!r} is trusted by more than one table; tokens are routed "
            "to one by their iss: put its rules in one [server.trust.NAME]",
        )
    return jwt, trusts


def _trusts(reader: _Reader, raw: Mapping[str, Any]) -> tuple[TrustSettings, ...]:
    trusts = []
    for name, body in reader.table(raw.get("trust"), ".trust").items():
        where = f".trust.{name}"
        body = reader.table(body, where)
        reader.unknown(where, body, _TRUST_KEYS)
        verifying = _verifying(
            reader,
            body,
            where,
            'needs the audience your pipelines ask for, e.g. "momento-tvm"',
            discovery=True,
        )
        issuer = verifying.issuer if verifying is not None else str(body.get("issuer", ""))
        provider = _provider(reader, body, where, issuer)
        rules = body.get("rules")
        if not isinstance(rules, list) or not rules:
            reader.problem(where, f"needs rules: [[server.trust.{name}.rules]] tables")
            rules = []
        parsed = tuple(
            rule
            for index, table in enumerate(rules)
            if (rule := _trust_rule(reader, table, f"{where}.rules[{index}]", issuer, provider))
        )
        if verifying is not None and len(parsed) == len(rules):
            trusts.append(
                TrustSettings(name=name, **verifying._asdict(), provider=provider, rules=parsed)
            )
    return tuple(trusts)


def _provider(reader: _Reader, raw: Mapping[str, Any], where: str, issuer: str) -> str | None:
    """The trust's CI provider: implied by GitHub Actions' and gitlab.com's issuers, named with
    `provider =` for GitHub Enterprise Server or self-managed GitLab."""
    from tvmcli.config.claim_rules import provider_of

    implied = provider_of(issuer)
    named = raw.get("provider")
    if named is None:
        return implied
    if not isinstance(named, str) or named not in CI_PROVIDERS:
        reader.problem(f"{where}.provider", f"must be one of {', '.join(CI_PROVIDERS)}")
        return implied
    if implied is not None and named != implied:
        reader.problem(f"{where}.provider", f"{issuer} is {implied}'s issuer, not {named}'s")
        return implied
    return named


def _trust_rule(
    reader: _Reader, raw: Any, where: str, issuer: str, provider: str | None
) -> TrustRule | None:
    from tvmcli.config import claim_rules

    if not isinstance(raw, dict):
        reader.problem(where, "must be a table")
        return None
    reader.unknown(where, raw, _RULE_KEYS)
    count = len(reader.problems.items)
    claims = raw.get("claims")
    patterns: list[tuple[str, str]] = []
    if not isinstance(claims, dict) or not claims:
        reader.problem(
            f"{where}.claims",
            'needs claims to match, e.g. { repository = "acme/web" }: a rule with none '
            "would trust every token of the issuer",
        )
    else:
        for claim, pattern in claims.items():
            if isinstance(pattern, bool):
                pattern = "true" if pattern else "false"
            elif isinstance(pattern, int):
                pattern = str(pattern)
            if not isinstance(pattern, str) or not pattern:
                reader.problem(
                    f"{where}.claims.{claim}", "must be a non-empty string (or a number)"
                )
                continue
            patterns.append((claim, pattern))
        problem = claim_rules.binding_problem(provider, issuer, patterns)
        if problem is not None and len(patterns) == len(claims):
            reader.problem(f"{where}.claims", problem)
    profiles = raw.get("profiles")
    if not isinstance(profiles, list) or not profiles:
        reader.problem(f"{where}.profiles", "needs the profiles this rule grants")
    else:
        reader.profile_list({"profiles": profiles}, where, every=False)
    template = reader.typed(raw, "token_id", str, where)
    if template is not None:
        try:
            named = claim_rules.template_claims(template)
        except ValueError as exc:
            reader.problem(f"{where}.token_id", str(exc))
        else:
            present = claim_rules.always_present(provider, (c for c, _ in patterns))
            for claim in named:
                if claim not in present:
                    also = provider
                    reader.problem(
                        f"{where}.token_id",
                        f"names {{{claim}}}, which a token matching this rule may lack: name "
                        "sub, a claim this rule matches"
                        + (
                            f", or one {claim_rules.PROVIDER_NAMES[also]} puts in every token"
                            if also
                            else ""
                        ),
                    )
    if len(reader.problems.items) > count:
        return None
    return TrustRule(tuple(patterns), tuple(profiles or ()), template)
