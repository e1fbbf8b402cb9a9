"""gRPC-web's wire form, as the Web SDK speaks it: frames (a flag byte, a 4-byte length, the
message), base64 text mode, the trailer frame, `grpc-timeout`, which request headers are
metadata, and the origins and headers CORS deals in. Pure: `grpc_web` does the I/O."""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import grpc
import grpc.aio

from tvmcli.errors import UsageError

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
