"""Momento Topics on the emulator, driven by Momento's own Python SDK (`TopicClient`,
`TopicClientAsync`) over real gRPC, and by the raw wire stub where the SDK hides what the
service sends (heartbeats, discontinuities, publisher_id)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from momento import CredentialProvider, TopicClient, TopicClientAsync, TopicConfigurations
from momento.errors import MomentoErrorCode
from momento.responses import TopicPublish, TopicSubscribe, TopicSubscriptionItem
from momento_wire_types import cachepubsub_pb2 as pb
from momento_wire_types import cachepubsub_pb2_grpc

from tests.docs import page, section
from tests.minted import mint_once
from tvmcli.config.file import parse_config
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator, topics_service

CONFIG = TopicConfigurations.Default.v1().with_client_timeout(timedelta(seconds=30))


def provider(emulator: Emulator, credential: str) -> CredentialProvider:
    host, port = emulator.endpoint.split(":")
    return CredentialProvider(credential, host, host, host, int(port))


def sync_client(emulator: Emulator, credential: str) -> TopicClient:
    return TopicClient(CONFIG, provider(emulator, credential))


def async_client(emulator: Emulator, credential: str) -> TopicClientAsync:
    return TopicClientAsync(CONFIG, provider(emulator, credential))


def token_for(
    emulator: Emulator, *statements: str, token_id: str | None = None, lifetime: int = 300
) -> str:
    """A disposable token for these profile statements, minted over the real token service;
    the SDK presents the envelope's inner key, as here."""
    text = "[profiles.p]\npermissions = [" + ", ".join(statements) + "]\n"
    chosen = parse_config(text, Path("p.toml")).profile("p")
    key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
    envelope = mint_once(key, chosen.statements, lifetime, token_id).auth_token
    return parse_credential(envelope).secret


class Raw:
    """The wire stub with a credential in the `authorization` metadata, as the SDKs send it."""

    def __init__(self, emulator: Emulator, credential: str) -> None:
        self.channel = grpc.insecure_channel(emulator.endpoint)
        self.stub = cachepubsub_pb2_grpc.PubsubStub(self.channel)  # type: ignore[no-untyped-call]
        self.metadata = (("authorization", credential),)

    def publish(self, cache: str, topic: str, value: str | bytes) -> None:
        body = (
            pb._TopicValue(text=value) if isinstance(value, str) else pb._TopicValue(binary=value)
        )
        request = pb._PublishRequest(cache_name=cache, topic=topic, value=body)
        self.stub.Publish(request, metadata=self.metadata, timeout=10)

    def subscribe(
        self, cache: str, topic: str, resume: int = 0, page: int = 0, timeout: float = 30
    ) -> Iterator[pb._SubscriptionItem]:
        request = pb._SubscriptionRequest(
            cache_name=cache,
            topic=topic,
            resume_at_topic_sequence_number=resume,
            sequence_page=page,
        )
        stream: Iterator[pb._SubscriptionItem] = self.stub.Subscribe(
            request, metadata=self.metadata, timeout=timeout
        )
        return stream

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def key(emulator: Emulator) -> str:
    return emulator.issue_api_key()


@pytest.fixture
def raw(emulator: Emulator, key: str) -> Iterator[Raw]:
    stub = Raw(emulator, key)
    yield stub
    stub.close()


def kinds(items: list[pb._SubscriptionItem]) -> list[str]:
    return [item.WhichOneof("kind") for item in items]


def until_items(stream: Iterator[pb._SubscriptionItem], count: int) -> list[pb._SubscriptionItem]:
    """Read until `count` non-heartbeat messages arrived (heartbeats dropped)."""
    seen: list[pb._SubscriptionItem] = []
    for message in stream:
        if message.WhichOneof("kind") != "heartbeat":
            seen.append(message)
            if len(seen) == count:
                break
    return seen


def wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


# -- the SDK clients ---------------------------------------------------------------------------


