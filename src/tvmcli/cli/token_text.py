"""A minted token in the forms scripts and CI systems read: shell exports, dotenv, GitHub Actions.

Pure text building. Every value is quoted for its consumer, whatever characters it holds.
"""

from __future__ import annotations

import re

from tvmcli.system import envvars

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTENV_SAFE = re.compile(r"[A-Za-z0-9+/=._:@-]*")
# PowerShell treats the typographic single quotes as quotes too; each must be doubled.
_POWERSHELL_QUOTES = "'\u2018\u2019\u201a\u201b"


def check_variable_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid environment variable name")


def posix_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def powershell_quote(value: str) -> str:
    return "'" + "".join(c * 2 if c in _POWERSHELL_QUOTES else c for c in value) + "'"


def dotenv_quote(value: str) -> str:
    if _DOTENV_SAFE.fullmatch(value):
        return value
    if "$" in value or "\n" in value:
        # Readers differ: python-dotenv expands ${VAR} even inside quotes, others do not.
        # Tokens are base64 and never get here; refuse rather than write something ambiguous.
        raise ValueError("dotenv cannot hold '$' or a newline portably")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def env_lines(form: str, variables: dict[str, str]) -> str:
    """`variables` as statements of one form: env (POSIX sh), fish, powershell or dotenv."""
    for name in variables:
        check_variable_name(name)
    if form == "env":
        lines = [f"export {k}={posix_quote(v)}" for k, v in variables.items()]
    elif form == "fish":
        lines = [f"set -gx {k} {fish_quote(v)}" for k, v in variables.items()]
    elif form == "powershell":
        lines = [f"$env:{k} = {powershell_quote(v)}" for k, v in variables.items()]
    elif form == "dotenv":
        lines = [f"{k}={dotenv_quote(v)}" for k, v in variables.items()]
    else:
        raise ValueError(f"unknown form {form!r}")
    return "\n".join(lines) + "\n"


def github_mask(value: str) -> str:
    """The workflow command that makes the runner mask `value` in every later log line."""
    return f"::add-mask::{value}"


def github_file_block(variables: dict[str, str], delimiter: str | None = None) -> str:
    """Lines for $GITHUB_OUTPUT or $GITHUB_ENV in the multi-line form, with a random delimiter
    so no value can end the block early."""
    for name in variables:
        check_variable_name(name)
    blocks = []
    for name, value in variables.items():
        marker = delimiter or f"ghadelimiter_{_random_hex()}"
        if marker in value:
            raise ValueError("the delimiter occurs in the value")
        blocks.append(f"{name}<<{marker}\n{value}\n{marker}\n")
    return "".join(blocks)


def token_variables(token: str, expires_at: int, env_var: str) -> dict[str, str]:
    """The variables a delivered token travels in: the token in `env_var`, its expiry in
    $MOMENTO_TOKEN_EXPIRES_AT (every shell form, --output github and exec's command)."""
    check_variable_name(env_var)
    return {env_var: token, envvars.TOKEN_EXPIRES_AT: str(expires_at)}


def secrets_of(remote: bool, id_token_env: str | None) -> tuple[str, ...]:
    """The variables exec's command must not see: the minting key; with --from also the
    identity that asked (GitHub's ID-token request, the bearer, --id-token-env's variable)."""
    if not remote:
        return envvars.KEY_VARIABLES
    named = (id_token_env,) if id_token_env else ()
    return envvars.KEY_VARIABLES + envvars.IDENTITY_VARIABLES + named


def child_environment(
    base: dict[str, str],
    token: str,
    expires_at: int,
    env_var: str,
    remove: tuple[str, ...] = envvars.KEY_VARIABLES,
) -> dict[str, str]:
    """The environment for `exec`'s command: the token in `env_var`, its expiry beside it, and
    what obtained it removed (the minting key; with --from the identity), so the command holds
    only the scoped token."""
    added = token_variables(token, expires_at, env_var)
    return {**{k: v for k, v in base.items() if k not in remove}, **added}


def _random_hex() -> str:
    import secrets  # only GitHub output needs it; every mint would pay for it otherwise

    return secrets.token_hex(16)
