"""`inspect` without Typer: read the input, decode, render, check.

Shared by the Typer command (`cli/inspect.py`) and the fast path (`cli/fast.py`) that runs
`momento-tvm inspect ...` without importing Typer, so checking a token in a script costs about
what a bare `python -c` decoder does. Imports nothing heavy: no grpc, no SDK, Rich only to draw
on a terminal.
"""

from __future__ import annotations

import json
import sys
import time

from tvmcli.cli import output
from tvmcli.credentials.decoding import parse_credential, read_credential
from tvmcli.credentials.inspection import Description, Status, describe, is_host_port
from tvmcli.errors import ExpiredError, TvmError, UsageError
from tvmcli.system.durations import format_duration, format_relative, iso_utc

TYPE_CHECKING = False  # no typing or dataclasses at run time, see the module docstring
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import BinaryIO

OUTPUTS = ("text", "json")
ARGUMENT_WARNING = (
    "warning: a credential given as an argument is visible to other local users "
    "(/proc/PID/cmdline) and kept in shell history; use --env VAR or pipe it in"
)


class InspectOptions:
    __slots__ = ("check", "env", "min_ttl", "output", "quiet", "require_expiry", "token")

    def __init__(
        self,
        token: str | None = None,
        env: str | None = None,
        output: str = "text",
        check: bool = False,
        quiet: bool = False,
        min_ttl: int = 0,
        require_expiry: bool = False,
    ) -> None:
        self.token = token
        self.env = env
        self.output = output
        self.check = check
        self.quiet = quiet
        self.min_ttl = min_ttl
        self.require_expiry = require_expiry


def read_input(
    options: InspectOptions, stdin: BinaryIO, stdin_is_terminal: bool, environ: Mapping[str, str]
) -> str:
    if options.env is not None:
        if options.token is not None:
            raise UsageError("give a token or --env NAME, not both")
        if options.env not in environ:
            raise UsageError(f"environment variable {options.env} is not set")
        return environ[options.env]
    if options.token not in (None, "-"):
        return options.token
    if options.token is None and stdin_is_terminal:
        raise UsageError("no token given: pass it as an argument, '-' for stdin, or --env NAME")
    return read_credential(stdin)


def run(
    options: InspectOptions,
    *,
    stdin: BinaryIO,
    stdin_is_terminal: bool,
    environ: Mapping[str, str],
) -> None:
    """Decode and show one credential (--output already checked, by `main`). Raises
    UsageError (bad input) or ExpiredError (--check)."""
    text = read_input(options, stdin, stdin_is_terminal, environ)
    description = describe(parse_credential(text), text, time.time())
    if options.token not in (None, "-") and not options.quiet:
        # Once, and only for what is a credential: bad input is its own one-line error.
        sys.stderr.write(ARGUMENT_WARNING + "\n")
    if description.status is Status.BAD_EXPIRY and not options.check:
        raise UsageError(_BAD_EXPIRY)  # bad input: exit 2 with nothing on stdout
    if not options.quiet:
        if options.output == "json":
            output.data(json.dumps(description.to_json(), indent=2, default=str))
        else:
            render_text(description)
    if options.check:
        check(description, options.min_ttl, options.require_expiry)


def check_output(name: str) -> None:
    if name not in OUTPUTS:
        raise UsageError(f"--output must be one of {', '.join(OUTPUTS)}, not {name!r}")


_BAD_EXPIRY = (
    "the credential's exp claim is not a time (a whole number of seconds from 1970 to 9999), "
    "so when it expires cannot be told"
)


def check(description: Description, min_ttl: int, require_expiry: bool) -> None:
    if description.status is Status.BAD_EXPIRY:
        raise ExpiredError(_BAD_EXPIRY)
    if description.status is Status.NO_EXPIRY:
        if require_expiry:
            raise ExpiredError("the credential has no expiry and --require-expiry was given")
        return
    left = description.seconds_left or 0.0
    if description.status is Status.EXPIRED:
        raise ExpiredError(f"the credential expired {format_relative(left)}")
    if left < min_ttl:
        raise ExpiredError(
            f"the credential has {format_duration(int(left))} left, less than --min-ttl "
            f"{format_duration(min_ttl)}"
        )


def _when(epoch: int | None, now: float) -> str:
    if epoch is None:
        return "-"
    return f"{iso_utc(epoch)} ({format_relative(epoch - now)})"


def _never(d: Description) -> str:
    return "unusable (see Claim exp)" if d.status is Status.BAD_EXPIRY else "never"


