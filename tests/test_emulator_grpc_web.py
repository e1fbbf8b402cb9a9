"""The emulator's gRPC-web listener, over real HTTP on loopback: each call forwarded to the real
gRPC port (the token service and the cache calls here; topics in test_browser_topics.py), text
and binary framing, trailers, streaming flushed frame by frame, the Host check and CORS."""

from __future__ import annotations

import base64
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import httpx
import pytest
from momento_wire_types import cacheclient_pb2 as cache_pb
from momento_wire_types import permissionmessages_pb2 as perm_pb
from momento_wire_types import token_pb2

from tvmcli.emulator import Emulator
from tvmcli.emulator.grpc_web import WebListener
from tvmcli.emulator.grpc_web_wire import decode_text, normalise_origin, read_frames
from tvmcli.errors import UsageError

MINT = "/token.Token/GenerateDisposableToken"
TEXT = "application/grpc-web-text"


@pytest.fixture
def web_emulator() -> Iterator[Emulator]:
    with Emulator(rate_limit=0, web_port=0, web_origins=["https://chat.example"]) as emulator:
        yield emulator


def framed(message: bytes) -> bytes:
    return struct.pack(">BI", 0, len(message)) + message


def mint_request(key: str, cache: str = "chat") -> bytes:
    topic = perm_pb.PermissionsType(
        topic_permissions=perm_pb.PermissionsType.TopicPermissions(
            role=perm_pb.TopicReadWrite,
            cache_selector=perm_pb.PermissionsType.CacheSelector(cache_name=cache),
            all_topics=perm_pb.PermissionsType.All(),
        )
    )
    return token_pb2._GenerateDisposableTokenRequest(
        expires=token_pb2._GenerateDisposableTokenRequest.Expires(valid_for_seconds=60),
        auth_token=key,
        permissions=perm_pb.Permissions(explicit=perm_pb.ExplicitPermissions(permissions=[topic])),
        token_id="web-user",
    ).SerializeToString()


def call(
    emulator: Emulator,
    path: str,
    message: bytes,
    *,
    text: bool = True,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, list[bytes], dict[str, str]]:
    """One gRPC-web POST: the answer, its messages and its trailers."""
    body = framed(message)
    response = httpx.post(
        f"{emulator.web_endpoint}{path}",
        content=base64.b64encode(body) if text else body,
        headers={
            "content-type": TEXT if text else "application/grpc-web+proto",
            "x-grpc-web": "1",
            **(headers or {}),
        },
        timeout=10,
    )
    messages, trailers = parse_answer(response.content, text=text)
    return response, messages, trailers


def parse_answer(content: bytes, *, text: bool) -> tuple[list[bytes], dict[str, str]]:
    frames = read_frames(decode_text(content) if text else content)
    messages = [payload for flag, payload in frames if not flag & 0x80]
    trailer_frames = [payload for flag, payload in frames if flag & 0x80]
    assert len(trailer_frames) == 1, "exactly one trailer frame, last"
    assert frames[-1][0] & 0x80
    trailers = {}
    for line in trailer_frames[0].decode("ascii").split("\r\n"):
        if line:
            key, _, value = line.partition(":")
            trailers[key] = value.strip()
    return messages, trailers


