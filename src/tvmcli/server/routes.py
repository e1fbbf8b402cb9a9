"""The handlers of the vending API and the policy they apply: who may have which profile,
which token id, and how the core's errors become HTTP answers."""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from tvmcli.config.access import choose_profile
from tvmcli.config.file import Config
from tvmcli.config.profiles import TokenIdRefused, choose_token_id
from tvmcli.errors import MintLimitError, ProfileChoiceError, TvmError
from tvmcli.server.access_log import printable
from tvmcli.server.audit import AuditLog
from tvmcli.server.auth import Authenticator, Principal, Unauthorized, access_for
from tvmcli.server.errors import ApiError
from tvmcli.server.metrics import CONTENT_TYPE, Metrics, NoMetrics
from tvmcli.server.oidc import IdentityProviderUnavailable
from tvmcli.server.openapi import openapi_document
from tvmcli.server.record import record_of
from tvmcli.system.durations import iso_utc
from tvmcli.vending.core import TokenVendor
from tvmcli.vending.limiter import Limiter
from tvmcli.version import __version__

ANSWERED_RECENTLY = 300.0
log = logging.getLogger("tvmcli.server")
_NO_STORE = {"Cache-Control": "no-store"}


class Routes:
    def __init__(
        self,
        config: Config,
        vendor: TokenVendor,
        limiter: Limiter,
        authenticator: Authenticator,
        clock: Callable[[], float] = time.time,
        *,
        metrics: Metrics | NoMetrics | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.config = config
        self.settings = config.server
        self.vendor = vendor
        self.limiter = limiter
        self.authenticator = authenticator
        self.clock = clock
        self.metrics = metrics or NoMetrics()
        self.audit = audit

    async def principal_of(self, request: Request) -> Principal:
        authorization = authorization_of(request.scope)
        try:
            principal = self.authenticator.at_once(authorization)
            if principal is None:
                principal = await self.authenticator.authenticate(authorization)
            return principal
        except IdentityProviderUnavailable as outage:
            raise ApiError(
                503,
                "identity_provider_unavailable",
                "cannot fetch the sign-in keys; retry shortly",
                {"Retry-After": str(max(1, math.ceil(outage.retry_after)))},
            ) from None
        except Unauthorized as refusal:
            self.metrics.auth_failed(refusal.code)
            raise ApiError(
                401, refusal.code, refusal.message, {"WWW-Authenticate": refusal.challenge}
            ) from None

    async def token(self, request: Request) -> Response:
        query = single_values(request)
        principal = await self.principal_of(request)
        record = record_of(request.scope)  # what the access log and the audit trail read
        record.principal = principal.name
        record.audit = principal.audit(None)
        access = access_for(principal, self.settings)
        try:
            profile = choose_profile(access, self.config.profiles, query.get("profile"))
        except ProfileChoiceError as refusal:
            raise ApiError(refusal.http_status, refusal.code, refusal.public_message) from None
        name = profile.name
        record.profile = name
        record.audit = principal.audit(name)
        token_id = token_id_for(profile.token_id, principal.identity_for(name), query.get("name"))
        record.token_id = token_id
        try:
            minted, source = self.vendor.cached(profile, profile.expires_in, token_id), "hit"
            if minted is None:
                minted, source = await self.vendor.vend(profile, profile.expires_in, token_id)
        except TvmError as error:
            self.metrics.vend(name, error.code)
            if error.http_status in (502, 503, 504) and not isinstance(error, MintLimitError):
                # The operator sees Momento's reason (status and message, never the key); the
                # caller sees only the public message.
                log.warning("vend %s: %s", name, printable(error.message))
            raise api_error_for(error) from None
        self.metrics.vend(name, source)
        request_id = request_id_of(request.scope)
        if self.audit is not None:
            self.audit.record(
                principal=principal.name,
                issuer=principal.issuer,
                auth=self.settings.auth,
                profile=name,
                token_id=token_id,
                expires_at=minted.expires_at,
                client=record.client or "-",  # the Guard's: proxies taken into account
                source=source,
                request_id=request_id,
            )
        # `now` (the server's epoch seconds) lets a browser schedule its refresh from
        # expiresAt - now instead of its own clock, which may be off (client.js does). The rest
        # of the body is serialised once per token (`Token.tvm_json_prefix`).
        body = minted.tvm_json_prefix(self.settings.web_endpoint) + b',"now":%d}' % int(
            self.clock()
        )
        return _TokenResponse(body, request_id)

    async def metrics_page(self, request: Request) -> Response:
        """GET /metrics: the same auth as /token unless metrics_auth = "none" (loopback only,
        checked at start-up). Never under CORS: the Guard drops `Origin` on this path."""
        if self.settings.metrics_auth != "none":
            await self.principal_of(request)
        assert isinstance(self.metrics, Metrics)
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    async def list_profiles(self, request: Request) -> Response:
        access = access_for(await self.principal_of(request), self.settings)
        profiles = self.config.profiles
        allowed = access.allowed(profiles)
        body = [
            {
                "name": p.name,
                "description": p.description,
                "expiresIn": p.expires_in,
                "default": p.name == access.default,
            }
            for p in profiles.values()
            if p.name in allowed
        ]
        return JSONResponse({"profiles": body}, headers=_NO_STORE)

    async def healthz(self, request: Request) -> Response:
        vendor = self.vendor
        now = self.clock()
        answered = (
            vendor.last_answer_at is not None and now - vendor.last_answer_at < ANSWERED_RECENTLY
        )
        failing = vendor.last_error_at is not None and (
            vendor.last_answer_at is None or vendor.last_error_at > vendor.last_answer_at
        )
        status = "degraded" if failing else ("ok" if answered else "idle")
        body = {
            "status": status,
            "version": __version__,
            "tokenService": {
                "answeredRecently": answered,
                "lastAnswerAt": iso_utc(vendor.last_answer_at),
                "lastErrorAt": iso_utc(vendor.last_error_at),
                "lastError": vendor.last_error,
            },
            "mints": vendor.mints,
            "cacheHits": vendor.hits,
            "sharedHits": vendor.shared_hits,
            "shed": self.limiter.shed,
            "state": self._state(),
        }
        return JSONResponse(body, status_code=503 if failing else 200, headers=_NO_STORE)

    def _state(self) -> dict[str, object]:
        shared = self.vendor.shared
        if shared is None:
            return {"backend": "memory"}
        return {
            "backend": "momento",
            "cache": shared.cache_name,
            "degraded": shared.degraded,  # serving from this process's memory meanwhile
            "reason": shared.degraded_reason,
        }

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


class _TokenResponse(Response):
    """A token answer: JSON bytes made by the caller, headers computed once."""

    media_type = "application/json"

    def __init__(self, body: bytes, request_id: str) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
            (b"cache-control", b"no-store"),
            (b"x-request-id", request_id.encode("ascii")),
        ]


