"""The servicer: authenticates, rate-limits and validates like Momento's token service.

Keys and tokens are HS256 JWTs signed with the emulator's secret. API keys have the v2 shape
(claim "t": "g"); disposable tokens carry the exact grant in claim "p" as the protobuf JSON
mapping of the Permissions message, so a decoder can turn it back into that message.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from momento_wire_types import permissionmessages_pb2 as pb
from momento_wire_types import token_pb2, token_pb2_grpc

from tvmcli.credentials import decoding, jwtcodec
from tvmcli.credentials.decoding import EMULATOR_ISSUER
from tvmcli.permissions.roles import RESOURCE_BY_WIRE, WIRE
from tvmcli.permissions.statements import (
    ACCOUNT_MINTS_PER_SECOND,
    MAX_LIFETIME_SECONDS,
    MAX_STATEMENTS,
    MAX_TOKEN_ID_LENGTH,
)

log = logging.getLogger("tvmcli.emulator")

ISSUER = EMULATOR_ISSUER  # `can` reads it to recognise the emulator's API key
DEFAULT_RATE_LIMIT = ACCOUNT_MINTS_PER_SECOND


class Refusal(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Faults:
    """Injected trouble. `fail_first` calls fail, then each call fails with `fail_rate` odds."""

    latency: float = 0.0
    fail_rate: float = 0.0
    fail_first: int = 0
    fail_status: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE


@dataclass(frozen=True)
class ReceivedRequest:
    """What arrived on the wire, minus the key: for tests that check the exact grant."""

    permissions: pb.Permissions
    valid_for_seconds: int
    token_id: str


class SlidingWindowLimiter:
    """At most `limit` operations in any window of `window` seconds (0 means no limit)."""

    def __init__(
        self, limit: int, window: float = 1.0, clock: Callable[[], float] = time.monotonic
    ):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        if self.limit <= 0:
            return True
        with self._lock:
            now = self._clock()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False
            self._times.append(now)
            return True


class TokenService(token_pb2_grpc.TokenServicer):
    def __init__(
        self,
        secret: bytes,
        *,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._secret = secret
        self.endpoint = ""
        self.faults = faults or Faults()
        self.limiter = SlidingWindowLimiter(rate_limit)
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self.calls = 0
        self.mints = 0
        self.mint_times: list[float] = []
        self.refusals: collections.Counter[str] = collections.Counter()
        self.received: collections.deque[ReceivedRequest] = collections.deque(maxlen=1000)

    # -- keys ---------------------------------------------------------------------------------

    def issue_api_key(
        self, *, expires_in: int | None = None, can_mint: bool = True, subject: str = "emulator"
    ) -> str:
        """A v2-shaped API key (JWT with "t": "g") that this service accepts."""
        now = int(self._clock())
        claims: dict[str, Any] = {"t": "g", "iss": ISSUER, "sub": subject, "iat": now}
        claims["jti"] = uuid.uuid4().hex
        if expires_in is not None:
            claims["exp"] = now + expires_in
        if not can_mint:
            claims["mint"] = False
        return jwtcodec.sign_hs256(claims, self._secret)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": self.calls, "mints": self.mints, "refusals": dict(self.refusals)}

    # -- the RPC ------------------------------------------------------------------------------

    def GenerateDisposableToken(
        self, request: token_pb2._GenerateDisposableTokenRequest, context: grpc.ServicerContext
    ) -> token_pb2._GenerateDisposableTokenResponse:
        with self._lock:
            self.calls += 1
            call_number = self.calls
        try:
            self._inject_faults(call_number)
            key_claims = self._authenticate(request, context)
            if not self.limiter.allow():
                raise Refusal(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"Request rate exceeded the limit for this account "
                    f"({self.limiter.limit} auth operations per second)",
                )
            self._validate(request)
            response = self._issue(request, key_claims)
        except Refusal as refusal:
            with self._lock:
                self.refusals[refusal.code.name] += 1
            log.info("refused %s: %s", refusal.code.name, refusal.message)
            context.abort(refusal.code, refusal.message)
            raise AssertionError("context.abort returns only by raising") from None
        with self._lock:
            self.mints += 1
            self.mint_times.append(time.monotonic())
            self.received.append(
                ReceivedRequest(
                    permissions=_copy(request.permissions),
                    valid_for_seconds=request.expires.valid_for_seconds,
                    token_id=request.token_id,
                )
            )
        log.info(
            "minted token_id=%s statements=%d valid_for=%ds",
            "".join(c if c.isprintable() else "?" for c in request.token_id) or "-",
            len(request.permissions.explicit.permissions),
            request.expires.valid_for_seconds,
        )
        return response

    def _inject_faults(self, call_number: int) -> None:
        faults = self.faults
        if faults.latency > 0:
            time.sleep(faults.latency)
        if call_number <= faults.fail_first or (
            faults.fail_rate > 0 and self._rng() < faults.fail_rate
        ):
            raise Refusal(faults.fail_status, f"injected fault ({faults.fail_status.name})")

    def _authenticate(
        self, request: token_pb2._GenerateDisposableTokenRequest, context: grpc.ServicerContext
    ) -> dict[str, Any]:
        presented = request.auth_token or dict(context.invocation_metadata()).get(
            "authorization", ""
        )
        _, claims = verified_claims(
            presented, self._secret, self._clock, "Invalid API key", "API key has expired"
        )
        if "p" in claims:
            raise Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                "Insufficient permissions: a disposable token cannot mint tokens",
            )
        if claims.get("t") != "g" or claims.get("mint") is False:
            raise Refusal(grpc.StatusCode.PERMISSION_DENIED, "Insufficient permissions")
        return claims

    def _validate(self, request: token_pb2._GenerateDisposableTokenRequest) -> None:
        lifetime = request.expires.valid_for_seconds
        if not 1 <= lifetime <= MAX_LIFETIME_SECONDS:
            raise _invalid(
                f"expires.valid_for_seconds must be 1 to {MAX_LIFETIME_SECONDS}, got {lifetime}"
            )
        if len(request.token_id) > MAX_TOKEN_ID_LENGTH:
            raise _invalid(f"token_id is longer than {MAX_TOKEN_ID_LENGTH} characters")
        kind = request.permissions.WhichOneof("kind")
        if kind == "super_user":
            raise _invalid("disposable tokens cannot have super user permissions")
        if kind != "explicit":
            raise _invalid("permissions are missing")
        statements = request.permissions.explicit.permissions
        if not 1 <= len(statements) <= MAX_STATEMENTS:
            raise _invalid(
                f"a token needs 1 to {MAX_STATEMENTS} permissions, got {len(statements)}"
            )
        targets: dict[bytes, tuple[int, int]] = {}
        for index, statement in enumerate(statements):
            target, role = _check_statement(index, statement)
            if target in targets:
                earlier, earlier_role = targets[target]
                word = "duplicates" if earlier_role == role else "conflicts with"
                raise _invalid(f"permissions[{index}] {word} permissions[{earlier}]")
            targets[target] = (index, role)

    def _issue(
        self, request: token_pb2._GenerateDisposableTokenRequest, key_claims: dict[str, Any]
    ) -> token_pb2._GenerateDisposableTokenResponse:
        now = int(self._clock())
        valid_until = now + request.expires.valid_for_seconds
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": key_claims.get("sub", "emulator"),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": valid_until,
            "p": json_format.MessageToDict(request.permissions, preserving_proto_field_name=True),
        }
        if request.token_id:
            claims["id"] = request.token_id
        return token_pb2._GenerateDisposableTokenResponse(
            api_key=jwtcodec.sign_hs256(claims, self._secret),
            endpoint=self.endpoint,
            valid_until=valid_until,
        )


def _copy(message: pb.Permissions) -> pb.Permissions:
    clone = pb.Permissions()
    clone.CopyFrom(message)
    return clone


def _invalid(message: str) -> Refusal:
    return Refusal(grpc.StatusCode.INVALID_ARGUMENT, message)


def verified_claims(
    presented: object, key: bytes, clock: Callable[[], float], invalid: str, expired: str
) -> tuple[str, dict[str, Any]]:
    """The credential presented (str or bytes: a bare JWT or a v1 envelope around one) and its
    claims, if this emulator signed it with `key` and its exp has not passed by `clock`;
    otherwise Refusal(UNAUTHENTICATED) saying `invalid` or `expired`. The token service's and the
    data plane's gate check a caller alike; only their words differ."""
    if isinstance(presented, bytes):
        presented = presented.decode("utf-8", "replace")
    secret = _inner_key(presented) if isinstance(presented, str) else ""
    claims = jwtcodec.verify_hs256(secret, key) if secret else None
    if claims is None:
        raise Refusal(grpc.StatusCode.UNAUTHENTICATED, invalid)
    expires = claims.get("exp")
    if isinstance(expires, (int, float)) and expires <= clock():
        raise Refusal(grpc.StatusCode.UNAUTHENTICATED, expired)
    return secret, claims


