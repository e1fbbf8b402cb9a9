"""`momento-tvm mint PROFILE`: mint one token and deliver it in the form the caller needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tvmcli.cli import mint_body, options
from tvmcli.cli.mint_body import OutputFormat

SHORT = "Mint a token with exactly a profile's permissions."
EPILOG = """\
\b
Examples:
  momento-tvm mint chat-reader
  TOKEN=$(momento-tvm mint chat-reader)
  eval "$(momento-tvm mint ci-warmup --output env)"
  momento-tvm mint ci-warmup --output dotenv --out .env.momento
  momento-tvm mint ci-warmup --output github --github-env    # in Actions
  momento-tvm mint ci-warmup --reuse --min-ttl 10m -o env    # spare 5/s
  momento-tvm mint chat-reader -e 30m --token-id build-42 -o json
  momento-tvm mint chat-reader --expires-at 2026-12-01T18:00:00Z
  momento-tvm mint ci-deploy --from https://tvm.example.com  # keyless CI
"""


OutputOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="text (summary), raw (token only), json, env (POSIX sh exports), fish, "
        "powershell, dotenv, or github (Actions). Default: text on a terminal, raw when piped.",
        show_default=False,
    ),
]

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Write to FILE (mode 0600, atomically) instead of stdout; '-' is stdout. A "
        "device or FIFO (/dev/null, a named pipe) is written through, never replaced.",
        metavar="FILE",
        dir_okay=False,
        show_default=False,
    ),
]

GithubEnvOption = Annotated[
    bool,
    typer.Option(
        "--github-env", help="With --output github: append to $GITHUB_ENV, not $GITHUB_OUTPUT."
    ),
]


@options.handle_errors
@options.with_options(options.minting_options)
def mint(
    profile: options.ProfileArgument,
    expires_in: options.ExpiresInOption = None,
    token_id: options.TokenIdOption = None,
    output_format: OutputOption = None,
    env_var: options.MintEnvVarOption = None,
    out: OutOption = None,
    github_env: GithubEnvOption = False,
    **shared: Any,  # options.minting_options
) -> None:
    """Mint a disposable token with exactly the permissions PROFILE names.

    With --from URL (or $MOMENTO_TVM_URL) a momento-tvm server mints it instead, for the
    identity this job has: an ID token (GitHub Actions, GitLab CI) or a bearer token."""
    own = {name: value for name, value in locals().items() if name != "shared"}
    mint_body.deliver(mint_body.MintArgs(**own, **shared))  # by name: no order is a contract
