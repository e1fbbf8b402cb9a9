"""Handing out tokens without exceeding Momento's account limit.

- A token is reused per (profile, token id) until `reuse_share` of its life has passed, and
  never handed out with less than `min_ttl` left.
- Concurrent requests for the same key share one mint (single flight).
- All mints pass one account-wide limiter: at most `rate` per second (plus a little slack so
  network jitter cannot squeeze six into Momento's second). A request waits up to `queue`
  seconds for a slot, then is shed with a retry-after hint.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tvmcli.minting import MintedToken
from tvmcli.profiles import Profile
from tvmcli.statements import Statement

WINDOW_SLACK = 0.05
MAX_CACHED = 10_000


class Minter(Protocol):
    async def mint(
        self, statements: Sequence[Statement], expires_in: int, token_id: str | None = None
    ) -> MintedToken: ...


class Shed(Exception):
    """The account's mint budget is spent for now; try again after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"mint limit reached; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


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
        self._starts: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()
        self.shed = 0

    async def acquire(self) -> None:
        arrived = self._clock()
        async with self._lock:  # FIFO: asyncio.Lock wakes waiters in order
            while True:
                now = self._clock()
                # (a nanosecond of tolerance: after sleeping exactly `wait`, rounding must not
                # leave a window that never quite ends)
                while self._starts and now - self._starts[0] >= self.window - 1e-9:
                    self._starts.popleft()
                if len(self._starts) < self.per_window:
                    self._starts.append(now)
                    return
                wait = self._starts[0] + self.window - now
                if now + wait - arrived > self.queue:
                    self.shed += 1
                    raise Shed(retry_after=max(wait, 0.1))
                await self._sleep(wait)


@dataclass
class _Entry:
    token: MintedToken
    minted_at: float


class TokenVendor:
    def __init__(
        self,
        minter: Minter,
        limiter: MintLimiter,
        *,
        reuse_share: float = 2 / 3,
        min_ttl: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.minter = minter
        self.limiter = limiter
        self.reuse_share = reuse_share
        self.min_ttl = min_ttl
        self._clock = clock
        self._cache: collections.OrderedDict[tuple[str, str | None], _Entry] = (
            collections.OrderedDict()
        )
        self._inflight: dict[tuple[str, str | None], asyncio.Future[MintedToken]] = {}
        self.mints = 0
        self.hits = 0
        self.last_answer_at: float | None = None
        self.last_error_at: float | None = None
        self.last_error: str | None = None

    def _fresh(self, entry: _Entry) -> bool:
        now = self._clock()
        life = entry.token.expires_at - entry.minted_at
        return (
            now < entry.minted_at + self.reuse_share * life
            and entry.token.expires_at - now >= self.min_ttl
        )

    async def token(self, profile: Profile, expires_in: int, token_id: str | None) -> MintedToken:
        if not profile.cache:
            return (await self._mint(profile, expires_in, token_id)).token
        key = (profile.name, token_id)
        entry = self._cache.get(key)
        if entry is not None and self._fresh(entry):
            self._cache.move_to_end(key)
            self.hits += 1
            return entry.token
        pending = self._inflight.get(key)
        if pending is not None:
            self.hits += 1
            return await asyncio.shield(pending)
        future: asyncio.Future[MintedToken] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            entry = await self._mint(profile, expires_in, token_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, see it through shield
            raise
        else:
            future.set_result(entry.token)
            self._remember(key, entry)
            return entry.token
        finally:
            del self._inflight[key]

    async def _mint(self, profile: Profile, expires_in: int, token_id: str | None) -> _Entry:
        await self.limiter.acquire()
        minted_at = self._clock()  # the token's life starts by our clock, for reuse_share
        try:
            token = await self.minter.mint(profile.statements, expires_in, token_id)
        except Exception as exc:
            self.last_error_at, self.last_error = self._clock(), type(exc).__name__
            raise
        self.mints += 1
        self.last_answer_at = self._clock()
        return _Entry(token, minted_at)

    def _remember(self, key: tuple[str, str | None], entry: _Entry) -> None:
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
