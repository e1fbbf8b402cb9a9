"""The vendor core: handing out tokens without exceeding Momento's account limit.

- A token is reused per (profile, token id) until `reuse_share` of its life has passed, and
  never handed out with less than `min_ttl` left.
- Concurrent requests for the same key share one mint (single flight).
- Every call to the token service, a mint's first and each retry, passes one account-wide
  limiter: at most `rate` per second (plus a little slack so network jitter cannot squeeze
  six into Momento's second). A call waits up to `queue` seconds for a slot, then the mint
  is shed with a retry-after hint.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tvmcli.config.profiles import Profile
from tvmcli.errors import (
    MintLimitError,
    TvmError,
    UnavailableError,
)
from tvmcli.minting.tokens import Token
from tvmcli.vending.limiter import NO_EVENTS, Limiter, VendEvents

if TYPE_CHECKING:
    from tvmcli.minting.client import Minter  # what mints: awaits `admit` before EVERY call
    from tvmcli.state.shared import SharedState

MAX_CACHED = 10_000


@dataclass
class _Entry:
    token: Token
    minted_at: float
    shared: bool = False  # opened from the fleet's shared cache, not minted by this instance


def _record_of(entry: _Entry) -> dict[str, object]:
    return {**entry.token.to_tvm_json(), "mintedAt": entry.minted_at}


def _entry_from(record: dict[str, object] | None) -> _Entry | None:
    """An entry from a record that opened (sealed by a key every instance shares); anything
    malformed counts as absent."""
    if record is None:
        return None
    try:
        token_id, profile = record["tokenId"], record["profile"]
        token = Token(
            auth_token=str(record["authToken"]),
            endpoint=str(record["endpoint"]),
            expires_at=int(record["expiresAt"]),  # type: ignore[call-overload]
            token_id=token_id if isinstance(token_id, str) else None,
            profile=profile if isinstance(profile, str) else None,
        )
        return _Entry(token, float(record["mintedAt"]))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return None


class TokenVendor:
    """The async core: reuse, single flight and the limiter, on one event loop. The server
    uses it directly; `Vendor` wraps it for any thread or loop."""

    def __init__(
        self,
        minter: Minter,
        limiter: Limiter,
        *,
        reuse_share: float = 2 / 3,
        min_ttl: int = 60,
        clock: Callable[[], float] = time.time,
        shared: SharedState | None = None,
        wait_limit: float = 12.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        events: VendEvents = NO_EVENTS,
    ) -> None:
        self.minter = minter
        self.limiter = limiter
        self.events = events
        limiter.events = events
        self.reuse_share = reuse_share
        self.min_ttl = min_ttl
        self._clock = clock
        self.shared = shared  # the fleet's cache and lock, if [server.state] is "momento"
        self.wait_limit = wait_limit  # how long a follower waits for another instance's mint
        self._sleep = sleep
        self._cache: collections.OrderedDict[tuple[str, str | None], _Entry] = (
            collections.OrderedDict()
        )
        self._inflight: dict[tuple[str, str | None], asyncio.Future[Token]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.refreshes = 0  # successors minted ahead, while the old token was still handed out
        self.mints = 0
        self.hits = 0  # answered from this instance's cache (or its mint in flight)
        self.shared_hits = 0  # answered from the fleet's shared cache: another instance minted
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

    def _usable(self, entry: _Entry) -> bool:
        """Past its reuse share, but with more than `min_ttl` left: still handed out while its
        successor is minted in the background."""
        return entry.token.expires_at - self._clock() > self.min_ttl

    async def token(self, profile: Profile, expires_in: int, token_id: str | None) -> Token:
        token, _ = await self.vend(profile, expires_in, token_id)
        return token

    async def vend(
        self, profile: Profile, expires_in: int, token_id: str | None
    ) -> tuple[Token, str]:
        """(token, source): source is "hit" (a cached token), "shared" (from the fleet's shared
        cache: another instance minted it) or "mint" (minted for this call; joining another
        caller's mint counts as a hit)."""
        if not profile.cache:
            return (await self._mint(profile, expires_in, token_id)).token, "mint"
        cached = self.cached(profile, expires_in, token_id)
        if cached is not None:
            return cached, "hit"
        key = (profile.name, token_id)
        pending = self._inflight.get(key)
        if pending is not None:
            self.hits += 1
            self.events.cache_hit()
            return await asyncio.shield(pending), "hit"
        future: asyncio.Future[Token] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            entry = await self._obtain(profile, expires_in, token_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, see it through shield
            raise
        else:
            future.set_result(entry.token)
            self._remember(key, entry)
            return entry.token, "shared" if entry.shared else "mint"
        finally:
            del self._inflight[key]

    def cached(self, profile: Profile, expires_in: int, token_id: str | None) -> Token | None:
        """The token `vend` would answer from this process's cache, without waiting (and
        counted as its hit), else None. The server asks this first: most answers are hits,
        and a coroutine for each costs a few per cent of a cached /token."""
        if not profile.cache:
            return None
        key = (profile.name, token_id)
        entry = self._cache.get(key)
        if entry is None or not ((fresh := self._fresh(entry)) or self._usable(entry)):
            return None
        if not fresh:
            self._refresh_ahead(profile, expires_in, token_id, key)
        self._cache.move_to_end(key)
        self.hits += 1
        self.events.cache_hit()
        return entry.token

    def _refresh_ahead(
        self, profile: Profile, expires_in: int, token_id: str | None, key: tuple[str, str | None]
    ) -> None:
        """Mint the successor of a token past its reuse share, once per key, in the background
        and behind every caller that has no token at all; a request that finds the old token
        too short meanwhile joins this mint."""
        if key in self._inflight:
            return
        future: asyncio.Future[Token] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future

        async def refresh() -> None:
            try:
                entry = await self._obtain(profile, expires_in, token_id, low=True)
            except BaseException as exc:  # the old token serves on; the next request retries
                future.set_exception(exc)
                future.exception()
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                self.refreshes += 1
                future.set_result(entry.token)
                self._remember(key, entry)
            finally:
                del self._inflight[key]

        task = asyncio.get_running_loop().create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _obtain(
        self, profile: Profile, expires_in: int, token_id: str | None, *, low: bool = False
    ) -> _Entry:
        """A fresh entry from the fleet's shared cache, or minted here (once per fleet: the
        instance that takes the lock mints, the others wait for its entry)."""
        shared = self.shared
        if shared is None:
            return await self._mint(profile, expires_in, token_id, low=low)
        name = shared.name(profile.name, token_id or "", repr(profile.statements), str(expires_in))
        started = time.monotonic()
        pause = 0.02
        while True:
            entry = await self._shared_fresh(shared, name)
            if entry is not None:
                return entry
            if await shared.lead(name, ttl=self.wait_limit):
                try:
                    # Another instance may have stored it and let go between our look and
                    # our lock: look again before minting.
                    entry = await self._shared_fresh(shared, name)
                    if entry is not None:
                        return entry
                    entry = await self._mint(profile, expires_in, token_id, low=low)
                    usable_for = entry.token.expires_at - self._clock() - self.min_ttl
                    await shared.store(name, _record_of(entry), usable_for)
                    return entry
                finally:
                    await shared.release(name)
            if time.monotonic() - started + pause > self.wait_limit:
                raise UnavailableError(
                    "another instance is minting this token and has not finished",
                    hint="The shared state's lock outlived the wait; retry shortly.",
                )
            await self._sleep(pause)
            pause = min(pause * 2, 0.2)

    async def _shared_fresh(self, shared: SharedState, name: bytes) -> _Entry | None:
        """The fleet's entry under `name` if it opens and is fresh (a hit), else None."""
        entry = _entry_from(await shared.fetch(name))
        if entry is None or not self._fresh(entry):
            return None
        self.shared_hits += 1
        return dataclasses.replace(entry, shared=True)

    async def _mint(
        self, profile: Profile, expires_in: int, token_id: str | None, *, low: bool = False
    ) -> _Entry:
        slot: list[float] | None = None  # the latest call's limiter slot
        admitted_at: float | None = None

        async def admit() -> None:  # before every call to the token service, retries too
            nonlocal slot, admitted_at
            self.limiter.settle(slot)  # the previous attempt has completed: counts from now
            slot = await self.limiter.acquire(low=low)
            admitted_at = self._clock()

        started = time.perf_counter()
        try:
            try:
                token = await self.minter.mint(
                    profile.statements, expires_in, token_id, profile=profile.name, admit=admit
                )
            finally:
                self.limiter.settle(slot)
        except Exception as exc:
            self.record_failure(exc)
            if not isinstance(exc, MintLimitError):  # a shed is not Momento's error
                code = exc.code if isinstance(exc, TvmError) else "internal"
                self.events.mint_failed(time.perf_counter() - started, code)
            raise
        self.events.minted(time.perf_counter() - started)
        self.mints += 1
        self.record_answer()
        # The token's life starts by our clock, for reuse_share: at the call that made it.
        return _Entry(token, admitted_at if admitted_at is not None else self._clock())

    def record_failure(self, error: BaseException) -> None:
        """A failed mint, for /healthz."""
        self.last_error_at, self.last_error = self._clock(), type(error).__name__

    def record_answer(self) -> None:
        """Momento answered (a mint worked), for /healthz."""
        self.last_answer_at = self._clock()

    async def close(self) -> None:
        """Stop refreshes in the background; close the token service's channel and the shared
        cache's (both reopen on use)."""
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        close = getattr(self.minter, "close", None)
        if close is not None:
            await close()
        if self.shared is not None:
            await self.shared.close()

    def _remember(self, key: tuple[str, str | None], entry: _Entry) -> None:
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
