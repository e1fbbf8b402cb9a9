"""Options shared by several commands, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from tvmcli.cli import output
from tvmcli.credentials import ApiKey, resolve_api_key
from tvmcli.durations import parse_duration
from tvmcli.errors import ExitCode, TvmError, UsageError
from tvmcli.profiles import ProfileSet, find_config, load_profiles

P = ParamSpec("P")
R = TypeVar("R")

DEBUG_ENV = "MOMENTO_TVM_DEBUG"

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
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def load_profile_set(config: Path | None) -> ProfileSet:
    return load_profiles(find_config(config, os.environ, Path.cwd()))


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
