"""`exec` without Typer: obtain the token, then replace this process with the command. The
Typer command (`execute.py`) and the fast path (`fast.py`) both run `run`."""

from __future__ import annotations

import os

from tvmcli.cli import steps, token_text
from tvmcli.cli.launch import launch
from tvmcli.cli.mint_body import MintArgs, remote_request_of, shortcut_of
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
    shortcut = shortcut_of(args)  # before anything is read
    remote = remote_request_of(args)
    reuse, min_ttl = args.reuse, args.min_ttl
    if remote is not None:
        token = steps.obtain_remote_token(
            remote, timeout=seconds, reuse=reuse, min_ttl=min_ttl, shortcut=shortcut
        )
    else:
        request = steps.token_request(
            args.config, args.profile, args.expires_in, args.token_id, args.expires_at
        )
        key = steps.api_key(args.api_key_file, args.endpoint, args.momento_profile)
        token = steps.obtain_token(
            key, request, timeout=seconds, reuse=reuse, min_ttl=min_ttl, shortcut=shortcut
        )
    removed = token_text.secrets_of(remote is not None, args.id_token_env)
    env = token_text.child_environment(
        dict(os.environ), token.auth_token, token.expires_at, env_var, removed
    )
    return launch(command, env)
