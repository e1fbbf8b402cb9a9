"""The steps commands share, without Typer: load the configuration, find the key, choose the
token, obtain it, and turn errors into exit codes. The fast path (`fast.py`) and the Typer
commands both run through here, so they behave alike.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tvmcli.cli import output, token_text
from tvmcli.config.profiles import (
    Profile,
    as_usage,
    check_token_id,
    lifetime_seconds,
    token_id_or_usage,
)
from tvmcli.credentials.sources import DEFAULT_TIMEOUT, ApiKey, resolve_api_key
from tvmcli.errors import ExitCode, TvmError, UsageError
from tvmcli.system import envvars
from tvmcli.system.durations import (
    format_duration,
    format_relative,
    iso_utc,
    parse_duration,
    parse_moment,
    parse_seconds,
)
from tvmcli.system.paths import default_cache_dir
from tvmcli.vending.cache_files import DEFAULT_MIN_TTL

if TYPE_CHECKING:
    from tvmcli.config.file import Config
    from tvmcli.minting.tokens import Token
    from tvmcli.vending.remote import Identity

# A --reuse shortcut's digest, taken again when the shortcut is left: the digest, or None if
# the inputs changed since the run began (`mint_body.shortcut_of`).
Shortcut = Callable[[], "str | None"]


def exit_code_of(run: Callable[[], object]) -> int:
    """Run a command body and return its exit code (see `failure_code`)."""
    try:
        run()
    except (Exception, KeyboardInterrupt) as exc:
        code = failure_code(exc)
        if code is None:
            raise
        return code
    return 0


def failure_code(exc: BaseException) -> int | None:
    """THE error ladder, for the fast path (`exit_code_of`) and Typer commands
    (`options.handle_errors`) alike: a TvmError is reported on stderr with its documented
    code; Ctrl-C is 130; anything else is a bug (a one-line report without the exception's
    text, which could hold a secret, and exit 1). None: re-raise it, for the traceback that
    --debug or $MOMENTO_TVM_DEBUG=1 asks for."""
    if isinstance(exc, TvmError):
        output.error(exc)
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        from tvmcli.cli import interrupted

        return interrupted()
    if debugging():
        return None
    output.internal_error(exc)
    return int(ExitCode.INTERNAL)


def debugging() -> bool:
    return os.environ.get(envvars.DEBUG, "") not in ("", "0")


def load(config: Path | None) -> Config:
    """The configuration: --config, else where `load_config` looks. Imported here: `mint
    --from` reads no profiles file, and the settings' parser costs it ~15 ms."""
    from tvmcli.config.file import load_config

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


# A mint that has not succeeded within an hour will not; below 0.1 s not even loopback answers.
MIN_TIMEOUT, MAX_TIMEOUT = 0.1, 3600.0


