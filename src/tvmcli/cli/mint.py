"""`momento-tvm mint PROFILE`: mint one token and print it in the form the caller needs."""

from __future__ import annotations

import enum
import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from tvmcli.cli import common, output
from tvmcli.credentials import DEFAULT_TIMEOUT
from tvmcli.durations import format_relative
from tvmcli.errors import UsageError
from tvmcli.profiles import check_lifetime, check_token_id
from tvmcli.tokens import iso_utc

if TYPE_CHECKING:
    from tvmcli.minting import MintedToken

EPILOG = """\
\b
Examples:
  momento-tvm mint chat-reader
  TOKEN=$(momento-tvm mint chat-reader)
  momento-tvm mint chat-writer --expires-in 30m --token-id build-42 --output json
  momento-tvm mint chat-reader --api-key-file ~/.secrets/momento-key
"""


class OutputFormat(str, enum.Enum):
    text = "text"
    raw = "raw"
    json = "json"


def token_json(token: MintedToken, profile: str) -> dict[str, object]:
    """The Token Vending Machine's {authToken, expiresAt} plus what scripts want to know."""
    return {
        "authToken": token.token,
        "endpoint": token.endpoint,
        "expiresAt": token.expires_at,
        "expiresAtIso": iso_utc(token.expires_at),
        "profile": profile,
        "tokenId": token.token_id,
    }


@common.handle_errors
def mint(
    profile: Annotated[str, typer.Argument(help="Profile name from the profiles file.")],
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in",
            "-e",
            help="Lifetime, e.g. 90s, 15m, 1h30m (1s to 25h). Default: the profile's.",
            show_default=False,
        ),
    ] = None,
    token_id: Annotated[
        str | None,
        typer.Option(
            "--token-id",
            help="Id baked into the token (at most 64 characters); subscribers see it as the "
            "publisher id. Default: the profile's.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output",
            "-o",
            help="text (summary), raw (token only) or json. Default: text on a terminal, "
            "raw when piped.",
            show_default=False,
        ),
    ] = None,
    config: common.ConfigOption = None,
    api_key_file: common.ApiKeyFileOption = None,
    endpoint: common.EndpointOption = None,
    momento_profile: common.MomentoProfileOption = None,
    timeout: common.TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Mint a disposable token with exactly the permissions PROFILE names."""
    chosen = common.load_profile_set(config).get(profile)
    lifetime = common.duration_option(expires_in, "--expires-in") or chosen.expires_in
    try:
        check_lifetime(lifetime)
    except ValueError as exc:
        raise UsageError(f"--expires-in: {exc}") from None
    token_id = token_id if token_id is not None else chosen.token_id
    if token_id is not None:
        try:
            check_token_id(token_id)
        except ValueError as exc:
            raise UsageError(f"--token-id {exc}") from None
    key = common.api_key(api_key_file, endpoint, momento_profile)
    from tvmcli.minting import mint_once  # grpc loads only once there is something to send

    with output.spinner(f"Minting {profile} at {key.endpoint}"):
        token = mint_once(key, chosen.statements, lifetime, token_id, timeout=timeout)
    render(token, profile, output_format)


def render(token: MintedToken, profile: str, output_format: OutputFormat | None) -> None:
    if output_format is None:
        output_format = OutputFormat.text if output.stdout_is_terminal() else OutputFormat.raw
    if output_format is OutputFormat.raw:
        output.data(token.token)
    elif output_format is OutputFormat.json:
        output.data(json.dumps(token_json(token, profile), indent=2))
    else:
        left = token.expires_at - time.time()
        output.key_values(
            [
                ("Profile", profile),
                ("Endpoint", token.endpoint),
                ("Expires", f"{iso_utc(token.expires_at)} ({format_relative(left)})"),
                ("Token id", token.token_id or "-"),
                ("Token", token.token),
            ]
        )
