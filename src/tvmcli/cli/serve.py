"""`momento-tvm serve`: the token vending HTTP server (uvicorn running the ASGI app)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from tvmcli.cli import options, output, steps

SHORT = "Vend tokens over HTTP in the Vending Machine's JSON."
EPILOG = """\
\b
Examples:
  momento-tvm serve                    # the profiles file mint finds
  momento-tvm serve --config profiles.toml --port 8700
  momento-tvm serve --emulator-web http://127.0.0.1:5051   # webEndpoint
  BEARER=$(cat ~/.cache/momento-tvm/serve-bearer-token)
  curl -H "Authorization: Bearer $BEARER" \\
       "http://127.0.0.1:8700/token?profile=chat-reader"
"""

HostOption = Annotated[
    str | None,
    typer.Option(
        help="Address to bind. Default: [server] host, else 127.0.0.1.", show_default=False
    ),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        help="Port; 0 picks a free one. Default: [server] port, else 8700.",
        min=0,
        max=65535,
        show_default=False,
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        help="Worker processes (default 1). Each gets 1/N of the mint rate and its own cache.",
        min=1,
        max=256,  # as [server] workers (config.settings.NUMBERS); uvicorn forks as many as asked
        show_default=False,
    ),
]
NoCanaryOption = Annotated[
    bool,
    typer.Option(
        "--no-canary",
        help="Skip the start-up check (one 1-second mint of the narrowest scope that proves "
        "Momento accepts the key).",
    ),
]
EmulatorWebOption = Annotated[
    str | None,
    typer.Option(
        "--emulator-web",
        help="The emulator's gRPC-web URL, added to token answers as webEndpoint for the Web "
        "SDK. Default: $MOMENTO_TVM_EMULATOR_WEB_ENDPOINT when minting from loopback.",
        metavar="URL",
        show_default=False,
    ),
]
AllowOpenOption = Annotated[
    bool, typer.Option("--allow-open", help='Allow auth = "open" on a non-loopback address.')
]


@options.handle_errors
def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
    allow_open: AllowOpenOption = False,
    no_canary: NoCanaryOption = False,
    emulator_web: EmulatorWebOption = None,
    config_path: options.ConfigOption = None,
    api_key_file: options.ApiKeyFileOption = None,
    endpoint: options.EndpointOption = None,
    momento_profile: options.MomentoProfileOption = None,
) -> None:
    """Serve scoped tokens over HTTP in the Token Vending Machine's JSON shape.

    GET /token?profile=NAME answers {"authToken", "expiresAt", "endpoint", "profile",
    "tokenId", "now"} (and "webEndpoint" when minting from the emulator). Settings come from the
    [server] table of the profiles file; flags override.
    """
    from tvmcli.server import running, supervisor
    from tvmcli.system.paths import default_cache_dir

    config = running.serve_config(
        steps.load(config_path), host=host, port=port, workers=workers, allow_open=allow_open
    )
    settings = config.server
    for warning in settings.warnings:
        output.warning(warning)
    key = steps.api_key(api_key_file, endpoint, momento_profile)
    web_endpoint, web_note = running.web_endpoint_for(emulator_web, os.environ, key.endpoint)
    if web_endpoint is not None:
        config = config.with_server(web_endpoint=web_endpoint)
        settings = config.server
    generated = running.generated_bearer_token(settings, os.environ, default_cache_dir(os.environ))
    bearer_token = generated[0] if generated is not None else None
    from tvmcli.server.app import build_app

    # Built before binding, so a bad value fails with no socket open. With --workers, each
    # worker builds its own from the same config; this one only proves that it can.
    app = build_app(config, api_key=key, bearer_token=bearer_token)
    if not no_canary and settings.canary:
        from tvmcli.server.canary import run_check

        running.configure_logging()
        with output.spinner(f"Checking the key with Momento at {key.endpoint}"):
            run_check(app)  # a refused key: exit 4 here, before any caller sees a 502
    sock = running.bind(settings.host, settings.port)
    if generated is not None:  # bound and checked: this server is the one the file is for
        running.save_bearer_token(*generated)
    output.data(running.url(settings.host, sock.getsockname()[1]))
    if generated is not None:
        output.info(f"Bearer token for this run: in {generated[1]} (mode 0600)")
    output.info(
        f"Serving {_profiles_phrase(running.served_profiles(config), len(config.profiles))} "
        f"from {config.path}, auth {settings.auth!r}, minting at {key.endpoint}"
        + (f", {settings.workers} workers" if settings.workers > 1 else "")
        + (f", webEndpoint {web_endpoint}" if web_endpoint else "")
        + ". Stop with Ctrl-C."
    )
    if web_note is not None:
        output.info(web_note)
    if settings.workers > 1:
        supervisor.run_workers(sock, config, key, bearer_token)
    else:
        running.run(app, sock, settings)


def _profiles_phrase(served: list[str], total: int) -> str:
    """'2 of 5 profiles (chat-reader, chat-writer)', 'all 5 profiles', 'the 1 profile'."""
    if len(served) == total:
        return "the 1 profile" if total == 1 else f"all {total} profiles"
    return f"{len(served)} of {total} profiles ({', '.join(served)})"
