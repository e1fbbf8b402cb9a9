"""Shared state on Momento for a fleet of vending servers (`[server.state] backend = "momento"`).

- Tokens: sealed entries (see `sealed`) under HMAC names, with an item TTL that ends before
  the token is too short-lived to hand out.
- Single flight across instances: `SetIfNotExists` on a lock item (TTL: one mint's deadline)
  elects the instance that mints; the others poll for its entry.
- One mint budget: `claim`s the slots of `vending.limiter.FleetLimiter`, spaced (1 + 0.1) / rate
  seconds apart, each claimed by an atomic `Increment` of the slot's item (named by HMAC, as
  every item is: a token that may write the cache cannot find, fill or spoil the fleet's slots);
  a mint starts at its slot's time (or claims a later slot if the claim came back too late), so
  no second of wall time holds more than `rate` mints from the whole fleet.
- If the cache cannot be used, everything falls back to this process's memory state (its
  cache and a local limiter), logged once, reported on /healthz, and tried again every few
  seconds until the cache answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tvmcli.credentials.sources import ApiKey
from tvmcli.state.cache_client import CacheClient, CacheRefused, CacheUnavailable
from tvmcli.state.sealed import Sealer

log = logging.getLogger("tvmcli.server")

RETRY_AFTER_FAILURE = 5.0  # seconds in memory-only mode before the cache is tried again
MAX_ITEM_TTL = 24 * 3600  # Momento's item TTL limit


class SharedState:
    """The cache-backed parts of a fleet; every method degrades instead of failing."""

    def __init__(
        self,
        api_key: ApiKey,
        cache: str,
        *,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache_name = cache
        self.client = CacheClient(api_key, cache, timeout=timeout)
        self.sealer = Sealer(api_key.secret)
        self._clock = clock
        self.degraded_since: float | None = None  # monotonic time of the failure
        self.degraded_reason: str | None = None
        self._retry_at = 0.0
        self._held: set[bytes] = set()  # the names whose lock this instance took

    # -- health -------------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        return self.degraded_since is not None

    def usable(self) -> bool:
        """False while degraded, except once every RETRY_AFTER_FAILURE seconds (a probe)."""
        if self.degraded_since is None:
            return True
        now = self._clock()
        if now >= self._retry_at:
            self._retry_at = now + RETRY_AFTER_FAILURE
            return True
        return False

    def _failed(self, error: CacheUnavailable) -> None:
        if self.degraded_since is None:
            self.degraded_since = self._clock()
            refusal = isinstance(error, CacheRefused)
            log.warning(
                "shared state: cache %r %s (%s); serving from this process's memory until it "
                "answers again",
                self.cache_name,
                "refused this server's key" if refusal else "is unavailable",
                error.status,
            )
        self.degraded_reason = error.status
        self._retry_at = self._clock() + RETRY_AFTER_FAILURE

    def _answered(self) -> None:
        if self.degraded_since is not None:
            log.warning("shared state: cache %r answers again", self.cache_name)
            self.degraded_since = None
            self.degraded_reason = None

    async def _use(self, call: Awaitable[Any]) -> tuple[bool, Any]:
        """(True, result), or (False, None) when the cache failed (and we are now degraded)."""
        try:
            result = await call
        except CacheUnavailable as error:
            self._failed(error)
            return False, None
        self._answered()
        return True, result

    # -- tokens -------------------------------------------------------------------------------

    def name(self, *parts: str) -> bytes:
        return self.sealer.name(*parts)

    async def fetch(self, name: bytes) -> dict[str, Any] | None:
        if not self.usable():
            return None
        ok, sealed = await self._use(self.client.get(b"token:" + name))
        if not ok or sealed is None:
            return None
        return self.sealer.open(name, sealed)  # None if tampered, swapped or foreign

    async def store(self, name: bytes, record: dict[str, Any], ttl: float) -> None:
        if ttl < 1 or not self.usable():
            return
        sealed = self.sealer.seal(name, record)
        await self._use(self.client.set(b"token:" + name, sealed, min(ttl, MAX_ITEM_TTL)))

    async def lead(self, name: bytes, ttl: float) -> bool:
        """Whether this instance should mint `name` now: it took the lock, or the cache is
        unusable (then each process leads for itself)."""
        if not self.usable():
            return True
        ok, stored = await self._use(self.client.set_if_not_exists(b"lock:" + name, b"1", ttl))
        if ok and stored:
            self._held.add(name)
        return True if not ok else bool(stored)

    async def release(self, name: bytes) -> None:
        """Let go of `name`'s lock if this instance took it, degraded since or not: the other
        instances wait on it until its TTL otherwise."""
        if name in self._held:
            self._held.discard(name)
            await self._use(self.client.delete(b"lock:" + name))

    # -- the mint budget ----------------------------------------------------------------------

    async def claim(self, slot: int, ttl: float) -> int | None:
        """Claim mint slot `slot` (an Increment of its item, named with the fleet secret like
        every item): 1 when this instance got it, more when another did first; None when the
        cache failed (now degraded). A value that is not a count (FAILED_PRECONDITION: not ours
        to read) is a slot taken: the budget stays whole and nothing degrades."""
        name = b"slot:" + self.name("slot", str(slot))
        try:
            taken = await self.client.increment(name, ttl)
        except CacheUnavailable as error:
            if error.status == "FAILED_PRECONDITION":
                self._answered()
                return 2
            self._failed(error)
            return None
        self._answered()
        return taken

    async def close(self) -> None:
        await self.client.close()
