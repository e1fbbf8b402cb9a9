"""`momento-tvm can PROFILE ACTION CACHE NAME`: may this profile or token do this call, and why?
Answered by the evaluator the emulator enforces with (`permissions/evaluator.py`)."""

from __future__ import annotations

from typing import Annotated

import typer

from tvmcli.cli import can_body, options
from tvmcli.permissions.evaluator import ACTIONS

SHORT = "Say whether a profile or token may make a call, and why."
EPILOG = """\
\b
Examples:
  momento-tvm can chat-reader subscribe chat room-1
  momento-tvm can chat-reader publish chat room-1     # exit 4: why not
  momento-tvm can chat-writer get chat user-42 -o json
  momento-tvm can - publish chat room-1 < token.txt   # a token instead
  momento-tvm can --token-env TOKEN subscribe chat room-1
  momento-tvm can chat-writer --matrix --cache chat \\
      --topic room-1 --topic lobby --key user-1 --key other

\b
Exit codes: 0 allowed (always for --matrix), 4 denied, 2 an unknown
action or an unreadable token, 3 an unknown profile.
"""


@options.handle_errors
def can(
    profile: Annotated[
        str | None,
        typer.Argument(
            help="A profile name, or '-' to read a token from stdin. Left out with --token-env.",
            metavar="PROFILE",
            autocompletion=options.complete_profile,
            show_default=False,
        ),
    ] = None,
    action: Annotated[
        str | None,
        typer.Argument(help=f"One of: {', '.join(ACTIONS)}.", metavar="ACTION", show_default=False),
    ] = None,
    cache: Annotated[
        str | None,
        typer.Argument(help="The cache the call names.", metavar="CACHE", show_default=False),
    ] = None,
    name: Annotated[
        str | None,
        typer.Argument(
            help="The key (cache actions), topic (publish, subscribe) or function (invoke).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            help="Ask about the token in this environment variable (no PROFILE then).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
    matrix: Annotated[
        bool,
        typer.Option(
            "--matrix",
            help="Every action that applies to each --key, --topic and --function in each "
            "--cache, as a table.",
        ),
    ] = False,
    caches: Annotated[
        list[str] | None,
        typer.Option(
            "--cache",
            help="With --matrix: a cache (repeatable).",
            metavar="CACHE",
            show_default=False,
        ),
    ] = None,
    keys: Annotated[
        list[str] | None,
        typer.Option(
            "--key", help="With --matrix: a key (repeatable).", metavar="KEY", show_default=False
        ),
    ] = None,
    topics: Annotated[
        list[str] | None,
        typer.Option(
            "--topic",
            help="With --matrix: a topic (repeatable).",
            metavar="TOPIC",
            show_default=False,
        ),
    ] = None,
    functions: Annotated[
        list[str] | None,
        typer.Option(
            "--function",
            help="With --matrix: a function (repeatable).",
            metavar="FUNCTION",
            show_default=False,
        ),
    ] = None,
    config: options.ConfigOption = None,
) -> None:
    """Say whether PROFILE (or a token) may make one call, and why: which statement allows
    it, or why none does, the statements that came closest and one that would allow it.

    Offline, and decided by the same evaluator the emulator enforces. A token the emulator
    minted carries its grant; the emulator's API key may do everything; a token Momento
    minted does not say, so name the profile that minted it. A token is read from stdin
    ('-') or --token-env, never from an argument (it would land in shell history)."""
    code = can_body.main(
        can_body.CanArgs(
            positional=tuple(a for a in (profile, action, cache, name) if a is not None),
            token_env=token_env,
            output=output_format,
            matrix=matrix,
            caches=tuple(caches or ()),
            keys=tuple(keys or ()),
            topics=tuple(topics or ()),
            functions=tuple(functions or ()),
            config=config,
        )
    )
    if code:
        raise typer.Exit(code)
