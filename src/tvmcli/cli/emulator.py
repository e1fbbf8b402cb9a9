"""`momento-tvm emulator`: run the local Momento (token service, cache calls, Topics) until
stopped."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tvmcli.cli import options, output, steps
from tvmcli.errors import TvmError, UsageError
from tvmcli.permissions.statements import ACCOUNT_MINTS_PER_SECOND
from tvmcli.system import envvars
from tvmcli.system.paths import default_cache_dir
from tvmcli.system.private_files import private_folder

if TYPE_CHECKING:
    from tvmcli.emulator import Emulator


SHORT = "Run a local Momento: tokens, cache, topics (no account)."
EPILOG = """\
\b
Examples:
  momento-tvm emulator --port 5050
  eval "$(momento-tvm emulator --print-env --quiet &)"   # in the background
  momento-tvm mint chat-reader               # uses the exported key
  kill "$MOMENTO_TVM_EMULATOR_PID"
  momento-tvm emulator --fail-first 2 --latency 200ms
  momento-tvm emulator --web-port 5051 --web-origin https://chat.test
"""

EXPORTED = (
    envvars.API_KEY,
    envvars.ENDPOINT,
    envvars.EMULATOR_PID,
    envvars.EMULATOR_WEB_ENDPOINT,
)
# Printed for `eval` when the emulator cannot start: the eval fails (so `set -e` stops) and
# values from an earlier run cannot send the next command to a dead or real service.
FAILED_START = f"unset {' '.join(EXPORTED)}; false"
STOP_HINT = f'kill "${envvars.EMULATOR_PID}"'


def env_block(api_key: str, endpoint: str, pid: int, web_endpoint: str) -> str:
    return "\n".join(
        f"export {name}={shlex.quote(value)}"
        for name, value in zip(EXPORTED, (api_key, endpoint, str(pid), web_endpoint), strict=True)
    )


def web_sdk_form(web_endpoint: str) -> str:
    """The Web SDK (@gomomento/sdk-web) form: it uses endpoint overrides verbatim when they
    start with http://, so a page reaches the gRPC-web listener with all three named."""
    overrides = ", ".join(
        f'{name}Endpoint: "{web_endpoint}"' for name in ("cache", "control", "token")
    )
    return (
        f"CredentialProvider.fromDisposableToken({{authToken, endpointOverrides: {{{overrides}}}}})"
    )


def sdk_forms(api_key: str, endpoint: str) -> list[tuple[str, str]]:
    """How an application's own SDK code reaches this server. The SDKs' env readers derive
    token.HOST:PORT over TLS from MOMENTO_ENDPOINT, which reaches nothing here. Python:
    CredentialProvider with the host and a port other than 443 (plaintext). JS 1.118: fromString
    refuses a v2 key and baseEndpoint adds the same prefixes, so a v1 key and all three
    endpoints overridden (tests/test_js_sdks.py mints with it through @gomomento/sdk 1.118.1)."""
    from tvmcli.credentials.decoding import make_envelope
    from tvmcli.system.netaddr import split_host_port

    host, port = split_host_port(endpoint)
    v1_key = make_envelope(endpoint, api_key)
    overrides = ", ".join(f'{name}Endpoint: "{endpoint}"' for name in ("cache", "control", "token"))
    return [
        ("v1 API key", v1_key),
        ("Python SDK", f'CredentialProvider("{api_key}", "{host}", "{host}", "{host}", {port})'),
        (
            "JS SDK",
            f'CredentialProvider.fromString({{apiKey: "{v1_key}", endpointOverrides: '
            f"{{{overrides}, secureConnection: false}}}})",
        ),
    ]


