"""`serve --workers N`: uvicorn's process supervisor over the one socket, each worker building
its app from the Config and key the parent built (handed over the spawn pipe)."""

from __future__ import annotations

import functools
import os
import signal
import socket
import tempfile

from starlette.types import ASGIApp

from tvmcli.config.file import Config
from tvmcli.credentials.sources import ApiKey
from tvmcli.server.metrics import MULTIPROCESS_ENV
from tvmcli.server.running import configure_logging, freeze_start_up_objects, uvicorn_config


def run_workers(
    sock: socket.socket, config: Config, api_key: ApiKey, bearer_token: str | None
) -> None:
    """uvicorn's process supervisor: `workers` processes on the one socket. Each is handed the
    config already built and the key already resolved (pickled through the process pipe, never
    through the environment or a file) and builds its app with `build_app`, with 1/N of the
    account's mint rate; each keeps its own token cache."""
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """Remembers the signal that stopped it: uvicorn's single server re-raises it once
        shut down (exit 143 or 130 in a shell), its supervisor just returns (exit 0)."""

        stopped_by: int | None = None

        def handle_int(self) -> None:
            self.stopped_by = signal.SIGINT
            super().handle_int()

        def handle_term(self) -> None:
            self.stopped_by = signal.SIGTERM
            super().handle_term()

    configure_logging()
    if config.server.metrics and not os.environ.get(MULTIPROCESS_ENV):
        # prometheus-client's multiprocess mode: every worker writes its counts to files in
        # this folder and /metrics, in any worker, adds them up. A path, not a secret.
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="momento-tvm-metrics-")
    factory = functools.partial(_worker_app, config, api_key, bearer_token)
    multi = uvicorn_config(factory, config.server, factory=True, workers=config.server.workers)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    supervisor = Supervisor(multi, sockets=[sock])
    supervisor.run()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    if supervisor.stopped_by is not None:
        signal.raise_signal(supervisor.stopped_by)


def _worker_app(config: Config, api_key: ApiKey, bearer_token: str | None) -> ASGIApp:
    from tvmcli.server.app import build_app

    configure_logging()  # a spawned process starts with Python's defaults
    app = build_app(
        config, api_key=api_key, bearer_token=bearer_token, mint_share=config.server.workers
    )
    freeze_start_up_objects()
    return app
