"""The start-up check: before answering anyone, mint one token of the narrowest scope (read
one key of a cache named for the purpose) with a 1-second lifetime, through the app's own
mint budget. A refused key stops the server (exit 4) with Momento's reason, instead of a 502
for the first user; an unreachable endpoint is a warning, and /healthz says 503 until a mint
succeeds."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tvmcli.errors import AuthError, TvmError
from tvmcli.permissions.roles import Role
from tvmcli.permissions.statements import Statement

if TYPE_CHECKING:  # `doctor` mints the same canary without loading Starlette or the vendor
    from starlette.applications import Starlette

    from tvmcli.vending.core import TokenVendor

# The narrowest grant and the shortest lifetime Momento allows: what `serve` (and `doctor`)
# mint to learn whether the key may mint at all.
CANARY = (Statement(role=Role.READ_ONLY, cache="momento-tvm-canary", key="canary"),)
CANARY_LIFETIME = 1
log = logging.getLogger("tvmcli.server")


async def check_key(vendor: TokenVendor) -> None:
    """Raises AuthError if Momento refuses the server's key; other failures are logged and
    recorded for /healthz. Leaves no connection open (the server's own loop opens its own)."""
    try:
        # Through the mint budget, retries included, like every other call.
        async def admit() -> None:
            await vendor.limiter.acquire()

        await vendor.minter.mint(CANARY, CANARY_LIFETIME, None, admit=admit)
    except AuthError:
        raise
    except TvmError as error:
        vendor.record_failure(error)
        log.warning(
            "start-up check: cannot mint yet (%s); /healthz says 503 until a mint works",
            error.message,
        )
    else:
        vendor.record_answer()
    finally:
        await vendor.close()


def run_check(app: Starlette) -> None:
    """`check_key` for an app built by `build_app`, from synchronous start-up code."""
    asyncio.run(check_key(app.state.vendor))
