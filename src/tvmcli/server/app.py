"""The vending app: `create_app(settings, minter, profiles=..., authenticator=...)`.

GET /token (also / and /api/momento/token) returns the Token Vending Machine's JSON. Errors are
{"error": {"code", "message"}} with a fitting status. Runs under any ASGI server; `momento-tvm
serve` uses uvicorn.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tvmcli import __version__
from tvmcli.durations import iso_utc
from tvmcli.errors import AuthError, ConfigError, MintTimeoutError, UnavailableError
from tvmcli.profiles import ProfileSet
from tvmcli.server.access_log import AccessLog
from tvmcli.server.auth import Authenticator, Principal, Unauthorized, access_for
from tvmcli.server.errors import ApiError, error_response
from tvmcli.server.guard import ClientLimiter, Guard
from tvmcli.server.oidc import IdentityProviderUnavailable
from tvmcli.server.openapi import TOKEN_PATHS, openapi_document
from tvmcli.settings import ServerSettings
from tvmcli.statements import MAX_TOKEN_ID_LENGTH
from tvmcli.vending import Minter, MintLimiter, Shed, TokenVendor

ANSWERED_RECENTLY = 300.0


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
