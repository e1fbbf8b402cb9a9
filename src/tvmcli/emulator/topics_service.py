"""The topics half of the emulator: Momento Topics (`cache_client.pubsub.Pubsub`), Publish and
Subscribe, served beside the token and cache services. An asyncio servicer for `grpc.aio`:
Publish and Subscribe run on the event loop of the emulator's gRPC server, so a delivery costs
no thread switch (the gRPC-web bridge reaches it through the gRPC port). See CONTRIBUTING,
"Topics on grpc.aio".

The rules (the README's "The local token service" lists the same):
- The credential comes in the `authorization` metadata and is checked as for cache calls
  (emulator/access.py): an expired or foreign credential is UNAUTHENTICATED.
- Names: the cache name and the topic name must not be empty, and a published value must be
  text or binary (the SDKs' own checks, and what the service needs); otherwise
  INVALID_ARGUMENT. gRPC itself refuses a message above its 4 MiB receive limit.
- `tvmcli.permits` decides: publish needs publish-subscribe or publish-only, subscribe
  publish-subscribe or subscribe-only, on a statement naming the cache (or all caches) whose
  topic selector matches (all topics, the exact name, or a name prefix). Cache and function
  statements grant no topic access; the emulator's API key may do everything. A refusal is
  PERMISSION_DENIED, "Insufficient permissions ..." followed by the evaluator's reason.
- Sequence numbers count from 1 per (cache, topic), without gaps; each topic has a random
  sequence page. `publisher_id` is the publisher's token id (empty for an API key).
- A subscription is registered before its first message, a heartbeat sent at once; then a
  heartbeat every `heartbeat` seconds. Resuming at N (as the Java SDK does: the last sequence number
  seen + 1) replays the retained items numbered N and up; items no longer retained, or a
  sequence page that is not the topic's, become one discontinuity first.
- Memory is bounded: each topic retains its last `retained` items (and at most
  RETAINED_BYTES of values), and all topics together TOTAL_RETAINED_ITEMS and
  TOTAL_RETAINED_BYTES (the topics used longest ago give up items first); each subscriber's
  queue holds `queue` items. A subscriber too slow for its queue stops receiving new items
  into it; when it has read what was queued it catches up from the topic's retained items,
  with one discontinuity for those no longer retained. At most MAX_TOPICS topics are kept
  (idle ones without subscribers are forgotten first) and at most `max_subscriptions`
  streams are open (then RESOURCE_EXHAUSTED).
- A stream ends when the client cancels it or its deadline passes (gRPC reports
  DEADLINE_EXCEEDED to the client), or when the emulator stops.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from momento_wire_types import cachepubsub_pb2 as pb
from momento_wire_types import cachepubsub_pb2_grpc, common_pb2

from tvmcli.emulator.access import Caller, Gate
from tvmcli.emulator.service import Refusal
from tvmcli.permissions.evaluator import Action

HEARTBEAT_SECONDS = 5.0
RETAINED_ITEMS = 1000
RETAINED_BYTES = 8 * 1024 * 1024
QUEUE_ITEMS = 4096
TOTAL_RETAINED_ITEMS = 100_000  # over all topics
TOTAL_RETAINED_BYTES = 64 * 1024 * 1024
MAX_TOPICS = 10_000
MAX_SUBSCRIPTIONS = 500

_HEARTBEAT = pb._SubscriptionItem(heartbeat=pb._Heartbeat())


@dataclass
class _Gap:
    """Where a slow subscriber's queue overflowed: `last` is the item queued before it."""

    last: int


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Subscription:
    """One subscriber's bounded queue of items (and at most one gap at its tail). It lives on
    the server's event loop: `offer` and `take` run there only (no lock per item); `close` may
    come from any thread."""

    def __init__(self, capacity: int, loop: asyncio.AbstractEventLoop) -> None:
        self.capacity = capacity
        self.loop = loop
        # items travel as the _SubscriptionItem built once per publish, shared by every queue
        self.queue: collections.deque[pb._SubscriptionItem | _Gap] = collections.deque()
        self.last_offered = 0  # the sequence number of the newest item queued or replayed
        self.delivered = 0  # counted on the loop only: no lock per item
        self.discontinuities = 0
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None  # set while `take` waits
        # One timer per heartbeat period, not one per wait: arming and cancelling a timer for
        # every item cost more than the item's own bookkeeping.
        self._timer: asyncio.TimerHandle | None = None

    def offer(self, item: pb._SubscriptionItem) -> bool:
        """Queue `item`; False when it did not fit. A full queue gets a gap marker, and what
        follows is dropped until the subscriber reaches the gap and catches up from the
        topic's retained items (`TopicsService._catch_up`)."""
        queue = self.queue
        if queue and isinstance(queue[-1], _Gap):
            return False
        if len(queue) >= self.capacity:
            queue.append(_Gap(last=self.last_offered))
            fitted = False
        else:
            queue.append(item)
            self.last_offered = item.item.topic_sequence_number
            fitted = True
        if self._waiter is not None:
            _wake(self._waiter)
        return fitted

    async def take(self, until: float) -> pb._SubscriptionItem | _Gap | None:
        """The next entry, or None at `until` (the loop's clock) or once closed."""
        while not self.closed:
            if self.queue:
                return self.queue.popleft()
            if until <= self.loop.time():
                return None
            timer = self._timer
            if timer is None or timer.when() != until:
                if timer is not None:
                    timer.cancel()
                self._timer = self.loop.call_at(until, self._beat)
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
        return None

    def drop_timer(self) -> None:
        """The stream ended (on the loop): its heartbeat timer goes too."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _beat(self) -> None:
        self._timer = None
        self._wake_taker()

    def close(self) -> None:
        """End the stream: from the loop, or from another thread (the emulator stopping)."""
        self.closed = True
        with contextlib.suppress(RuntimeError):  # a closed loop: nothing waits any more
            self.loop.call_soon_threadsafe(self._wake_taker)

    def _wake_taker(self) -> None:
        if self._waiter is not None:
            _wake(self._waiter)


@dataclass
class _Topic:
    page: int
    last: int = 0  # the last sequence number given
    retained: collections.deque[pb._SubscriptionItem] = field(default_factory=collections.deque)
    retained_bytes: int = 0
    subscribers: set[_Subscription] = field(default_factory=set)


class TopicsService(cachepubsub_pb2_grpc.PubsubServicer):
    def __init__(
        self,
        secret: bytes,
        *,
        gate: Gate | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
        retained: int = RETAINED_ITEMS,
        queue: int = QUEUE_ITEMS,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
        rng: random.Random | None = None,
    ) -> None:
        self._gate = gate or Gate(secret)
        self.heartbeat = heartbeat
        self.retained = retained
        self.queue = queue
        self.max_subscriptions = max_subscriptions
        self._rng = rng or random.SystemRandom()
        self._lock = threading.Lock()
        # OrderedDict as an LRU: the topic touched last moves to the end
        self._topics: collections.OrderedDict[tuple[str, str], _Topic] = collections.OrderedDict()
        self._open: set[_Subscription] = set()
        self._retained_items = 0  # over all topics
        self._retained_bytes = 0
        self.available = True  # tests turn topics off and on: UNAVAILABLE meanwhile
        self.counts: collections.Counter[str] = collections.Counter()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "publishes": self.counts["publishes"],
                "subscriptions": self.counts["subscriptions"],
                "open_subscriptions": len(self._open),
                "delivered": self.counts["delivered"] + sum(s.delivered for s in self._open),
                "discontinuities": self.counts["discontinuities"]
                + sum(s.discontinuities for s in self._open),
                "refusals": {
                    code.removeprefix("refused:"): n
                    for code, n in self.counts.items()
                    if code.startswith("refused:")
                },
                "topics": len(self._topics),
                "retained_items": self._retained_items,
                "retained_bytes": self._retained_bytes,
            }

    # -- the calls ----------------------------------------------------------------------------

    async def Publish(
        self, request: pb._PublishRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2._Empty:
        try:
            caller = self._admit(context, Action.PUBLISH, request.cache_name, request.topic)
        except Refusal as refusal:
            await context.abort(refusal.code, refusal.message)
        kind = request.value.WhichOneof("kind")
        if kind is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the value is missing: text or binary"
            )
        size = len(request.value.text if kind == "text" else request.value.binary)
        with self._lock:
            self.counts["publishes"] += 1
            topic = self._topic(request.cache_name, request.topic)
            topic.last += 1
            item = pb._SubscriptionItem(
                item=pb._TopicItem(
                    topic_sequence_number=topic.last,
                    value=request.value,
                    publisher_id=caller.token_id,
                    sequence_page=topic.page,
                )
            )
            topic.retained.append(item)
            topic.retained_bytes += size
            self._retained_items += 1
            self._retained_bytes += size
            while len(topic.retained) > self.retained or (
                topic.retained_bytes > RETAINED_BYTES and len(topic.retained) > 1
            ):
                self._forget_oldest(topic)
            self._within_budget(topic)
            subscribers = list(topic.subscribers)
            # offered under the service lock, so every subscriber sees items in order
            for subscriber in subscribers:
                subscriber.offer(item)
        return common_pb2._Empty()

    async def Subscribe(
        self, request: pb._SubscriptionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb._SubscriptionItem]:
        try:
            self._admit(context, Action.SUBSCRIBE, request.cache_name, request.topic)
            subscription = _Subscription(self.queue, asyncio.get_running_loop())
            with self._lock:
                if len(self._open) >= self.max_subscriptions:
                    self.counts["refused:RESOURCE_EXHAUSTED"] += 1
                    raise Refusal(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"too many open subscriptions "
                        f"(the emulator allows {self.max_subscriptions})",
                    )
                topic = self._topic(request.cache_name, request.topic)
                replay = self._replay(topic, request)
                topic.subscribers.add(subscription)
                self._open.add(subscription)
                self.counts["subscriptions"] += 1
                subscription.last_offered = topic.last
        except Refusal as refusal:
            await context.abort(refusal.code, refusal.message)
        # The call's end (client cancel, deadline, server stop) unregisters the subscriber at
        # once, even while the stream waits in a write and its `finally` has yet to run.
        # (grpc-stubs type the callback as a class, not a callable)
        context.add_done_callback(lambda _: self._end(topic, subscription))  # type: ignore[arg-type]
        try:
            yield _HEARTBEAT  # at once: the SDKs wait for it, the Python SDK insists on it
            for entry in replay:
                yield self._item(subscription, entry)
            loop = subscription.loop
            next_beat = loop.time() + self.heartbeat
            while True:
                queued = await subscription.take(next_beat)
                if queued is None:
                    if subscription.closed:
                        return
                    next_beat = loop.time() + self.heartbeat
                    yield _HEARTBEAT
                    continue
                if isinstance(queued, _Gap):
                    for entry in self._catch_up(topic, subscription, queued.last):
                        yield self._item(subscription, entry)
                    continue
                subscription.delivered += 1
                yield queued
        finally:
            self._end(topic, subscription)

    def _end(self, topic: _Topic, subscription: _Subscription) -> None:
        """Unregister a subscription, once (from its stream or the call's done callback)."""
        subscription.close()
        subscription.drop_timer()
        with self._lock:
            topic.subscribers.discard(subscription)
            if subscription in self._open:
                self._open.discard(subscription)
                self.counts["delivered"] += subscription.delivered
                self.counts["discontinuities"] += subscription.discontinuities

    def _forget_oldest(self, topic: _Topic) -> None:
        """Drop the topic's oldest retained item (called under the lock)."""
        old = topic.retained.popleft().item.value
        size = len(old.text if old.WhichOneof("kind") == "text" else old.binary)
        topic.retained_bytes -= size
        self._retained_items -= 1
        self._retained_bytes -= size

    def _within_budget(self, current: _Topic) -> None:
        """Keep all topics' retained items within TOTAL_RETAINED_ITEMS and _BYTES, taking
        from the topics used longest ago first (called under the lock)."""
        while (
            self._retained_items > TOTAL_RETAINED_ITEMS
            or self._retained_bytes > TOTAL_RETAINED_BYTES
        ):
            for topic in self._topics.values():
                if topic.retained and (topic is not current or len(topic.retained) > 1):
                    self._forget_oldest(topic)
                    break
            else:
                return

    def close_all(self) -> None:
        """End every open subscription (the emulator is stopping)."""
        with self._lock:
            subscriptions = list(self._open)
        for subscription in subscriptions:
            subscription.close()

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _item(
        subscription: _Subscription, entry: pb._SubscriptionItem | pb._Discontinuity
    ) -> pb._SubscriptionItem:
        if isinstance(entry, pb._SubscriptionItem):
            subscription.delivered += 1
            return entry
        subscription.discontinuities += 1
        return pb._SubscriptionItem(discontinuity=entry)

    def _catch_up(
        self, topic: _Topic, subscription: _Subscription, last: int
    ) -> list[pb._SubscriptionItem | pb._Discontinuity]:
        """A slow subscriber reached the gap in its queue: the items after `last` that the
        topic still retains, after a discontinuity for any it no longer does; from here on,
        new items queue again."""
        with self._lock:
            subscription.queue.clear()  # nothing but the gap was left in it
            subscription.last_offered = topic.last
            return self._since(topic, last + 1)

    def _replay(
        self, topic: _Topic, request: pb._SubscriptionRequest
    ) -> list[pb._SubscriptionItem | pb._Discontinuity]:
        """What a resuming subscriber gets before live items (called under the lock)."""
        start = request.resume_at_topic_sequence_number
        if start == 0:
            return []
        next_number = topic.last + 1
        if request.sequence_page not in (0, topic.page):  # another life of this topic
            return [
                pb._Discontinuity(
                    last_topic_sequence=start - 1,
                    new_topic_sequence=next_number,
                    new_sequence_page=topic.page,
                )
            ]
        if start >= next_number:
            return []
        return self._since(topic, start)

    @staticmethod
    def _since(topic: _Topic, start: int) -> list[pb._SubscriptionItem | pb._Discontinuity]:
        """The retained items numbered `start` and up, after one discontinuity for those no
        longer retained (called under the lock)."""
        kept = [item for item in topic.retained if item.item.topic_sequence_number >= start]
        first = kept[0].item.topic_sequence_number if kept else topic.last + 1
        replay: list[pb._SubscriptionItem | pb._Discontinuity] = []
        if first > start:
            replay.append(
                pb._Discontinuity(
                    last_topic_sequence=start - 1,
                    new_topic_sequence=first,
                    new_sequence_page=topic.page,
                )
            )
        replay.extend(kept)
        return replay

    def _topic(self, cache: str, name: str) -> _Topic:
        """The topic, made on first use (called under the lock)."""
        key = (cache, name)
        topic = self._topics.get(key)
        if topic is not None:
            self._topics.move_to_end(key)
            return topic
        if len(self._topics) >= MAX_TOPICS:
            for old_key, old in list(self._topics.items()):
                if not old.subscribers:
                    del self._topics[old_key]
                    self._retained_items -= len(old.retained)
                    self._retained_bytes -= old.retained_bytes
                    break
        topic = _Topic(page=self._rng.randrange(1, 2**63))
        self._topics[key] = topic
        return topic

    def _admit(
        self, context: grpc.aio.ServicerContext[Any, Any], action: Action, cache: str, topic: str
    ) -> Caller:
        """The caller, if it may do `action`; Refusal (counted) otherwise."""
        try:
            if not self.available:
                raise Refusal(grpc.StatusCode.UNAVAILABLE, "the topics service is unavailable")
            caller = self._gate.caller(dict(context.invocation_metadata() or ()))
            if not cache:
                raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, "the cache name must not be empty")
            if not topic:
                raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, "the topic name must not be empty")
            self._gate.check(caller, action, cache, topic)
        except Refusal as refusal:
            with self._lock:
                self.counts[f"refused:{refusal.code.name}"] += 1
            raise
        return caller
