"""The outermost middleware: Host check on loopback binds, size limits, the per-client rate,
and the access-log line of every request."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tvmcli.config.settings import Network, ServerSettings
from tvmcli.server.access_log import AccessLog, access_log, printable
from tvmcli.server.errors import ApiError, error_response, log_internal_error
from tvmcli.server.metrics import METRICS_PATH
from tvmcli.system.netaddr import is_loopback, split_host_port

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CLOSE = {"Connection": "close"}

Handler = Callable[[Request], Awaitable[Response]]


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
        self,
        app: ASGIApp,
        settings: ServerSettings,
        clients: ClientLimiter,
        access: AccessLog,
        lane: tuple[frozenset[str], Handler] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.clients = clients
        self._hosts: dict[tuple[bytes, int | None], bool] = {}
        self._check_host = settings.on_loopback  # parses an address: once, not per request
        self.access = access
        # The token lane: GET on these paths goes to this handler straight from here, not
        # through Starlette's exception middleware, router and request wrapper (a third of a
        # cached /token's time in the app). What those layers do for it is done here too: an
        # ApiError becomes its JSON answer, anything else the 500 below. Not under CORS (the
        # CORS middleware adds headers even to a request without Origin), nor with a
        # root_path (mounted: the router strips it).
        self._lane_paths: frozenset[str] = frozenset()
        self._lane: Handler | None = None
        if lane is not None:
            self._lane_paths, self._lane = lane

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

        if scope["path"] == METRICS_PATH:
            # /metrics is never under CORS: without Origin, the CORS middleware adds nothing
            # and answers no preflight for it.
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"origin"]
        client = self._client(scope)
        scope.setdefault("state", {})["client"] = client  # the audit trail's too
        refusal = self._refusal(scope, client)
        lane = self._lane
        if (
            lane is not None
            and refusal is None
            and scope["path"] in self._lane_paths
            and scope["method"] == "GET"
            and not scope.get("root_path")
        ):
            # The token lane (see __init__), inline: a coroutine more costs a per cent.
            status: int | None = None
            try:
                try:
                    response = await lane(Request(scope, receive))
                except ApiError as error:
                    response = error.response()
                status = response.status_code
                await response(scope, receive, send)
            except Exception as exc:  # as below
                log_internal_error(exc)
                if status is None:
                    status = 500
                    await error_response(500, "internal", "internal error")(scope, receive, send)
            finally:
                self._log(scope, client, status or 500, started)
            return
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
            self._log(scope, client, status_holder.get("status", 500), started)

    def _client(self, scope: Scope) -> str:
        """The client's address: the TCP peer, or, when the peer is a trusted proxy, the
        nearest address in X-Forwarded-For that is not one (proxies append, so entries to the
        left of a trusted hop's are the client's own say). Not `Forwarded`: one header, one
        rule. From any other peer the header is ignored: a client cannot pick its address."""
        peer = str((scope.get("client") or ("-", 0))[0])
        trusted = self.settings.trusted_proxies
        if not trusted or not _within(_address(peer), trusted):
            return peer
        hops = [
            hop.strip()
            for key, value in scope["headers"]
            if key == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
        ]
        client = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # not an address: the trusted hop that passed it on answers for it
            client = str(address)
            if not _within(address, trusted):
                break
        return client

    def _refusal(
        self, scope: Scope, client: str
    ) -> Callable[[Scope, Receive, Send], Awaitable[None]] | None:
        settings = self.settings
        size, host, length, chunked, hosts = 0, b"", b"", False, 0
        for key, value in scope["headers"]:  # one pass: this runs on every request
            size += len(key) + len(value)
            if key == b"host":
                host = value
                hosts += 1
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = True
        if size > settings.max_header_bytes:
            return error_response(431, "headers_too_large", "request headers are too large")
        if hosts > 1:
            # We would check one and Starlette build redirects from another (the first).
            return error_response(400, "bad_host", "send one Host header")
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

    def _log(self, scope: Scope, client: str, status: int, started: float) -> None:
        """One line: client, method, path, status, time, and who got which profile and token
        id (set by the handler; for a CI trust also its name, rule and issuer), never
        a credential."""
        if not access_log.isEnabledFor(logging.INFO):
            return
        state = scope.get("state", {})
        elapsed = (time.perf_counter() - started) * 1000
        line = (
            f"{printable(client)} {scope['method']} {printable(scope['path'])} {status} "
            f"{elapsed:.1f}ms principal={printable(state.get('principal') or '-')} "
            f"profile={printable(state.get('profile') or '-')} "
            f"token_id={printable(state.get('token_id') or '-')}"
        )
        audit = state.get("audit")
        if audit:  # a CI trust's name, rule and issuer
            line += "".join(f" {key}={printable(value)}" for key, value in audit)
        self.access.add(line)


def _address(text: str) -> IPAddress | None:
    """An IP address, bare or as a proxy may write it with a port ('[::1]:80', '1.2.3.4:5')."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    host, port = split_host_port(text)
    if port is None:
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _within(address: IPAddress | None, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)
