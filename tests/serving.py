"""Helpers for server tests: build the app from TOML, run it under uvicorn on a free port."""

from __future__ import annotations

import contextlib
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from tvmcli.config.file import parse_config
from tvmcli.config.settings import ServerSettings
from tvmcli.credentials.decoding import Kind
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator
from tvmcli.minting.client import Minter
from tvmcli.server import build_app
from tvmcli.server.auth import Authenticator
from tvmcli.server.running import bind, generated_bearer_token, uvicorn_config

BEARER = "test-bearer-token-0123456789"
AUTH = {"Authorization": f"Bearer {BEARER}"}  # what an allowed caller sends

PROFILES = """
[profiles.chat-reader]
description = "read the chat"
expires_in = "1h"
permissions = [{ role = "subscribe-only", cache = "chat", topic = "*" }]

[profiles.chat-writer]
expires_in = "1h"
permissions = [{ role = "publish-subscribe", cache = "chat", topic = "*" }]

[profiles.bot]
token_id = "the-bot"
permissions = [{ role = "publish-only", cache = "chat", topic = "announcements" }]

[profiles.fresh]
cache = false
permissions = [{ role = "read-only", cache = "c" }]
"""

DEFAULT_SERVER = """
[server]
auth = "bearer"
default_profile = "chat-reader"
client_rate = 0
[server.bearer]
tokens_env = "TEST_BEARER"
"""


class Running:
    def __init__(self, url: str, app: object, emulator: Emulator) -> None:
        self.url = url
        self.app = app
        self.emulator = emulator

    @property
    def vendor(self):  # type: ignore[no-untyped-def]
        return self.app.state.vendor  # type: ignore[attr-defined]


@contextlib.contextmanager
def serve(
    emulator: Emulator,
    server_toml: str = DEFAULT_SERVER,
    profiles_toml: str = PROFILES,
    *,
    env: dict[str, str] | None = None,
    key: str | None = None,
    endpoint: str | None = None,
    timeout: float = 5.0,
    state_dir: Path | None = None,
    authenticator: Authenticator | None = None,
    web_endpoint: str | None = None,
) -> Iterator[Running]:
    """The real app under uvicorn on 127.0.0.1:0, minting from `emulator` over gRPC."""
    text = textwrap.dedent(profiles_toml) + "\n" + textwrap.dedent(server_toml)
    config = parse_config(text, Path("test.toml"))
    if web_endpoint is not None:  # as `serve` sets it from --emulator-web or the environment
        config = config.with_server(web_endpoint=web_endpoint)
    environment = {"TEST_BEARER": BEARER, **(env or {})}
    generated = generated_bearer_token(config.server, environment, state_dir or Path("state"))
    api_key = ApiKey(
        key or emulator.issue_api_key(), endpoint or emulator.endpoint, "test", Kind.V2_API_KEY
    )
    app = build_app(
        config,
        api_key=api_key,  # for the shared state, when [server.state] uses Momento's cache
        env=environment,
        bearer_token=generated[0] if generated is not None else None,
        authenticator=authenticator,
        minter=Minter(api_key, timeout=timeout),
    )
    with running(app, config.server) as url:
        yield Running(url, app, emulator)


@contextlib.contextmanager
def running(app: Any, settings: ServerSettings | None = None) -> Iterator[str]:
    """Any ASGI app under uvicorn in a thread on 127.0.0.1:0; yields its base URL. With the
    app's settings, uvicorn is configured exactly as `serve` configures it."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    # The very uvicorn configuration `serve` runs: timeouts, connection bound, no proxy headers.
    server = uvicorn.Server(
        uvicorn_config(app, settings)
        if settings is not None
        else uvicorn.Config(app, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
