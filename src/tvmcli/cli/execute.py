"""`momento-tvm exec PROFILE -- COMMAND [ARGS...]`: run a command with a fresh token in its env."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from tvmcli import envvars, token_env
from tvmcli.cli import common, flow, output
from tvmcli.errors import TvmError, UsageError

SHORT = "Run a command with a fresh token in its environment."
EPILOG = """\
\b
Examples:
  momento-tvm exec ci-warmup -- python warm_cache.py
  momento-tvm exec chat-writer --env-var MOMENTO_TOKEN -- node bot.js
  momento-tvm exec ci-warmup --reuse -- ./deploy.sh
  momento-tvm exec ci-deploy --from https://tvm.example.com -- ./deploy.sh
"""

CANNOT_START = 127
_COMMAND = "tvmcli.exec.command"


class ExecCommand(common.Command):
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


@common.handle_errors
def exec_command(
    ctx: typer.Context,
    profile: common.ProfileArgument,
    expires_in: common.ExpiresInOption = None,
    token_id: common.TokenIdOption = None,
    env_var: common.EnvVarOption = envvars.DEFAULT_TOKEN_VARIABLE,
    reuse: common.ReuseOption = False,
    min_ttl: common.MinTtlOption = None,
    config: common.ConfigOption = None,
    api_key_file: common.ApiKeyFileOption = None,
    endpoint: common.EndpointOption = None,
    momento_profile: common.MomentoProfileOption = None,
    timeout: common.TimeoutOption = None,
    expires_at: common.ExpiresAtOption = None,
    from_url: common.FromOption = None,
    id_token_env: common.IdTokenEnvOption = None,
    audience: common.AudienceOption = None,
    bearer_file: common.BearerFileOption = None,
) -> None:
    """Mint a token for PROFILE, then run COMMAND with it in the environment.

    The token goes in $MOMENTO_API_KEY (or --env-var) and its expiry in
    $MOMENTO_TOKEN_EXPIRES_AT; the key used to mint is removed from the command's environment
    (with --from, the identity: the ID token, GitHub's request variables, $MOMENTO_TVM_BEARER).
    The token never appears on a command line. The exit status is COMMAND's (127 if it cannot
    be started), and signals go straight to it: momento-tvm replaces itself with COMMAND.
    """
    command = ctx.meta[_COMMAND]
    if not command:
        raise UsageError("no COMMAND after '--': momento-tvm exec PROFILE -- COMMAND [ARGS...]")
    flow.check_env_var(env_var)
    seconds = flow.timeout_option(timeout)
    remote = flow.remote_request(
        from_url,
        profile,
        token_id,
        id_token_env=id_token_env,
        audience=audience,
        bearer_file=bearer_file,
        local_only=flow.local_only(
            expires_in, expires_at, config, api_key_file, endpoint, momento_profile
        ),
    )
    removed: tuple[str, ...] = envvars.KEY_VARIABLES
    if remote is not None:
        token = flow.obtain_remote_token(remote, timeout=seconds, reuse=reuse, min_ttl=min_ttl)
        removed += envvars.IDENTITY_VARIABLES + ((id_token_env,) if id_token_env else ())
    else:
        request = flow.token_request(config, profile, expires_in, token_id, expires_at)
        key = flow.api_key(api_key_file, endpoint, momento_profile)
        token = flow.obtain_token(key, request, timeout=seconds, reuse=reuse, min_ttl=min_ttl)
    env = token_env.child_environment(
        dict(os.environ), token.auth_token, token.expires_at, env_var, removed
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)  # noqa: S606 - argv as given, no shell
    except OSError as exc:
        output.error(TvmError(f"cannot run {command[0]!r}: {exc.strerror}"))
        raise typer.Exit(CANNOT_START) from None
