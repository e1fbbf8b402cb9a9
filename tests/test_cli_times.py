"""Times on the command line: lifetimes (--expires-in, --expires-at) and waits (--timeout), as
durations everywhere, refused outside what Momento allows whether a flag or the file says so."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import Result

from tvmcli.emulator import Emulator
from tvmcli.system.durations import parse_moment, parse_seconds

Cli = Callable[..., Result]


@pytest.mark.parametrize("zero", ["0", "0s", "00", "0m0s"])
def test_mint_refuses_a_zero_lifetime_from_the_flag(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, zero: str
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--expires-in", zero)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--expires-in: lifetime 0s is outside what Momento allows (1s to 25h)" in result.stderr
    assert emulator_env.service.stats()["calls"] == 0


def test_exec_refuses_a_zero_lifetime_too(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("exec", "chat-reader", "-c", str(profiles_file), "-e", "0", "--", "true")
    assert result.exit_code == 2
    assert emulator_env.service.stats()["calls"] == 0


def test_expires_at_accepts_rfc3339_and_epoch(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    target = int(time.time()) + 1800
    iso = datetime.fromtimestamp(target, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    offset = datetime.fromtimestamp(target, timezone.utc).astimezone().isoformat()
    for value in (iso, offset, str(target)):
        result = cli(
            "mint", "chat-reader", "-c", str(profiles_file), "--expires-at", value, "-o", "json"
        )
        assert result.exit_code == 0, result.stderr
        expires_at = json.loads(result.stdout)["expiresAt"]
        assert target - 3 <= expires_at <= target  # never later than asked
        assert 1795 <= emulator_env.service.received[-1].valid_for_seconds <= 1800


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2020-01-01T00:00:00Z", "is in the past"),
        ("2999-01-01T00:00:00Z", "outside what Momento allows (1s to 25h)"),
        ("2030-01-01T00:00:00", "needs a UTC offset"),
        ("tomorrow", "not a time"),
    ],
)
def test_expires_at_outside_the_limits_is_refused(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, value: str, message: str
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--expires-at", value)
    assert result.exit_code == 2
    assert message in result.stderr
    assert emulator_env.service.stats()["calls"] == 0


def test_expires_in_and_expires_at_together_is_a_usage_error(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli(
        "mint", "chat-reader", "-c", str(profiles_file), "-e", "5m", "--expires-at", "2999999999"
    )
    assert result.exit_code == 2
    assert "--expires-in or --expires-at, not both" in result.stderr


@pytest.mark.parametrize("timeout", ["5s", "5", "0.5", "1m", "1500ms"])
def test_timeout_takes_a_duration(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, timeout: str
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--timeout", timeout)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("timeout", ["0", "0.05", "nan", "inf", "2h", "soon", "-1"])
def test_timeout_out_of_range_is_refused(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, timeout: str
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), f"--timeout={timeout}")
    assert result.exit_code == 2
    assert "--timeout" in result.stderr
    assert emulator_env.service.stats()["calls"] == 0


def test_parse_seconds_and_parse_moment() -> None:
    assert parse_seconds("1m30s") == 90
    assert parse_seconds("250ms") == 0.25
    assert parse_seconds("1.5s") == 1.5
    assert parse_seconds(" 2 ") == 2
    assert parse_moment("1970-01-01T00:01:00Z") == 60
    assert parse_moment("1970-01-01T01:01:00+01:00") == 60
    assert parse_moment("1970-01-01 00:01:00.5z") == 60.5
    assert parse_moment("60") == 60
    for bad in ("", "1h", "-5", "1970-13-01T00:00:00Z"):
        with pytest.raises(ValueError, match=r"not a time|not a valid date"):
            parse_moment(bad)


def test_emulator_latency_is_a_duration_too(cli: Cli) -> None:
    result = cli("emulator", "--latency", "soon")
    assert result.exit_code == 2
    assert "--latency: 'soon' is not a duration" in result.stderr
