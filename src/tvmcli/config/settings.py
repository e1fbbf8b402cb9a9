"""What the [server] table of the profiles file holds: frozen ServerSettings and its parts, with
their defaults (written once, here), the ranges of its numbers and the keys of each table.
`server_table.parse_server_settings` reads it.

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
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tvmcli.config.access import Access, combine
from tvmcli.credentials.sources import DEFAULT_TIMEOUT
from tvmcli.permissions.statements import ACCOUNT_MINTS_PER_SECOND, MAX_LIFETIME_SECONDS
from tvmcli.system.netaddr import is_loopback

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

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METRICS_AUTH = ("server", "none")

CI_PROVIDERS = ("github", "gitlab")


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str | None = None
    password_env: str | None = None
    groups: tuple[str, ...] = ()
    access: Access | None = None  # its own `profiles` (None: not written): narrow its groups'
    default_profile: str | None = None


@dataclass(frozen=True)
class Verification:
    """How a sign-in token is verified: what [server.jwt] and each [server.trust.NAME] share,
    and all a verifier (`server/oidc.py`) reads."""

    issuer: str
    audience: tuple[str, ...]
    jwks_url: str | None = None
    jwks_file: Path | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: int = 60


@dataclass(frozen=True)
class JwtSettings(Verification):
    """How to verify sign-in tokens from an OIDC provider (auth = "jwt")."""

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
class TrustSettings(Verification):
    """A CI issuer (GitHub Actions, GitLab, ...) whose ID tokens are traded for profiles by
    claim rules. Verified as [server.jwt] is; without jwks_url or jwks_file the keys are found
    by OIDC discovery at the issuer."""

    name: str = field(kw_only=True)  # the table's NAME
    provider: str | None = None  # "github" or "gitlab": which claims its tokens carry
    rules: tuple[TrustRule, ...] = ()


@dataclass(frozen=True)
class StateSettings:
    """Where a fleet keeps shared state: "memory" (this process) or Momento's cache."""

    backend: str = "memory"
    cache: str = "momento-tvm-state"


STATE_BACKENDS = ("memory", "momento")


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


DEFAULTS = ServerSettings()  # the one place defaults are written: the dataclasses above

JWT_DEFAULTS = JwtSettings(issuer="", audience=())


@dataclass(frozen=True)
class Range:
    kind: str  # "number", "whole" or "duration" (a number of seconds or "90s", "2m")
    low: float
    high: float


# Every number in [server] and its range. A value outside is a problem naming the field.
NUMBERS = {
    "port": Range("whole", 0, 65535),
    "workers": Range("whole", 1, 256),
    "reuse_share": Range("number", 0.01, 1.0),
    "min_ttl": Range("duration", 0, MAX_LIFETIME_SECONDS),
    "mint_rate": Range("number", 0.1, 1000),
    "mint_queue": Range("duration", 0, 60),
    "client_rate": Range("number", 0, 100_000),
    "client_burst": Range("whole", 1, 100_000),
    "max_body_bytes": Range("whole", 0, 1 << 20),
    "max_header_bytes": Range("whole", 1024, 1 << 20),
    "timeout": Range("duration", 0.1, 600),
    "header_timeout": Range("duration", 0.1, 300),
    "idle_timeout": Range("duration", 0.1, 3600),
    "max_connections": Range("whole", 1, 1_000_000),
}


def user_access(user: User, groups: Mapping[str, Access]) -> Access:
    """What a [server.users.NAME] may use: its groups' profiles, narrowed by its own."""
    member_of = [groups[g] for g in user.groups if g in groups]
    return combine(member_of, user.access, user.default_profile)


def _file_keys(
    cls: type,
    *,
    written_as: Mapping[str, tuple[str, ...]] | None = None,
    left_out: tuple[str, ...] = (),
) -> frozenset[str]:
    """The keys a table of the file may hold: its dataclass's fields, as they are written there
    (`written_as`: a field read from other keys; `left_out`: fields no key sets)."""
    written_as = written_as or {}
    return frozenset(
        key
        for f in dataclasses.fields(cls)
        if f.name not in left_out
        for key in written_as.get(f.name, (f.name,))
    )


# The keys of each table, derived from the dataclasses above: a new field is a new key.
SERVER_KEYS = _file_keys(
    ServerSettings,
    written_as={
        "access": ("profiles", "default_profile"),
        "bearer_tokens_env": ("bearer",),
        "bearer_tokens_file": ("bearer",),
        "trusts": ("trust",),
    },
    left_out=("web_endpoint", "warnings"),  # a flag's and the reader's, not the file's
)
BEARER_KEYS = frozenset(
    f.name.removeprefix("bearer_")
    for f in dataclasses.fields(ServerSettings)
    if f.name.startswith("bearer_")
)
USER_KEYS = _file_keys(User, written_as={"access": ("profiles",)}, left_out=("name",))
GROUP_KEYS = frozenset({"profiles", "default_profile"})  # an Access: its profiles and default
JWT_KEYS = _file_keys(JwtSettings)
TRUST_KEYS = _file_keys(TrustSettings, left_out=("name",))
RULE_KEYS = _file_keys(TrustRule)
STATE_KEYS = _file_keys(StateSettings)
