"""`momento-tvm doctor`: check the set-up, step by step, and say what is wrong.

The profiles file, where the key comes from (never the key), the endpoint (resolves, answers,
TLS or the emulator's plaintext), one mint of the start-up check's canary (the narrowest grant,
1 second: one call to Momento), the clock against the service's, and file modes. The first
failure gives the exit code (3 configuration, 4 refused, 5 unreachable); warnings do not.
"""

from __future__ import annotations

import enum
import os
import socket
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from tvmcli.cli import options, output, steps
from tvmcli.credentials.sources import ApiKey, momento_cli_credentials_path
from tvmcli.errors import TvmError, UnavailableError
from tvmcli.system.netaddr import split_host_port
from tvmcli.system.paths import default_cache_dir

SHORT = "Check profiles, key, endpoint and clock; say what is wrong."
EPILOG = """\b
Examples:
  momento-tvm doctor
  momento-tvm doctor -c momento-tvm.toml --output json
"""
# More than this between our clock and the service's is worth a warning: expiry times, the
# --reuse cache and a browser's refresh all count by the local clock.
SKEW_WARNING = 5.0


class Status(str, enum.Enum):
    ok = "ok"
    warn = "warn"
    fail = "fail"
    skipped = "skipped"


Format = options.TextOrJson


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    exit_code: int = 0


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: Status, detail: str, exit_code: int = 0) -> Check:
        check = Check(name, status, detail, exit_code)
        self.checks.append(check)
        return check

    def failed(self, name: str, error: TvmError) -> None:
        detail = error.message
        problems = getattr(error, "problems", None)
        if problems:
            detail += "".join(f"\n- {problem}" for problem in problems)
        if error.hint:
            detail += f"\nhint: {error.hint}"
        self.add(name, Status.fail, detail, int(error.exit_code))

    @property
    def exit_code(self) -> int:
        return next((c.exit_code for c in self.checks if c.status is Status.fail), 0)


