"""gRPC-web for browsers: an HTTP/1.1 listener on loopback that forwards every call to the
emulator's own gRPC port, the way Envoy's grpc_web filter does.

Nothing here knows a service. A POST to /<package>.<Service>/<Method> becomes one generic gRPC
call to the same path on 127.0.0.1:<grpc port>, bytes in and bytes out (no (de)serialisers),
with the request's headers as metadata and `grpc-timeout` as the deadline. Every call goes out
as unary-stream: on the wire a unary call is a stream of one message, so the token service, the
cache calls and Subscribe's stream all take the same path, and whatever servicer the gRPC port
serves is served here too, with no second implementation of any call. Answers go back frame by
frame as they arrive (each one flushed; base64 per frame in text mode) and end with a trailer
frame holding grpc-status, grpc-message and the trailing metadata.

Browsers: the Host must be this listener's loopback address (DNS rebinding), and CORS admits
http://localhost:* and http://127.0.0.1:* plus the origins the caller adds.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
import grpc.aio

from tvmcli.emulator.grpc_web_wire import (
    _METADATA_KEY,
    _NOT_METADATA,
    _PATH,
    _PRINTABLE,
    ALLOWED_HEADERS,
    ANSWER_TYPE,
    BINARY,
    COMPRESSED,
    DATA,
    EXPOSED_HEADERS,
    MAX_BODY,
    TEXT,
    TRAILER,
    Malformed,
    Receive,
    Scope,
    Send,
    decode_text,
    frame,
    loopback_origin,
    metadata_of,
    normalise_origin,
    read_frames,
    trailer_block,
)
from tvmcli.errors import UsageError
from tvmcli.system.sockets import listening_socket

log = logging.getLogger("tvmcli.emulator")

HOST = "127.0.0.1"


class GrpcWebApp:
    """The ASGI app. `grpc_target` is the emulator's gRPC port (host:port); `origins` the
    origins allowed beside the loopback ones (normalised)."""

    def __init__(self, grpc_target: str, origins: Sequence[str] = ()) -> None:
        self.grpc_target = grpc_target
        self.origins = frozenset(origins)
        self.channel: grpc.aio.Channel | None = None
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.channel = grpc.aio.insecure_channel(
                    self.grpc_target,
                    options=[
                        # answers as large as the servicers send: the browser is the judge
                        ("grpc.max_receive_message_length", -1),
                        ("grpc.enable_retries", 0),
                    ],
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.channel is not None:
                    await self.channel.close(None)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        if not self._host_ok(headers.get("host"), scope):
            await _plain(send, 421, "the Host header must name this server (127.0.0.1:PORT)")
            return
        origin = headers.get("origin")
        allowed = origin is not None and self._origin_ok(origin)
        if origin is not None and not allowed:
            await _plain(send, 403, f"origin {origin!r} may not call this emulator (--web-origin)")
            return
        cors = _cors_headers(origin) if allowed and origin is not None else []
        if scope["method"] == "OPTIONS":
            await self._preflight(send, cors)
            return
        if not _PATH.fullmatch(scope["path"]):
            await _plain(send, 404, "not a gRPC method path: /package.Service/Method", cors)
            return
        if scope["method"] != "POST":
            await _plain(send, 405, "gRPC-web calls are POST", cors, [(b"allow", b"POST, OPTIONS")])
            return
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in (TEXT, TEXT + "+proto"):
            text = True
        elif content_type in (BINARY, BINARY + "+proto"):
            text = False
        else:
            await _plain(
                send,
                415,
                f"content type {content_type or 'none'!r}: this listener speaks {TEXT} and "
                f"{BINARY}(+proto)",
                cors,
            )
            return
        body = await _read_body(receive, headers)
        if body is None:
            await _plain(send, 413, f"the request is over {MAX_BODY} bytes", cors)
            return
        await self._call(scope, receive, send, text=text, body=body, cors=cors)

    def _host_ok(self, host: str | None, scope: Scope) -> bool:
        port = (scope.get("server") or ("", None))[1]
        return host is not None and host.lower() in (f"{HOST}:{port}", f"localhost:{port}")

    def _origin_ok(self, origin: str) -> bool:
        origin = origin.strip().lower()
        return loopback_origin(origin) or origin in self.origins

    async def _preflight(self, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        if not cors:  # no Origin: not a browser's preflight
            await _plain(send, 400, "a preflight without an Origin header")
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    *cors,
                    (b"access-control-allow-methods", b"POST, OPTIONS"),
                    (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
                    (b"access-control-max-age", b"600"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _call(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        text: bool,
        body: bytes,
        cors: list[tuple[bytes, bytes]],
    ) -> None:
        self.calls += 1
        answer = _Answer(send, text, cors)
        try:
            frames = read_frames(decode_text(body) if text else body)
            messages = [payload for flag, payload in frames if not flag & TRAILER]
            if any(flag & COMPRESSED for flag, _ in frames):
                await answer.end(grpc.StatusCode.UNIMPLEMENTED, "compressed messages: unsupported")
                return
            if len(messages) != 1:
                raise Malformed(f"{len(messages)} messages; a call sends exactly one")
        except Malformed as problem:
            await answer.end(grpc.StatusCode.INTERNAL, f"malformed gRPC-web request: {problem}")
            return
        metadata, timeout = metadata_of(scope["headers"])
        assert self.channel is not None, "the lifespan starts the channel"
        # No (de)serialisers: the message's bytes go through as they came.
        call = self.channel.unary_stream(scope["path"], None, None)(
            messages[0], metadata=metadata, timeout=timeout
        )
        watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, call, answer))
        try:
            await self._relay(call, answer)
        except OSError:  # the browser left mid-answer
            call.cancel()
        finally:
            watcher.cancel()

    async def _relay(self, call: Any, answer: _Answer) -> None:
        try:
            async for message in call:
                if not answer.started:
                    await answer.start(await call.initial_metadata())
                await answer.message(message)
            code, details = await call.code(), await call.details()
            trailing = await call.trailing_metadata()
        except grpc.aio.AioRpcError as error:
            code, details, trailing = error.code(), error.details() or "", error.trailing_metadata()
        except asyncio.CancelledError:
            if answer.gone:  # the browser left; the watcher cancelled the call
                return
            raise
        if answer.gone:
            return
        await answer.end(code, details or "", trailing or ())


class _Answer:
    """The HTTP answer of one call: headers once, then frames, then the trailer frame."""

    def __init__(self, send: Send, text: bool, cors: list[tuple[bytes, bytes]]) -> None:
        self.send = send
        self.text = text
        self.cors = cors
        self.started = False
        self.closed = False
        self.gone = False  # the browser hung up

    async def start(self, initial: Iterable[Any] | None = None) -> None:
        headers = [
            (b"content-type", ANSWER_TYPE[self.text].encode()),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
            *self.cors,
        ]
        for key, value in initial or ():
            if (
                isinstance(value, str)
                and _METADATA_KEY.fullmatch(key)
                and _PRINTABLE.fullmatch(value)
                and key not in _NOT_METADATA
                and not key.startswith(("grpc-", "access-control-"))
            ):
                headers.append((key.encode(), value.encode()))
        self.started = True
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})

    async def message(self, payload: bytes) -> None:
        await self._chunk(frame(DATA, payload), more=True)

    async def end(self, code: grpc.StatusCode, message: str, trailing: Iterable[Any] = ()) -> None:
        if not self.started:
            await self.start()
        await self._chunk(frame(TRAILER, trailer_block(code, message, trailing)), more=False)
        self.closed = True

    async def _chunk(self, data: bytes, *, more: bool) -> None:
        body = base64.b64encode(data) if self.text else data
        await self.send({"type": "http.response.body", "body": body, "more_body": more})


async def _cancel_on_disconnect(receive: Receive, call: Any, answer: _Answer) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    answer.gone = True
    call.cancel()


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes | None:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
        (b"vary", b"Origin"),
    ]


async def _plain(
    send: Send,
    status: int,
    text: str,
    cors: list[tuple[bytes, bytes]] | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = (text + "\n").encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                *(cors or []),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port, non-blocking for uvicorn's loop (proto TCP, so
    asyncio sets TCP_NODELAY and each streamed frame leaves at once)."""
    sock = listening_socket(HOST, port, backlog=128, flag="--web-port")
    sock.setblocking(False)
    return sock


class WebListener:
    """uvicorn serving GrpcWebApp on its own thread and event loop."""

    def __init__(self, grpc_target: str, *, port: int = 0, origins: Sequence[str] = ()) -> None:
        self.app = GrpcWebApp(grpc_target, [normalise_origin(o) for o in origins])
        self._requested_port = port
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def endpoint(self) -> str:
        """What the Web SDK takes as every endpoint override."""
        return f"http://{HOST}:{self.port}"

    def start(self) -> WebListener:
        import uvicorn

        self._sock = bind(self._requested_port)
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="emulator-grpc-web",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        if not self._server.started:
            self.stop()
            raise UsageError(f"the gRPC-web listener on {HOST}:{self.port} did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._sock is not None:
            self._sock.close()
