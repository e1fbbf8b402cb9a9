"""`exec` without Typer: obtain the token, then replace this process with the command. The
Typer command (`execute.py`) and the fast path (`fast.py`) both run `run`."""

from __future__ import annotations

import os

from tvmcli.cli import steps, token_text
from tvmcli.cli.launch import launch
from tvmcli.cli.mint_body import MintArgs, obtain
from tvmcli.errors import UsageError
from tvmcli.system import envvars


def run(args: MintArgs, command: list[str]) -> int:
    """Never returns when the command starts (os.execvpe); NOT_FOUND or CANNOT_RUN when it
    cannot."""
    if not command:
        raise UsageError("no COMMAND after '--': momento-tvm exec PROFILE -- COMMAND [ARGS...]")
    env_var = args.env_var or envvars.DEFAULT_TOKEN_VARIABLE
    steps.check_env_var(env_var)
    seconds = steps.timeout_option(args.timeout)
    token, shown = obtain(args, seconds)
    fetched = isinstance(shown, str)  # a vending server's profile, known by name
    removed = token_text.secrets_of(fetched, args.id_token_env)
    env = token_text.child_environment(
        dict(os.environ), token.auth_token, token.expires_at, env_var, removed
    )
    return launch(command, env)