def render_text(d: Description) -> None:
    now = time.time()
    rows = [("Kind", d.kind.label), ("Token", d.masked)]
    if d.endpoint:
        rows.append(("Endpoint", d.endpoint))
        rows += endpoint_rows(d.endpoint, d.endpoints or {})
    rows += [
        ("Issued at", _when(d.issued_at, now)),
        ("Expires at", _when(d.expires_at, now) if d.expires_at is not None else _never(d)),
        ("Status", d.status.value),
        ("Token id", d.token_id or "-"),
        ("Subject", d.subject or "-"),
    ]
    if d.super_user:
        rows.append(("Permissions", "super user (everything)"))
    elif d.permissions is None:
        rows.append(("Permissions", "not in the token (ask the issuer)"))
    for name, value in d.other_claims.items():
        rows.append((f"Claim {name}", json.dumps(value, default=str)))
    output.key_values(rows)
    if d.permissions:
        output.table(
            ("Resource", "Role", "Cache", "Scope"),
            ([p["resource"], p["role"], p["cache"], p["scope"]] for p in d.permissions),
        )


_SDK_LABELS = {"pythonSdk": "Python SDK", "jsSdk": "JS SDK"}


def endpoint_rows(endpoint: str, endpoints: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """What each SDK dials: one row per service, split by SDK only where they differ."""
    rows = []
    for service in ("cache", "control", "token"):
        hosts = {sdk: by_service[service] for sdk, by_service in endpoints.items()}
        if len(set(hosts.values())) == 1:
            rows.append((f"  {service} (SDKs)", next(iter(hosts.values()))))
        else:
            rows += [(f"  {service} ({_SDK_LABELS[sdk]})", host) for sdk, host in hosts.items()]
    rows.append(("  via", "TLS, port 443"))
    if is_host_port(endpoint):
        rows.append(
            (
                "  note",
                "the SDKs derive these names even from host:port, so they do not reach a "
                "local server; the emulator, run without --quiet, prints the forms that do "
                '(docs/emulator.md, "From your application\'s own SDK code")',
            )
        )
    return rows


# -- the fast path -----------------------------------------------------------------------------

_FLAGS = {
    "--check": "check",
    "--quiet": "quiet",
    "-q": "quiet",
    "--require-expiry": "require_expiry",
}
_VALUED = {"--output": "output", "-o": "output", "--env": "env", "--min-ttl": "min_ttl"}


def parse_fast(argv: list[str]) -> InspectOptions | None:
    """Options for `inspect` from argv, or None for anything unusual (help, unknown flags,
    repeated arguments): the Typer command then handles it and reports usage errors."""
    values: dict[str, object] = {}
    token: str | None = None
    args = iter(argv)
    for arg in args:
        name, has_value, inline = arg.partition("=")
        if arg in _FLAGS:
            values[_FLAGS[arg]] = True
        elif name in _VALUED:
            value = inline if has_value else next(args, None)
            if value is None or _VALUED[name] in values:
                return None
            values[_VALUED[name]] = value
        elif arg == "-" or not arg.startswith("-"):
            if token is not None:
                return None
            token = arg
        else:
            return None
    min_ttl = values.pop("min_ttl", None)
    if min_ttl is not None and not values.get("check"):
        return None  # Typer says --min-ttl goes with --check
    try:
        from tvmcli.system.durations import parse_duration

        seconds = parse_duration(str(min_ttl)) if min_ttl is not None else 0
    except ValueError:
        return None
    return InspectOptions(token=token, min_ttl=seconds, **values)  # type: ignore[arg-type]


def fast_main(argv: list[str]) -> int | None:
    """Run `inspect` without Typer; None means "not handled here, use the full CLI"."""
    import os
    import sys

    options = parse_fast(argv)
    if options is None:
        return None
    return main(
        options, stdin=sys.stdin.buffer, stdin_is_terminal=sys.stdin.isatty(), environ=os.environ
    )


def main(
    options: InspectOptions, *, stdin: BinaryIO, stdin_is_terminal: bool, environ: Mapping[str, str]
) -> int:
    """`run` with errors reported on stderr; returns the exit code. Anything but a TvmError is a
    bug and propagates.

    --quiet prints nothing about the credential, whatever it is (unreadable, missing, expired):
    the exit code says it, so `inspect --env TOKEN --check --quiet || TOKEN=$(mint ...)` is
    silent on a first run too. A mistake in the command line itself (--output, and --min-ttl
    in the parsers) is still reported: silencing it would hide a typo in a script forever."""
    try:
        check_output(options.output)
    except TvmError as err:
        output.error(err)
        return int(err.exit_code)
    try:
        run(options, stdin=stdin, stdin_is_terminal=stdin_is_terminal, environ=environ)
    except TvmError as err:
        if not options.quiet:
            output.error(err)
        return int(err.exit_code)
    return 0
