"""`momento-tvm exec PROFILE -- COMMAND [ARGS...]`: run a command with a fresh token in its env."""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import typer

from tvmcli.cli import options, output, steps, token_text
from tvmcli.errors import TvmError, UsageError
from tvmcli.system import envvars

SHORT = "Run a command with a fresh token in its environment."
EPILOG = """\
\b
Examples:
  momento-tvm exec ci-warmup -- python warm_cache.py
  momento-tvm exec chat-writer --env-var MOMENTO_TOKEN -- node bot.js
  momento-tvm exec ci-warmup --reuse -- ./deploy.sh
  momento-tvm exec ci-deploy --from https://tvm.example.com -- ./deploy.sh
"""

# The shell's convention: 127 when COMMAND is not found, 126 when it is found but cannot be run
# (not executable, a directory, not a program the kernel can start).
NOT_FOUND, CANNOT_RUN = 127, 126
_COMMAND = "tvmcli.exec.command"


class ExecCommand(options.Command):
    """Splits argv at the first `--`: what follows is the command, never parsed as our options."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            split = args.index("--")
            ctx.meta[_COMMAND] = args[split + 1 :]
            args = args[:split]
        elif not {"-h", "--help"} & set(args) and not ctx.resilient_parsing:  # (completion)
            ctx.fail(
                "missing '--' before the command: momento-tvm exec PROFILE -- COMMAND [ARGS...]"
            )
        result: list[str] = super().parse_args(ctx, args)
        return result


@options.handle_errors
def exec_command(
    ctx: typer.Context,
    profile: options.ProfileArgument,
    expires_in: options.ExpiresInOption = None,
    token_id: options.TokenIdOption = None,
    env_var: options.EnvVarOption = envvars.DEFAULT_TOKEN_VARIABLE,
    reuse: options.ReuseOption = False,
    min_ttl: options.MinTtlOption = None,
    config: options.ConfigOption = None,
    api_key_file: options.ApiKeyFileOption = None,
    endpoint: options.EndpointOption = None,
    momento_profile: options.MomentoProfileOption = None,
    timeout: options.TimeoutOption = None,
    expires_at: options.ExpiresAtOption = None,
    from_url: options.FromOption = None,
    id_token_env: options.IdTokenEnvOption = None,
    audience: options.AudienceOption = None,
    bearer_file: options.BearerFileOption = None,
) -> None:
    """Mint a token for PROFILE, then run COMMAND with it in the environment.

    The token goes in $MOMENTO_API_KEY (or --env-var) and its expiry in
    $MOMENTO_TOKEN_EXPIRES_AT; the key used to mint is removed from the command's environment
    (with --from, the identity: the ID token, GitHub's request variables, $MOMENTO_TVM_BEARER).
    The token never appears on a command line. The exit status is COMMAND's (127 if it is not
    found, 126 if it cannot be run), and signals go straight to it: momento-tvm replaces
    itself with COMMAND.
    """
    command = ctx.meta[_COMMAND]
    if not command:
        raise UsageError("no COMMAND after '--': momento-tvm exec PROFILE -- COMMAND [ARGS...]")
    steps.check_env_var(env_var)
    seconds = steps.timeout_option(timeout)
    remote = steps.remote_request(
        from_url,
        profile,
        token_id,
        id_token_env=id_token_env,
        audience=audience,
        bearer_file=bearer_file,
        local_only=steps.local_only(
            expires_in, expires_at, config, api_key_file, endpoint, momento_profile
        ),
    )
    removed: tuple[str, ...] = envvars.KEY_VARIABLES
    if remote is not None:
        token = steps.obtain_remote_token(remote, timeout=seconds, reuse=reuse, min_ttl=min_ttl)
        removed += envvars.IDENTITY_VARIABLES + ((id_token_env,) if id_token_env else ())
    else:
        request = steps.token_request(config, profile, expires_in, token_id, expires_at)
        key = steps.api_key(api_key_file, endpoint, momento_profile)
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
        raise typer.Exit(NOT_FOUND if missing else CANNOT_RUN) from None
