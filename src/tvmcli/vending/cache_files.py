"""The files of the `--reuse` cache, read and written: the token entries and the shortcuts.

Light on purpose (os, stat, json, hashlib; no pathlib, typing or dataclasses): a `--reuse` hit
(`cli/fast.py`) reads them before anything heavy is loaded, and `reuse.TokenCache` reads and
writes the entries through the same functions, so there is one rule of what is trusted.

**An entry** (`KEY.json`, KEY from `reuse.cache_key`) holds one token. It is used only if it
is a regular file owned by this user and readable by no one else, of this format, under its
own key, for the endpoint asked for, decodes as a Momento credential with the endpoint it
claims, and still has the lifetime asked for. Anything else is ignored (and replaced by the
next mint), never trusted.

**A shortcut** (`DIGEST.hit`) lets a hit skip the profiles file, the key and their checks.
Which entry a mint's inputs lead to is known only after parsing the profiles file; so after
every `--reuse` run the full path leaves a shortcut named by a digest of the raw inputs
(`inputs_digest`: the options that choose the token, every MOMENTO_* variable, and the bytes
of the profiles file and of the key's file) that names the entry. The next run with the same
inputs computes the same digest, follows it and checks the entry as above. Any change of any
input is another digest: a miss, and the full path, which reports what it always did. With
--from the identity stands for the key: the variables it is read from and the bearer file's
bytes. A shortcut holds no secret: the entry's key, its endpoint, the profile's name and its
own token id (so that `--token-id` against it still goes the full path, which warns).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Mapping

from tvmcli.system import envvars
from tvmcli.system.paths import momento_cli_credentials, profiles_file

TYPE_CHECKING = False  # typing stays unloaded: a hit reads these files
if TYPE_CHECKING:
    from typing import Any

FORMAT_VERSION = 1
SHORTCUT_VERSION = 1
DEFAULT_MIN_TTL = 5 * 60
ENTRY_SUFFIX, SHORTCUT_SUFFIX = ".json", ".hit"

# Every mint option other than how the token is delivered: with the profiles file and the key
# (or, with --from, the identity) they decide which token a run gets. --expires-at rules a
# shortcut out: it moves with the clock.
CHOOSING = (
    "profile",
    "expires_in",
    "token_id",
    "config",
    "api_key_file",
    "endpoint",
    "momento_profile",
    "from_url",
    "id_token_env",
    "audience",
    "bearer_file",
)
PATHS = ("config", "api_key_file", "bearer_file")
# What --from's identity is read from, besides MOMENTO_* and a variable --id-token-env names.
IDENTITY = (*envvars.IDENTITY_VARIABLES, *envvars.GITHUB_JOB_VARIABLES)


def read_entry(
    folder: str, key: str, endpoint: str, min_ttl: float, now: float | None = None
) -> tuple[str, str, int, str | None] | None:
    """(token, its endpoint, expires_at, token_id) of entry `key` if it is trusted (see the
    module's docstring) and has at least `min_ttl` seconds left, else None."""
    from tvmcli.credentials.decoding import CredentialFormatError, parse_credential

    record = _read_own(os.path.join(folder, key + ENTRY_SUFFIX))
    try:
        if record is None or record["version"] != FORMAT_VERSION or record["key"] != key:
            return None
        if record["forEndpoint"] != endpoint:
            return None
        token, token_endpoint = str(record["token"]), str(record["endpoint"])
        expires_at = int(record["expiresAt"])
        token_id = record["tokenId"] if isinstance(record["tokenId"], str) else None
        decoded = parse_credential(token)
    except (ValueError, KeyError, TypeError, CredentialFormatError):
        return None
    if decoded.endpoint != token_endpoint:
        return None
    if expires_at - (time.time() if now is None else now) < min_ttl:
        return None
    return token, token_endpoint, expires_at, token_id


def entry_text(
    key: str, endpoint: str, token: str, token_endpoint: str, expires_at: int, token_id: str | None
) -> str:
    """The JSON of entry `key`: a token minted with a key for `endpoint`."""
    return json.dumps(
        {
            "version": FORMAT_VERSION,
            "key": key,
            "forEndpoint": endpoint,
            "token": token,
            "endpoint": token_endpoint,
            "expiresAt": expires_at,
            "tokenId": token_id,
        }
    )


def inputs_digest(fields: Mapping[str, object], env: Mapping[str, str]) -> str | None:
    """The name of the shortcut for these mint options ({MintArgs field: value}) in this
    environment, or None when no shortcut may stand for them: --expires-at, the key on
    standard input, or a file the run reads (profiles, key, bearer) that is not a regular
    file that can be read (a pipe read here would be gone for the full path)."""
    if fields.get("expires_at") is not None or fields.get("api_key_file") == "-":
        return None
    chosen = [_given(name, fields.get(name)) for name in CHOOSING]
    variables = sorted((name, value) for name, value in env.items() if name.startswith("MOMENTO_"))
    named = fields.get("id_token_env")
    identity = [env.get(name) for name in (*IDENTITY, *([str(named)] if named else []))]
    if fields.get("from_url") is not None or env.get(envvars.TVM_URL):
        bearer = fields.get("bearer_file")
        files = [None if bearer is None else _file_digest(str(bearer))]
        if bearer is not None and files[0] is None:
            return None
    else:
        config, key_file = fields.get("config"), fields.get("api_key_file")
        files = [
            # hashed at the path as given: normpath would drop `link/..` and hash another file
            _file_digest(profiles_file(None if config is None else str(config), env, ".")),
            _key_digest(momento_cli_credentials(env))
            if key_file is None
            else _file_digest(str(key_file)),
        ]
        if None in files:
            return None
    material = json.dumps([SHORTCUT_VERSION, chosen, variables, identity, files])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _given(name: str, value: object) -> str | None:
    """An option as the digest takes it: paths as os.path.normpath writes them, so `./p.toml`
    from the fast path and Path's `p.toml` from Typer are one input."""
    if value is None:
        return None
    return os.path.normpath(str(value)) if name in PATHS else str(value)


def follow(
    folder: str, digest: str, min_ttl: float
) -> tuple[str, str, int, str | None, str, str | None, str] | None:
    """The entry shortcut `digest` names, if both are trusted and the token has `min_ttl`
    left: (token, endpoint, expires_at, token_id, profile, the profile's own token id, and
    how it came: "minted", or "fetched" from a vending server)."""
    if not _own_folder(folder):
        return None
    record = _read_own(os.path.join(folder, digest + SHORTCUT_SUFFIX))
    try:
        if record is None or record["version"] != SHORTCUT_VERSION or record["digest"] != digest:
            return None
        entry = read_entry(folder, str(record["entry"]), str(record["forEndpoint"]), min_ttl)
        profile, fixed, came = str(record["profile"]), record["profileTokenId"], record["came"]
    except (KeyError, TypeError):
        return None
    if entry is None or not (fixed is None or isinstance(fixed, str)):
        return None
    if came not in ("minted", "fetched"):
        return None
    return (*entry, profile, fixed, came)


def shortcut_text(
    digest: str, entry: str, endpoint: str, profile: str, profile_token_id: str | None, came: str
) -> str:
    return json.dumps(
        {
            "version": SHORTCUT_VERSION,
            "digest": digest,
            "entry": entry,
            "forEndpoint": endpoint,
            "profile": profile,
            "profileTokenId": profile_token_id,
            "came": came,
        }
    )


def _own_folder(folder: str) -> bool:
    """Whether `folder` is a real folder (not a link) of this user's that no one else may
    write to, as `reuse.TokenCache` makes it; a shortcut found anywhere else is not followed."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not stat.S_IMODE(info.st_mode) & 0o022
    )


def _read_own(path: str) -> dict[str, Any] | None:
    """The JSON object in `path` if it is a regular file of this user's that no one else may
    read; None for anything else (missing, a link, another owner, open to others, not JSON)."""
    try:
        info = os.lstat(path)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.getuid()
            or stat.S_IMODE(info.st_mode) & 0o077
        ):
            return None
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _key_digest(path: str) -> str | None:
    """The Momento CLI credentials file's part of the digest: "-" when there is none (the key
    comes from elsewhere), its digest, or None (no shortcut) when it exists but is not a
    regular file that can be read, since the full path decides what that means."""
    if not os.path.lexists(path):
        return "-"
    return _file_digest(path)


def _file_digest(path: str) -> str | None:
    """SHA-256 of a regular file's bytes; None if it is missing, unreadable or not a regular
    file. A FIFO (`--api-key-file <(...)` or a named pipe) is never opened here: opening one
    would let its writer go on, and what it writes belongs to the full path's read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        # A file swapped for a FIFO after that look: O_NONBLOCK opens it without waiting for
        # a writer, and fstat of what was opened says what it is before anything is read.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return None
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None