def test_async_sdk_publish_subscribe_in_order_with_sequence_numbers(
    emulator: Emulator, key: str
) -> None:
    async def run() -> list[TopicSubscriptionItem.Text | TopicSubscriptionItem.Binary]:
        async with async_client(emulator, key) as client:
            subscription = await client.subscribe("chat", "room-1")
            assert isinstance(subscription, TopicSubscribe.SubscriptionAsync)
            for n in range(30):  # published right after subscribe() resolved: all delivered
                value: str | bytes = f"m{n}" if n % 2 == 0 else bytes([n, 0, 255])
                assert isinstance(
                    await client.publish("chat", "room-1", value), TopicPublish.Success
                )
            got = []
            iterator = subscription.__aiter__()
            for _ in range(30):
                item = await asyncio.wait_for(iterator.__anext__(), 5)
                assert isinstance(item, (TopicSubscriptionItem.Text, TopicSubscriptionItem.Binary))
                got.append(item)
            subscription.unsubscribe()
            return got

    got = asyncio.run(run())
    assert [item.sequence_number for item in got] == list(range(1, 31))
    assert [item.value for item in got] == [
        f"m{n}" if n % 2 == 0 else bytes([n, 0, 255]) for n in range(30)
    ]
    assert len({item.sequence_page for item in got}) == 1
    assert got[0].sequence_page != 0
    stats = emulator.topics.stats()
    assert stats["publishes"] == 30
    assert stats["delivered"] == 30
    assert stats["subscriptions"] == 1


def test_sync_sdk_publish_subscribe_and_topics_are_separate(emulator: Emulator, key: str) -> None:
    with sync_client(emulator, key) as client:
        room = client.subscribe("chat", "room-1")
        other_cache = client.subscribe("other", "room-1")
        assert isinstance(room, TopicSubscribe.Subscription)
        assert isinstance(other_cache, TopicSubscribe.Subscription)
        assert isinstance(client.publish("chat", "room-2", "elsewhere"), TopicPublish.Success)
        assert isinstance(client.publish("chat", "room-1", "hello"), TopicPublish.Success)
        assert isinstance(client.publish("other", "room-1", "there"), TopicPublish.Success)
        first = next(room)
        assert isinstance(first, TopicSubscriptionItem.Text)
        assert (first.value, first.sequence_number) == ("hello", 1)  # room-2 has its own count
        second = next(other_cache)
        assert isinstance(second, TopicSubscriptionItem.Text)
        assert (second.value, second.sequence_number) == ("there", 1)
        room.unsubscribe()
        other_cache.unsubscribe()


def test_every_publish_right_after_subscribe_resolves_is_delivered(
    emulator: Emulator, key: str
) -> None:
    async def run() -> None:
        async with async_client(emulator, key) as client:
            for n in range(15):
                subscription = await client.subscribe("chat", f"fresh-{n}")
                assert isinstance(subscription, TopicSubscribe.SubscriptionAsync)
                await client.publish("chat", f"fresh-{n}", "first")
                item = await asyncio.wait_for(subscription.__aiter__().__anext__(), 5)
                assert isinstance(item, TopicSubscriptionItem.Text)
                assert (item.value, item.sequence_number) == ("first", 1)
                subscription.unsubscribe()

    asyncio.run(run())


def test_resume_with_the_sdk_replays_what_is_retained(emulator: Emulator, key: str) -> None:
    with sync_client(emulator, key) as client:
        first = client.subscribe("chat", "log")
        assert isinstance(first, TopicSubscribe.Subscription)
        for n in range(1, 6):
            client.publish("chat", "log", f"m{n}")
        seen = [next(first) for _ in range(3)]  # the subscriber went away after 3
        first.unsubscribe()
        last = seen[-1]
        assert isinstance(last, TopicSubscriptionItem.Text)
        # the Java SDK resumes at the last sequence number seen + 1, on the same page
        again = client.subscribe(
            "chat",
            "log",
            resume_at_topic_sequence_number=last.sequence_number + 1,
            resume_at_topic_sequence_page=last.sequence_page,
        )
        assert isinstance(again, TopicSubscribe.Subscription)
        client.publish("chat", "log", "m6")
        rest = [next(again) for _ in range(3)]
        again.unsubscribe()
    assert [(i.value, i.sequence_number) for i in rest] == [("m4", 4), ("m5", 5), ("m6", 6)]  # type: ignore[union-attr]


# -- what the service sends (raw stub) --------------------------------------------------------


