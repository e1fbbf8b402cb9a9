"""`tvmcli.Vendor`: the server's vendor core (`core.TokenVendor`) as a library, sync and async,
on a private event loop thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import TYPE_CHECKING

from tvmcli.config.access import Access, choose_profile
from tvmcli.config.profiles import Profile, token_id_or_usage
from tvmcli.errors import (
    ProfileChoiceError,
    UsageError,
)
from tvmcli.minting.tokens import Token
from tvmcli.vending.limiter import MintLimiter

if TYPE_CHECKING:
    from tvmcli.config.file import Config
    from tvmcli.credentials.sources import ApiKey

from tvmcli.vending.core import TokenVendor


class Vendor:
    """The server's token cache, single flight and account-wide mint limiter, as a library.

    `vendor.token(...)` is synchronous and thread-safe (Flask, Django, any threaded WSGI
    server); `await vendor.token_async(...)` serves asyncio apps (FastAPI, Starlette). Both
    share one cache and one limiter, which run on a private event loop in a daemon thread, so
    neither blocks nor depends on the caller's loop. Close it (or use `with`) to release the
    gRPC channel.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        api_key: str | ApiKey | None = None,
        endpoint: str | None = None,
    ) -> None:
        from tvmcli.config.file import load_config
        from tvmcli.credentials.sources import key_from

        self.config = config if config is not None else load_config()
        self._api_key = key_from(api_key, endpoint)  # resolved now: errors surface here
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._core: TokenVendor | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Vendor(config={str(self.config.path)!r}, api_key={self._api_key!r})"

    # -- getting tokens ---------------------------------------------------------------------

    def token(self, profile: str | None = None, token_id: str | None = None) -> Token:
        """A token for `profile` (default: the `[server]` default profile, or the only one),
        reused while fresh. Raises TvmError subclasses (MintLimitError when the account's
        budget is spent: HTTP 503, retry after `retry_after` seconds)."""
        return self._submit(profile, token_id).result()

    async def token_async(self, profile: str | None = None, token_id: str | None = None) -> Token:
        """`token()` for asyncio code: awaits without blocking the caller's loop."""
        return await asyncio.wrap_future(self._submit(profile, token_id))

    def _submit(
        self, profile_name: str | None, token_id: str | None
    ) -> concurrent.futures.Future[Token]:
        profile = self._profile(profile_name)
        chosen = token_id_or_usage(profile.token_id, token_id, "token id")
        loop, core = self._running()
        return asyncio.run_coroutine_threadsafe(
            core.token(profile, profile.expires_in, chosen), loop
        )

    def _profile(self, name: str | None) -> Profile:
        # The app behind its own sign-in picks the profile: every one is allowed, and a name
        # that is no profile gets the loader's "did you mean" answer.
        everything = Access(None, self.config.server.access.default)
        try:
            return choose_profile(everything, self.config.profiles, name)
        except ProfileChoiceError as refusal:
            if refusal.profile is not None:
                return self.config.profile(refusal.profile)
            raise UsageError("no profile given and no default_profile in [server]") from None

    # -- the private loop ---------------------------------------------------------------------

    def _running(self) -> tuple[asyncio.AbstractEventLoop, TokenVendor]:
        with self._lock:
            if self._closed:
                raise UsageError("this Vendor is closed")
            if self._loop is None:
                self._loop, self._core = self._start()
            assert self._core is not None
            return self._loop, self._core

    def _start(self) -> tuple[asyncio.AbstractEventLoop, TokenVendor]:
        from tvmcli.minting.client import Minter as GrpcMinter

        settings = self.config.server
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="tvmcli-vendor", daemon=True)
        self._thread.start()

        async def build() -> TokenVendor:  # built inside the loop that will use it
            return TokenVendor(
                GrpcMinter(self._api_key, timeout=settings.timeout),
                MintLimiter(settings.mint_rate, settings.mint_queue),
                reuse_share=settings.reuse_share,
                min_ttl=settings.min_ttl,
            )

        return loop, asyncio.run_coroutine_threadsafe(build(), loop).result()

    def close(self) -> None:
        """Close the gRPC channel and stop the private loop. Idempotent."""
        with self._lock:
            self._closed = True
            loop, core, thread = self._loop, self._core, self._thread
            self._loop = self._core = self._thread = None
        if loop is None or core is None or thread is None:
            return
        close = getattr(core.minter, "close", None)
        if close is not None:
            asyncio.run_coroutine_threadsafe(close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Vendor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Vendor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
