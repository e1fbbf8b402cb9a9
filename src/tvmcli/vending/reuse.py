"""Reusing a token minted earlier in the same job (`--reuse`), to spare Momento's 5 mints per
second per account.

One file per (profile, its statements and lifetime, token id, endpoint, key), named by a hash:
the key itself is never stored. A token from a vending server (`--from`) is kept per (server
address, profile, token id, audience, identity kind and a SHA-256 digest of who the identity
is): no secret, and never another caller's token. The folder is 0700 and files 0600; a file
that is corrupt, not ours, readable by others or for another endpoint is ignored and replaced,
never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tvmcli.credentials.decoding import CredentialFormatError, parse_credential
from tvmcli.credentials.sources import ApiKey
from tvmcli.minting.tokens import Token
from tvmcli.permissions.statements import Statement
from tvmcli.system.private_files import check_private_folder, private_folder, write_private

FORMAT_VERSION = 1
DEFAULT_MIN_TTL = 5 * 60


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
        path = self.folder / f"{key}.json"
        try:
            info = path.lstat()
        except OSError:
            return None
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.getuid()
            or stat.S_IMODE(info.st_mode) & 0o077
        ):
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            token = Token(
                auth_token=str(record["token"]),
                endpoint=str(record["endpoint"]),
                expires_at=int(record["expiresAt"]),
                token_id=record["tokenId"] if isinstance(record["tokenId"], str) else None,
            )
            if record["version"] != FORMAT_VERSION or record["key"] != key:
                return None
            if record["forEndpoint"] != endpoint:
                return None
            decoded = parse_credential(token.auth_token)
        except (OSError, ValueError, KeyError, TypeError, CredentialFormatError):
            return None
        if decoded.endpoint != token.endpoint:
            return None
        if token.expires_at - self._clock() < min_ttl:
            return None
        return token

    def put(self, key: str, endpoint: str, token: Token) -> None:
        self._prepare()
        record = {
            "version": FORMAT_VERSION,
            "key": key,
            "forEndpoint": endpoint,
            "token": token.auth_token,
            "endpoint": token.endpoint,
            "expiresAt": token.expires_at,
            "tokenId": token.token_id,
        }
        write_private(self.folder / f"{key}.json", json.dumps(record))

    def clear(self) -> int:
        """Delete every cached token; returns how many there were."""
        removed = 0
        if not self._check_folder():
            return 0
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        for path in self.folder.glob(".*.tmp"):
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
