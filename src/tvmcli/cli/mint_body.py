"""`mint` without Typer: obtain the token and deliver it in the form asked for. The Typer
command (`mint.py`) and the fast path (`fast.py`) both run `deliver`."""

from __future__ import annotations

import enum
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tvmcli.cli import mint_flags, output, steps, token_text
from tvmcli.errors import UsageError
from tvmcli.system import envvars
from tvmcli.system.durations import format_relative, iso_utc
from tvmcli.system.private_files import append_once, check_writable, write_private

if TYPE_CHECKING:
    from tvmcli.config.profiles import Profile
    from tvmcli.minting.tokens import Token


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
NAMED_FORMS = (*SHELL_FORMS, OutputFormat.github)  # the forms that name a variable


def token_json(token: Token) -> dict[str, object]:
    """The Token Vending Machine's JSON (as `serve` answers) plus the expiry in ISO 8601."""
    return {**token.to_tvm_json(), "expiresAtIso": iso_utc(token.expires_at)}


def token_variables(token: Token, env_var: str) -> dict[str, str]:
    return token_text.token_variables(token.auth_token, token.expires_at, env_var)


class MintArgs(NamedTuple):
    """Everything `mint` takes, as parsed by Typer or by the fast path: the profile and one
    field per `mint_flags.FLAGS` entry."""

    profile: str
    expires_in: str | None = None
    token_id: str | None = None
    output_format: OutputFormat | None = None
    env_var: str | None = None  # None: not given (MOMENTO_API_KEY where a form names one)
    out: Path | None = None
    github_env: bool = False
    reuse: bool = False
    min_ttl: str | None = None
    config: Path | None = None
    api_key_file: str | None = None
    endpoint: str | None = None
    momento_profile: str | None = None
    timeout: str | None = None
    expires_at: str | None = None
    from_url: str | None = None
    id_token_env: str | None = None
    audience: str | None = None
    bearer_file: Path | None = None


def deliver(args: MintArgs) -> None:
    profile, output_format = args.profile, args.output_format
    out = None if args.out is None or str(args.out) == "-" else args.out  # '-': stdout
    github_file = _github_target(output_format, args.github_env, out)
    if args.env_var is not None and output_format not in NAMED_FORMS:
        raise UsageError(
            "--env-var goes with --output env, fish, powershell, dotenv or github: "
            f"--output {output_format.value if output_format else 'raw or text'} names no variable"
        )
    env_var = args.env_var or envvars.DEFAULT_TOKEN_VARIABLE
    for destination in (out, github_file):
        if destination is not None:
            check_writable(destination)
    steps.check_env_var(env_var)
    timeout = steps.timeout_option(args.timeout)
    token, shown = obtain(args, timeout)
    if github_file is not None:
        output.data(token_text.github_mask(token.auth_token))
        append_once(github_file, token_text.github_file_block(token_variables(token, env_var)))
        return
    fmt = output_format or (OutputFormat.text if output.stdout_is_terminal() else OutputFormat.raw)
    if out is not None:
        write_private(out, plain(token, shown, fmt, env_var), named_by_user=True)
        output.info(f"Wrote the {profile} token ({fmt.value}) to {out}")
    elif fmt is OutputFormat.text:
        output.key_values(summary(token, shown))
    else:
        output.data(plain(token, shown, fmt, env_var).rstrip("\n"))


def remote_request_of(args: MintArgs) -> steps.RemoteRequest | None:
    """`steps.remote_request` for mint's and exec's arguments: None for a local mint."""
    return steps.remote_request(
        args.from_url,
        args.profile,
        args.token_id,
        id_token_env=args.id_token_env,
        audience=args.audience,
        bearer_file=args.bearer_file,
        local_only=mint_flags.local_only(args._asdict()),
    )


def obtain(args: MintArgs, timeout: float) -> tuple[Token, Profile | str]:
    """mint's and exec's token: from the vending server with --from (or $MOMENTO_TVM_URL),
    else minted with a key; and what the summary shows of the profile: ours, or a server's,
    known only by its name (a str, which is how exec tells that the token was fetched)."""
    shortcut = shortcut_of(args)  # before anything is read
    remote = remote_request_of(args)
    reuse, min_ttl = args.reuse, args.min_ttl
    if remote is not None:
        token = steps.obtain_remote_token(
            remote, timeout=timeout, reuse=reuse, min_ttl=min_ttl, shortcut=shortcut
        )
        return token, args.profile
    request = steps.token_request(
        args.config, args.profile, args.expires_in, args.token_id, args.expires_at
    )
    key = steps.api_key(args.api_key_file, args.endpoint, args.momento_profile)
    token = steps.obtain_token(
        key, request, timeout=timeout, reuse=reuse, min_ttl=min_ttl, shortcut=shortcut
    )
    return token, request.profile


def shortcut_of(args: MintArgs) -> steps.Shortcut | None:
    """The shortcut a --reuse run leaves for the fast path's next hit (`cache_files`), as
    `steps.Shortcut` wants it. Call it before any input is read: the digest of the inputs is
    taken now and again when the shortcut is left, and if they differ (a file changed while
    the run read it, so the token may come from either version) no shortcut is left."""
    if not args.reuse:
        return None
    from tvmcli.vending.cache_files import inputs_digest

    fields = args._asdict()
    before = inputs_digest(fields, os.environ)
    if before is None:
        return None

    def confirmed() -> str | None:
        return before if inputs_digest(fields, os.environ) == before else None

    return confirmed


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
            hint="Outside GitHub Actions, use --output env, dotenv or json.",
        )
    return Path(value)


def summary(token: Token, profile: Profile | str) -> list[tuple[str, str]]:
    """What a person sees. The grant is the profile's statements: Momento grants them exactly
    or refuses the whole request. A vending server's profile (--from) is known by name only."""
    left = token.expires_at - time.time()
    grants = []
    statements = profile.statements if not isinstance(profile, str) else ()
    for index, statement in enumerate(statements):
        shown = statement.describe()
        cache = "all caches" if shown["cache"] == "all caches" else f"cache {shown['cache']}"
        grants.append(
            ("Grants" if index == 0 else "", f"{shown['role']} on {cache}: {shown['scope']}")
        )
    return [
        ("Profile", profile if isinstance(profile, str) else profile.name),
        ("Endpoint", token.endpoint),
        ("Expires", f"{iso_utc(token.expires_at)} ({format_relative(left)})"),
        ("Token id", token.token_id or "-"),
        *grants,
        ("Token", token.auth_token),
    ]


def plain(token: Token, profile: Profile | str, fmt: OutputFormat, env_var: str) -> str:
    """The token in one form, as plain text ending in a newline."""
    if fmt is OutputFormat.raw:
        return token.auth_token + "\n"
    if fmt is OutputFormat.json:
        return json.dumps(token_json(token), indent=2) + "\n"
    if fmt in SHELL_FORMS:
        return token_text.env_lines(fmt.value, token_variables(token, env_var))
    width = max(len(label) for label, _ in summary(token, profile))
    return "".join(f"{label.ljust(width)}  {value}\n" for label, value in summary(token, profile))
