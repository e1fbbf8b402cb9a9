"""The vending app: `create_app(settings, minter, profiles=..., authenticator=...)`.

GET /token (also / and /api/momento/token) returns the Token Vending Machine's JSON. Errors are
{"error": {"code", "message"}} with a fitting status. Runs under any ASGI server; `momento-tvm
serve` uses uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tvmcli import __version__
from tvmcli.errors import AuthError, ConfigError, MintTimeoutError, UnavailableError
from tvmcli.profiles import ProfileSet
from tvmcli.server.auth import Authenticator, Principal, Unauthorized, access_for
from tvmcli.server.oidc import IdentityProviderUnavailable
from tvmcli.server.settings import ServerSettings
from tvmcli.server.vending import Minter, MintLimiter, Shed, TokenVendor
from tvmcli.statements import MAX_TOKEN_ID_LENGTH
from tvmcli.tokens import iso_utc

access_log = logging.getLogger("tvmcli.server.access")
TOKEN_PATHS = ("/token", "/", "/api/momento/token")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
ANSWERED_RECENTLY = 300.0


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def create_app(
    settings: ServerSettings,
    minter: Minter,
    *,
    profiles: ProfileSet,
    authenticator: Authenticator,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    limiter = MintLimiter(settings.mint_rate, settings.mint_queue)
    vendor = TokenVendor(
        minter, limiter, reuse_share=settings.reuse_share, min_ttl=settings.min_ttl, clock=clock
    )
    clients = ClientLimiter(settings.client_rate, settings.client_burst)

    async def principal_of(request: Request) -> Principal:
        try:
            return await authenticator.authenticate(request.headers.get("authorization"))
        except IdentityProviderUnavailable:
            raise ApiError(
                503,
                "identity_provider_unavailable",
                "cannot fetch the sign-in keys; retry shortly",
                {"Retry-After": "5"},
            ) from None
        except Unauthorized as refusal:
            raise ApiError(
                401, refusal.code, refusal.message, {"WWW-Authenticate": refusal.challenge}
            ) from None

    async def token(request: Request) -> Response:
        query = single_values(request)
        principal = await principal_of(request)
        request.state.principal = principal.name
        access = access_for(principal, settings)
        allowed = access.profiles if access.profiles is not None else tuple(profiles.profiles)
        if not allowed:
            raise ApiError(403, "no_profiles", "you may use no profile (no group grants one)")
        name = query.get("profile") or access.default or (allowed[0] if len(allowed) == 1 else None)
        if name is None:
            raise ApiError(
                400, "profile_required", "no default profile for you; pass ?profile=NAME"
            )
        if name not in profiles.profiles:
            raise ApiError(404, "unknown_profile", f"no profile named {name!r}")
        if name not in allowed:
            raise ApiError(403, "profile_not_allowed", f"you may not use profile {name!r}")
        request.state.profile = name
        profile = profiles.profiles[name]
        token_id = choose_token_id(profile.token_id, principal.identity, query.get("name"))
        request.state.token_id = token_id
        try:
            minted = await vendor.token(profile, profile.expires_in, token_id)
        except Shed as shed:
            raise ApiError(
                503,
                "mint_limit",
                "too many new tokens at once; retry shortly",
                {"Retry-After": str(math.ceil(shed.retry_after))},
            ) from None
        except MintTimeoutError:
            raise ApiError(504, "momento_timeout", "Momento did not answer in time") from None
        except UnavailableError:
            raise ApiError(
                503,
                "momento_unavailable",
                "Momento is unavailable or throttling",
                {"Retry-After": "1"},
            ) from None
        except AuthError:
            raise ApiError(
                502, "momento_refused_key", "Momento refused this server's key"
            ) from None
        except ConfigError:
            raise ApiError(
                502, "momento_rejected_request", "Momento rejected the profile"
            ) from None
        return JSONResponse(
            {
                "authToken": minted.token,
                "expiresAt": minted.expires_at,
                "endpoint": minted.endpoint,
                "profile": name,
                "tokenId": minted.token_id,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def list_profiles(request: Request) -> Response:
        access = access_for(await principal_of(request), settings)
        allowed = access.profiles if access.profiles is not None else tuple(profiles.profiles)
        body = [
            {
                "name": p.name,
                "description": p.description,
                "expiresIn": p.expires_in,
                "default": p.name == access.default,
            }
            for p in profiles.profiles.values()
            if p.name in allowed
        ]
        return JSONResponse({"profiles": body}, headers={"Cache-Control": "no-store"})

    async def healthz(request: Request) -> Response:
        now = clock()
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
            "shed": limiter.shed,
        }
        return JSONResponse(
            body, status_code=503 if failing else 200, headers={"Cache-Control": "no-store"}
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        return error_response(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            dict(exc.headers or {}),
        )

    async def on_bug(request: Request, exc: Exception) -> Response:
        logging.getLogger("tvmcli.server").error("internal error: %s", type(exc).__name__)
        return error_response(500, "internal", "internal error")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        access.flush()
        close = getattr(minter, "close", None)
        if close is not None:
            await close()

    routes = [Route(path, token, methods=["GET"]) for path in TOKEN_PATHS]
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/profiles", list_profiles, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    access = AccessLog()
    middleware = [Middleware(Guard, settings=settings, clients=clients, access=access)]
    if settings.cors_origins:  # without origins there is nothing to allow: no CORS headers at all
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET"],
                allow_headers=["Authorization"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_error,
            Exception: on_bug,
        },
        lifespan=lifespan,
    )
    app.state.vendor = vendor
    app.state.limiter = limiter
    return app


def single_values(request: Request) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in values:
            raise ApiError(400, "bad_query", f"?{key}= is given more than once")
        if not value and key in ("profile", "name"):
            raise ApiError(400, "bad_query", f"?{key}= is empty")
        values[key] = value
    return values


def choose_token_id(fixed: str | None, identity: str | None, asked: str | None) -> str | None:
    """The profile's own id, else the signed-in identity, else ?name= (the TVM's query)."""
    if fixed is not None:
        return fixed
    if identity is not None and asked is not None and asked != identity:
        raise ApiError(
            403, "name_not_allowed", "the token id is your sign-in; ?name= cannot change it"
        )
    chosen = identity if identity is not None else asked
    if chosen is not None and len(chosen) > MAX_TOKEN_ID_LENGTH:
        raise ApiError(400, "bad_query", f"the token id is over {MAX_TOKEN_ID_LENGTH} characters")
    return chosen


class ClientLimiter:
    """Token bucket per client address; rate 0 turns it off."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, client: str) -> float | None:
        """None if allowed, else seconds until the next request would be."""
        if self.rate <= 0:
            return None
        now = self._clock()
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1, now)
        while len(self._buckets) > 10_000:
            self._buckets.popitem(last=False)
        return None


