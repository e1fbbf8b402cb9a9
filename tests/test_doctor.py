"""`momento-tvm doctor` against the real emulator, real files and real sockets."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tvmcli.emulator import Emulator

EXAMPLE = Path(__file__).parent.parent / "profiles.example.toml"


def checks(result: Result) -> dict[str, list[tuple[str, str]]]:
    body = json.loads(result.stdout)
    found: dict[str, list[tuple[str, str]]] = {}
    for check in body["checks"]:
        found.setdefault(check["name"], []).append((check["status"], check["detail"]))
    assert body["exitCode"] == result.exit_code
    assert body["ok"] is (result.exit_code == 0)
    return found


def test_doctor_passes_against_the_emulator_with_one_mint_and_never_shows_the_key(
    emulator_env: Emulator, api_key: str, cli: Callable[..., Result]
) -> None:
    calls = emulator_env.service.calls
    result = cli("doctor", "-c", str(EXAMPLE), "--output", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert emulator_env.service.calls == calls + 1  # one auth op: the 1-second canary
    assert emulator_env.service.received[-1].valid_for_seconds == 1
    found = checks(result)
    assert found["profiles"] == [("ok", f"{EXAMPLE}: 5 profiles, all valid")]
    assert found["key"] == [
        ("ok", f"a v2 API key from $MOMENTO_API_KEY, endpoint {emulator_env.endpoint}")
    ]
    [(status, detail)] = found["endpoint"]
    assert status == "ok"
    assert "plaintext" in detail
    assert found["mint"][0][0] == "ok"
    [(status, detail)] = found["clock"]
    assert status == "ok"
    assert detail.startswith("within ")
    assert found["emulator"] == [
        ("ok", "yes: the endpoint is momento-tvm's local emulator, not Momento")
    ]
    assert api_key not in result.stdout + result.stderr


def test_doctor_text_is_one_line_per_check(
    emulator_env: Emulator, cli: Callable[..., Result]
) -> None:
    result = cli("doctor", "-c", str(EXAMPLE))
    assert result.exit_code == 0
    names = [line.split()[1] for line in result.stdout.splitlines()]
    assert names[:6] == ["profiles", "key", "endpoint", "mint", "clock", "emulator"]
    assert all(line.startswith("ok ") for line in result.stdout.splitlines()[:6])


def test_a_refused_key_is_exit_4(
    emulator: Emulator, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOMENTO_API_KEY", emulator.issue_api_key(can_mint=False))
    monkeypatch.setenv("MOMENTO_ENDPOINT", emulator.endpoint)
    result = cli("doctor", "-c", str(EXAMPLE), "-o", "json")
    assert result.exit_code == 4
    [(status, _)] = checks(result)["mint"]
    assert status == "fail"


def test_an_unreachable_endpoint_is_exit_5_without_a_mint(
    emulator_env: Emulator, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MOMENTO_ENDPOINT", f"127.0.0.1:{port}")
    calls = emulator_env.service.calls
    result = cli("doctor", "-c", str(EXAMPLE), "-o", "json")
    assert result.exit_code == 5
    found = checks(result)
    [(status, detail)] = found["endpoint"]
    assert status == "fail"
    assert f"cannot reach 127.0.0.1:{port}" in detail
    assert found["mint"] == [("skipped", "the endpoint cannot be reached")]
    assert emulator_env.service.calls == calls


def test_an_endpoint_that_does_not_resolve_is_exit_5(
    emulator_env: Emulator, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOMENTO_ENDPOINT", "cell.does-not-exist.invalid")
    result = cli("doctor", "-c", str(EXAMPLE), "-o", "json")
    assert result.exit_code == 5
    [(status, detail)] = checks(result)["endpoint"]
    assert status == "fail"
    assert "does not resolve" in detail


def test_a_bad_profiles_file_is_exit_3_and_the_other_checks_still_run(
    emulator_env: Emulator, cli: Callable[..., Result], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[profiles.p]\npermissions = [{ role = "reed-only", cache = "c" }]\n')
    result = cli("doctor", "-c", str(broken), "-o", "json")
    assert result.exit_code == 3
    found = checks(result)
    [(status, detail)] = found["profiles"]
    assert status == "fail"
    assert "read-only" in detail
    assert found["mint"][0][0] == "ok"


def test_no_key_is_exit_3(cli: Callable[..., Result]) -> None:
    result = cli("doctor", "-c", str(EXAMPLE), "-o", "json")
    assert result.exit_code == 3
    [(status, detail)] = checks(result)["key"]
    assert status == "fail"
    assert "no Momento API key found" in detail


def test_files_open_to_others_are_warnings_not_failures(
    emulator: Emulator, cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(emulator.issue_api_key())
    key_file.chmod(0o644)
    profiles = tmp_path / "p.toml"
    profiles.write_text(EXAMPLE.read_text())
    profiles.chmod(0o666)
    monkeypatch.setenv("MOMENTO_ENDPOINT", emulator.endpoint)
    result = cli("doctor", "-c", str(profiles), "--api-key-file", str(key_file), "-o", "json")
    assert result.exit_code == 0
    modes = {
        detail.split(" is mode ")[0]: status for status, detail in checks(result)["file modes"]
    }
    assert modes[f"profiles file {profiles}"] == "warn"
    assert modes[f"API key file {key_file}"] == "warn"
    assert os.stat(key_file).st_mode & 0o777 == 0o644  # doctor only looks


def test_a_clock_far_from_the_services_is_a_warning(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An emulator whose clock runs 2 minutes ahead: its valid_until says so."""
    import time

    with Emulator(rate_limit=0, clock=lambda: time.time() + 120) as ahead:
        monkeypatch.setenv("MOMENTO_API_KEY", ahead.issue_api_key())
        monkeypatch.setenv("MOMENTO_ENDPOINT", ahead.endpoint)
        result = cli("doctor", "-c", str(EXAMPLE), "-o", "json")
    assert result.exit_code == 0  # a warning, not a failure
    [(status, detail)] = checks(result)["clock"]
    assert status == "warn"
    assert re.search(r"this machine's clock is about 1(19|20|21)s behind the service's", detail)
