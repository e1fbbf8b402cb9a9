"""Reusing a token minted earlier in the same job (`--reuse`), to spare Momento's 5 mints per
second per account.

One file per (profile, its statements and lifetime, token id, endpoint, key), named by a hash:
the key itself is never stored. A token from a vending server (`--from`) is kept per (server
address, profile, token id, audience, identity kind and a SHA-256 digest of who the identity
is): no secret, and never another caller's token. The folder is 0700 and files 0600; a file
that is corrupt, not ours, readable by others or for another endpoint is ignored and replaced,
never trusted (`cache_files` holds that rule, and the shortcuts that let a hit skip the
profiles file).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tvmcli.credentials.sources import ApiKey
from tvmcli.minting.tokens import Token
from tvmcli.permissions.statements import Statement
from tvmcli.system.private_files import check_private_folder, private_folder, write_private
from tvmcli.vending import cache_files

if TYPE_CHECKING:
    from tvmcli.config.profiles import Profile


def cache_key(
    api_key: ApiKey,
    profile: str,
    statements: Sequence[Statement],
    expires_in: int,
    token_id: str | None,
) -> str:
    key_digest = hashlib.sha256(api_key.secret.encode("utf-8")).hexdigest()
    material = json.dumps(
        [profile, [repr(s) for s in statements], expires_in, token_id, api_key.endpoint, key_digest]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def remote_cache_key(
    address: str,
    profile: str,
    token_id: str | None,
    identity: str,
    audience: str | None,
    who: str,
) -> str:
    """The key of a token from a vending server (`--from`): its address, the profile, the token
    id asked for, which identity asked (its kind and `who`, a digest of who it is: never its
    value) and the audience. The server decides scope and lifetime; no secret goes into the
    key, so a token reaches only the identity it was fetched for."""
    material = json.dumps(["from", address, profile, token_id, identity, audience, who])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class TokenCache:
    """The folder of entries and shortcuts (`cache_files` reads and writes their files)."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self._clock = clock

    def _prepare(self) -> None:
        private_folder(self.folder, "cache folder")

    def _check_folder(self) -> bool:
        """Whether the folder exists; UsageError unless it is a real folder (not a symlink)
        owned by this user: writing or deleting there would act wherever it points."""
        return check_private_folder(self.folder, "cache folder")

    def get(self, key: str, endpoint: str, min_ttl: int) -> Token | None:
        """The cached token if it is trustworthy and has at least `min_ttl` seconds left."""
        entry = cache_files.read_entry(str(self.folder), key, endpoint, min_ttl, self._clock())
        if entry is None:
            return None
        token, token_endpoint, expires_at, token_id = entry
        return Token(
            auth_token=token, endpoint=token_endpoint, expires_at=expires_at, token_id=token_id
        )

    def put(self, key: str, endpoint: str, token: Token) -> None:
        self._prepare()
        text = cache_files.entry_text(
            key, endpoint, token.auth_token, token.endpoint, token.expires_at, token.token_id
        )
        write_private(self.folder / f"{key}{cache_files.ENTRY_SUFFIX}", text)

    def remember(
        self, digest: str, key: str, endpoint: str, profile: Profile | str, came: str = "minted"
    ) -> None:
        """Leave the shortcut `digest` (`cache_files.inputs_digest`) to entry `key`: for a
        profile of ours, or a vending server's profile known by name (`came` "fetched")."""
        self._prepare()
        name = profile if isinstance(profile, str) else profile.name
        fixed = None if isinstance(profile, str) else profile.token_id
        text = cache_files.shortcut_text(digest, key, endpoint, name, fixed, came)
        write_private(self.folder / f"{digest}{cache_files.SHORTCUT_SUFFIX}", text)

    def clear(self) -> int:
        """Delete every cached token (and every shortcut); returns how many tokens there were."""
        removed = 0
        if not self._check_folder():
            return 0
        for path in self.folder.glob(f"*{cache_files.ENTRY_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        for pattern in (f"*{cache_files.SHORTCUT_SUFFIX}", ".*.tmp"):
            for path in self.folder.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return removed


def obtain(
    cache: TokenCache | None,
    key: str,
    endpoint: str,
    min_ttl: int,
    mint: Callable[[], Token],
) -> tuple[Token, bool]:
    """A cached token with `min_ttl` left, else a fresh one from `mint` (then cached).
    Returns (token, reused)."""
    if cache is not None:
        cached = cache.get(key, endpoint, min_ttl)
        if cached is not None:
            return cached, True
    token = mint()
    if cache is not None:
        cache.put(key, endpoint, token)
    return token, False