@pytest.mark.parametrize("text", [True, False], ids=["grpc-web-text", "grpc-web+proto"])
def test_the_token_service_mints_over_grpc_web(web_emulator: Emulator, text: bool) -> None:
    key = web_emulator.issue_api_key()
    response, messages, trailers = call(
        web_emulator, MINT, mint_request(key), text=text, headers={"authorization": key}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(TEXT if text else "application/grpc-web")
    assert trailers["grpc-status"] == "0"
    (answer,) = messages
    minted = token_pb2._GenerateDisposableTokenResponse.FromString(answer)
    assert minted.api_key
    assert minted.valid_until > 0
    assert minted.endpoint == web_emulator.endpoint
    assert web_emulator.service.stats()["mints"] == 1  # the very servicer of the gRPC port


def test_a_refusal_travels_in_the_trailer_frame(web_emulator: Emulator) -> None:
    response, messages, trailers = call(
        web_emulator, MINT, mint_request("not-a-key"), headers={"authorization": "not-a-key"}
    )
    assert response.status_code == 200
    assert messages == []
    assert trailers["grpc-status"] == str(grpc.StatusCode.UNAUTHENTICATED.value[0])
    assert trailers["grpc-message"]


def test_cache_calls_work_over_grpc_web_with_metadata_passed_through(
    web_emulator: Emulator,
) -> None:
    key = web_emulator.issue_api_key()
    set_request = cache_pb._SetRequest(cache_key=b"k", cache_body=b"v", ttl_milliseconds=60_000)
    headers = {"authorization": key, "cache": "state"}
    _, _, trailers = call(
        web_emulator, "/cache_client.Scs/Set", set_request.SerializeToString(), headers=headers
    )
    assert trailers["grpc-status"] == "0"
    _, messages, trailers = call(
        web_emulator,
        "/cache_client.Scs/Get",
        cache_pb._GetRequest(cache_key=b"k").SerializeToString(),
        headers=headers,
    )
    assert trailers["grpc-status"] == "0"
    got = cache_pb._GetResponse.FromString(messages[0])
    assert got.result == cache_pb.Hit
    assert got.cache_body == b"v"
    # Without the `cache` metadata the servicer itself refuses: the header was what it read.
    _, _, trailers = call(
        web_emulator,
        "/cache_client.Scs/Get",
        cache_pb._GetRequest(cache_key=b"k").SerializeToString(),
        headers={"authorization": key},
    )
    assert trailers["grpc-status"] != "0"


def test_an_unknown_method_is_unimplemented_as_on_the_grpc_port(web_emulator: Emulator) -> None:
    _, _, trailers = call(web_emulator, "/no.Such/Method", b"")
    assert trailers["grpc-status"] == str(grpc.StatusCode.UNIMPLEMENTED.value[0])


def test_grpc_timeout_becomes_the_calls_deadline() -> None:
    with Emulator(rate_limit=0, web_port=0) as emulator:
        emulator.service.faults = type(emulator.service.faults)(latency=1.0)
        key = emulator.issue_api_key()
        _, _, trailers = call(
            emulator,
            MINT,
            mint_request(key),
            headers={"authorization": key, "grpc-timeout": "200m"},
        )
    assert trailers["grpc-status"] == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])


def test_a_base64_answer_in_several_chunks_and_a_bad_body(web_emulator: Emulator) -> None:
    assert decode_text(base64.b64encode(b"ab") + base64.b64encode(b"cde")) == b"abcde"
    response = httpx.post(
        f"{web_emulator.web_endpoint}{MINT}",
        content=b"%%% not base64",
        headers={"content-type": TEXT},
    )
    _, trailers = parse_answer(response.content, text=True)
    assert trailers["grpc-status"] == str(grpc.StatusCode.INTERNAL.value[0])
    assert "malformed" in trailers["grpc-message"]


def test_other_content_types_and_methods_are_refused(web_emulator: Emulator) -> None:
    url = f"{web_emulator.web_endpoint}{MINT}"
    assert (
        httpx.post(url, content=b"{}", headers={"content-type": "application/json"}).status_code
        == 415
    )
    assert httpx.get(url).status_code == 405
    assert httpx.post(f"{web_emulator.web_endpoint}/x", content=b"").status_code == 404