def authorization_of(scope: Scope) -> str | None:
    """The first Authorization header, as `request.headers.get` gives it (ASGI servers send
    names in lower case), without building a Headers object for each request."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            text: str = value.decode("latin-1")
            return text
    return None


def request_id_of(scope: Scope) -> str:
    """API Gateway's request id on Lambda (Mangum passes the event), else a fresh one."""
    event = scope.get("aws.event")
    if isinstance(event, dict):
        found = (event.get("requestContext") or {}).get("requestId")
        if isinstance(found, str) and found.isascii() and found.isprintable() and len(found) < 100:
            return found
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):08x}"


# Request ids: a random prefix per process and a counter (a syscall for 8 random bytes per
# request cost more than the rest of the id's work); unique, and says nothing about the server.
_REQUEST_ID_PREFIX = secrets.token_hex(4)
_request_numbers = itertools.count(1)


def api_error_for(error: TvmError) -> ApiError:
    """The core's error as an HTTP answer: its status and code, and only its public message
    (the full message may name the server's endpoint or key source)."""
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return ApiError(error.http_status, error.code, error.public_message, headers)


def single_values(request: Request) -> dict[str, str]:
    """The query as {name: value}; a name given twice, or an empty profile or name, is 400.
    Plain queries (no escapes) are split here: Starlette's parser costs a tenth of a cached
    request."""
    raw: bytes = request.scope["query_string"]
    values: dict[str, str] = {}
    if not raw:
        return values
    if b"%" in raw or b"+" in raw or not raw.isascii():
        pairs = request.query_params.multi_items()
    else:  # a plain loop: a generator inside a comprehension cost twice as much
        pairs = []
        for part in raw.decode("ascii").split("&"):
            if part:
                key, _, value = part.partition("=")
                pairs.append((key, value))
    for key, value in pairs:
        if key in values:
            raise ApiError(400, "bad_query", f"?{key}= is given more than once")
        if not value and key in ("profile", "name"):
            raise ApiError(400, "bad_query", f"?{key}= is empty")
        values[key] = value
    return values


def token_id_for(fixed: str | None, identity: str | None, asked: str | None) -> str | None:
    """`choose_token_id` (THE rule: the profile's own id, else the signed-in identity, else
    ?name=), its refusals as HTTP answers."""
    try:
        return choose_token_id(fixed, asked, identity)
    except TokenIdRefused as refused:
        if refused.source == "mismatch":
            raise ApiError(
                403, "name_not_allowed", "the token id is your sign-in; ?name= cannot change it"
            ) from None
        if refused.source == "identity":
            raise ApiError(
                403, "bad_identity", f"your sign-in cannot be a Momento token id: it {refused}"
            ) from None
        raise ApiError(400, "bad_query", f"?name= {refused}") from None
