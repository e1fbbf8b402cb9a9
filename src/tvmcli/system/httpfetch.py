"""One HTTP GET with ONE deadline for all of it: connecting, TLS, the head and every byte of
the body. urllib's timeout is per read, so a server sending a byte a second holds it for as
long as it likes; here the whole exchange runs as one asyncio task under `asyncio.wait_for`,
and nothing is left running when the deadline passes. HTTP/1.1 framing is h11's (uvicorn's
own parser). `fetch` gets a JWKS or discovery document (200 only; redirects followed only to
URLs `allowed` accepts); `get` asks once and returns any answer (`mint --from`: a vending
server and GitHub's ID-token endpoint). TLS is verified against the system's CAs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import h11

from tvmcli.version import __version__

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(Exception):
    """Why a fetch failed, in words of our own (never text the server sent)."""


@dataclass(frozen=True)
class Fetched:
    url: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    status: int = 200


async def get(
    url: str, *, deadline: float, max_bytes: int, headers: Sequence[tuple[str, str]] = ()
) -> Fetched:
    """GET `url` once (any status, no redirect followed), all of it within `deadline` seconds
    (FetchError). `headers` are sent as given: the caller checks they are printable."""
    try:
        status, answer, body = await asyncio.wait_for(_get(url, max_bytes, headers), deadline)
    except asyncio.TimeoutError:
        raise FetchError(f"no complete answer within {deadline:g}s") from None
    return Fetched(url, answer, body, status)


async def fetch(
    url: str,
    *,
    deadline: float,
    max_bytes: int,
    allowed: Callable[[str], bool],
    redirects: int = 3,
) -> Fetched:
    """GET `url` (answer 200 only), all of it within `deadline` seconds (FetchError)."""
    try:
        return await asyncio.wait_for(_follow(url, max_bytes, allowed, redirects), deadline)
    except asyncio.TimeoutError:
        raise FetchError(f"no complete answer within {deadline:g}s") from None


async def _follow(url: str, max_bytes: int, allowed: Callable[[str], bool], left: int) -> Fetched:
    while True:
        status, headers, body = await _get(url, max_bytes)
        if status == 200:
            return Fetched(url, headers, body)
        location = headers.get("location")
        if status not in _REDIRECTS or not location:
            raise FetchError(f"HTTP {status}")
        target = urljoin(url, location)
        if left <= 0 or not allowed(target):
            raise FetchError(f"HTTP {status}: a redirect this server does not follow")
        url, left = target, left - 1


async def _get(
    url: str, max_bytes: int, extra: Sequence[tuple[str, str]] = ()
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    context = ssl.create_default_context() if secure else None
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if secure else None
        )
    except OSError as exc:  # refused, unreachable, DNS, TLS (SSLError is an OSError)
        raise FetchError(f"cannot connect ({type(exc).__name__})") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        netloc = parts.netloc.rpartition("@")[2]
        return await _exchange(reader, writer, netloc, target, max_bytes, extra)
    except h11.ProtocolError:
        raise FetchError("not a valid HTTP answer") from None
    except OSError as exc:
        raise FetchError(f"connection failed ({type(exc).__name__})") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    netloc: str,
    target: str,
    max_bytes: int,
    extra: Sequence[tuple[str, str]],
) -> tuple[int, dict[str, str], bytes]:
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=target,
        headers=[
            ("Host", netloc),
            ("Accept", "application/json"),
            ("User-Agent", f"momento-tvm/{__version__}"),
            ("Connection", "close"),
            *extra,
        ],
    )
    writer.write(conn.send(request) + (conn.send(h11.EndOfMessage()) or b""))
    await writer.drain()
    status, body = 0, bytearray()
    headers: dict[str, str] = {}
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
            for name, value in event.headers:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_bytes:
                raise FetchError(f"the answer is over {max_bytes} bytes")
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            break
    if not status:
        raise FetchError("the connection closed before an answer")
    return status, headers, bytes(body)