def test_a_host_that_is_not_the_listeners_address_is_refused(web_emulator: Emulator) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host."""
    port = web_emulator.web.port  # type: ignore[union-attr]
    url = f"{web_emulator.web_endpoint}{MINT}"
    headers = {"content-type": TEXT}
    refused = httpx.post(url, content=b"", headers={**headers, "host": f"evil.example:{port}"})
    assert refused.status_code == 421
    other_port = httpx.post(url, content=b"", headers={**headers, "host": f"127.0.0.1:{port + 1}"})
    assert other_port.status_code == 421
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        response = httpx.post(url, content=b"", headers={**headers, "host": host})
        assert response.status_code == 200


PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "agent,authorization,cache,content-type,grpc-timeout,"
    "runtime-version,x-grpc-web,x-user-agent",
}


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "http://127.0.0.1:8080", "https://chat.example"]
)
def test_cors_admits_loopback_origins_and_added_ones(web_emulator: Emulator, origin: str) -> None:
    url = f"{web_emulator.web_endpoint}{MINT}"
    preflight = httpx.options(url, headers={"origin": origin, **PREFLIGHT})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert set(PREFLIGHT["access-control-request-headers"].split(",")) <= allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]
    response, _, trailers = call(web_emulator, MINT, b"", headers={"origin": origin})
    assert response.headers["access-control-allow-origin"] == origin
    exposed = response.headers["access-control-expose-headers"]
    assert "grpc-status" in exposed
    assert "grpc-message" in exposed
    assert trailers["grpc-status"] != "0"  # an empty request: refused by the servicer


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://localhost.evil.example:80", "null"]
)
def test_cors_refuses_other_origins(web_emulator: Emulator, origin: str) -> None:
    url = f"{web_emulator.web_endpoint}{MINT}"
    preflight = httpx.options(url, headers={"origin": origin, **PREFLIGHT})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    key = web_emulator.issue_api_key()
    before = web_emulator.service.stats()["calls"]
    post = httpx.post(
        url,
        content=base64.b64encode(framed(mint_request(key))),
        headers={"content-type": TEXT, "origin": origin, "authorization": key},
    )
    assert post.status_code == 403
    assert web_emulator.service.stats()["calls"] == before  # never forwarded


def test_web_origin_values_are_checked() -> None:
    assert normalise_origin("http://App.Example:3000/") == "http://app.example:3000"
    for bad in ("app.example", "ftp://x", "http://x/path", "http://u@x"):
        with pytest.raises(UsageError, match="--web-origin"):
            normalise_origin(bad)


def test_a_taken_web_port_is_a_usage_error(web_emulator: Emulator) -> None:
    port = web_emulator.web.port  # type: ignore[union-attr]
    with pytest.raises(UsageError, match=f"127.0.0.1:{port}.*in use"):
        Emulator(web_port=port).start()


# A server-streaming method on a real gRPC server of the test's own: the translator knows no
# service, so any stream is relayed; the second message is produced only after the test has
# read the first one over HTTP, which proves each frame is flushed as it comes.
@pytest.fixture
def streaming_server() -> Iterator[tuple[str, threading.Event]]:
    released = threading.Event()

    def stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        context.send_initial_metadata((("x-started", "1"), ("content-type", "text/html")))
        yield b"first:" + request
        assert released.wait(10), "the test never read the first frame"
        yield b"second"
        context.set_trailing_metadata((("x-done", "yes"),))

    handler = grpc.method_handlers_generic_handler(
        "test.Stream", {"Watch": grpc.unary_stream_rpc_method_handler(stream)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", released
    finally:
        server.stop(None)


@pytest.mark.parametrize("text", [True, False], ids=["grpc-web-text", "grpc-web+proto"])
def test_a_stream_is_flushed_frame_by_frame(
    streaming_server: tuple[str, threading.Event], text: bool
) -> None:
    target, released = streaming_server
    listener = WebListener(target).start()
    try:
        body = framed(b"hello")
        with httpx.stream(
            "POST",
            f"{listener.endpoint}/test.Stream/Watch",
            content=base64.b64encode(body) if text else body,
            headers={"content-type": TEXT if text else "application/grpc-web"},
            timeout=10,
        ) as response:
            headers = response.headers
            chunks = response.iter_raw()
            first = next(chunks)  # arrives while the server still holds the second message
            released.set()
            rest = b"".join(chunks)
    finally:
        listener.stop()
    (message,), _ = (
        [p for f, p in read_frames(decode_text(first) if text else first)],
        None,
    )
    assert message == b"first:hello"
    messages, trailers = parse_answer(first + rest, text=text)
    assert messages == [b"first:hello", b"second"]
    assert trailers["grpc-status"] == "0"
    assert trailers["x-done"] == "yes"
    assert headers["x-started"] == "1"  # initial metadata: response headers
    assert headers["content-type"].startswith(TEXT if text else "application/grpc-web")


def subscribe_body() -> bytes:
    from momento_wire_types import cachepubsub_pb2

    request = cachepubsub_pb2._SubscriptionRequest(cache_name="chat", topic="room")
    return base64.b64encode(framed(request.SerializeToString()))


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_browser_that_hangs_up_ends_its_subscription(web_emulator: Emulator) -> None:
    key = web_emulator.issue_api_key()
    with httpx.stream(
        "POST",
        f"{web_emulator.web_endpoint}/cache_client.pubsub.Pubsub/Subscribe",
        content=subscribe_body(),
        headers={"content-type": TEXT, "authorization": key},
        timeout=10,
    ) as response:
        raw = response.iter_raw()  # held: a dropped iterator closes the response
        first = next(raw)  # the heartbeat, at once
        assert read_frames(decode_text(first))[0][0] == 0
        assert web_emulator.topics.stats()["open_subscriptions"] == 1
    assert wait_for(lambda: web_emulator.topics.stats()["open_subscriptions"] == 0)


def test_stopping_the_emulator_ends_subscriptions_relayed_to_browsers() -> None:
    emulator = Emulator(rate_limit=0, web_port=0).start()
    key = emulator.issue_api_key()
    with httpx.stream(
        "POST",
        f"{emulator.web_endpoint}/cache_client.pubsub.Pubsub/Subscribe",
        content=subscribe_body(),
        headers={"content-type": TEXT, "authorization": key},
        timeout=10,
    ) as response:
        chunks = response.iter_raw()
        next(chunks)
        started = time.monotonic()
        stopper = threading.Thread(target=emulator.stop)
        stopper.start()
        rest = b"".join(chunks)  # the stream ends rather than hanging
        stopper.join(10)
        took = time.monotonic() - started
    assert not stopper.is_alive()
    assert took < 5
    frames = read_frames(decode_text(rest)) if rest else []
    assert all(flag in (0x00, 0x80) for flag, _ in frames)
