"""uvicorn's h11 protocol with the two limits it lacks: a deadline for a request's head, and a
bound on open connections.

uvicorn times out only an idle keep-alive connection, and any byte the client sends cancels
that timer: a connection that never completes its request head (slowloris), or that sends a
byte now and then after a response, stays open for good. Here a request's head must arrive
within `header_timeout` of the connection opening or of the previous response, however the
bytes trickle in; once it has, the request runs as usual (mints have their own deadline).
A connection beyond `max_connections` is answered 503 and closed at once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

_BUSY_BODY = json.dumps(
    {"error": {"code": "busy", "message": "too many connections; retry shortly"}}
).encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/json\r\n"
    b"cache-control: no-store\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class BoundedH11Protocol(H11Protocol):
    """Pass as uvicorn's `http` with the two limits bound (`functools.partial`)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float,
        max_connections: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(_BUSY)
            transport.close()
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's head arrived: it is being answered
            self._stop_head_timer()

    def on_response_complete(self) -> None:
        self._await_head()  # the next request's head, if any, has the same deadline
        super().on_response_complete()  # (may start a pipelined request: stops the timer)

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_overdue)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered
        if not self.transport.is_closing():
            self.transport.close()
