"""`build_app(config)`: the one assembly of the vending app, used by `serve`, by each of its
`--workers` processes, by the tests and by anyone mounting it in their own ASGI app.

GET /token (also / and /api/momento/token) returns the Token Vending Machine's JSON; GET
/client.js the browser helper that keeps such a token fresh. Errors are
{"error": {"code", "message"}} with a fitting status. Runs under any ASGI server.

Mounted inside another Starlette or FastAPI app, a sub-app's lifespan does not run by itself;
pass it on so the gRPC channel is closed and the access log flushed at shutdown:

    tvm = build_app(config)
    app = FastAPI(lifespan=tvm.router.lifespan_context)
    app.mount("/tvm", tvm)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Send

from tvmcli.config.file import Config, check_fleet
from tvmcli.config.settings import ServerSettings
from tvmcli.credentials.sources import ApiKey, key_from
from tvmcli.errors import ConfigError
from tvmcli.server.access_log import AccessLog
from tvmcli.server.audit import AuditLog
from tvmcli.server.auth import Authenticator, BasicAuth, BearerAuth, OpenAuth, bearer_tokens
from tvmcli.server.client_script import CLIENT_JS_PATH, ClientScript
from tvmcli.server.errors import ApiError, error_response, log_internal_error
from tvmcli.server.guard import ClientLimiter, Guard
from tvmcli.server.metrics import METRICS_PATH, Metrics, NoMetrics
from tvmcli.server.openapi import TOKEN_PATHS
from tvmcli.server.routes import Routes
from tvmcli.state.shared import SharedState
from tvmcli.vending.core import TokenVendor
from tvmcli.vending.limiter import FleetLimiter, Limiter, MintLimiter

if TYPE_CHECKING:
    from tvmcli.minting.client import Minter  # loaded when a server is built without one


class RefusingCors(CORSMiddleware):
    """Starlette's CORS, minus the one header it sent to every origin: a refused origin's
    answer carries no `Access-Control-Expose-Headers` either (nothing of CORS, as for a page
    with no CORS at all). An allowed origin's answer is Starlette's own."""

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("Origin")
        if (
            message["type"] != "http.response.start"
            or origin is None
            or self.allow_all_origins
            or self.is_allowed_origin(origin=origin)
        ):
            await super().send(message, send, request_headers)
            return

        async def without_expose(refused: Message) -> None:
            del MutableHeaders(scope=refused)["Access-Control-Expose-Headers"]
            await send(refused)

        await super().send(message, without_expose, request_headers)


def build_app(
    config: Config,
    *,
    api_key: str | ApiKey | None = None,
    endpoint: str | None = None,
    bearer_token: str | None = None,
    env: Mapping[str, str] | None = None,
    authenticator: Authenticator | None = None,
    minter: Minter | None = None,
    mint_share: int = 1,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The vending app for `config` (its profiles and `[server]` settings).

    - `api_key`, `endpoint`: the key to mint with and where (default: $MOMENTO_API_KEY,
      $MOMENTO_ENDPOINT and the CLI's other sources).
    - `bearer_token`: one more accepted bearer token (serve generates one on loopback).
    - `env`: where `[server]` reads the variables it names (tokens_env, password_env).
    - `mint_share`: this process's share of the account's mint rate is 1/mint_share (workers).
    """
    import os

    settings = config.server
    fleet = settings.state.backend == "momento"
    if fleet:  # load_config checked it already; a Config built by hand is checked here
        check_fleet(config)
    key = key_from(api_key, endpoint) if minter is None or fleet else None
    if minter is None:
        from tvmcli.minting.client import Minter

        assert key is not None
        minter = Minter(key, timeout=settings.timeout)
    if authenticator is None:
        authenticator = authenticator_for(
            settings, os.environ if env is None else env, bearer_token
        )
    metrics: Metrics | NoMetrics = (
        Metrics(multiprocess=mint_share > 1) if settings.metrics else NoMetrics()
    )
    vendor, limiter = _vendor(settings, key, minter, mint_share, clock, metrics)
    audit = None
    if settings.audit_log is not None:
        audit = AuditLog(None if settings.audit_log == "stderr" else Path(settings.audit_log))
    routes = Routes(config, vendor, limiter, authenticator, clock, metrics=metrics, audit=audit)
    access = AccessLog()
    app = Starlette(
        routes=_routes(routes, settings),
        middleware=_middleware(settings, access, routes),
        exception_handlers={
            ApiError: _on_api_error,
            HTTPException: _on_http_error,
            Exception: _on_bug,
        },
        lifespan=_lifespan(access, vendor, audit),
    )
    app.state.vendor = vendor
    app.state.limiter = limiter
    app.state.access_log = access
    return app


