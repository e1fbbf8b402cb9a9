"""The installed console scripts, run as a user would: separate processes over loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.terminal import on_a_terminal
from tvmcli import __version__
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator

BIN = Path(sys.executable).parent
ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "profiles.example.toml"


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize(
    "command", [[str(BIN / "momento-tvm")], [str(BIN / "tvm")], [sys.executable, "-m", "tvmcli"]]
)
def test_every_entry_point_runs_the_same_app(command: list[str]) -> None:
    result = run(*command, "--version")
    assert (result.returncode, result.stdout) == (0, f"momento-tvm {__version__}\n")


def test_emulator_print_env_then_mint_from_a_shell(tmp_path: Path) -> None:
    """The README's background-emulator one-liner, then a mint, then a clean stop."""
    script = f"""
        set -e
        eval "$("{BIN}/momento-tvm" emulator --print-env --quiet --log-file "{tmp_path}/log" &)"
        echo "pid=$MOMENTO_TVM_EMULATOR_PID"
        "{BIN}/momento-tvm" mint chat-writer --config "{EXAMPLE}"
        kill -TERM "$MOMENTO_TVM_EMULATOR_PID"
        while kill -0 "$MOMENTO_TVM_EMULATOR_PID" 2>/dev/null; do sleep 0.1; done
    """
    result = run("bash", "-c", script)
    assert result.returncode == 0, result.stderr
    pid_line, token_line = result.stdout.splitlines()
    assert pid_line.startswith("pid=")
    token = parse_credential(token_line)
    assert token.kind is Kind.DISPOSABLE_TOKEN
    assert token.claims["id"] == "ci-bot"
    log = (tmp_path / "log").read_text()
    assert "minted token_id=ci-bot statements=2 valid_for=900s" in log
    assert "stopped: 1 call, 1 mint, no refusals" in log
    assert token.secret not in log


def test_emulator_prints_endpoint_and_key_and_stops_on_sigint() -> None:
    process = subprocess.Popen(
        [str(BIN / "momento-tvm"), "emulator", "--rate-limit", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoint_line = process.stdout.readline()
        key_line = process.stdout.readline()
        assert re.match(r"Endpoint +127\.0\.0\.1:\d+$", endpoint_line)
        key = parse_credential(key_line.split(None, 2)[2])
        assert key.kind is Kind.V2_API_KEY
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 130  # as serve: Ctrl-C is 130 (issue 23; it was 0)
    assert "Traceback" not in stderr
    assert "stopped: 0 calls" in stderr


def test_emulator_on_a_taken_port_exits_2(emulator: Emulator) -> None:
    result = run(str(BIN / "momento-tvm"), "emulator", "--port", str(emulator.port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{emulator.port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_emulator_rejects_an_unknown_fail_status() -> None:
    result = run(str(BIN / "momento-tvm"), "emulator", "--fail-status", "BROKEN")
    assert result.returncode == 2
    assert "unknown gRPC status 'BROKEN'" in result.stderr


def test_mint_errors_as_a_subprocess_have_no_traceback_and_no_stdout(emulator: Emulator) -> None:
    env = {
        **os.environ,
        "MOMENTO_API_KEY": "eyJhbGciOiJIUzI1NiJ9.eyJ0IjoiZyJ9.c2ln",
        "MOMENTO_ENDPOINT": emulator.endpoint,
    }
    result = run(str(BIN / "momento-tvm"), "mint", "chat-reader", "-c", str(EXAMPLE), env=env)
    assert result.returncode == 4
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert env["MOMENTO_API_KEY"] not in result.stderr


def test_a_directory_as_config_is_a_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "profiles.toml"
    folder.mkdir()
    result = run(str(BIN / "momento-tvm"), "profiles", "validate", "-c", str(folder))
    assert result.returncode == 2
    assert "is a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_mint_on_a_terminal_shows_a_spinner_and_a_summary() -> None:
    """A real pseudo-terminal: the spinner goes to stderr, the summary to stdout."""
    from tvmcli.emulator import Faults

    with Emulator(rate_limit=0, faults=Faults(latency=1.0)) as slow:
        env = {
            **os.environ,
            "MOMENTO_API_KEY": slow.issue_api_key(),
            "MOMENTO_ENDPOINT": slow.endpoint,
            "TERM": "xterm",
            "COLUMNS": "200",
        }
        env.pop("NO_COLOR", None)
        code, screen = on_a_terminal(
            [str(BIN / "momento-tvm"), "mint", "chat-reader", "-c", str(EXAMPLE)], env, timeout=30
        )
    assert code == 0
    assert "Minting chat-reader at" in screen  # the spinner's text
    assert "Profile" in screen
    assert "Expires" in screen


def test_a_deleted_current_folder_matters_only_when_the_search_needs_it(tmp_path: Path) -> None:
    """With $MOMENTO_TVM_CONFIG the current folder is never asked for; without it, the search
    for ./momento-tvm.toml says the folder is gone (exit 2), with no traceback."""
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f'cd "{gone}" && rmdir "{gone}" && exec "{BIN / "momento-tvm"}" profiles list'
    env = {**os.environ, "MOMENTO_TVM_CONFIG": str(EXAMPLE)}
    listed = run("sh", "-c", script, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "chat-reader" in listed.stdout
    del env["MOMENTO_TVM_CONFIG"]
    gone.mkdir()
    refused = run("sh", "-c", script, env=env)
    assert refused.returncode == 2
    assert "the current folder no longer exists" in refused.stderr
    assert "Traceback" not in refused.stderr