def test_the_first_message_is_a_heartbeat_at_once_then_heartbeats_keep_coming() -> None:
    with Emulator(rate_limit=0, heartbeat=0.2) as emulator:
        raw = Raw(emulator, emulator.issue_api_key())
        started = time.monotonic()
        stream = raw.subscribe("chat", "quiet")
        first = next(stream)
        assert first.WhichOneof("kind") == "heartbeat"
        assert time.monotonic() - started < 1.0
        beats = [next(stream) for _ in range(4)]
        elapsed = time.monotonic() - started
        assert kinds(beats) == ["heartbeat"] * 4
        assert 0.6 < elapsed < 3.0  # every 0.2 s, not a burst
        stream.cancel()  # type: ignore[attr-defined]
        raw.close()


def test_heartbeats_keep_their_interval_while_items_trickle_in() -> None:
    # Each subscription arms one heartbeat timer per period (not one per wait): items arriving
    # more often than the period must neither hold heartbeats back nor multiply them.
    with Emulator(rate_limit=0, heartbeat=0.3) as emulator:
        raw = Raw(emulator, emulator.issue_api_key())
        stream = raw.subscribe("chat", "trickle")
        assert next(stream).WhichOneof("kind") == "heartbeat"
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(0.05):
                raw.publish("chat", "trickle", "drip")

        publisher = threading.Thread(target=trickle, daemon=True)
        started = time.monotonic()
        publisher.start()
        beats = items = 0
        for message in stream:
            if message.WhichOneof("kind") == "heartbeat":
                beats += 1
            else:
                items += 1
            if time.monotonic() - started > 1.6:
                break
        stop.set()
        publisher.join()
        stream.cancel()  # type: ignore[attr-defined]
        raw.close()
    assert items >= 10
    assert 3 <= beats <= 7  # ~5 in 1.6 s at 0.3 s


def test_stopping_ends_open_streams_and_leaves_no_emulator_thread() -> None:
    before = set(threading.enumerate())  # other tests' emulators may be running
    emulator = Emulator(rate_limit=0).start()
    # a mint runs in the server's thread pool, so it has a thread to end too
    token = token_for(emulator, '{ role = "publish-subscribe", cache = "chat", topic = "*" }')
    raw = Raw(emulator, token)
    streams = [raw.subscribe("chat", f"t{n}") for n in range(3)]
    assert [next(s).WhichOneof("kind") for s in streams] == ["heartbeat"] * 3
    ours = {t.name for t in set(threading.enumerate()) - before}
    assert "emulator-grpc" in ours
    assert any(name.startswith("emulator-unary") for name in ours)
    emulator.stop(grace=1.0)
    for stream in streams:
        assert [m for m in stream if m.WhichOneof("kind") != "heartbeat"] == []  # ends, no error
    raw.close()
    assert emulator.topics.stats()["open_subscriptions"] == 0
    left = [t.name for t in set(threading.enumerate()) - before if t.name.startswith("emulator")]
    assert left == []
    emulator.stop()  # again: nothing left to stop


def test_a_cancelled_stream_is_unregistered_at_once(emulator: Emulator, raw: Raw) -> None:
    stream = raw.subscribe("chat", "gone")
    assert next(stream).WhichOneof("kind") == "heartbeat"
    assert emulator.topics.stats()["open_subscriptions"] == 1
    stream.cancel()  # type: ignore[attr-defined]
    wait_for(lambda: emulator.topics.stats()["open_subscriptions"] == 0, seconds=2.0)
    raw.publish("chat", "gone", "to nobody")  # offered to no one: the topic forgot it
    assert emulator.topics._topics[("chat", "gone")].subscribers == set()


def test_publisher_id_is_the_token_id_and_empty_for_an_api_key(
    emulator: Emulator, raw: Raw
) -> None:
    # client-sdk-javascript auth-client.ts: a token id myTokenID is what subscribers see
    token = token_for(
        emulator,
        '{ role = "publish-subscribe", cache = "chat", topic = "*" }',
        token_id="myTokenID",
    )
    publisher = Raw(emulator, token)
    stream = raw.subscribe("chat", "room-1")
    assert next(stream).WhichOneof("kind") == "heartbeat"
    publisher.publish("chat", "room-1", "from the token")
    raw.publish("chat", "room-1", "from the key")
    items = until_items(stream, 2)
    assert [(i.item.publisher_id, i.item.value.text) for i in items] == [
        ("myTokenID", "from the token"),
        ("", "from the key"),
    ]
    stream.cancel()  # type: ignore[attr-defined]
    publisher.close()