def _lifespan(
    access: AccessLog, vendor: TokenVendor, audit: AuditLog | None
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """At shutdown: the access log's last lines, the vendor's channels, the audit file."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            access.flush()
            await vendor.close()
            if audit is not None:
                audit.close()

    return lifespan


def _vendor(
    settings: ServerSettings,
    key: ApiKey | None,
    minter: Minter,
    mint_share: int,
    clock: Callable[[], float],
    metrics: Metrics | NoMetrics,
) -> tuple[TokenVendor, Limiter]:
    """The vendor and its mint budget. Memory state: this process's share of the account's
    rate. Shared state: one budget for the whole fleet, with the share as the fallback while
    the cache is unusable."""
    share = MintLimiter(settings.mint_rate / max(1, mint_share), settings.mint_queue)
    limiter: Limiter = share
    shared = None
    if settings.state.backend == "momento":
        assert key is not None
        shared = SharedState(key, settings.state.cache)
        limiter = FleetLimiter(shared, settings.mint_rate, settings.mint_queue, share)
    vendor = TokenVendor(
        minter,
        limiter,
        reuse_share=settings.reuse_share,
        min_ttl=settings.min_ttl,
        clock=clock,
        shared=shared,
        wait_limit=settings.timeout + settings.mint_queue,
        events=metrics,
    )
    return vendor, limiter


def _middleware(settings: ServerSettings, access: AccessLog, routes: Routes) -> list[Middleware]:
    """The Guard outermost, then CORS when origins are allowed."""
    middleware = [
        Middleware(
            Guard,
            settings=settings,
            clients=ClientLimiter(settings.client_rate, settings.client_burst),
            access=access,
            # The token lane (see Guard): not under CORS, which adds headers to every answer.
            lane=None if settings.cors_origins else (frozenset(TOKEN_PATHS), routes.token),
        )
    ]
    if settings.cors_origins:  # without origins there is nothing to allow: no CORS headers at all
        middleware.append(
            Middleware(
                RefusingCors,
                allow_origins=settings.cors_origins,
                allow_methods=["GET"],
                allow_headers=["Authorization"],
                expose_headers=["Retry-After"],  # client.js honours it on 429 and 503
                max_age=600,
            )
        )
    return middleware


def _routes(routes: Routes, settings: ServerSettings) -> list[Route]:
    return [
        *(Route(path, routes.token, methods=["GET"]) for path in TOKEN_PATHS),
        Route("/healthz", routes.healthz, methods=["GET"]),
        *([Route(METRICS_PATH, routes.metrics_page, methods=["GET"])] if settings.metrics else []),
        Route("/profiles", routes.list_profiles, methods=["GET"]),
        Route("/openapi.json", routes.openapi, methods=["GET"]),
        Route(CLIENT_JS_PATH, ClientScript().respond, methods=["GET"]),
    ]


def authenticator_for(
    settings: ServerSettings, env: Mapping[str, str], extra_bearer: str | None = None
) -> Authenticator:
    """The authenticator `[server] auth` names. `extra_bearer` is one more accepted bearer
    token (the one `serve` generates for a loopback server with none configured)."""
    if settings.auth == "open":
        return OpenAuth()
    if settings.auth == "basic":
        return BasicAuth(settings, env)
    if settings.auth == "jwt":
        from tvmcli.server.trust import jwt_authenticator

        return jwt_authenticator(settings)
    tokens = bearer_tokens(settings, env) + ([extra_bearer] if extra_bearer else [])
    if not tokens:
        raise ConfigError(
            'auth = "bearer" needs [server.bearer] tokens_env or tokens_file',
            hint="On loopback, `momento-tvm serve` generates one for each run.",
        )
    return BearerAuth(tokens)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        dict(exc.headers or {}),
    )


async def _on_bug(request: Request, exc: Exception) -> Response:
    log_internal_error(exc)  # what the Guard did not catch: an error in the Guard itself
    return error_response(500, "internal", "internal error")