class Guard:
    """Before anything else: Host check on loopback binds (DNS rebinding), size limits, the
    per-client rate, and one access-log line per request without secrets."""

    def __init__(
        self, app: ASGIApp, settings: ServerSettings, clients: ClientLimiter, access: AccessLog
    ) -> None:
        self.app = app
        self.settings = settings
        self.clients = clients
        self._hosts: dict[int | None, set[bytes]] = {}
        self._check_host = settings.on_loopback  # parses an address: once, not per request
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder: dict[str, Any] = {}

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        refusal = self._refusal(scope)
        try:
            if refusal is not None:
                await refusal(scope, receive, send_logged)
            else:
                await self.app(scope, receive, send_logged)
        finally:
            self._log(scope, status_holder.get("status", 500), started)

    def _refusal(self, scope: Scope) -> Callable[[Scope, Receive, Send], Awaitable[None]] | None:
        settings = self.settings
        size, host, length = 0, b"", b""
        for key, value in scope["headers"]:  # one pass: this runs on every request
            size += len(key) + len(value)
            if key == b"host":
                host = value
            elif key == b"content-length":
                length = value
        if size > settings.max_header_bytes:
            return error_response(431, "headers_too_large", "request headers are too large")
        if self._check_host and not self._host_ok(host, scope):
            return error_response(400, "bad_host", "the Host header must name this server")
        if length and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return error_response(413, "too_large", "request body is too large")
        if self.clients.rate > 0:
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.clients.check(client)
            if wait is not None:
                return error_response(
                    429,
                    "rate_limited",
                    "too many requests from this client",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
        return None

    def _host_ok(self, host: bytes, scope: Scope) -> bool:
        server = scope.get("server") or ("", None)
        allowed = self._hosts.get(server[1])
        if allowed is None:
            port = server[1]
            allowed = {f"{name}:{port}".encode() for name in _LOOPBACK_HOSTS}
            if port == 80:
                allowed |= {name.encode() for name in _LOOPBACK_HOSTS}
            self._hosts[port] = allowed
        return host.lower() in allowed

    def _log(self, scope: Scope, status: int, started: float) -> None:
        """One line: client, method, path, status, time, and who got which profile and token
        id (set by the handler), never a credential."""
        if not access_log.isEnabledFor(logging.INFO):
            return
        state = scope.get("state", {})
        client = (scope.get("client") or ("-", 0))[0]
        elapsed = (time.perf_counter() - started) * 1000
        self.access.add(
            f"{client} {scope['method']} {printable(scope['path'])} {status} {elapsed:.1f}ms "
            f"principal={printable(state.get('principal') or '-')} "
            f"profile={state.get('profile') or '-'} "
            f"token_id={printable(state.get('token_id') or '-')}"
        )


class AccessLog:
    """Access-log lines, handed to the `tvmcli.server.access` logger in batches: a log record per
    request would cost a quarter of a cached request's time. Flushed at most 0.25 s after a
    line arrives, every 256 lines, and at shutdown."""

    DELAY = 0.25
    BATCH = 256

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._pending: asyncio.TimerHandle | None = None

    def add(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self.BATCH:
            self.flush()
        elif self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self.DELAY, self.flush)

    def flush(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._lines:
            access_log.info("%s", "\n".join(self._lines))
            self._lines.clear()


def printable(text: str) -> str:
    """Control characters escaped, so a request cannot forge lines in the log."""
    if text.isprintable() and len(text) <= 200:
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)[:200]


def openapi_document() -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}

    def errors(*codes: int) -> dict[str, Any]:
        return {
            str(c): {"description": "error", "content": {"application/json": {"schema": error}}}
            for c in codes
        }

    token_op = {
        "summary": "A scoped Momento disposable token",
        "parameters": [
            {
                "name": "profile",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "Profile to mint; default: the caller's default profile",
            },
            {
                "name": "name",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "maxLength": MAX_TOKEN_ID_LENGTH},
                "description": "Token id (when the profile and the sign-in do not fix one)",
            },
        ],
        "responses": {
            "200": {
                "description": "a token",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}},
            },
            **errors(400, 401, 403, 404, 429, 502, 503, 504),
        },
        "security": [{"bearer": []}, {"basic": []}, {}],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "momento-tvm", "version": __version__},
        "paths": {
            **{path: {"get": token_op} for path in TOKEN_PATHS},
            "/profiles": {
                "get": {
                    "summary": "Profiles the caller may use",
                    "responses": {"200": {"description": "profiles"}, **errors(401)},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health, and whether Momento answered recently",
                    "responses": {
                        "200": {"description": "healthy or idle"},
                        "503": {"description": "minting is failing"},
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Token": {
                    "type": "object",
                    "required": ["authToken", "expiresAt"],
                    "properties": {
                        "authToken": {"type": "string"},
                        "expiresAt": {"type": "integer"},
                        "endpoint": {"type": "string"},
                        "profile": {"type": "string"},
                        "tokenId": {"type": ["string", "null"]},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }
