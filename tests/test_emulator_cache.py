"""The emulator's cache calls, driven by Momento's own Python SDK `CacheClient` over gRPC: the
data a fleet of vending servers shares, and the permissions a disposable token carries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from momento import CacheClient, Configurations, CredentialProvider
from momento.errors import MomentoErrorCode
from momento.responses import (
    CacheDelete,
    CacheGet,
    CacheIncrement,
    CacheSet,
    CacheSetIfNotExists,
)
from momento_wire_types import cacheclient_pb2 as pb
from momento_wire_types import cacheclient_pb2_grpc

import tvmcli
from tvmcli.config.file import parse_config
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator

PROFILES = """
[profiles.state-rw]
permissions = [{ role = "read-write", cache = "state" }]
[profiles.state-ro]
permissions = [{ role = "read-only", cache = "state" }]
[profiles.state-wo]
permissions = [{ role = "write-only", cache = "state" }]
[profiles.prefix]
permissions = [{ role = "read-write", cache = "state", key_prefix = "user-alice/" }]
[profiles.one-key]
permissions = [{ role = "read-only", cache = "*", key = "motd" }]
[profiles.topics-only]
permissions = [{ role = "publish-subscribe", cache = "state", topic = "*" }]
"""


def client(emulator: Emulator, credential: str) -> CacheClient:
    """The form with which an application's SDK code reaches the emulator: every endpoint is
    the emulator's host, plaintext because the port is not 443."""
    host, port = emulator.endpoint.split(":")
    provider = CredentialProvider(credential, host, host, host, int(port))
    return CacheClient(Configurations.Laptop.v1(), provider, timedelta(seconds=60))


def token_for(emulator: Emulator, profile: str, lifetime: int = 300) -> str:
    """A disposable token minted from the profile over the real token service; the SDK reads
    the envelope and presents its inner key."""
    chosen = parse_config(PROFILES, Path("p.toml")).profile(profile)
    key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
    envelope = tvmcli.mint(chosen, expires_in=lifetime, api_key=key).auth_token
    return parse_credential(envelope).secret


@pytest.fixture
def admin(emulator: Emulator) -> Iterator[CacheClient]:
    with client(emulator, emulator.issue_api_key()) as cache_client:
        yield cache_client


def denied(response: object) -> bool:
    return getattr(response, "error_code", None) is MomentoErrorCode.PERMISSION_ERROR


def test_set_get_delete_with_an_api_key(admin: CacheClient) -> None:
    assert isinstance(admin.set("state", "k", "v"), CacheSet.Success)
    got = admin.get("state", "k")
    assert isinstance(got, CacheGet.Hit)
    assert got.value_string == "v"
    assert isinstance(admin.get("other-cache", "k"), CacheGet.Miss)  # caches are separate
    assert isinstance(admin.delete("state", "k"), CacheDelete.Success)
    assert isinstance(admin.get("state", "k"), CacheGet.Miss)


