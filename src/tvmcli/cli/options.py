"""Typer options shared by several commands, and `handle_errors`, which gives a Typer command
the exit codes of `steps.failure_code` (the ladder `steps.exit_code_of` uses too)."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from typer.core import TyperCommand

from tvmcli.cli.steps import failure_code


class Command(TyperCommand):
    """Every command's class: the usage line names arguments plainly (`mint [OPTIONS]
    PROFILE`), not in the braces Typer 0.28 puts around required ones (`{PROFILE}`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]

    def get_params(self, ctx: Any) -> list[Any]:
        """Options without a metavar get a word (DURATION, FILE, N), not Typer 0.28's `<str>`,
        `<file>` or `<int range>`; choices keep their `<a|b>` list."""
        params: list[Any] = super().get_params(ctx)
        for param in params:
            if getattr(param, "metavar", "") is None and not getattr(param, "is_flag", True):
                param.metavar = _metavar(param)
        return params


# The word shown for an option's value, by option name; else by type.
_METAVARS = {
    "expires_in": "DURATION",
    "min_ttl": "DURATION",
    "key_expires_in": "DURATION",
    "token_id": "ID",
    "endpoint": "ENDPOINT",
    "momento_profile": "NAME",
    "host": "ADDRESS",
    "port": "PORT",
    "fail_status": "STATUS",
    "fail_rate": "SHARE",
    "output": "FORMAT",
    "output_format": "FORMAT",
}


def _metavar(param: Any) -> str | None:
    by_name = _METAVARS.get(param.name or "")
    if by_name:
        return by_name
    kind = getattr(param.type, "name", "")
    if kind in ("file", "path"):
        return "FILE"
    if kind.startswith(("int", "integer")):
        return "N"
    if kind.startswith("float"):
        return "NUMBER"
    if kind == "choice":
        return None  # Typer lists the choices
    return (param.name or "value").upper()


class TextOrJson(str, enum.Enum):
    """What -o chooses for a command that prints a table or lines, or their JSON."""

    text = "text"
    json = "json"


P = ParamSpec("P")
R = TypeVar("R")


def complete_profile(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Profile names for the shell, from the file the command would read (--config if already
    typed). Reads the TOML only, validates nothing, and never raises or prints: a missing or
    broken file completes nothing rather than write an error into the user's prompt."""
    import os

    from tvmcli.config.file import find_config, profile_names

    try:
        given = ctx.params.get("config")  # a str while completing: conversion is skipped
        path = find_config(Path(given) if given else None, os.environ)
        names = profile_names(path)
    except Exception:
        return []
    return [(name, about) for name, about in names.items() if name.startswith(incomplete)]


ProfileArgument = Annotated[
    str,
    typer.Argument(
        help="Profile name from the profiles file.",
        metavar="PROFILE",
        autocompletion=complete_profile,
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Profiles file. Default: $MOMENTO_TVM_CONFIG, ./momento-tvm.toml, then "
        "momento-tvm/profiles.toml in $XDG_CONFIG_HOME (~/.config).",
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
        help="Id baked into the token (at most 64 bytes of UTF-8, printable); subscribers "
        "see it as the publisher id. A profile's own token_id is final; this sets one for "
        "the others.",
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
# mint's: None when not given, so an --env-var that the output form would ignore is an error.
MintEnvVarOption = Annotated[
    str | None,
    typer.Option(
        "--env-var",
        help="With --output env, fish, powershell, dotenv or github: the variable that "
        "receives the token (default MOMENTO_API_KEY); its expiry goes in "
        "MOMENTO_TOKEN_EXPIRES_AT.",
        metavar="NAME",
        show_default=False,
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
ExpiresAtOption = Annotated[
    str | None,
    typer.Option(
        "--expires-at",
        help="Expire at this time instead: RFC 3339 (2026-11-26T17:46:45Z) or epoch seconds; "
        "1s to 25h from now. The lifetime is rounded down to whole seconds, as the SDKs' "
        "ExpiresIn.epoch does, so the token may expire up to a second before TIME.",
        metavar="TIME",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        help="How long to wait for Momento, retries included: 10s, 1m, 0.5 (0.1s to 1h). "
        "Default: 10s.",
        metavar="DURATION",
        show_default=False,
    ),
]


FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Get the token from this momento-tvm server (https://, or http:// to loopback) "
        "instead of minting with a key. Default: $MOMENTO_TVM_URL.",
        metavar="URL",
        show_default=False,
    ),
]
IdTokenEnvOption = Annotated[
    str | None,
    typer.Option(
        "--id-token-env",
        help="With --from: prove who you are with the ID token in this variable "
        "(GitLab CI: a name under id_tokens:).",
        metavar="NAME",
        show_default=False,
    ),
]
AudienceOption = Annotated[
    str | None,
    typer.Option(
        "--audience",
        help="With --from in GitHub Actions: the audience of the ID token asked for. "
        "Default: momento-tvm.",
        metavar="AUDIENCE",
        show_default=False,
    ),
]
BearerFileOption = Annotated[
    Path | None,
    typer.Option(
        "--bearer-file",
        help="With --from: send the bearer token in FILE (else $MOMENTO_TVM_BEARER).",
        metavar="FILE",
        dir_okay=False,
        show_default=False,
    ),
]


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Give a Typer command the exit codes of `steps.failure_code`, the one error ladder."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            code = failure_code(exc)
            if code is None:
                raise
            raise typer.Exit(code) from None

    return wrapper


def subcommand(
    app: typer.Typer, name: str, *, epilog: str, short_help: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a command of a group (profiles, cache) as each one is: our Command class, the
    one error ladder (handle_errors) and its examples (epilog)."""

    def register(command: Callable[P, R]) -> Callable[P, R]:
        declare = app.command(name, cls=Command, short_help=short_help, epilog=epilog)
        return declare(handle_errors(command))

    return register


def minting_options(
    reuse: ReuseOption = False,
    min_ttl: MinTtlOption = None,
    config: ConfigOption = None,
    api_key_file: ApiKeyFileOption = None,
    endpoint: EndpointOption = None,
    momento_profile: MomentoProfileOption = None,
    timeout: TimeoutOption = None,
    expires_at: ExpiresAtOption = None,
    from_url: FromOption = None,
    id_token_env: IdTokenEnvOption = None,
    audience: AudienceOption = None,
    bearer_file: BearerFileOption = None,
) -> None:
    """The options `mint` and `exec` share, after their own (`with_options`); never called."""


def with_options(block: Callable[..., None]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Give a Typer command its own parameters followed by `block`'s, which reach it in its
    `**keywords`: one declaration of a block of options for several commands. Typer reads a
    command's parameters from its signature, so the combined one is set as `__signature__`."""

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        import inspect

        own = inspect.signature(command, eval_str=True).parameters.values()
        shared = inspect.signature(block, eval_str=True).parameters.values()
        kept = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
        command.__signature__ = inspect.Signature([*kept, *shared])  # type: ignore[attr-defined]
        return command

    return decorate
