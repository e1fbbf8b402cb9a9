"""auth = "jwt": verify sign-in tokens from an OIDC provider (Cognito, Auth0, Keycloak, ...).

Signatures are checked against the provider's JWKS with public-key algorithms only; `iss`,
`aud`, `exp`, `nbf` and `iat` are checked with a leeway. Keys are cached and fetched again on
an unknown `kid`, at most once a minute. Refusals carry a reason code and nothing more.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import jwt

from tvmcli.server.auth import Authenticator, Principal, Unauthorized
from tvmcli.settings import JwtSettings

# The key type each algorithm family verifies with: an RS256 header naming an EC key is refused
# before PyJWT is asked (it would raise TypeError).
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}

REFETCH_INTERVAL = 60.0
FETCH_TIMEOUT = 5.0
MAX_JWKS_BYTES = 1 << 20


class IdentityProviderUnavailable(Exception):
    """The JWKS could not be fetched and no keys are known: the server answers 503."""


class JwksCache:
    def __init__(self, settings: JwtSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and self._may_refetch():
                await self._refresh()
        return self._keys.get(kid)

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= REFETCH_INTERVAL

    async def _refresh(self) -> None:
        self._fetched_at = self._clock()
        try:
            document = await asyncio.to_thread(self._load)
            keys = {}
            for entry in document.get("keys", []):
                if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                    continue
                if entry.get("use", "sig") != "sig":
                    continue
                try:
                    keys[entry["kid"]] = jwt.PyJWK(entry)
                except (jwt.PyJWKError, jwt.InvalidKeyError):
                    continue  # a key type we cannot use; the others still count
        except (OSError, ValueError) as exc:
            if not self._keys:
                raise IdentityProviderUnavailable(type(exc).__name__) from None
            return  # keep the keys we have; try again after the interval
        self._keys = keys

    def _load(self) -> dict[str, Any]:
        settings = self.settings
        if settings.jwks_file is not None:
            raw = settings.jwks_file.read_bytes()[:MAX_JWKS_BYTES]
        else:
            assert settings.jwks_url is not None
            # The settings admit only http(s) URLs, so no file: or custom scheme reaches here.
            request = urllib.request.Request(  # noqa: S310
                settings.jwks_url, headers={"Accept": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
                raw = response.read(MAX_JWKS_BYTES)
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("a JWKS is a JSON object")
        return document


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


class JwtAuth(Authenticator):
    _CHALLENGE = 'Bearer realm="momento-tvm"'

    def __init__(self, settings: JwtSettings, jwks: JwksCache | None = None) -> None:
        self.settings = settings
        self.jwks = jwks or JwksCache(settings)

    def _refuse(self, code: str, message: str = "the sign-in token is not valid") -> Unauthorized:
        challenge = f'{self._CHALLENGE}, error="invalid_token"'
        return Unauthorized(code, message, challenge)

    def _algorithm_and_kid(self, token: str) -> tuple[str, str]:
        """The header's `alg` (one we accept) and `kid` (a string), or a refusal. A header
        with `crit` is refused: this verifier implements no extension (RFC 7515, 4.1.11)."""
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise self._refuse("invalid_token") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if (
            not isinstance(algorithm, str)
            or algorithm not in self.settings.algorithms
            or not isinstance(kid, str)
            or "crit" in header
        ):
            raise self._refuse("invalid_token")
        return algorithm, kid

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized(
                "missing_credentials",
                "send Authorization: Bearer <ID or access token>",
                self._CHALLENGE,
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._refuse("invalid_token")
        algorithm, kid = self._algorithm_and_kid(token)
        key = await self.jwks.key(kid)
        if key is None or _KEY_TYPES[algorithm[:2]] != key.key_type:
            raise self._refuse("invalid_token")  # unknown kid, or a key of another family
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=list(self.settings.audience),
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": ["exp", "iat", "iss", "aud"], "verify_iat": True},
            )
        except jwt.ExpiredSignatureError:
            raise self._refuse("token_expired", "the sign-in token has expired") from None
        except jwt.ImmatureSignatureError:
            raise self._refuse("token_not_yet_valid") from None
        except jwt.InvalidIssuerError:
            raise self._refuse("wrong_issuer") from None
        except jwt.InvalidAudienceError:
            raise self._refuse("wrong_audience") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # Every other way a token can be wrong (a key PyJWT cannot use for this algorithm
            # raises TypeError, a curve mismatch InvalidKeyError): one answer, and no message
            # of the attacker's making reaches a log.
            raise self._refuse("invalid_token") from None
        identity = claim_at(claims, self.settings.token_id_claim)
        if not isinstance(identity, str) or not identity:
            raise self._refuse("invalid_token")
        groups = claim_at(claims, self.settings.groups_claim)
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            groups = []
        return Principal(identity, identity, tuple(g for g in groups if isinstance(g, str)))
