"""`momento-tvm mint PROFILE`: mint one token and deliver it in the form the caller needs."""

from __future__ import annotations

import enum
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tvmcli import envvars, token_env
from tvmcli.cli import common, output
from tvmcli.credentials import DEFAULT_TIMEOUT
from tvmcli.durations import format_relative, iso_utc
from tvmcli.errors import UsageError
from tvmcli.private_files import append_once, write_private

if TYPE_CHECKING:
    from tvmcli.tokens import Token

EPILOG = """\
\b
Examples:
  momento-tvm mint chat-reader
  TOKEN=$(momento-tvm mint chat-reader)
  eval "$(momento-tvm mint ci-warmup --output env)"
  momento-tvm mint ci-warmup --output dotenv --out .env.momento
  momento-tvm mint ci-warmup --output github --github-env       # in a GitHub Actions step
  momento-tvm mint ci-warmup --reuse --min-ttl 10m --output env   # spare the 5/s mint limit
  momento-tvm mint chat-writer --expires-in 30m --token-id build-42 --output json
"""


class OutputFormat(str, enum.Enum):
    text = "text"
    raw = "raw"
    json = "json"
    env = "env"
    fish = "fish"
    powershell = "powershell"
    dotenv = "dotenv"
    github = "github"


SHELL_FORMS = (OutputFormat.env, OutputFormat.fish, OutputFormat.powershell, OutputFormat.dotenv)


def token_json(token: Token) -> dict[str, object]:
    """The Token Vending Machine's JSON (as `serve` answers) plus the expiry in ISO 8601."""
    return {**token.to_tvm_json(), "expiresAtIso": iso_utc(token.expires_at)}


def token_variables(token: Token, env_var: str) -> dict[str, str]:
    return {env_var: token.auth_token, envvars.TOKEN_EXPIRES_AT: str(token.expires_at)}


@common.handle_errors
def mint(
    profile: Annotated[str, typer.Argument(help="Profile name from the profiles file.")],
    expires_in: common.ExpiresInOption = None,
    token_id: common.TokenIdOption = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output",
            "-o",
            help="text (summary), raw (token only), json, env (POSIX sh exports), fish, "
            "powershell, dotenv, or github (Actions). Default: text on a terminal, raw when piped.",
            show_default=False,
        ),
    ] = None,
    env_var: common.EnvVarOption = envvars.DEFAULT_TOKEN_VARIABLE,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write to FILE (mode 0600, atomically) instead of stdout.",
            metavar="FILE",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    github_env: Annotated[
        bool,
        typer.Option(
            "--github-env", help="With --output github: append to $GITHUB_ENV, not $GITHUB_OUTPUT."
        ),
    ] = False,
    reuse: common.ReuseOption = False,
    min_ttl: common.MinTtlOption = None,
    config: common.ConfigOption = None,
    api_key_file: common.ApiKeyFileOption = None,
    endpoint: common.EndpointOption = None,
    momento_profile: common.MomentoProfileOption = None,
    timeout: common.TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Mint a disposable token with exactly the permissions PROFILE names."""
    github_file = _github_target(output_format, github_env, out)
    common.check_env_var(env_var)
    request = common.token_request(config, profile, expires_in, token_id)
    key = common.api_key(api_key_file, endpoint, momento_profile)
    token = common.obtain_token(key, request, timeout=timeout, reuse=reuse, min_ttl=min_ttl)
    if github_file is not None:
        output.data(token_env.github_mask(token.auth_token))
        append_once(github_file, token_env.github_file_block(token_variables(token, env_var)))
        return
    fmt = output_format or (OutputFormat.text if output.stdout_is_terminal() else OutputFormat.raw)
    if out is not None:
        write_private(out, plain(token, profile, fmt, env_var))
        output.info(f"Wrote the {profile} token ({fmt.value}) to {out}")
    elif fmt is OutputFormat.text:
        output.key_values(summary(token, profile))
    else:
        output.data(plain(token, profile, fmt, env_var).rstrip("\n"))


def _github_target(fmt: OutputFormat | None, github_env: bool, out: Path | None) -> Path | None:
    """Where --output github appends, checked before anything is minted."""
    if fmt is not OutputFormat.github:
        if github_env:
            raise UsageError("--github-env goes with --output github")
        return None
    if out is not None:
        raise UsageError("--output github writes to $GITHUB_OUTPUT or $GITHUB_ENV, not --out")
    name = "GITHUB_ENV" if github_env else "GITHUB_OUTPUT"
    value = os.environ.get(name)
    if not value:
        raise UsageError(
            f"--output github needs ${name}, which GitHub Actions sets in every step; "
            "it is not set here",
        )
    return Path(value)


def summary(token: Token, profile: str) -> list[tuple[str, str]]:
    left = token.expires_at - time.time()
    return [
        ("Profile", profile),
        ("Endpoint", token.endpoint),
        ("Expires", f"{iso_utc(token.expires_at)} ({format_relative(left)})"),
        ("Token id", token.token_id or "-"),
        ("Token", token.auth_token),
    ]


def plain(token: Token, profile: str, fmt: OutputFormat, env_var: str) -> str:
    """The token in one form, as plain text ending in a newline."""
    if fmt is OutputFormat.raw:
        return token.auth_token + "\n"
    if fmt is OutputFormat.json:
        return json.dumps(token_json(token), indent=2) + "\n"
    if fmt in SHELL_FORMS:
        return token_env.env_lines(fmt.value, token_variables(token, env_var))
    width = max(len(label) for label, _ in summary(token, profile))
    return "".join(f"{label.ljust(width)}  {value}\n" for label, value in summary(token, profile))