class EmulatorCommand(options.Command):
    """With --print-env, a usage error (any failure to parse: Typer vendors its own click)
    also prints FAILED_START for the caller's eval."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        print_env = "--print-env" in args  # before parsing, which consumes `args`
        try:
            result: list[str] = super().parse_args(ctx, args)
        except Exception:
            if print_env:
                output.data(FAILED_START)
            raise
        return result


PortOption = Annotated[
    int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.", min=0, max=65535)
]

SecretFileOption = Annotated[
    Path | None,
    typer.Option(
        "--secret-file",
        help="Signing secret, created (0600) if missing, so keys survive restarts.",
        dir_okay=False,
        show_default=False,
    ),
]

WebPortOption = Annotated[
    int,
    typer.Option(
        "--web-port",
        help="Port on 127.0.0.1 of the gRPC-web listener for browsers; 0 picks a free one.",
        min=0,
        max=65535,
    ),
]

WebOriginOption = Annotated[
    list[str] | None,
    typer.Option(
        "--web-origin",
        help="A page origin allowed to call the gRPC-web listener (repeatable), beside "
        "http://localhost:* and http://127.0.0.1:*.",
        metavar="ORIGIN",
        show_default=False,
    ),
]

PrintEnvOption = Annotated[
    bool,
    typer.Option(
        "--print-env",
        help="Print export lines for MOMENTO_API_KEY, MOMENTO_ENDPOINT, "
        "MOMENTO_TVM_EMULATOR_PID and MOMENTO_TVM_EMULATOR_WEB_ENDPOINT, then close "
        'stdout. Put & inside the $(...): eval "$(momento-tvm emulator --print-env &)"; '
        "without it the shell waits for the emulator to exit, and seems to hang.",
    ),
]

QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Nothing on stdout but --print-env.")
]

KeyExpiresInOption = Annotated[
    str | None,
    typer.Option(
        "--key-expires-in",
        help="Lifetime of the printed API key. Default: none.",
        show_default=False,
    ),
]

RateLimitOption = Annotated[
    int,
    typer.Option("--rate-limit", help="Mints per second per account; 0 turns it off.", min=0),
]

LatencyOption = Annotated[
    str,
    typer.Option(help="Time added to every call: 200ms, 1.5s, 2 (seconds).", metavar="DURATION"),
]

FailRateOption = Annotated[
    float,
    typer.Option(
        "--fail-rate",
        help="Share of calls (0 to 1) that fail with --fail-status.",
        min=0,
        max=1,
    ),
]

FailFirstOption = Annotated[
    int, typer.Option("--fail-first", help="The first N calls fail.", min=0)
]

FailStatusOption = Annotated[
    str, typer.Option("--fail-status", help="gRPC status of injected failures.")
]

LogFileOption = Annotated[
    Path | None,
    typer.Option(
        "--log-file",
        help="Write the per-call log here (with --print-env, all later output too). "
        "Default: stderr, or with --print-env ~/.cache/momento-tvm/emulator.log.",
        dir_okay=False,
        show_default=False,
    ),
]


@options.handle_errors
def emulator(
    port: PortOption = 0,
    secret_file: SecretFileOption = None,
    web_port: WebPortOption = 0,
    web_origin: WebOriginOption = None,
    print_env: PrintEnvOption = False,
    quiet: QuietOption = False,
    key_expires_in: KeyExpiresInOption = None,
    rate_limit: RateLimitOption = ACCOUNT_MINTS_PER_SECOND,
    latency: LatencyOption = "0",
    fail_rate: FailRateOption = 0.0,
    fail_first: FailFirstOption = 0,
    fail_status: FailStatusOption = "UNAVAILABLE",
    log_file: LogFileOption = None,
) -> None:
    """Run a local Momento token service (gRPC, no account needed) until Ctrl-C or SIGTERM.

    It prints an endpoint and an API key it accepts. Point MOMENTO_ENDPOINT and
    MOMENTO_API_KEY at them and every momento-tvm command works offline. The same port
    serves Momento's cache calls and Topics (publish, subscribe) to the SDKs, enforcing
    each token's permissions; a second listener serves them over gRPC-web for Momento's
    Web SDK in a browser.
    """
    # Before anything is printed: whoever reads the endpoint may signal at once.
    stop_signal = threading.Event()
    stopped_by: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopped_by.append(signum)
        stop_signal.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server, api_key, log_file = _start(
                port,
                web_port,
                web_origin or [],
                secret_file,
                print_env,
                key_expires_in,
                rate_limit,
                latency,
                fail_rate,
                fail_first,
                fail_status,
                log_file,
            )
        except TvmError:
            if print_env:
                output.data(FAILED_START)
            raise
        _announce(server, api_key, log_file, print_env=print_env, quiet=quiet)
        _serve_until_signal(server, stop_signal)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopped_by:
        # Stopped, then ended by that signal as `serve` is: 130 for Ctrl-C, 143 for SIGTERM
        # in a shell (it exited 0, which read as "finished normally").
        signal.raise_signal(stopped_by[0])
        raise typer.Exit(128 + stopped_by[0])  # the signal was ignored where we started


def _announce(
    server: Emulator, api_key: str, log_file: Path | None, *, print_env: bool, quiet: bool
) -> None:
    web_endpoint = server.web_endpoint or ""
    rows = [("Endpoint", server.endpoint), ("API key", api_key)]
    rows += sdk_forms(api_key, server.endpoint)
    rows += [
        ("Web endpoint", f"{web_endpoint} (gRPC-web, for browsers)"),
        ("Web SDK", web_sdk_form(web_endpoint)),
    ]
    stop = STOP_HINT if print_env else "Ctrl-C"
    if print_env:
        # stdout is the caller's eval: the env block only; the rest goes to the terminal.
        output.data(env_block(api_key, server.endpoint, os.getpid(), web_endpoint))
        if not quiet:
            output.key_values([*rows, ("Call log", str(log_file)), ("Stop with", stop)], err=True)
        _detach_output(log_file)
    elif not quiet:
        output.key_values(rows)
    logging.getLogger("tvmcli.emulator").info(
        "listening on %s, gRPC-web on %s (rate limit %s/s); stop with: %s",
        server.endpoint,
        web_endpoint,
        server.service.limiter.limit or "no",
        stop,
    )


def _start(
    port: int,
    web_port: int,
    web_origins: list[str],
    secret_file: Path | None,
    print_env: bool,
    key_expires_in: str | None,
    rate_limit: int,
    latency: str,
    fail_rate: float,
    fail_first: int,
    fail_status: str,
    log_file: Path | None,
) -> tuple[Emulator, str, Path | None]:
    """Check the options, start the server, issue its key. Returns where the log goes: with
    --print-env and no --log-file, a file in the cache folder, so that the call log of a
    background emulator never lands on the terminal the user keeps typing into."""
    # grpc and the emulator load here, not at import: every other command starts faster.
    import grpc

    from tvmcli.emulator import Emulator, Faults
    from tvmcli.emulator.runner import load_or_create_secret

    statuses = {code.name: code for code in grpc.StatusCode if code is not grpc.StatusCode.OK}
    status = statuses.get(fail_status.upper())
    if status is None:
        raise UsageError(
            f"--fail-status: unknown gRPC status {fail_status!r}; one of: {', '.join(statuses)}"
        )
    key_lifetime = steps.duration_option(key_expires_in, "--key-expires-in")
    delay = steps.seconds_option(latency, "--latency")
    secret = load_or_create_secret(secret_file) if secret_file else None
    if print_env and log_file is None:
        folder = default_cache_dir(os.environ)
        private_folder(folder, "cache folder")  # the call log: never through a symlink
        log_file = folder / "emulator.log"
    _configure_log(log_file)
    faults = Faults(latency=delay, fail_rate=fail_rate, fail_first=fail_first, fail_status=status)
    server = Emulator(
        port=port,
        secret=secret,
        rate_limit=rate_limit,
        faults=faults,
        web_port=web_port,
        web_origins=web_origins,
    ).start()
    return server, server.issue_api_key(expires_in=key_lifetime), log_file


def _configure_log(log_file: Path | None) -> None:
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--log-file {log_file}: {exc.strerror}") from None
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d emulator: %(message)s", "%H:%M:%S")
    )
    logger = logging.getLogger("tvmcli.emulator")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _detach_output(log_file: Path | None) -> None:
    """Once the env block is out, let go of the caller's pipes: stdout goes to /dev/null, and
    with --log-file stderr goes there too. `eval "$(momento-tvm emulator --print-env --quiet &)"`
    then returns, and CI runners do not wait on the emulator's open pipes."""
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    if log_file is not None:
        log = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 2)
        os.close(log)


def _serve_until_signal(server: Emulator, stop: threading.Event) -> None:
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop(grace=1.0)
        logging.getLogger("tvmcli.emulator").info(
            "stopped: %s", stop_summary(server.service.stats(), server.topics.stats())
        )


def stop_summary(stats: dict[str, Any], topics: dict[str, Any] | None = None) -> str:
    """ "2 calls, 1 mint, refusals: UNAVAILABLE 1; topics: 3 publishes, 1 subscription" """

    def count(number: int, noun: str, plural: str = "") -> str:
        return f"{number} {noun if number == 1 else plural or noun + 's'}"

    refusals = stats["refusals"]
    refused = (
        "refusals: " + ", ".join(f"{code} {n}" for code, n in sorted(refusals.items()))
        if refusals
        else "no refusals"
    )
    summary = f"{count(stats['calls'], 'call')}, {count(stats['mints'], 'mint')}, {refused}"
    if topics is not None:
        summary += (
            f"; topics: {count(topics['publishes'], 'publish', 'publishes')}, "
            f"{count(topics['subscriptions'], 'subscription')}"
        )
        if topics["refusals"]:
            summary += ", refusals: " + ", ".join(
                f"{code} {n}" for code, n in sorted(topics["refusals"].items())
            )
    return summary
