"""Options shared by several commands, and the one place errors become exit codes."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple, ParamSpec, TypeVar

import typer

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

P = ParamSpec("P")
R = TypeVar("R")


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Profiles file. Default: $MOMENTO_TVM_CONFIG, ./momento-tvm.toml, "
        "then ~/.config/momento-tvm/profiles.toml.",
        show_default=False,
        dir_okay=False,
    ),
]
ApiKeyFileOption = Annotated[
    str | None,
    typer.Option(
        "--api-key-file",
        help="Read the Momento API key from FILE ('-' for stdin) instead of $MOMENTO_API_KEY.",
        metavar="FILE",
        show_default=False,
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="Momento endpoint (e.g. cell-us-east-1-1.prod.a.momentohq.com, or host:port). "
        "Default: $MOMENTO_ENDPOINT or the one inside the key.",
        show_default=False,
    ),
]
MomentoProfileOption = Annotated[
    str | None,
    typer.Option(
        "--momento-profile",
        help="Profile in the Momento CLI credentials file (~/.momento/credentials), "
        "used when no other key is given. Default: default.",
        show_default=False,
    ),
]
ExpiresInOption = Annotated[
    str | None,
    typer.Option(
        "--expires-in",
        "-e",
        help="Lifetime, e.g. 90s, 15m, 1h30m (1s to 25h). Default: the profile's.",
        show_default=False,
    ),
]
TokenIdOption = Annotated[
    str | None,
    typer.Option(
        "--token-id",
        help="Id baked into the token (at most 64 characters); subscribers see it as the "
        "publisher id. Default: the profile's.",
        show_default=False,
    ),
]
EnvVarOption = Annotated[
    str,
    typer.Option(
        "--env-var",
        help="Variable that receives the token; its expiry goes in MOMENTO_TOKEN_EXPIRES_AT.",
        metavar="NAME",
    ),
]
ReuseOption = Annotated[
    bool,
    typer.Option(
        "--reuse",
        help="Reuse a token minted earlier for the same profile, token id, endpoint and key "
        "(cached under ~/.cache/momento-tvm) while it has --min-ttl left.",
    ),
]
MinTtlOption = Annotated[
    str | None,
    typer.Option(
        "--min-ttl",
        help="With --reuse: the least lifetime a reused token must have left. Default: 5m.",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", help="Seconds to wait for Momento, retries included.", min=0.1),
]


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's errors into a message on stderr and their documented exit code.

    Anything else is a bug: a one-line report (no exception text, which could hold a secret)
    and exit 1; the traceback only with $MOMENTO_TVM_DEBUG=1 or --debug.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except TvmError as err:
            output.error(err)
            raise typer.Exit(int(err.exit_code)) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:
            if debugging():
                raise
            output.internal_error(exc)
            raise typer.Exit(int(ExitCode.INTERNAL)) from None

    return wrapper


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
