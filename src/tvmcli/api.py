"""One mint from Python code: `tvmcli.mint(...)` and `await tvmcli.mint_async(...)`.

For many tokens (a web app's token route), use `tvmcli.Vendor`: it reuses tokens and keeps the
account under Momento's 5 mints per second.
"""

from __future__ import annotations

from collections.abc import Callable

from tvmcli.config.file import Config, load_config
from tvmcli.config.profiles import Profile, lifetime_seconds, token_id_or_usage
from tvmcli.credentials.sources import DEFAULT_TIMEOUT, ApiKey, key_from
from tvmcli.minting.tokens import Token
from tvmcli.system.syncrun import blocking


async def mint_async(
    profile: str | Profile,
    *,
    config: Config | None = None,
    expires_in: int | str | None = None,
    token_id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    api_key: str | ApiKey | None = None,
    endpoint: str | None = None,
    on_retry: Callable[[int, str], None] | None = None,
) -> Token:
    """`mint` for asyncio code: the same parameters, the same token."""
    from tvmcli.minting.client import Minter

    chosen = profile if isinstance(profile, Profile) else (config or load_config()).profile(profile)
    lifetime = (
        chosen.expires_in if expires_in is None else lifetime_seconds(expires_in, "expires_in")
    )
    key = key_from(api_key, endpoint)
    async with Minter(key, timeout=timeout, on_retry=on_retry) as minter:
        return await minter.mint(
            chosen.statements,
            lifetime,
            token_id_or_usage(chosen.token_id, token_id, "token id"),
            profile=chosen.name,
        )


mint = blocking(
    mint_async,
    """Mint one token with exactly the permissions of `profile` (a name in `config`, default
    `load_config()`, or a Profile). Synchronous; works whether or not an event loop runs in
    the calling thread. The key and endpoint come from `api_key=`/`endpoint=`, else from
    $MOMENTO_API_KEY/$MOMENTO_ENDPOINT or the Momento CLI's credentials, as for the CLI.
    `expires_in` (seconds or "15m") overrides the profile's lifetime: 1 s to 25 h.
    `on_retry(number, status)` is called before each retry's wait (the CLI's spinner).""",
)