def test_resume_outside_the_window_or_on_another_page_is_a_discontinuity() -> None:
    with Emulator(rate_limit=0, topic_retained=5) as emulator:
        raw = Raw(emulator, emulator.issue_api_key())
        for n in range(1, 11):
            raw.publish("chat", "log", f"m{n}")
        stream = raw.subscribe("chat", "log", resume=2)
        assert next(stream).WhichOneof("kind") == "heartbeat"
        items = until_items(stream, 6)
        gap = items[0].discontinuity
        assert kinds(items[:1]) == ["discontinuity"]
        assert (gap.last_topic_sequence, gap.new_topic_sequence) == (1, 6)
        page = gap.new_sequence_page
        assert [i.item.topic_sequence_number for i in items[1:]] == [6, 7, 8, 9, 10]
        assert {i.item.sequence_page for i in items[1:]} == {page}
        stream.cancel()  # type: ignore[attr-defined]
        # a page that is not the topic's: its numbers mean nothing here
        stream = raw.subscribe("chat", "log", resume=4, page=page + 1)
        assert next(stream).WhichOneof("kind") == "heartbeat"
        gap = next(stream).discontinuity
        assert (gap.last_topic_sequence, gap.new_topic_sequence, gap.new_sequence_page) == (
            3,
            11,
            page,
        )
        raw.publish("chat", "log", "m11")
        assert until_items(stream, 1)[0].item.topic_sequence_number == 11
        stream.cancel()  # type: ignore[attr-defined]
        # resuming inside the window replays from there, no discontinuity
        stream = raw.subscribe("chat", "log", resume=9, page=page)
        assert [i.item.topic_sequence_number for i in until_items(stream, 3)] == [9, 10, 11]
        stream.cancel()  # type: ignore[attr-defined]
        raw.close()


def test_a_slow_subscriber_catches_up_from_the_window_after_a_discontinuity() -> None:
    with Emulator(rate_limit=0, topic_queue=8, topic_retained=50) as emulator:
        raw = Raw(emulator, emulator.issue_api_key())
        slow = raw.subscribe("chat", "firehose")
        assert next(slow).WhichOneof("kind") == "heartbeat"
        value = b"x" * 65_536
        published = 500  # ~33 MB: more than gRPC's flow-control windows hold for a reader
        for _ in range(published):
            raw.publish("chat", "firehose", value)
        (subscription,) = emulator.topics._open
        assert len(subscription.queue) <= 9  # the queue's bound (plus one gap marker)
        raw.publish("chat", "firehose", b"last")
        seen: list[pb._SubscriptionItem] = []
        for message in slow:
            if message.WhichOneof("kind") == "heartbeat":
                continue
            seen.append(message)
            if message.WhichOneof("kind") == "item" and message.item.value.binary == b"last":
                break
        slow.cancel()  # type: ignore[attr-defined]
        raw.close()
        gaps = [m.discontinuity for m in seen if m.WhichOneof("kind") == "discontinuity"]
        numbers = [m.item.topic_sequence_number for m in seen if m.WhichOneof("kind") == "item"]
        assert gaps, "a subscriber that never read must have missed items"
        assert len(numbers) < published
        # items and gaps account for every sequence number exactly once, in order
        expected = 1
        for message in seen:
            if message.WhichOneof("kind") == "item":
                assert message.item.topic_sequence_number == expected
                expected += 1
            else:
                assert message.discontinuity.last_topic_sequence == expected - 1
                expected = message.discontinuity.new_topic_sequence
        assert expected == published + 2
        assert numbers[-50:] == list(range(published - 48, published + 2))  # the window
        assert emulator.topics.stats()["discontinuities"] == len(gaps)


def test_a_slow_sdk_subscriber_misses_items_but_keeps_receiving() -> None:
    with Emulator(rate_limit=0, topic_queue=4, topic_retained=20) as emulator:
        key = emulator.issue_api_key()

        async def run() -> list[int]:
            async with async_client(emulator, key) as client:
                subscription = await client.subscribe("chat", "firehose")
                assert isinstance(subscription, TopicSubscribe.SubscriptionAsync)
                raw = Raw(emulator, key)
                for _ in range(500):
                    raw.publish("chat", "firehose", b"y" * 65_536)
                raw.publish("chat", "firehose", b"last")
                raw.close()
                numbers = []
                async for item in subscription:
                    assert isinstance(item, TopicSubscriptionItem.Binary)
                    numbers.append(item.sequence_number)
                    if item.value == b"last":
                        break
                subscription.unsubscribe()
                return numbers

        numbers = asyncio.run(asyncio.wait_for(run(), 60))
    assert numbers[-1] == 501
    assert numbers == sorted(numbers)
    assert len(numbers) < 501  # some were dropped for it, not buffered without bound


