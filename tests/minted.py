"""One token from statements, through the library's public call, as the CLI mints: the tests'
shorthand where a profile file would be noise."""

from __future__ import annotations

from collections.abc import Sequence

import tvmcli
from tvmcli.config.profiles import Profile
from tvmcli.credentials.sources import ApiKey
from tvmcli.minting.tokens import Token
from tvmcli.permissions.statements import Statement


def mint_once(
    key: ApiKey,
    statements: Sequence[Statement],
    lifetime: int,
    token_id: str | None = None,
    *,
    timeout: float = 10.0,
) -> Token:
    return tvmcli.mint(
        Profile("test", tuple(statements), lifetime),
        token_id=token_id,
        api_key=key,
        timeout=timeout,
    )
