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
import binascii
import errno
import logging
import re
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import grpc
import grpc.aio

from tvmcli.errors import UsageError

log = logging.getLogger("tvmcli.emulator")

HOST = "127.0.0.1"
TEXT = "application/grpc-web-text"
BINARY = "application/grpc-web"
# What the answer says it is: grpc-web's client decodes base64 when the type starts with TEXT.
ANSWER_TYPE = {True: TEXT + "+proto", False: BINARY + "+proto"}
# Requests: gRPC's default receive limit, which the gRPC port applies too; base64 makes a
# message 4/3 longer, and a frame adds 5 bytes.
MAX_MESSAGE = 4 * 1024 * 1024
MAX_BODY = (MAX_MESSAGE + 5) * 4 // 3 + 4
DATA, COMPRESSED, TRAILER = 0x00, 0x01, 0x80
_PATH = re.compile(r"/[A-Za-z_][A-Za-z0-9_.]*/[A-Za-z_][A-Za-z0-9_]*")
_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
# The request headers a page may send: what @gomomento/sdk-web and grpc-web send (seen:
# agent, authorization, cache, content-type, grpc-timeout, runtime-version, x-grpc-web,
# x-user-agent), and the few other headers Momento's SDKs and grpc-web are known to add.
ALLOWED_HEADERS = (
    "agent",
    "authorization",
    "cache",
    "content-type",
    "grpc-timeout",
    "read-concern",
    "runtime-version",
    "x-accept-content-transfer-encoding",
    "x-accept-response-streaming",
    "x-grpc-web",
    "x-user-agent",
)
EXPOSED_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin"
# HTTP's own headers and the browser's: never gRPC metadata. grpc-* are gRPC's reserved names
# (grpc-timeout becomes the deadline).
_NOT_METADATA = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "cookie",
        "dnt",
        "host",
        "keep-alive",
        "origin",
        "pragma",
        "priority",
        "referer",
        "te",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-grpc-web",
        "x-user-agent",
    }
)
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Malformed(Exception):
    """The body is not gRPC-web framing of one message."""


def normalise_origin(text: str) -> str:
    """'http://App.Example:3000/' -> 'http://app.example:3000'; UsageError for anything that is
    not scheme://host[:port]."""
    stripped = text.strip().rstrip("/")
    try:
        parts = urlsplit(stripped)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise UsageError(
            f"--web-origin {text!r}: an origin is scheme://host[:port], "
            "e.g. http://localhost:5173 or https://app.example.com"
        )
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def loopback_origin(origin: str) -> bool:
    """http://localhost[:port] and http://127.0.0.1[:port]: allowed by default."""
    match = re.fullmatch(r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?", origin)
    return match is not None


def decode_text(body: bytes) -> bytes:
    """grpc-web-text: base64, possibly several padded chunks one after another."""
    body = re.sub(rb"\s+", b"", body)
    out = bytearray()
    start = 0
    while start < len(body):
        end = body.find(b"=", start)
        if end < 0:
            end = len(body)
        while end < len(body) and body[end] == ord("="):
            end += 1
        try:
            out += base64.b64decode(body[start:end], validate=True)
        except (binascii.Error, ValueError):
            raise Malformed("the body is not base64") from None
        start = end
    return bytes(out)


def read_frames(data: bytes) -> list[tuple[int, bytes]]:
    frames = []
    at = 0
    while at < len(data):
        if len(data) - at < 5:
            raise Malformed("a frame is cut short")
        flag, length = struct.unpack_from(">BI", data, at)
        at += 5
        if len(data) - at < length:
            raise Malformed("a frame is cut short")
        frames.append((flag, data[at : at + length]))
        at += length
    return frames


def frame(flag: int, payload: bytes) -> bytes:
    return struct.pack(">BI", flag, len(payload)) + payload


def percent_encode(message: str) -> str:
    """grpc-message as gRPC writes it: bytes outside printable ASCII, and '%', as %XX."""
    return "".join(
        chr(b) if 0x20 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in message.encode("utf-8")
    )


def trailer_block(code: grpc.StatusCode, message: str, metadata: Iterable[Any]) -> bytes:
    lines = [f"grpc-status:{code.value[0]}", f"grpc-message:{percent_encode(message)}"]
    for key, value in metadata:
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        if _METADATA_KEY.fullmatch(key) and _PRINTABLE.fullmatch(value):
            lines.append(f"{key}:{value}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse_timeout(value: str) -> float | None:
    match = _TIMEOUT.fullmatch(value.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def metadata_of(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[list[tuple[str, Any]], float | None]:
    """The request headers that are gRPC metadata, and the deadline from grpc-timeout."""
    metadata: list[tuple[str, Any]] = []
    timeout = None
    for raw_key, raw_value in headers:
        key = raw_key.decode("latin-1").lower()
        value = raw_value.decode("latin-1").strip()
        if key == "grpc-timeout":
            timeout = parse_timeout(value)
            continue
        if key in _NOT_METADATA or key.startswith(("grpc-", "sec-", "access-control-", ":")):
            continue
        if not _METADATA_KEY.fullmatch(key):
            continue
        if key.endswith("-bin"):
            try:
                metadata.append((key, base64.b64decode(value + "=" * (-len(value) % 4))))
            except (binascii.Error, ValueError):
                continue
        elif _PRINTABLE.fullmatch(value):
            metadata.append((key, value))
    return metadata, timeout


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
    """A listening socket on 127.0.0.1:port (proto TCP, so asyncio sets TCP_NODELAY and each
    streamed frame leaves at once)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise UsageError(f"cannot listen on {HOST}:{port} (--web-port): {reason}") from None
    sock.listen(128)
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
