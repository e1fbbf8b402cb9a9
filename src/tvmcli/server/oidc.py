"""auth = "jwt": verify tokens from an OIDC provider: sign-in tokens (Cognito, Auth0, Keycloak,
...) with `JwtAuth`, CI identity tokens with the same `TokenVerifier` (`server/trust.py`).

Signatures are checked against the provider's JWKS with public-key algorithms only; `iss`,
`aud`, `exp`, `nbf` and `iat` are checked with a leeway. Refusals carry a reason code and
nothing more.

The JWKS (`JwksCache`) is fetched with one deadline for the whole exchange, refreshed on a
schedule (the provider's `Cache-Control: max-age`, within bounds) so removed keys are dropped,
and fetched early when a token names an unknown `kid` (key rotation), at most once per
cooldown however many unknown kids arrive. After a failed fetch the next try waits 1 s, then
2, 4, ... up to a minute; while no keys were ever fetched the server answers 503 with that
wait as Retry-After. When a refresh fails the keys already known stay in use.

Without jwks_url or jwks_file the JWKS address comes from OIDC discovery
(`ISSUER/.well-known/openid-configuration`, whose `issuer` must be the configured one),
fetched again at every refresh, discovery and JWKS within the one deadline.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

from tvmcli.config.settings import JwtSettings, Verification
from tvmcli.credentials.jwtcodec import load_json
from tvmcli.server.auth import Authenticator, Principal, Unauthorized
from tvmcli.system.httpfetch import Fetched, FetchError, fetch
from tvmcli.system.netaddr import http_url_problem

# The key type each algorithm family verifies with: an RS256 header naming an EC key is refused
# before PyJWT is asked (it would raise TypeError).
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}

FETCH_DEADLINE = 5.0  # the whole fetch: connect, TLS, head and body
MAX_JWKS_BYTES = 1 << 20
REFRESH_DEFAULT = 300.0  # without Cache-Control: max-age
REFRESH_MIN, REFRESH_MAX = 30.0, 3600.0  # max-age is honoured within these
UNKNOWN_KID_COOLDOWN = 5.0  # an unknown kid fetches at most once per this
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # backoff after a failed fetch

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_log = logging.getLogger("tvmcli.server")


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class IdentityProviderUnavailable(Exception):
    """No keys were ever fetched and the JWKS cannot be: the server answers 503."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the JWKS cannot be fetched; retry after {retry_after:.0f}s")
        self.retry_after = retry_after


