"""`momento-tvm inspect`: decode any Momento key or token, offline."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from tvmcli.cli import inspect_body, options, output, steps
from tvmcli.errors import UsageError

SHORT = "Show what a Momento key or token is, offline."
EPILOG = """\
\b
Examples:
  momento-tvm inspect --env MOMENTO_API_KEY --output json
  momento-tvm mint chat-reader | momento-tvm inspect
  momento-tvm inspect --env TOKEN
  momento-tvm inspect --env TOKEN --check --min-ttl 5m -q || echo renew
"""


@options.handle_errors
def inspect(
    token: Annotated[
        str | None,
        typer.Argument(
            help="The key or token; '-' or nothing reads stdin. As an argument other local "
            "users can see it (a warning says so): prefer --env NAME or stdin.",
            show_default=False,
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="Read the credential from this environment variable.",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 6 if expired or with less than --min-ttl left."),
    ] = False,
    min_ttl: Annotated[
        str | None,
        typer.Option(
            "--min-ttl", help="With --check: the least lifetime left, e.g. 5m.", show_default=False
        ),
    ] = None,
    require_expiry: Annotated[
        bool,
        typer.Option(
            "--require-expiry", help="With --check: fail a credential that never expires."
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print nothing, not even why a check failed: the exit code says."
        ),
    ] = False,
) -> None:
    """Show what a Momento key or token is: kind, endpoint, expiry, status, token id, permissions.

    Works offline: it decodes, it does not verify signatures or ask Momento.
    """
    if min_ttl is not None and not check:
        # As `mint --min-ttl` without --reuse: an option that would do nothing is a mistake.
        output.error(UsageError("--min-ttl goes with --check"))
        raise typer.Exit(int(UsageError.exit_code))
    options = inspect_body.InspectOptions(
        token=token,
        env=env,
        output=output_format,
        check=check,
        quiet=quiet,
        min_ttl=steps.duration_option(min_ttl, "--min-ttl") or 0,
        require_expiry=require_expiry,
    )
    code = inspect_body.main(
        options, stdin=sys.stdin.buffer, stdin_is_terminal=sys.stdin.isatty(), environ=os.environ
    )
    if code:
        raise typer.Exit(code)