def test_a_stream_ended_by_the_clients_deadline_ends_as_grpc_does(
    emulator: Emulator, raw: Raw
) -> None:
    stream = raw.subscribe("chat", "short", timeout=0.5)
    assert next(stream).WhichOneof("kind") == "heartbeat"
    with pytest.raises(grpc.RpcError) as ended:
        for _ in stream:
            pass
    assert ended.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    wait_for(lambda: emulator.topics.stats()["open_subscriptions"] == 0)


def test_names_and_values_breaking_the_rules_are_invalid_argument(raw: Raw) -> None:
    for cache, topic in (("", "t"), ("chat", "")):
        with pytest.raises(grpc.RpcError) as refused:
            raw.publish(cache, topic, "v")
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        with pytest.raises(grpc.RpcError) as refused:
            next(raw.subscribe(cache, topic))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as refused:
        raw.stub.Publish(pb._PublishRequest(cache_name="c", topic="t"), metadata=raw.metadata)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "text or binary" in refused.value.details()  # type: ignore[attr-defined]


def test_foreign_missing_and_expired_credentials_are_unauthenticated(emulator: Emulator) -> None:
    foreign = Emulator(rate_limit=0).issue_api_key()  # another emulator's signature
    expired = token_for(
        emulator, '{ role = "publish-subscribe", cache = "chat", topic = "*" }', lifetime=1
    )
    time.sleep(1.2)
    for credential in (foreign, expired):
        with sync_client(emulator, credential) as client:
            published = client.publish("chat", "t", "v")
            subscribed = client.subscribe("chat", "t")
        assert isinstance(published, TopicPublish.Error)
        assert published.error_code is MomentoErrorCode.AUTHENTICATION_ERROR
        assert isinstance(subscribed, TopicSubscribe.Error)
        assert subscribed.error_code is MomentoErrorCode.AUTHENTICATION_ERROR
    nobody = Raw(emulator, "")
    nobody.metadata = ()
    with pytest.raises(grpc.RpcError) as refused:
        nobody.publish("chat", "t", "v")
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    nobody.close()
    assert emulator.topics.stats()["refusals"]["UNAUTHENTICATED"] == 5


def test_a_denial_says_insufficient_permissions_and_why(emulator: Emulator) -> None:
    reader = token_for(emulator, '{ role = "subscribe-only", cache = "chat", topic = "*" }')
    with sync_client(emulator, reader) as client:
        refused = client.publish("chat", "room-1", "hello")
    assert isinstance(refused, TopicPublish.Error)
    assert refused.error_code is MomentoErrorCode.PERMISSION_ERROR
    details = str(refused.inner_exception)
    assert "Insufficient permissions to perform an operation on a topic: " in details
    assert (
        "statement 1 allows subscribe-only here; publishing needs publish-subscribe or "
        "publish-only" in details
    )
    assert emulator.topics.stats()["refusals"] == {"PERMISSION_DENIED": 1}


