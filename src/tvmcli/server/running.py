"""Running the server: flags over `[server]`, a generated bearer token, the socket, uvicorn in
one process (`--workers N`: `supervisor`)."""

from __future__ import annotations

import functools
import gc
import logging
import secrets
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from starlette.types import ASGIApp

from tvmcli.config.access import Access, served
from tvmcli.config.file import Config
from tvmcli.config.settings import ServerSettings, user_access
from tvmcli.errors import ConfigError, UsageError
from tvmcli.server.auth import bearer_tokens
from tvmcli.system.netaddr import join_host_port
from tvmcli.system.private_files import private_folder, write_private
from tvmcli.system.sockets import listening_socket

BEARER_TOKEN_FILE_NAME = "serve-bearer-token"  # noqa: S105 - a file name


def serve_config(
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    allow_open: bool = False,
) -> Config:
    """`config` with the command-line flags over `[server]`, startup rules checked (exit 3)."""
    settings = config.server
    return config.with_server(
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=workers or settings.workers,
        allow_open=allow_open or settings.allow_open,
    )


def web_endpoint_for(
    flag: str | None, env: Mapping[str, str], minting_at: str
) -> tuple[str | None, str | None]:
    """The emulator's gRPC-web URL for token answers (webEndpoint), and a note for the user
    when the environment's is ignored. --emulator-web wins; else MOMENTO_TVM_EMULATOR_WEB_ENDPOINT,
    used only when serve mints from a loopback endpoint (the emulator), so a stale variable
    never sends browsers holding real Momento tokens to a local listener."""
    from tvmcli.system import envvars
    from tvmcli.system.netaddr import is_loopback, split_host_port

    if flag is not None:
        return _web_url(flag, "--emulator-web"), None
    value = env.get(envvars.EMULATOR_WEB_ENDPOINT, "").strip()
    if not value:
        return None, None
    if not is_loopback(split_host_port(minting_at)[0]):
        return None, (
            f"{envvars.EMULATOR_WEB_ENDPOINT} ignored: minting at {minting_at}, not the emulator"
        )
    return _web_url(value, envvars.EMULATOR_WEB_ENDPOINT), None


def _web_url(value: str, where: str) -> str:
    from urllib.parse import urlsplit

    from tvmcli.system.netaddr import http_url_problem

    url = value.strip().rstrip("/")
    problem = http_url_problem(url)
    if problem is None and (urlsplit(url).path or urlsplit(url).query):
        problem = "must be scheme://host:port, with no path"
    if problem is not None:
        raise UsageError(f"{where} {value!r} {problem}, e.g. http://127.0.0.1:5051")
    return url


def generated_bearer_token(
    settings: ServerSettings, env: Mapping[str, str], state_dir: Path
) -> tuple[str, Path] | None:
    """A fresh bearer token and the file it goes in, when a loopback server has `auth =
    "bearer"` and no tokens configured; None when it needs none. Nothing is written here:
    `save_bearer_token` writes it once the server has bound its socket and passed its start-up
    check, so a server that fails to start never replaces a running one's token."""
    if settings.auth != "bearer" or bearer_tokens(settings, env):
        return None
    if not settings.on_loopback:
        raise ConfigError(
            'auth = "bearer" off loopback needs [server.bearer] tokens_env or tokens_file'
        )
    private_folder(state_dir, "cache folder")  # never a symlink to someone else's folder
    return secrets.token_urlsafe(32), state_dir / BEARER_TOKEN_FILE_NAME


def save_bearer_token(token: str, path: Path) -> None:
    """The generated bearer token, 0600, for the user to read (its folder was checked by
    `generated_bearer_token`, before the server started)."""
    write_private(path, token + "\n")


def bind(host: str, port: int) -> socket.socket:
    return listening_socket(host, port, backlog=2048)


def url(host: str, port: int) -> str:
    return f"http://{join_host_port(host, port)}/token"


def uvicorn_config(
    app: ASGIApp | Callable[[], ASGIApp], settings: ServerSettings, **extra: object
) -> Any:
    """uvicorn's Config for the vending app: the one used by `serve`, its workers and the tests.

    - No forwarding header is believed here (`proxy_headers=False`; uvicorn's default trusts
      X-Forwarded-For from 127.0.0.1): the Guard reads X-Forwarded-For from the peers
      `[server] trusted_proxies` names, and from no one else.
    - A request's head must arrive within `header_timeout`, an idle keep-alive connection
      closes after `idle_timeout`, and at most `max_connections` are open
      (`connections.bounded_protocol`: httptools where installed, else h11; uvicorn has no
      header deadline of its own).
    """
    import uvicorn

    from tvmcli.server.connections import bounded_protocol

    protocol = functools.partial(
        bounded_protocol(),
        header_timeout=settings.header_timeout,
        max_connections=settings.max_connections,
        max_head_bytes=settings.max_header_bytes * 2,
    )
    return uvicorn.Config(
        app,
        http=protocol,  # type: ignore[arg-type]
        proxy_headers=False,
        log_config=None,
        access_log=False,  # ours leaves secrets out; uvicorn's would log every query string
        server_header=False,
        timeout_keep_alive=settings.idle_timeout,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=settings.max_header_bytes * 2,
        timeout_graceful_shutdown=5,
        **extra,  # type: ignore[arg-type]
    )


def run(app: ASGIApp, sock: socket.socket, settings: ServerSettings) -> None:
    """uvicorn on the bound socket until SIGINT or SIGTERM (it finishes requests in flight)."""
    import uvicorn

    configure_logging()
    freeze_start_up_objects()
    uvicorn.Server(uvicorn_config(app, settings)).run(sockets=[sock])


def freeze_start_up_objects() -> None:
    """Leave what start-up made (modules, the app, gRPC's and the SDK's objects: tens of
    thousands) out of the garbage collector's work for good. Python's oldest-generation
    collections walk every such object, and under load ran every few thousand requests: they
    cost a cached /token about 3 us (2 %). Only for processes `serve` owns; an app embedded
    in another program leaves that program's collector alone."""
    gc.collect()
    gc.freeze()


class LineFormatter(logging.Formatter):
    """'12:00:00 source: message' on every line of a record: an access-log batch is one record
    of many lines (each stamped with when the batch was written, at most 0.25 s after the
    request). uvicorn's own logger is called uvicorn.error even for start-up news; it shows
    as uvicorn."""

    NAMES: ClassVar[dict[str, str]] = {"uvicorn.error": "uvicorn"}

    def format(self, record: logging.LogRecord) -> str:
        prefix = (
            f"{self.formatTime(record, '%H:%M:%S')} {self.NAMES.get(record.name, record.name)}: "
        )
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return "\n".join(prefix + line for line in text.splitlines() or [""])


def served_profiles(config: Config) -> list[str]:
    """The profiles some caller may use: [server] profiles for open and bearer callers; the
    groups' and users' profiles for basic and jwt, and for jwt the CI trusts' rules' (a list
    of None means every profile)."""
    settings = config.server
    if settings.auth in ("open", "bearer"):
        grants = [settings.access]
    else:
        grants = list(settings.groups.values())
        grants += [user_access(user, settings.groups) for user in settings.users.values()]
        grants += [Access(rule.profiles) for trust in settings.trusts for rule in trust.rules]
    return served(grants, list(config.profiles))


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter())
    for name in ("tvmcli", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
