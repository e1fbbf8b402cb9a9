"""The cache half of the emulator: Momento's data-plane service (`cache_client.Scs`) for the
scalar calls a token vendor's shared state needs, with TTLs, served on the token service's port.

What it checks, as Momento does (the README's "The local token service" lists the same rules):
- The caller's credential comes in the `authorization` metadata; the cache in `cache`.
  Keys this emulator signed: an API key may do anything; a disposable token only what its
  grant (claim `p`) allows. Anything else is UNAUTHENTICATED; an expired credential too.
- `tvmcli.permits`, the one evaluator, decides each call (emulator/access.py authenticates):
  a cache statement must name the cache (or all caches) and cover the key (all items, no item
  selector, the exact key, or a key prefix). Get and ItemGetTtl are `get` (read-write or
  read-only); Set and UpdateTtl are `set`, Delete `delete` (read-write or write-only);
  SetIfNotExists (`set-if-absent`) and Increment read before they write and need read-write
  (Momento's write-only role excludes conditional writes). Otherwise PERMISSION_DENIED with
  Momento's "Insufficient permissions ..." and the evaluator's reason. Topic and function
  permissions grant nothing here.
- Every cache exists (there is no control plane to create one); items expire after their TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import grpc
from momento_wire_types import cacheclient_pb2 as pb
from momento_wire_types import cacheclient_pb2_grpc

from tvmcli.emulator.access import Gate
from tvmcli.emulator.service import Refusal
from tvmcli.permissions.evaluator import CACHE_CALLS

MAX_ITEMS = 100_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_Write = pb._SetRequest | pb._SetIfNotExistsRequest | pb._IncrementRequest  # calls with a TTL


class CacheService(cacheclient_pb2_grpc.ScsServicer):
    def __init__(
        self,
        secret: bytes,
        clock: Callable[[], float] = time.monotonic,
        gate: Gate | None = None,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._gate = gate or Gate(secret)
        self._items: dict[tuple[str, bytes], tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self.available = True  # tests turn the cache off and on: UNAVAILABLE meanwhile
        self.failing: set[str] = set()  # ...or only some calls ("Increment"): UNAVAILABLE
        self.calls = 0
        self.denied = 0

    # -- the calls ----------------------------------------------------------------------------

    def Get(self, request: pb._GetRequest, context: grpc.ServicerContext) -> pb._GetResponse:
        cache = self._admit(context, "Get", request.cache_key)
        item = self._live(cache, request.cache_key)
        if item is None:
            return pb._GetResponse(result=pb.Miss)
        return pb._GetResponse(result=pb.Hit, cache_body=item[0])

    def Set(self, request: pb._SetRequest, context: grpc.ServicerContext) -> pb._SetResponse:
        cache, ttl = self._admit_write(context, "Set", request)
        with self._lock:
            self._store(cache, request.cache_key, request.cache_body, ttl)
        return pb._SetResponse(result=pb.Ok)

    def SetIfNotExists(
        self, request: pb._SetIfNotExistsRequest, context: grpc.ServicerContext
    ) -> pb._SetIfNotExistsResponse:
        cache, ttl = self._admit_write(context, "SetIfNotExists", request)
        with self._lock:
            if self._live(cache, request.cache_key, locked=True) is not None:
                return pb._SetIfNotExistsResponse(not_stored={})
            self._store(cache, request.cache_key, request.cache_body, ttl)
        return pb._SetIfNotExistsResponse(stored={})

    def Delete(
        self, request: pb._DeleteRequest, context: grpc.ServicerContext
    ) -> pb._DeleteResponse:
        cache = self._admit(context, "Delete", request.cache_key)
        with self._lock:
            self._items.pop((cache, request.cache_key), None)
        return pb._DeleteResponse()

    def Increment(
        self, request: pb._IncrementRequest, context: grpc.ServicerContext
    ) -> pb._IncrementResponse:
        cache, ttl = self._admit_write(context, "Increment", request)
        with self._lock:
            item = self._live(cache, request.cache_key, locked=True)
            current = 0
            if item is not None:
                try:
                    current = int(item[0].decode("ascii"))
                    if not INT64_MIN <= current <= INT64_MAX:
                        raise ValueError
                except (UnicodeDecodeError, ValueError):
                    self._abort(
                        context, grpc.StatusCode.FAILED_PRECONDITION, "the value is not an integer"
                    )
            value = current + request.amount
            if not INT64_MIN <= value <= INT64_MAX:  # the answer is an int64: Momento refuses
                self._abort(
                    context,
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "the incremented value would not fit in a signed 64-bit integer",
                )
            # A missing item is created with the TTL; an existing one keeps its expiry.
            expires = item[1] if item is not None else self._clock() + ttl
            self._items[(cache, request.cache_key)] = (str(value).encode("ascii"), expires)
        return pb._IncrementResponse(value=value)

    def UpdateTtl(
        self, request: pb._UpdateTtlRequest, context: grpc.ServicerContext
    ) -> pb._UpdateTtlResponse:
        cache = self._admit(context, "UpdateTtl", request.cache_key)
        kind = request.WhichOneof("update_ttl")
        with self._lock:
            item = self._live(cache, request.cache_key, locked=True)
            if item is None:
                return pb._UpdateTtlResponse(missing={})
            left = item[1] - self._clock()
            wanted = getattr(request, kind) / 1000 if kind else 0.0
            if (
                wanted <= 0
                or (kind == "increase_to_milliseconds" and wanted <= left)
                or (kind == "decrease_to_milliseconds" and wanted >= left)
            ):
                return pb._UpdateTtlResponse(not_set={})
            self._items[(cache, request.cache_key)] = (item[0], self._clock() + wanted)
        return pb._UpdateTtlResponse(set={})

    def ItemGetTtl(
        self, request: pb._ItemGetTtlRequest, context: grpc.ServicerContext
    ) -> pb._ItemGetTtlResponse:
        cache = self._admit(context, "ItemGetTtl", request.cache_key)
        item = self._live(cache, request.cache_key)
        if item is None:
            return pb._ItemGetTtlResponse(missing={})
        left = max(0, int((item[1] - self._clock()) * 1000))
        return pb._ItemGetTtlResponse(found={"remaining_ttl_millis": left})

    # -- store --------------------------------------------------------------------------------

    def _live(self, cache: str, key: bytes, *, locked: bool = False) -> tuple[bytes, float] | None:
        if not locked:
            with self._lock:
                return self._live(cache, key, locked=True)
        item = self._items.get((cache, key))
        if item is not None and item[1] <= self._clock():
            del self._items[(cache, key)]
            return None
        return item

    def _store(self, cache: str, key: bytes, value: bytes, ttl: float) -> None:
        if len(self._items) >= MAX_ITEMS:
            now = self._clock()
            for stale in [k for k, (_, expires) in self._items.items() if expires <= now]:
                del self._items[stale]
            if len(self._items) >= MAX_ITEMS:  # still full: drop the item nearest its expiry
                del self._items[min(self._items, key=lambda k: self._items[k][1])]
        self._items[(cache, key)] = (value, self._clock() + ttl)

    def _ttl(self, context: grpc.ServicerContext, milliseconds: int) -> float:
        if milliseconds <= 0:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "ttl must be positive")
        return milliseconds / 1000

    def _admit_write(
        self, context: grpc.ServicerContext, method: str, request: _Write
    ) -> tuple[str, float]:
        """A call that stores: admitted first (a refusal outranks a bad TTL), then its TTL."""
        cache = self._admit(context, method, request.cache_key)
        return cache, self._ttl(context, request.ttl_milliseconds)

    # -- who may --------------------------------------------------------------------------------

    def _admit(self, context: grpc.ServicerContext, method: str, key: bytes) -> str:
        """Counts the call, then refuses it unless the service is up (and this method is not
        one a test fails) and the caller's grant allows the method's action on the key."""
        action = CACHE_CALLS[method]
        with self._lock:
            self.calls += 1
        if not self.available or method in self.failing:
            self._abort(context, grpc.StatusCode.UNAVAILABLE, "the cache service is unavailable")
        metadata = dict(context.invocation_metadata())
        cache = metadata.get("cache")
        if not isinstance(cache, str) or not cache:
            self._abort(context, grpc.StatusCode.INVALID_ARGUMENT, "the cache name is missing")
        assert isinstance(cache, str)
        try:
            self._gate.check(self._gate.caller(metadata), action, cache, key)
        except Refusal as denied:
            with self._lock:
                self.denied += 1
            self._abort(context, denied.code, denied.message)
        return cache

    @staticmethod
    def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> None:
        context.abort(code, message)
        raise AssertionError("context.abort returns only by raising")