def _mode_check(report: Report, what: str, path: Path, most: int) -> None:
    """Warn when `path` is open to more than `most` (e.g. 0o600) allows."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    extra = mode & ~most & 0o777
    if extra:
        report.add(
            "file modes",
            Status.warn,
            f"{what} {path} is mode {mode:04o}, more open than {most:04o} (chmod {most:o})",
        )
    else:
        report.add("file modes", Status.ok, f"{what} {path} is mode {mode:04o}")


def _endpoint_check(report: Report, key: ApiKey, timeout: float) -> bool:
    """DNS, then a TCP connection, then (off loopback) a TLS handshake. False on failure."""
    target = key.target
    host, port = split_host_port(target.address)
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        report.failed(
            "endpoint",
            UnavailableError(f"{target.address} does not resolve: {exc.strerror or exc}"),
        )
        return False
    address = infos[0][4][0]
    try:
        with socket.create_connection((host, port or 443), timeout=timeout) as sock:
            if not target.secure:
                report.add(
                    "endpoint",
                    Status.ok,
                    f"{target.address} ({address}) answers, plaintext: a local service on "
                    "loopback, as the emulator is",
                )
                return True
            import ssl

            context = ssl.create_default_context()
            with context.wrap_socket(sock, server_hostname=host) as tls:
                version = tls.version()
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        report.failed(
            "endpoint", UnavailableError(f"cannot reach {target.address} ({address}): {reason}")
        )
        return False
    report.add("endpoint", Status.ok, f"{target.address} ({address}) answers over {version}")
    return True


def _mint_check(report: Report, key: ApiKey, timeout: float) -> None:
    from tvmcli.credentials.decoding import parse_credential
    from tvmcli.emulator.service import ISSUER
    from tvmcli.minting.client import Minter
    from tvmcli.minting.tokens import Token
    from tvmcli.server.canary import CANARY, CANARY_LIFETIME
    from tvmcli.system.syncrun import run_sync

    async def canary() -> Token:
        async with Minter(key, timeout=timeout) as minter:
            return await minter.mint(CANARY, CANARY_LIFETIME, None)

    sent = time.time()
    try:
        token = run_sync(canary)
    except TvmError as error:
        report.failed("mint", error)
        return
    answered = time.time()
    report.add(
        "mint",
        Status.ok,
        f"the key may mint: one {CANARY_LIFETIME}-second token of the narrowest grant "
        "(one call to Momento)",
    )
    # The service's valid_until is its clock (whole seconds) plus the lifetime: its clock at
    # the answer lies in [valid_until - 1 - 1, valid_until - 1), ours in [sent, answered].
    service_now = token.expires_at - CANARY_LIFETIME + 0.5
    skew = service_now - (sent + answered) / 2
    slack = (answered - sent) / 2 + 0.5
    if abs(skew) - slack > SKEW_WARNING:
        way = "behind" if skew > 0 else "ahead of"
        report.add(
            "clock",
            Status.warn,
            f"this machine's clock is about {abs(skew):.0f}s {way} the service's; expiry "
            "times and --reuse count by it (sync it with NTP)",
        )
    else:
        report.add(
            "clock", Status.ok, f"within {max(abs(skew), slack):.1f}s of the service's clock"
        )
    try:
        claims = parse_credential(token.auth_token).claims or {}
    except TvmError:
        claims = {}
    emulated = isinstance(claims, dict) and claims.get("iss") == ISSUER
    report.add(
        "emulator",
        Status.ok,
        "yes: the endpoint is momento-tvm's local emulator, not Momento"
        if emulated
        else "no: the endpoint is Momento (or a service like it)",
    )


def diagnose(
    config: Path | None,
    api_key_file: str | None,
    endpoint: str | None,
    momento_profile: str | None,
    timeout: float,
) -> Report:
    from tvmcli.config.file import find_config

    report = Report()
    path = find_config(config, os.environ)
    try:
        loaded = steps.load(config)
    except TvmError as error:
        report.failed("profiles", error)
    else:
        count = len(loaded.profiles)
        report.add(
            "profiles",
            Status.ok,
            f"{loaded.path}: {count} profile{'s' if count != 1 else ''}, all valid",
        )
    key: ApiKey | None = None
    try:
        key = steps.api_key(api_key_file, endpoint, momento_profile)
    except TvmError as error:
        report.failed("key", error)
    else:
        report.add(
            "key", Status.ok, f"a {key.kind.label} from {key.source}, endpoint {key.endpoint}"
        )
    if key is not None and _endpoint_check(report, key, timeout):
        _mint_check(report, key, timeout)
    elif key is not None:
        report.add("mint", Status.skipped, "the endpoint cannot be reached")
    _mode_check(report, "profiles file", path, 0o644)
    if key is not None and api_key_file not in (None, "-"):
        _mode_check(report, "API key file", Path(str(api_key_file)), 0o600)
    if key is not None and key.source.startswith("Momento CLI profile"):
        _mode_check(
            report, "Momento CLI credentials", momento_cli_credentials_path(os.environ), 0o600
        )
    cache = default_cache_dir(os.environ)
    _mode_check(report, "token cache folder", cache, 0o700)
    from tvmcli.server.running import BEARER_TOKEN_FILE_NAME

    _mode_check(report, "serve's bearer file", cache / BEARER_TOKEN_FILE_NAME, 0o600)
    return report


@options.handle_errors
def doctor(
    config: options.ConfigOption = None,
    api_key_file: options.ApiKeyFileOption = None,
    endpoint: options.EndpointOption = None,
    momento_profile: options.MomentoProfileOption = None,
    timeout: options.TimeoutOption = None,
    fmt: Annotated[
        Format,
        typer.Option("--output", "-o", help="text (one line per check) or json.", metavar="FORMAT"),
    ] = Format.text,
) -> None:
    """Check the set-up: profiles file, key, endpoint, one 1-second mint, clock, file modes.

    In order: the profiles file and its profiles; where the key comes from (never the key);
    that the endpoint resolves and answers (TLS, or plaintext for the local emulator); that
    the key may mint (one 1-second token of the narrowest grant: one call to Momento); the
    clock against the service's; whether the endpoint is the emulator; file modes. Exit 0 when
    every check passes (warnings allowed), else the first failure's: 3 configuration, 4 key
    refused, 5 Momento unreachable.
    """
    report = diagnose(
        config, api_key_file, endpoint, momento_profile, steps.timeout_option(timeout)
    )
    if fmt is Format.json:
        output.json_data(
            {
                "ok": report.exit_code == 0,
                "exitCode": report.exit_code,
                "checks": [
                    {"name": c.name, "status": c.status.value, "detail": c.detail}
                    for c in report.checks
                ],
            }
        )
    else:
        width = max(len(c.name) for c in report.checks)
        for check in report.checks:
            first, *rest = check.detail.split("\n")
            lines = [f"{check.status.value:<7} {check.name.ljust(width)}  {first}"]
            lines += [f"{'':<7} {'':<{width}}  {line}" for line in rest]
            output.data("\n".join(output.visible(line) for line in lines))
    if report.exit_code:
        raise typer.Exit(report.exit_code)
