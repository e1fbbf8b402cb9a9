"""The account-wide mint budget: every call to Momento's token service, a mint's first and each
retry, takes a slot from a `Limiter` first. `MintLimiter` counts in this process;
`FleetLimiter` claims slots in the fleet's shared cache and falls back to a `MintLimiter`
while the cache is unusable. Both report waits and sheds to `VendEvents`."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from tvmcli.errors import MintLimitError

if TYPE_CHECKING:
    from tvmcli.state.shared import SharedState

# MintLimiter: its windows are a second plus this much apart (a call sent a second after
# another can arrive a little sooner, and Momento counts arrivals).
WINDOW_SLACK = 0.05
# FleetLimiter: `rate` slots span 1 + this many seconds, room for a late start and jitter.
SLOT_SLACK = 0.1
SLOT_TTL = 60.0  # a claimed slot's item outlives any queue


class VendEvents(Protocol):
    """What the vendor reports as it works (the server's /metrics counts these)."""

    def cache_hit(self) -> None: ...
    def minted(self, seconds: float) -> None: ...
    def mint_failed(self, seconds: float, status: str) -> None: ...
    def limiter_waited(self) -> None: ...
    def limiter_shed(self) -> None: ...


class NoEvents:
    """Every event, counted nowhere."""

    def cache_hit(self) -> None: ...
    def minted(self, seconds: float) -> None: ...
    def mint_failed(self, seconds: float, status: str) -> None: ...
    def limiter_waited(self) -> None: ...
    def limiter_shed(self) -> None: ...


NO_EVENTS: VendEvents = NoEvents()


class Limiter(Protocol):
    """What a TokenVendor takes budget from: `acquire` before every call to the token service
    (MintLimitError when the queue is too long), `settle` with what it returned once the call
    has completed; `events` hears of waits and sheds; `shed` counts them."""

    events: VendEvents
    shed: int

    async def acquire(self, *, low: bool = False) -> list[float] | None: ...
    def settle(self, slot: list[float] | None) -> None: ...


class MintLimiter:
    """At most `rate` mints in any window of 1 second (+ slack), first come first served."""

    def __init__(
        self,
        rate: float,
        queue: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        # At most `rate` in ANY second: whole mints per window of at least one second. A rate
        # of 2.5 allows 2 a second (never 3 in some second); 0.5 allows 1 every 2 seconds.
        self.per_window = max(1, math.floor(rate))
        self.window = max(1.0, self.per_window / rate) + WINDOW_SLACK
        self.queue = queue
        self._clock = clock
        self._sleep = sleep
        # One cell per call in the window: its admission time, moved to its completion time
        # once it completes (`settle`), so a slot frees a window after the call surely
        # reached Momento, however late it went out on a busy machine.
        self._starts: list[list[float]] = []
        self._lock = asyncio.Lock()
        self._urgent_waiting = 0  # callers with no token at all, queued for a slot
        self.shed = 0
        self.events: VendEvents = NO_EVENTS

    async def acquire(self, *, low: bool = False) -> list[float]:
        """A slot for one call to the token service (pass it to `settle` when the call has
        completed), or MintLimitError after `queue` seconds. `low` (refresh-ahead of a token
        still in use) yields to every waiting urgent caller."""
        if low:
            return await self._acquire_low()
        self._urgent_waiting += 1
        try:
            return await self._acquire_urgent()
        finally:
            self._urgent_waiting -= 1

    def _take(self, now: float) -> list[float] | float:
        """Take a slot now (its cell), or say how long until one frees (seconds)."""
        # (a nanosecond of tolerance: after sleeping exactly `wait`, rounding must not leave
        # a window that never quite ends)
        self._starts = [c for c in self._starts if now - c[0] < self.window - 1e-9]
        if len(self._starts) < self.per_window:
            cell = [now]
            self._starts.append(cell)
            return cell
        return min(c[0] for c in self._starts) + self.window - now

    def settle(self, cell: list[float] | None) -> None:
        """The call admitted with `cell` has completed: its slot counts from now."""
        if cell is not None:
            cell[0] = max(cell[0], self._clock())

    def _take_counted(self, now: float, waited: bool) -> list[float] | float:
        """`_take`, and a slot taken after a wait counted as a wait in the events."""
        taken = self._take(now)
        if isinstance(taken, list) and waited:
            self.events.limiter_waited()
        return taken

    async def _acquire_low(self) -> list[float]:
        arrived = self._clock()
        waited = False
        while True:
            now = self._clock()
            wait = self.window / self.per_window  # an urgent caller goes first
            if self._urgent_waiting == 0 and not self._lock.locked():
                taken = self._take_counted(now, waited)
                if isinstance(taken, list):
                    return taken
                wait = taken
            if now + wait - arrived > self.queue:
                raise MintLimitError(retry_after=max(wait, 0.1))
            waited = True
            await self._sleep(wait)

    async def _acquire_urgent(self) -> list[float]:
        arrived = self._clock()
        async with self._lock:  # FIFO: asyncio.Lock wakes waiters in order
            waited = False
            while True:
                now = self._clock()
                taken = self._take_counted(now, waited)
                if isinstance(taken, list):
                    return taken
                wait = taken
                if now + wait - arrived > self.queue:
                    self.shed += 1
                    self.events.limiter_shed()
                    raise MintLimitError(retry_after=max(wait, 0.1))
                waited = True
                await self._sleep(wait)


class FleetLimiter:
    """At most `rate` mints in any second across every instance sharing the cache; waits up to
    `queue` seconds for a slot, then sheds with MintLimitError. Falls back to `local` (this
    process's limiter) while the cache is unusable."""

    def __init__(
        self,
        shared: SharedState,
        rate: float,
        queue: float,
        local: MintLimiter,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.shared = shared
        self.spacing = (1.0 + SLOT_SLACK) / rate
        # A mint starts at most this long after its slot: `rate` slots span 1 + slack seconds,
        # so starts within slack - 0.01 of their slots never put rate + 1 in one second.
        self.lateness = SLOT_SLACK - 0.01
        self.queue = queue
        self.local = local
        self._clock = clock
        self._sleep = sleep
        self.shed = 0

    @property
    def events(self) -> VendEvents:
        """Where waits and sheds are reported: the local limiter's (the vendor sets it), so
        fleet slots and degraded local ones count alike."""
        return self.local.events

    @events.setter
    def events(self, events: VendEvents) -> None:
        self.local.events = events

    def settle(self, slot: list[float] | None) -> None:
        """A call has completed: a local slot (while degraded) counts from now; fleet slots
        are spaced with room for a late call already."""
        self.local.settle(slot)

    async def acquire(self, *, low: bool = False) -> list[float] | None:
        """A fleet-wide slot. Priority (`low`) holds within one instance only: while the cache
        is unusable, in the local limiter."""
        if not self.shared.usable():
            degraded: list[float] | None = await self.local.acquire(low=low)
            return degraded
        arrived = self._clock()
        slot = math.ceil(arrived / self.spacing)
        while True:
            start = slot * self.spacing
            if start - arrived > self.queue:
                self.shed += 1
                self.events.limiter_shed()
                raise MintLimitError(retry_after=max(start - self._clock(), 0.1))
            taken = await self.shared.claim(slot, SLOT_TTL)
            if taken is None:
                local: list[float] | None = await self.local.acquire(low=low)
                return local
            if taken == 1:
                await self._sleep(max(0.0, start - self._clock()))
                now = self._clock()
                if now - start <= self.lateness:
                    if start > arrived:  # this call waited for the fleet's budget
                        self.events.limiter_waited()
                    return None
                # Too late for this slot (a slow claim, or a busy event loop): a mint now could
                # fall within the next slot's second. Claim a later one.
                slot = math.ceil(now / self.spacing)
                continue
            slot += 1
