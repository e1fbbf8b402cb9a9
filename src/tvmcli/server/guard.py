"""The outermost middleware: Host check on loopback binds, size limits, the per-client rate,
and the access-log line of every request."""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tvmcli.netaddr import is_loopback, split_host_port
from tvmcli.server.access_log import AccessLog, access_log, printable
from tvmcli.server.errors import error_response, log_internal_error
from tvmcli.settings import ServerSettings

_CLOSE = {"Connection": "close"}


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
        self._hosts: dict[tuple[bytes, int | None], bool] = {}
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
        except Exception as exc:
            # Caught here rather than left to Starlette, which would answer and then re-raise
            # to uvicorn, which logs the exception's message (a request's text) in a traceback.
            log_internal_error(exc)
            if "status" not in status_holder:
                await error_response(500, "internal", "internal error")(scope, receive, send_logged)
        finally:
            self._log(scope, status_holder.get("status", 500), started)

    def _refusal(self, scope: Scope) -> Callable[[Scope, Receive, Send], Awaitable[None]] | None:
        settings = self.settings
        size, host, length, chunked = 0, b"", b"", False
        for key, value in scope["headers"]:  # one pass: this runs on every request
            size += len(key) + len(value)
            if key == b"host":
                host = value
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = True
        if size > settings.max_header_bytes:
            return error_response(431, "headers_too_large", "request headers are too large")
        if self._check_host and not self._host_ok(host, scope):
            return error_response(400, "bad_host", "the Host header must name this server")
        # No handler reads a body, so none is ever counted as it streams in: a body of unknown
        # length (Transfer-Encoding) is refused outright, one too long by its Content-Length.
        # Either way the connection closes, so the unread rest is never parsed as a request.
        if chunked:
            return error_response(
                411, "length_required", "a request body needs Content-Length", _CLOSE
            )
        if length and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return error_response(413, "too_large", "request body is too large", _CLOSE)
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
        """A loopback name or address with this server's port (DNS rebinding defence)."""
        port = (scope.get("server") or ("", None))[1]
        key = (host, port)
        allowed = self._hosts.get(key)
        if allowed is None:
            name, given = split_host_port(host.decode("latin-1").lower())
            allowed = is_loopback(name) and (given == port or (given is None and port == 80))
            if len(self._hosts) < 1024:  # remember a few; a flood of odd Hosts is just parsed
                self._hosts[key] = allowed
        return allowed

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
