"""uvicorn's HTTP protocols (httptools where it is installed, else h11) with the two limits
they lack: a deadline for a request's head, and a bound on open connections.

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
from typing import TYPE_CHECKING, Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState


def _canned(status: str, code: str, message: str, *headers: str) -> bytes:
    """A whole HTTP/1.1 answer with serve's JSON error body, after which the connection closes:
    written straight to the socket, before any request is parsed."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    lines = [f"HTTP/1.1 {status}", "content-type: application/json", *headers]
    lines += ["connection: close", f"content-length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


_BUSY = _canned(
    "503 Service Unavailable",
    "busy",
    "too many connections; retry shortly",
    "cache-control: no-store",
    "retry-after: 1",
)
_TOO_LARGE = _canned(
    "431 Request Header Fields Too Large", "headers_too_large", "request headers are too large"
)


if TYPE_CHECKING:  # what the mixin builds on: either protocol has these members
    _Protocol = H11Protocol
else:
    _Protocol = object


class _Bounded(_Protocol):
    """The two limits, for either of uvicorn's HTTP protocols (the mixin goes first)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float,
        max_connections: int,
        max_head_bytes: int = 1 << 16,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.max_head_bytes = max_head_bytes
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_due: float | None = None  # when the awaited head must have arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(_BUSY)
            transport.close()
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    _in_head = True  # before a request's head is complete (httptools counts its bytes)
    _head_bytes = 0

    def on_response_complete(self) -> None:
        self._in_head = True  # the next request's head, from its first byte
        self._head_bytes = 0
        # The next request's head, if any, has the same deadline (`_await_head`, inline).
        self._head_due = self.loop.time() + self.header_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_due, self._check_head)
        super().on_response_complete()  # (may start a pipelined request: its head arrived)

    # One timer per connection, moved forward lazily: a request only sets a deadline (a timer
    # per response cost a tenth of a cached /token), and the timer, when it fires, closes the
    # connection or sleeps until the current deadline.

    def _await_head(self) -> None:
        self._head_due = self.loop.time() + self.header_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_due, self._check_head)

    def _head_arrived(self) -> None:
        self._head_due = None

    def _check_head(self) -> None:
        self._head_timer = None
        due = self._head_due
        if due is None or (self.cycle is not None and not self.cycle.response_complete):
            return  # no head awaited, or a request is being answered
        if self.loop.time() < due:
            self._head_timer = self.loop.call_at(due, self._check_head)
            return
        if not self.transport.is_closing():
            self.transport.close()


class BoundedH11Protocol(_Bounded, H11Protocol):
    """Pass as uvicorn's `http` with the limits bound (`functools.partial`)."""

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's head arrived: it is being answered
            self._head_arrived()


try:  # httptools is an optional part of uvicorn's stack
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - where httptools does not install
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def bounded_protocol() -> type:
    """httptools' parser where it is installed (twice the cached throughput of h11), with the
    same limits; else h11. Module-level classes: `serve --workers` pickles the choice."""
    if HttpToolsProtocol is None:
        return BoundedH11Protocol
    return BoundedHttpToolsProtocol


if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(_Bounded, HttpToolsProtocol):  # type: ignore[misc]
        """httptools buffers a request's head without a size limit of its own: past
        `max_head_bytes` (counted from the request's first byte) the connection is answered
        431 and closed."""

        # These run for every request: the parent's methods are called by name, not through
        # super(), and the head's deadline is cleared in place (together a few per cent).

        def data_received(self, data: bytes) -> None:
            if not self._in_head:
                HttpToolsProtocol.data_received(self, data)
                return
            self._head_bytes += len(data)  # counted per packet: a call per header cost more
            HttpToolsProtocol.data_received(self, data)
            # Checked after parsing: a packet that completes the head and carries a body is
            # not a large head (the body has its own limits).
            if (
                self._in_head
                and self._head_bytes > self.max_head_bytes
                and not self.transport.is_closing()
            ):
                self.transport.write(_TOO_LARGE)
                self.transport.close()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_due = None  # the head arrived: the request runs as usual
            HttpToolsProtocol.on_headers_complete(self)
