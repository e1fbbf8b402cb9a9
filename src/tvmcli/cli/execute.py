"""`momento-tvm exec PROFILE -- COMMAND [ARGS...]`: run a command with a fresh token in its env."""

from __future__ import annotations

from typing import Any

import typer

from tvmcli.cli import exec_body, mint_body, options
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

_COMMAND = "tvmcli.exec.command"


class ExecCommand(options.Command):
    """Splits argv at the first `--`: what follows is the command, never parsed as our options."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """The usage line shows the command after `--`, which Click never sees as a parameter."""
        return [*super().collect_usage_pieces(ctx), "-- COMMAND [ARGS]..."]

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
@options.with_options(options.minting_options)
def exec_command(
    ctx: typer.Context,
    profile: options.ProfileArgument,
    expires_in: options.ExpiresInOption = None,
    token_id: options.TokenIdOption = None,
    env_var: options.EnvVarOption = envvars.DEFAULT_TOKEN_VARIABLE,
    **shared: Any,  # options.minting_options
) -> None:
    """Mint a token for PROFILE, then run COMMAND with it in the environment.

    The token goes in $MOMENTO_API_KEY (or --env-var) and its expiry in
    $MOMENTO_TOKEN_EXPIRES_AT; the key used to mint is removed from the command's environment
    (with --from, the identity: the ID token, GitHub's request variables, $MOMENTO_TVM_BEARER).
    The token never appears on a command line. The exit status is COMMAND's (127 if it is not
    found, 126 if it cannot be run), and signals go straight to it: momento-tvm replaces
    itself with COMMAND.
    """
    own = {name: value for name, value in locals().items() if name not in ("ctx", "shared")}
    code = exec_body.run(mint_body.MintArgs(**own, **shared), ctx.meta[_COMMAND])
    raise typer.Exit(code)  # only when the command could not start
