"""What mint tells a person: retries while waiting on a terminal, what the token grants, and a
warning when --reuse can never reuse."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.terminal import on_a_terminal
from tvmcli.emulator import Emulator, Faults

Cli = Callable[..., Result]
BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).parent.parent / "profiles.example.toml"


def test_the_spinner_shows_each_retry_and_its_reason() -> None:
    faults = Faults(latency=0.6, fail_first=2)
    with Emulator(rate_limit=0, faults=faults) as flaky:
        env = {
            **os.environ,
            "MOMENTO_API_KEY": flaky.issue_api_key(),
            "MOMENTO_ENDPOINT": flaky.endpoint,
            "TERM": "xterm",
            "COLUMNS": "200",
        }
        code, screen = on_a_terminal(
            [str(BIN / "momento-tvm"), "mint", "chat-reader", "-c", str(EXAMPLE)], env
        )
    assert code == 0, screen
    assert "retry 1 after UNAVAILABLE" in screen
    assert "retry 2 after UNAVAILABLE" in screen


def test_the_summary_lists_what_the_token_grants(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-writer", "-c", str(profiles_file), "-o", "text")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    grants = next(i for i, line in enumerate(lines) if line.startswith("Grants"))
    assert (
        lines[grants].split(None, 1)[1] == "publish-subscribe on cache chat: topic prefix 'room-'"
    )
    assert lines[grants + 1].strip() == "read-write on cache chat: key prefix 'user-'"


def test_reuse_with_min_ttl_not_below_the_lifetime_warns(
    cli: Cli, emulator_env: Emulator, write_profiles: Callable[[str], Path]
) -> None:
    path = write_profiles(
        """
        [profiles.short]
        expires_in = "20m"
        permissions = [{ role = "read-only", cache = "c" }]
        """
    )
    for _ in range(2):
        result = cli("mint", "short", "-c", str(path), "--reuse", "--min-ttl", "30m")
        assert result.exit_code == 0, result.stderr
        assert "warning: --min-ttl 30m is not less than the token's lifetime 20m" in result.stderr
    assert emulator_env.service.stats()["mints"] == 2  # as warned: never reused
    quiet = cli("mint", "short", "-c", str(path), "--reuse", "--min-ttl", "5m")
    assert "warning" not in quiet.stderr