class JwksCache:
    """The provider's signing keys by `kid`. `clock` drives the schedule (tests pass their
    own); `fetch_deadline` bounds each fetch in real seconds."""

    def __init__(
        self,
        settings: Verification,
        clock: Callable[[], float] = time.monotonic,
        *,
        fetch_deadline: float = FETCH_DEADLINE,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._deadline = fetch_deadline
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded = False  # a fetch has succeeded (its key set may still be empty)
        self._refresh_at = 0.0  # when the scheduled refresh is due
        self._retry_at = 0.0  # no fetch before this after a failure
        self._failures = 0
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key for `kid`, or None. Raises IdentityProviderUnavailable while no key set was
        ever fetched."""
        key = self._keys.get(kid)
        if key is not None:
            if self._due() and not self._lock.locked():
                # This request refreshes (within the fetch deadline); requests arriving
                # meanwhile go on with the keys already known.
                async with self._lock:
                    if self._due():
                        await self._refresh()
                return self._keys.get(kid)  # None if the provider has removed it
            return key
        async with self._lock:  # one fetch for a crowd of unknown kids
            if kid not in self._keys and self._may_fetch_for_unknown_kid():
                await self._refresh()
        if not self._loaded:
            raise IdentityProviderUnavailable(max(1.0, self._retry_at - self._clock()))
        return self._keys.get(kid)

    def _due(self) -> bool:
        return self._clock() >= max(self._refresh_at, self._retry_at)

    def _may_fetch_for_unknown_kid(self) -> bool:
        now = self._clock()
        if now < self._retry_at:
            return False
        if not self._loaded:
            return True
        return self._last_attempt is None or now - self._last_attempt >= UNKNOWN_KID_COOLDOWN

    async def _refresh(self) -> None:
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            document, max_age = await self._load()
        except (FetchError, OSError, ValueError) as exc:
            self._failures += 1
            wait = min(RETRY_MAX, RETRY_FIRST * 2 ** (self._failures - 1))
            self._retry_at = self._clock() + wait
            reason = str(exc) if isinstance(exc, FetchError) else type(exc).__name__
            _log.warning(
                "cannot fetch the JWKS of %s: %s; next try in %.0fs",
                self.settings.issuer,
                reason,
                wait,
            )
            return
        self._failures, self._retry_at = 0, 0.0
        self._keys, self._loaded = _signing_keys(document), True
        interval = REFRESH_DEFAULT if max_age is None else max_age
        self._refresh_at = self._clock() + min(REFRESH_MAX, max(REFRESH_MIN, interval))

    async def _load(self) -> tuple[dict[str, Any], float | None]:
        settings = self.settings
        max_age: float | None = None
        if settings.jwks_file is not None:
            raw = await asyncio.to_thread(_read_jwks_file, settings.jwks_file)
        else:
            # One deadline, in real seconds, for discovery and the JWKS together.
            ends = time.monotonic() + self._deadline
            url = settings.jwks_url or await self._discover(ends)
            fetched = await self._fetch(url, ends)
            raw = fetched.body
            found = _MAX_AGE.search(fetched.headers.get("cache-control", ""))
            max_age = float(found.group(1)) if found else None
        document = load_json(raw)  # untrusted: ValueError, never RecursionError
        if not isinstance(document, dict):
            raise ValueError("a JWKS is a JSON object")
        return document, max_age

    async def _fetch(self, url: str, ends: float) -> Fetched:
        left = ends - time.monotonic()
        if left <= 0:
            raise FetchError(f"no complete answer within {self._deadline:g}s")
        return await fetch(
            url,
            deadline=left,
            max_bytes=MAX_JWKS_BYTES,
            allowed=lambda target: http_url_problem(target) is None,
        )

    async def _discover(self, ends: float) -> str:
        """The `jwks_uri` of the issuer's discovery document (OIDC Discovery 1.0, 4)."""
        issuer = self.settings.issuer
        document = load_json((await self._fetch(discovery_url(issuer), ends)).body)
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise FetchError("the discovery document does not name this issuer")
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or http_url_problem(uri) is not None:
            raise FetchError("the discovery document has no https jwks_uri")
        return uri


def _signing_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys = {}
    entries = document.get("keys", [])
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue  # a key type we cannot use; the others still count
    return keys


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by dotted path ('realm_access.roles') when no claim has that name."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class TokenVerifier(Authenticator):
    """A bearer JWT checked against one issuer's keys and rules; `principal` says who the
    verified claims name. `WHAT` is how refusals call the token."""

    WHAT = "sign-in token"
    REQUIRED: tuple[str, ...] = ("exp", "iat", "iss", "aud")
    CHALLENGE = 'Bearer realm="momento-tvm"'

    def __init__(self, settings: Verification, jwks: JwksCache | None = None) -> None:
        self.verifying = settings
        self.jwks = jwks or JwksCache(settings)

    def refuse(self, code: str, message: str | None = None) -> Unauthorized:
        challenge = f'{self.CHALLENGE}, error="invalid_token"'
        return Unauthorized(code, message or f"the {self.WHAT} is not valid", challenge)

    def bearer(self, authorization: str | None) -> str:
        """The token of `Authorization: Bearer TOKEN`, or a refusal."""
        if not authorization:
            raise Unauthorized(
                "missing_credentials",
                "send Authorization: Bearer <ID or access token>",
                self.CHALLENGE,
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self.refuse("invalid_token")
        return token

    def _algorithm_and_kid(self, token: str) -> tuple[str, str]:
        """The header's `alg` (one we accept) and `kid` (a string), or a refusal. A header
        with `crit` is refused: this verifier implements no extension (RFC 7515, 4.1.11)."""
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise self.refuse("invalid_token") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if (
            not isinstance(algorithm, str)
            or algorithm not in self.verifying.algorithms
            or not isinstance(kid, str)
            or "crit" in header
        ):
            raise self.refuse("invalid_token")
        return algorithm, kid

    async def authenticate(self, authorization: str | None) -> Principal:
        return self.principal(await self.verified(self.bearer(authorization)))

    async def verified(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, issuer, audience and times check out."""
        algorithm, kid = self._algorithm_and_kid(token)
        key = await self.jwks.key(kid)
        if key is None or _KEY_TYPES[algorithm[:2]] != key.key_type:
            raise self.refuse("invalid_token")  # unknown kid, or a key of another family
        settings = self.verifying
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=list(settings.audience),
                issuer=settings.issuer,
                leeway=settings.leeway,
                options={"require": list(self.REQUIRED), "verify_iat": True},
            )
        except jwt.ExpiredSignatureError:
            raise self.refuse("token_expired", f"the {self.WHAT} has expired") from None
        except jwt.ImmatureSignatureError:
            raise self.refuse("token_not_yet_valid") from None
        except jwt.InvalidIssuerError:
            raise self.refuse("wrong_issuer") from None
        except jwt.InvalidAudienceError:
            raise self.refuse("wrong_audience") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # Every other way a token can be wrong (a key PyJWT cannot use for this algorithm
            # raises TypeError, a curve mismatch InvalidKeyError): one answer, and no message
            # of the attacker's making reaches a log.
            raise self.refuse("invalid_token") from None
        return claims

    def principal(self, claims: dict[str, Any]) -> Principal:
        raise NotImplementedError


class JwtAuth(TokenVerifier):
    """[server.jwt]: a sign-in token; its groups claim picks [server.groups]."""

    def __init__(self, settings: JwtSettings, jwks: JwksCache | None = None) -> None:
        super().__init__(settings, jwks)
        self.settings = settings

    def principal(self, claims: dict[str, Any]) -> Principal:
        identity = claim_at(claims, self.settings.token_id_claim)
        if not isinstance(identity, str) or not identity:
            raise self.refuse("invalid_token")
        groups = claim_at(claims, self.settings.groups_claim)
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            groups = []
        return Principal(
            identity,
            identity,
            tuple(g for g in groups if isinstance(g, str)),
            issuer=self.settings.issuer,
        )


def _read_jwks_file(path: Path) -> bytes:
    """At most MAX_JWKS_BYTES of a jwks_file: a larger one (or /dev/zero) is a ValueError,
    never read to the end."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_JWKS_BYTES + 1)
    if len(raw) > MAX_JWKS_BYTES:
        raise ValueError("the jwks_file is over 1 MiB")
    return raw
