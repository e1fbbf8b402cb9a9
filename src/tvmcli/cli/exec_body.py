"""`exec` without Typer: obtain the token, then replace this process with the command. The
Typer command (`execute.py`) and the fast path (`fast.py`) both run `run`."""

from __future__ import annotations

import errno
import os
import sys

from tvmcli.cli import output, steps, token_text
from tvmcli.cli.mint_body import MintArgs, remote_request_of
from tvmcli.errors import TvmError, UsageError
from tvmcli.system import envvars

# The shell's convention: 127 when COMMAND is not found, 126 when it is found but cannot be run
# (not executable, a directory, not a program the kernel can start).
NOT_FOUND, CANNOT_RUN = 127, 126


def run(args: MintArgs, command: list[str]) -> int:
    """Never returns when the command starts (os.execvpe); NOT_FOUND or CANNOT_RUN when it
    cannot."""
    if not command:
        raise UsageError("no COMMAND after '--': momento-tvm exec PROFILE -- COMMAND [ARGS...]")
    env_var = args.env_var or envvars.DEFAULT_TOKEN_VARIABLE
    steps.check_env_var(env_var)
    seconds = steps.timeout_option(args.timeout)
    remote = remote_request_of(args)
    removed: tuple[str, ...] = envvars.KEY_VARIABLES
    reuse, min_ttl = args.reuse, args.min_ttl
    if remote is not None:
        token = steps.obtain_remote_token(remote, timeout=seconds, reuse=reuse, min_ttl=min_ttl)
        removed += envvars.IDENTITY_VARIABLES + ((args.id_token_env,) if args.id_token_env else ())
    else:
        request = steps.token_request(
            args.config, args.profile, args.expires_in, args.token_id, args.expires_at
        )
        key = steps.api_key(args.api_key_file, args.endpoint, args.momento_profile)
        token = steps.obtain_token(key, request, timeout=seconds, reuse=reuse, min_ttl=min_ttl)
    env = token_text.child_environment(
        dict(os.environ), token.auth_token, token.expires_at, env_var, removed
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)  # noqa: S606 - argv as given, no shell
    except OSError as exc:
        output.error(TvmError(f"cannot run {command[0]!r}: {exc.strerror}"))
        missing = isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOTDIR
        return NOT_FOUND if missing else CANNOT_RUN
    return NOT_FOUND  # not reached: execvpe returns only by raising
