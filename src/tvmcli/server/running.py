"""Starting the server: settings with flags applied, the authenticator, the socket, uvicorn."""

from __future__ import annotations

import dataclasses
import errno
import logging
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from tvmcli.errors import ConfigError, UsageError
from tvmcli.profiles import ProfileSet
from tvmcli.server.auth import (
    Authenticator,
    BasicAuth,
    BearerAuth,
    OpenAuth,
    bearer_tokens,
    generated_bearer_token,
)
from tvmcli.settings import ServerSettings, check_startup, parse_server_settings


def settings_for(
    profile_set: ProfileSet,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    allow_open: bool = False,
) -> ServerSettings:
    """[server] from the profiles file, flags applied, startup rules checked (exit 3)."""
    settings = parse_server_settings(
        profile_set.server, profile_set.path, list(profile_set.profiles)
    )
    settings = dataclasses.replace(
        settings,
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=workers or settings.workers,
        allow_open=allow_open or settings.allow_open,
    )
    check_startup(settings)
    return settings


def authenticator_for(
    settings: ServerSettings, env: Mapping[str, str], state_dir: Path
) -> tuple[Authenticator, Path | None]:
    """The authenticator, and the file of a bearer token generated for this run, if any."""
    if settings.auth == "open":
        return OpenAuth(), None
    if settings.auth == "basic":
        return BasicAuth(settings, env), None
    if settings.auth == "jwt":
        from tvmcli.server.oidc import JwtAuth

        assert settings.jwt is not None  # parse_server_settings refuses jwt without [server.jwt]
        return JwtAuth(settings.jwt), None
    tokens = bearer_tokens(settings, env)
    if tokens:
        return BearerAuth(tokens), None
    if not settings.on_loopback:
        raise ConfigError(
            'auth = "bearer" off loopback needs [server.bearer] tokens_env or tokens_file'
        )
    token, path = generated_bearer_token(state_dir)
    return BearerAuth([token]), path


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # they are TCP, and with Nagle on every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.listen(2048)
    return sock


def url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/token"


def _uvicorn_config(app: ASGIApp | str, settings: ServerSettings, **extra: object) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,  # ours leaves secrets out; uvicorn's would log every query string
        server_header=False,
        h11_max_incomplete_event_size=settings.max_header_bytes * 2,
        timeout_graceful_shutdown=5,
        **extra,  # type: ignore[arg-type]
    )


def run(app: ASGIApp, sock: socket.socket, settings: ServerSettings) -> None:
    """uvicorn on the bound socket until SIGINT or SIGTERM (it finishes requests in flight)."""
    import uvicorn

    configure_logging()
    uvicorn.Server(_uvicorn_config(app, settings)).run(sockets=[sock])


def run_workers(sock: socket.socket, settings: ServerSettings) -> None:
    """uvicorn's process supervisor: `settings.workers` processes on the one socket, each
    building its app from tvmcli.server.worker (the parent has put the spec in the env)."""
    from uvicorn.supervisors import Multiprocess

    configure_logging()
    config = _uvicorn_config(
        "tvmcli.server.worker:app_from_environment",
        settings,
        factory=True,
        workers=settings.workers,
    )
    Multiprocess(config, sockets=[sock]).run()


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    for name in ("tvmcli", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
