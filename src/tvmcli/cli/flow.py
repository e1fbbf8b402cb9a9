"""The steps commands share, without Typer: load the configuration, find the key, choose the
token, obtain it, and turn errors into exit codes. The fast path (`fast.py`) and the Typer
commands both run through here, so they behave alike.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tvmcli import envvars, token_env
from tvmcli.cli import output
from tvmcli.config import Config, load_config
from tvmcli.credentials import ApiKey, resolve_api_key
from tvmcli.durations import format_relative, parse_duration
from tvmcli.errors import ExitCode, TvmError, UsageError
from tvmcli.paths import default_cache_dir
from tvmcli.profiles import Profile, check_lifetime, check_token_id

if TYPE_CHECKING:
    from tvmcli.tokens import Token


def exit_code_of(run: Callable[[], object]) -> int:
    """Run a command body and return its exit code: a TvmError is reported on stderr with its
    documented code; anything else is a bug (a one-line report, exit 1; the traceback only with
    --debug or $MOMENTO_TVM_DEBUG=1)."""
    try:
        run()
    except TvmError as err:
        output.error(err)
        return int(err.exit_code)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debugging():
            raise
        output.internal_error(exc)
        return int(ExitCode.INTERNAL)
    return 0


def debugging() -> bool:
    return os.environ.get(envvars.DEBUG, "") not in ("", "0")


def load(config: Path | None) -> Config:
    """The configuration: --config, else where `load_config` looks."""
    return load_config(config)


def api_key(api_key_file: str | None, endpoint: str | None, momento_profile: str | None) -> ApiKey:
    return resolve_api_key(
        env=os.environ,
        stdin=sys.stdin,
        api_key_file=api_key_file,
        endpoint=endpoint,
        momento_profile=momento_profile,
    )


def duration_option(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


class TokenRequest(NamedTuple):
    profile: Profile
    expires_in: int
    token_id: str | None


def token_request(
    config: Path | None, profile: str, expires_in: str | None, token_id: str | None
) -> TokenRequest:
    """The profile with --expires-in and --token-id applied and checked."""
    chosen = load(config).profile(profile)
    lifetime = duration_option(expires_in, "--expires-in") or chosen.expires_in
    try:
        check_lifetime(lifetime)
    except ValueError as exc:
        raise UsageError(f"--expires-in: {exc}") from None
    token_id = token_id if token_id is not None else chosen.token_id
    if token_id is not None:
        try:
            check_token_id(token_id)
        except ValueError as exc:
            raise UsageError(f"--token-id {exc}") from None
    return TokenRequest(chosen, lifetime, token_id)


def check_env_var(name: str) -> None:
    try:
        token_env.check_variable_name(name)
    except ValueError as exc:
        raise UsageError(f"--env-var: {exc}") from None


def obtain_token(
    key: ApiKey, request: TokenRequest, *, timeout: float, reuse: bool, min_ttl: str | None
) -> Token:
    """Mint, or with --reuse take a cached token that still has --min-ttl left."""
    from tvmcli import reuse as reusing  # grpc loads only once there is something to send
    from tvmcli.minting import mint_once

    if min_ttl is not None and not reuse:
        raise UsageError("--min-ttl goes with --reuse")
    least = duration_option(min_ttl, "--min-ttl")
    profile = request.profile

    def mint() -> Token:
        with output.spinner(f"Minting {profile.name} at {key.endpoint}"):
            return mint_once(
                key, profile.statements, request.expires_in, request.token_id, timeout=timeout
            )

    cache = reusing.TokenCache(default_cache_dir(os.environ)) if reuse else None
    cache_key = reusing.cache_key(
        key, profile.name, profile.statements, request.expires_in, request.token_id
    )
    token, reused = reusing.obtain(
        cache, cache_key, key.endpoint, reusing.DEFAULT_MIN_TTL if least is None else least, mint
    )
    if reused:
        left = format_relative(token.expires_at - time.time())
        output.info(f"Reusing the {profile.name} token minted earlier (expires {left})")
    return dataclasses.replace(token, profile=profile.name)