def _inner_key(presented: str) -> str:
    """The JWT inside whatever was presented: a bare key, or a v1 envelope around one."""
    presented = presented.strip()
    if not presented or "." in presented:
        return presented
    try:
        return decoding.parse_credential(presented).secret
    except decoding.CredentialFormatError:
        return ""


def _check_statement(index: int, statement: pb.PermissionsType) -> tuple[bytes, int]:
    """Refuse what the service refuses; return (target bytes, role) for duplicate checks."""
    at = f"permissions[{index}]"
    kind = statement.WhichOneof("kind")
    if kind is None:
        raise _invalid(f"{at} grants nothing: no cache, topic or function permission")
    body = getattr(statement, kind)
    if body.role == 0:
        raise _invalid(f"{at} has no role (PermitNone)")
    cache_kind = body.WhichOneof("cache")
    if cache_kind is None:
        raise _invalid(f"{at} selects no cache")
    if cache_kind == "cache_selector" and not body.cache_selector.cache_name:
        raise _invalid(f"{at} has an empty cache name")
    _, _, inner_oneof, all_field, selector_field = WIRE[RESOURCE_BY_WIRE[kind]]
    inner = body.WhichOneof(inner_oneof)
    # A cache permission with no item selector means every item: both SDKs send that shape for
    # cacheReadOnly(AllCaches), AllDataReadWrite and cache-plus-topic scopes, and Momento's own
    # integration test expects it to work. Topic and function statements must still say.
    if inner is None and kind != "cache_permissions":
        raise _invalid(f"{at} selects no {inner_oneof}")
    if inner == selector_field:
        selector = getattr(body, selector_field)
        which = selector.WhichOneof("kind")
        if which is None or not getattr(selector, which):
            raise _invalid(f"{at} has an empty {selector_field.replace('_', ' ')}")
    target = pb.PermissionsType()
    target.CopyFrom(statement)
    getattr(target, kind).role = 0
    if inner is None:  # the same target as all_items, for the duplicate check
        getattr(getattr(target, kind), all_field).SetInParent()
    return target.SerializeToString(deterministic=True), int(body.role)