def seconds_option(value: str, flag: str, low: float = 0.0, high: float = MAX_TIMEOUT) -> float:
    """A wait from a flag, as a duration ("5s", "1m", "250ms") or seconds ("0.5")."""
    try:
        seconds = parse_seconds(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if not low <= seconds <= high:
        raise UsageError(
            f"{flag}: {value.strip()} is outside {low:g}s to {format_duration(int(high))}"
        )
    return seconds


def timeout_option(value: str | None) -> float:
    """--timeout: 0.1 s to 1 h, default 10 s."""
    if value is None:
        return DEFAULT_TIMEOUT
    return seconds_option(value, "--timeout", MIN_TIMEOUT, MAX_TIMEOUT)


def lifetime_option(expires_in: str | None, expires_at: str | None, now: float) -> int | None:
    """The lifetime --expires-in or --expires-at asks for, checked against Momento's 1 s to
    25 h exactly as a lifetime from the profiles file is; None when neither flag is given.
    --expires-at rounds down, so the token never outlives the time asked for (what the SDKs'
    ExpiresIn.epoch sends as valid_for_seconds)."""
    if expires_in is not None and expires_at is not None:
        raise UsageError("give --expires-in or --expires-at, not both")
    if expires_at is not None:
        try:
            moment = parse_moment(expires_at)
        except ValueError as exc:
            raise UsageError(f"--expires-at: {exc}") from None
        seconds = math.floor(moment - now)
        if seconds < 1:
            raise UsageError(f"--expires-at: {iso_utc(moment) or expires_at} is in the past")
        return lifetime_seconds(seconds, "--expires-at")
    if expires_in is not None:
        return lifetime_seconds(expires_in, "--expires-in")
    return None


class TokenRequest(NamedTuple):
    profile: Profile
    expires_in: int
    token_id: str | None


def token_request(
    config: Path | None,
    profile: str,
    expires_in: str | None,
    token_id: str | None,
    expires_at: str | None = None,
) -> TokenRequest:
    """The profile with --expires-in (or --expires-at) applied and its token id chosen by THE
    rule (`profiles.choose_token_id`: a profile's own token id is final, else --token-id)."""
    lifetime = lifetime_option(expires_in, expires_at, time.time())
    chosen = load(config).profile(profile)
    if lifetime is None:
        lifetime = chosen.expires_in
    if token_id is not None and chosen.token_id not in (None, token_id):
        output.warning(
            f"profile {chosen.name} fixes its token id ({chosen.token_id}); --token-id is ignored"
        )
    token_id = token_id_or_usage(chosen.token_id, token_id, "--token-id")
    return TokenRequest(chosen, lifetime, token_id)


def check_env_var(name: str) -> None:
    try:
        token_text.check_variable_name(name)
    except ValueError as exc:
        raise UsageError(f"--env-var: {exc}") from None


def obtain_token(
    key: ApiKey,
    request: TokenRequest,
    *,
    timeout: float,
    reuse: bool,
    min_ttl: str | None,
    shortcut: Shortcut | None = None,
) -> Token:
    """Mint, or with --reuse take a cached token that still has --min-ttl left. With --reuse
    and a `shortcut`, leave the shortcut it confirms to the token, so that the next run with
    the same inputs is a hit without this path."""
    from tvmcli.vending import reuse as reusing

    if min_ttl is not None and not reuse:
        raise UsageError("--min-ttl goes with --reuse")
    least = duration_option(min_ttl, "--min-ttl")
    profile = request.profile
    if reuse and least is not None and least >= request.expires_in:
        output.warning(
            f"--min-ttl {format_duration(least)} is not less than the token's lifetime "
            f"{format_duration(request.expires_in)}: no token can be reused, each run mints"
        )

    def mint() -> Token:
        from tvmcli import api  # grpc loads only once there is something to send

        waiting = f"Minting {profile.name} at {key.endpoint}"
        with output.spinner(waiting) as show:
            return api.mint(
                dataclasses.replace(profile, token_id=request.token_id),  # the id chosen here
                expires_in=request.expires_in,
                timeout=timeout,
                api_key=key,
                on_retry=lambda number, reason: show(f"{waiting}: retry {number} after {reason}"),
            )

    cache = reusing.TokenCache(default_cache_dir(os.environ)) if reuse else None
    cache_key = reusing.cache_key(
        key, profile.name, profile.statements, request.expires_in, request.token_id
    )
    token, reused = reusing.obtain(
        cache, cache_key, key.endpoint, DEFAULT_MIN_TTL if least is None else least, mint
    )
    if cache is not None and shortcut is not None and (digest := shortcut()) is not None:
        cache.remember(digest, cache_key, key.endpoint, profile)
    if reused:
        left = format_relative(token.expires_at - time.time())
        output.info(f"Reusing the {profile.name} token minted earlier (expires {left})")
    return dataclasses.replace(token, profile=profile.name)


class RemoteRequest(NamedTuple):
    """A token to ask a vending server for (`--from`), and who asks."""

    address: str
    profile: str
    token_id: str | None
    identity: Identity


def remote_request(
    from_url: str | None,
    profile: str,
    token_id: str | None,
    *,
    id_token_env: str | None,
    audience: str | None,
    bearer_file: Path | None,
    local_only: dict[str, object],
) -> RemoteRequest | None:
    """With --from URL (or $MOMENTO_TVM_URL): the request, checked. None for a local mint.
    `local_only` are the options that only a local mint takes ({flag: value})."""
    url = from_url if from_url is not None else os.environ.get(envvars.TVM_URL) or None
    if url is None:
        given = {
            "--id-token-env": id_token_env,
            "--audience": audience,
            "--bearer-file": bearer_file,
        }
        for flag, option in given.items():
            if option is not None:
                raise UsageError(f"{flag} goes with --from URL (or ${envvars.TVM_URL})")
        return None
    source = "--from" if from_url is not None else f"${envvars.TVM_URL}"
    for flag, value in local_only.items():
        if value is not None:
            raise UsageError(
                f"{flag} does not go with {source}: the vending server mints, with its own key "
                "and its own profiles"
            )
    if token_id is not None:
        as_usage("--token-id", check_token_id, token_id)
    from tvmcli.vending import remote

    return RemoteRequest(
        remote.server_address(url, source),
        profile,
        token_id,
        remote.identity_from(
            os.environ, id_token_env=id_token_env, bearer_file=bearer_file, audience=audience
        ),
    )


def obtain_remote_token(
    request: RemoteRequest,
    *,
    timeout: float,
    reuse: bool,
    min_ttl: str | None,
    shortcut: Shortcut | None = None,
) -> Token:
    """Ask the vending server, or with --reuse take a token it gave earlier that still has
    --min-ttl left (kept per server, profile, token id, identity and audience). `shortcut`
    as for `obtain_token`."""
    from tvmcli.vending import remote
    from tvmcli.vending import reuse as reusing

    if min_ttl is not None and not reuse:
        raise UsageError("--min-ttl goes with --reuse")
    least = duration_option(min_ttl, "--min-ttl")
    identity = request.identity

    def ask() -> Token:
        waiting = f"Asking {request.address} for a {request.profile} token"
        with output.spinner(waiting) as show:
            return remote.fetch_token(
                request.address,
                request.profile,
                identity,
                token_id=request.token_id,
                timeout=timeout,
                on_retry=lambda number, reason: show(f"{waiting}: retry {number} after {reason}"),
            )

    cache = reusing.TokenCache(default_cache_dir(os.environ)) if reuse else None
    if cache is not None and identity.who is None:
        output.warning(
            "--reuse: not reusing, since this job cannot be told from another "
            "(GITHUB_REPOSITORY, GITHUB_RUN_ID and GITHUB_JOB are not all set)"
        )
        cache = None
    cache_key = reusing.remote_cache_key(
        request.address,
        request.profile,
        request.token_id,
        identity.kind,
        identity.audience,
        identity.who or "",
    )
    token, reused = reusing.obtain(
        cache,
        cache_key,
        request.address,
        DEFAULT_MIN_TTL if least is None else least,
        ask,
    )
    if cache is not None and shortcut is not None and (digest := shortcut()) is not None:
        cache.remember(digest, cache_key, request.address, request.profile, came="fetched")
    if reused:
        left = format_relative(token.expires_at - time.time())
        output.info(f"Reusing the {request.profile} token fetched earlier (expires {left})")
    return dataclasses.replace(token, profile=request.profile)