class RawScs:
    """The calls SDK 1.29.1 does not wrap (ItemGetTtl, UpdateTtl), over the same wire types
    and metadata the SDK sends."""

    def __init__(self, emulator: Emulator, credential: str) -> None:
        self.channel = grpc.insecure_channel(emulator.endpoint)
        self.stub = cacheclient_pb2_grpc.ScsStub(self.channel)
        self.credential = credential

    def meta(self, cache: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", self.credential), ("cache", cache))

    def ttl_left_ms(self, cache: str, key: str) -> int | None:
        answer = self.stub.ItemGetTtl(
            pb._ItemGetTtlRequest(cache_key=key.encode()), metadata=self.meta(cache), timeout=5
        )
        return answer.found.remaining_ttl_millis if answer.HasField("found") else None

    def update_ttl(self, cache: str, key: str, **change: int) -> str:
        answer = self.stub.UpdateTtl(
            pb._UpdateTtlRequest(cache_key=key.encode(), **change),
            metadata=self.meta(cache),
            timeout=5,
        )
        return str(answer.WhichOneof("result"))


def test_items_expire_after_their_ttl(emulator: Emulator, admin: CacheClient) -> None:
    raw = RawScs(emulator, emulator.issue_api_key())
    admin.set("state", "short", "v", ttl=timedelta(milliseconds=300))
    left = raw.ttl_left_ms("state", "short")
    assert left is not None
    assert 0 < left <= 300
    time.sleep(0.4)
    assert isinstance(admin.get("state", "short"), CacheGet.Miss)
    assert raw.ttl_left_ms("state", "short") is None


def test_set_if_not_exists_is_a_lock(admin: CacheClient) -> None:
    first = admin.set_if_not_exists("state", "lock", "me", ttl=timedelta(seconds=5))
    second = admin.set_if_not_exists("state", "lock", "you", ttl=timedelta(seconds=5))
    assert isinstance(first, CacheSetIfNotExists.Stored)
    assert isinstance(second, CacheSetIfNotExists.NotStored)
    assert admin.get("state", "lock").value_string == "me"  # type: ignore[union-attr]


def test_increment_counts_atomically_and_creates_the_item(admin: CacheClient) -> None:
    values = [admin.increment("state", "window-1", 1) for _ in range(5)]
    assert [v.value for v in values if isinstance(v, CacheIncrement.Success)] == [1, 2, 3, 4, 5]
    admin.set("state", "text", "not a number")
    refused = admin.increment("state", "text", 1)
    assert getattr(refused, "error_code", None) is MomentoErrorCode.FAILED_PRECONDITION_ERROR


def test_update_ttl(emulator: Emulator, admin: CacheClient) -> None:
    raw = RawScs(emulator, emulator.issue_api_key())
    admin.set("state", "k", "v", ttl=timedelta(seconds=10))
    assert raw.update_ttl("state", "k", increase_to_milliseconds=100_000) == "set"
    assert raw.update_ttl("state", "k", increase_to_milliseconds=50_000) == "not_set"
    assert raw.update_ttl("state", "k", decrease_to_milliseconds=20_000) == "set"
    assert raw.update_ttl("state", "missing", overwrite_to_milliseconds=1000) == "missing"
    left = raw.ttl_left_ms("state", "k")
    assert left is not None
    assert 10_000 < left <= 20_000


def test_a_read_write_token_may_use_its_cache_only(emulator: Emulator) -> None:
    with client(emulator, token_for(emulator, "state-rw")) as rw:
        assert isinstance(rw.set("state", "k", "v"), CacheSet.Success)
        assert isinstance(rw.increment("state", "n", 1), CacheIncrement.Success)
        assert isinstance(rw.get("state", "k"), CacheGet.Hit)
        assert denied(rw.set("other", "k", "v"))  # a token for cache A cannot touch cache B
        assert denied(rw.get("other", "k"))


def test_a_read_only_token_cannot_write(emulator: Emulator, admin: CacheClient) -> None:
    admin.set("state", "k", "v")
    with client(emulator, token_for(emulator, "state-ro")) as ro:
        assert isinstance(ro.get("state", "k"), CacheGet.Hit)
        assert denied(ro.set("state", "k", "w"))
        assert denied(ro.delete("state", "k"))
        assert denied(ro.increment("state", "n", 1))
        assert denied(ro.set_if_not_exists("state", "new", "v"))
    assert admin.get("state", "k").value_string == "v"  # type: ignore[union-attr]


def test_a_write_only_token_cannot_read_or_write_conditionally(emulator: Emulator) -> None:
    with client(emulator, token_for(emulator, "state-wo")) as wo:
        assert isinstance(wo.set("state", "k", "v"), CacheSet.Success)
        assert denied(wo.get("state", "k"))
        assert denied(wo.set_if_not_exists("state", "k2", "v"))
        assert denied(wo.increment("state", "n", 1))


def test_key_prefix_and_single_key_statements_limit_keys(emulator: Emulator) -> None:
    with client(emulator, token_for(emulator, "prefix")) as mine:
        assert isinstance(mine.set("state", "user-alice/profile", "x"), CacheSet.Success)
        assert denied(mine.set("state", "user-bob/profile", "x"))
        assert denied(mine.get("state", "user-alic"))
    with client(emulator, token_for(emulator, "one-key")) as motd:
        assert isinstance(motd.get("any-cache", "motd"), CacheGet.Miss)
        assert denied(motd.get("any-cache", "motd2"))


def test_topic_permissions_grant_no_cache_access(emulator: Emulator) -> None:
    with client(emulator, token_for(emulator, "topics-only")) as topics:
        assert denied(topics.get("state", "k"))


def test_unknown_and_expired_credentials_are_unauthenticated(emulator: Emulator) -> None:
    other = Emulator(rate_limit=0)  # another emulator's key: a signature this one rejects
    foreign = other.issue_api_key()
    with client(emulator, foreign) as stranger:
        response = stranger.get("state", "k")
    assert getattr(response, "error_code", None) is MomentoErrorCode.AUTHENTICATION_ERROR
    expired = token_for(emulator, "state-rw", lifetime=1)
    time.sleep(1.2)
    with client(emulator, expired) as late:
        response = late.get("state", "k")
    assert getattr(response, "error_code", None) is MomentoErrorCode.AUTHENTICATION_ERROR


def test_the_cache_can_be_made_unavailable_and_come_back(
    emulator: Emulator, admin: CacheClient
) -> None:
    emulator.cache.available = False
    response = admin.get("state", "k")
    assert getattr(response, "error_code", None) is MomentoErrorCode.SERVER_UNAVAILABLE
    emulator.cache.available = True
    assert isinstance(admin.get("state", "k"), CacheGet.Miss)


def test_a_denial_keeps_momentos_wording_and_says_why(emulator: Emulator) -> None:
    reader = token_for(emulator, "state-ro")
    with client(emulator, reader) as ro:
        response = ro.set_if_not_exists("state", "k", "v")
    assert denied(response)
    message = str(getattr(response, "inner_exception", ""))
    assert "Insufficient permissions to perform an operation on a cache: statement 1 allows " in (
        message
    )
    assert "read-only here; a conditional write needs read-write" in message


@pytest.mark.parametrize("start", [str(2**63 - 1), str(2**64), "-" + str(2**63 + 1)])
def test_increment_past_int64_is_failed_precondition_with_no_python_text(
    admin: CacheClient, start: str
) -> None:
    """Issue 22, 8: the emulator answered UNKNOWN "Exception calling application: Value out
    of range"; Momento answers FAILED_PRECONDITION."""
    admin.set("state", "big", start)
    refused = admin.increment("state", "big", 1)
    assert getattr(refused, "error_code", None) is MomentoErrorCode.FAILED_PRECONDITION_ERROR
    text = str(getattr(refused, "inner_exception", "")) + str(refused)
    assert "Exception calling application" not in text
    assert "out of range" not in text.lower()
    assert isinstance(admin.get("state", "big"), CacheGet.Hit)  # left as it was


def test_no_emulator_call_answers_with_an_exceptions_text() -> None:
    """A handler that fails with an exception: the caller sees INTERNAL and a fixed message,
    never the exception's text (the emulator's own servicers run behind the same guard, on
    the same kind of server: grpc.aio, synchronous handlers in its thread pool)."""
    import asyncio
    import threading
    from concurrent import futures

    from tvmcli.emulator.runner import NoExceptionText

    def crash(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise ValueError("private detail 0123")

    async def crash_async(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise ValueError("private detail 4567")

    def refuse(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        raise AssertionError

    handlers = {
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
        "CrashAsync": grpc.unary_unary_rpc_method_handler(crash_async),
        "Refuse": grpc.unary_unary_rpc_method_handler(refuse),
    }
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(
            migration_thread_pool=futures.ThreadPoolExecutor(max_workers=2),
            interceptors=[NoExceptionText()],
        )
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", handlers)])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as crashed:
                channel.unary_unary("/t.T/Crash")(b"", timeout=5)
            with pytest.raises(grpc.RpcError) as crashed_async:
                channel.unary_unary("/t.T/CrashAsync")(b"", timeout=5)
            with pytest.raises(grpc.RpcError) as refused:
                channel.unary_unary("/t.T/Refuse")(b"", timeout=5)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
    for failed in (crashed, crashed_async):
        assert failed.value.code() is grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
        assert failed.value.details() == "the emulator failed on this call"  # type: ignore[attr-defined]
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert refused.value.details() == "no such thing"  # type: ignore[attr-defined]
