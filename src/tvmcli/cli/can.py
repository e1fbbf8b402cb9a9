"""`momento-tvm can PROFILE ACTION CACHE NAME`: may this profile or token do this call, and why?
Answered by the evaluator the emulator enforces with (`permissions/evaluator.py`)."""

from __future__ import annotations

from typing import Annotated, Any

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


ProfileOrStdin = Annotated[
    str | None,
    typer.Argument(
        help="A profile name, or '-' to read a token from stdin. Left out with --token-env.",
        metavar="PROFILE",
        autocompletion=options.complete_profile,
        show_default=False,
    ),
]

ActionArgument = Annotated[
    str | None,
    typer.Argument(help=f"One of: {', '.join(ACTIONS)}.", metavar="ACTION", show_default=False),
]

CacheArgument = Annotated[
    str | None,
    typer.Argument(help="The cache the call names.", metavar="CACHE", show_default=False),
]

NameArgument = Annotated[
    str | None,
    typer.Argument(
        help="The key (cache actions), topic (publish, subscribe) or function (invoke).",
        metavar="NAME",
        show_default=False,
    ),
]

TokenEnvOption = Annotated[
    str | None,
    typer.Option(
        "--token-env",
        help="Ask about the token in this environment variable (no PROFILE then).",
        metavar="NAME",
        show_default=False,
    ),
]

OutputOption = Annotated[str, typer.Option("--output", "-o", help="text or json.")]

MatrixOption = Annotated[
    bool,
    typer.Option(
        "--matrix",
        help="Every action that applies to each --key, --topic and --function in each "
        "--cache, as a table.",
    ),
]


def _resource(flag: str, what: str) -> Any:
    """A repeatable --matrix resource option: --cache, --key, --topic, --function."""
    return typer.Option(
        flag,
        help=f"With --matrix: {what} (repeatable).",
        metavar=flag[2:].upper(),
        show_default=False,
    )


CachesOption = Annotated[list[str] | None, _resource("--cache", "a cache")]
KeysOption = Annotated[list[str] | None, _resource("--key", "a key")]
TopicsOption = Annotated[list[str] | None, _resource("--topic", "a topic")]
FunctionsOption = Annotated[list[str] | None, _resource("--function", "a function")]


@options.handle_errors
def can(
    profile: ProfileOrStdin = None,
    action: ActionArgument = None,
    cache: CacheArgument = None,
    name: NameArgument = None,
    token_env: TokenEnvOption = None,
    output_format: OutputOption = "text",
    matrix: MatrixOption = False,
    caches: CachesOption = None,
    keys: KeysOption = None,
    topics: TopicsOption = None,
    functions: FunctionsOption = None,
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