def test_more_than_a_hundred_subscribers_each_get_every_message(
    emulator: Emulator, key: str
) -> None:
    count = 120
    ready = threading.Barrier(count + 1)
    received: list[list[int]] = []
    lock = threading.Lock()
    raws = [Raw(emulator, key) for _ in range(4)]  # 30 streams per connection

    def subscriber(n: int) -> None:
        stream = raws[n % 4].subscribe("chat", "crowd")
        next(stream)  # the heartbeat: registered
        ready.wait()
        numbers = [i.item.topic_sequence_number for i in until_items(stream, 5)]
        stream.cancel()  # type: ignore[attr-defined]
        with lock:
            received.append(numbers)

    threads = [threading.Thread(target=subscriber, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=30)
    for n in range(5):
        raws[0].publish("chat", "crowd", f"m{n}")
    for thread in threads:
        thread.join(timeout=30)
    for stub in raws:
        stub.close()
    assert len(received) == count
    assert all(numbers == [1, 2, 3, 4, 5] for numbers in received)


def test_the_docs_topics_block_runs_as_written(emulator: Emulator, key: str) -> None:
    part = section(page("emulator.md"), "## Topics on the emulator")
    (block,) = re.findall(r"```python\n(.*?)```", part, re.S)
    env = {**os.environ, "MOMENTO_API_KEY": key, "MOMENTO_ENDPOINT": emulator.endpoint}
    result = subprocess.run(
        [sys.executable, "-c", block], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello 1\n"


def test_the_emulators_stop_line_counts_topic_calls(emulator: Emulator, raw: Raw) -> None:
    from tvmcli.cli.emulator import stop_summary

    stream = raw.subscribe("chat", "t")
    assert next(stream).WhichOneof("kind") == "heartbeat"
    raw.publish("chat", "t", "v")
    stream.cancel()  # type: ignore[attr-defined]
    reader = token_for(emulator, '{ role = "subscribe-only", cache = "chat", topic = "*" }')
    refused = Raw(emulator, reader)
    with pytest.raises(grpc.RpcError):
        refused.publish("chat", "t", "v")
    refused.close()
    summary = stop_summary(emulator.service.stats(), emulator.topics.stats())
    assert summary == (
        "1 call, 1 mint, no refusals; topics: 1 publish, 1 subscription, "
        "refusals: PERMISSION_DENIED 1"
    )


def test_all_topics_together_keep_a_bounded_number_of_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(topics_service, "TOTAL_RETAINED_ITEMS", 10)
    with Emulator(rate_limit=0) as emulator:
        raw = Raw(emulator, emulator.issue_api_key())
        for topic in ("older", "newer"):
            for n in range(1, 9):
                raw.publish("chat", topic, f"{topic}-{n}")
        stats = emulator.topics.stats()
        assert stats["retained_items"] == 10
        assert stats["retained_bytes"] == len("older-1") * 2 + len("newer-1") * 8
        stream = raw.subscribe("chat", "older", resume=1)  # the older topic gave up 6
        assert next(stream).WhichOneof("kind") == "heartbeat"
        gap, *items = until_items(stream, 3)
        assert (gap.discontinuity.last_topic_sequence, gap.discontinuity.new_topic_sequence) == (
            0,
            7,
        )
        assert [i.item.value.text for i in items] == ["older-7", "older-8"]
        stream.cancel()  # type: ignore[attr-defined]
        stream = raw.subscribe("chat", "newer", resume=1)
        assert [i.item.topic_sequence_number for i in until_items(stream, 8)] == list(range(1, 9))
        stream.cancel()  # type: ignore[attr-defined]
        raw.close()


def test_subscriptions_beyond_the_limit_are_resource_exhausted() -> None:
    with Emulator(rate_limit=0, max_subscriptions=2) as emulator:
        raw = Raw(emulator, emulator.issue_api_key())
        streams = [raw.subscribe("chat", f"t{n}") for n in range(2)]
        assert [next(s).WhichOneof("kind") for s in streams] == ["heartbeat", "heartbeat"]
        with pytest.raises(grpc.RpcError) as refused:
            next(raw.subscribe("chat", "t3"))
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        raw.publish("chat", "t0", "still served")  # unary calls still find a thread
        assert until_items(streams[0], 1)[0].item.value.text == "still served"
        streams[1].cancel()  # type: ignore[attr-defined]
        wait_for(lambda: emulator.topics.stats()["open_subscriptions"] == 1)
        again = raw.subscribe("chat", "t3")  # a freed slot is usable again
        assert next(again).WhichOneof("kind") == "heartbeat"
        for stream in (streams[0], again):
            stream.cancel()  # type: ignore[attr-defined]
        raw.close()


def test_topics_can_be_made_unavailable_and_come_back(emulator: Emulator, key: str) -> None:
    with sync_client(emulator, key) as client:
        emulator.topics.available = False
        response = client.publish("chat", "t", "v")
        assert isinstance(response, TopicPublish.Error)
        assert response.error_code is MomentoErrorCode.SERVER_UNAVAILABLE
        emulator.topics.available = True
        assert isinstance(client.publish("chat", "t", "v"), TopicPublish.Success)
