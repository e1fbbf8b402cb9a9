"""A reader that goes away (`| head -1`, `| true`) ends the command quietly, as it ends `cat`:
killed by SIGPIPE (141 in a shell), nothing on stderr, no traceback, no "internal error"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tvmcli.emulator import Emulator

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).parent.parent / "profiles.example.toml"


def run_into_a_closed_pipe(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """stdout is a pipe whose reader has already gone: the first write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [str(BIN / "momento-tvm"), *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env=env or dict(os.environ),
            check=False,
        )
    finally:
        os.close(write_end)
    return result.returncode, result.stderr


@pytest.fixture
def key_env(emulator: Emulator) -> dict[str, str]:
    return {
        **os.environ,
        "MOMENTO_API_KEY": emulator.issue_api_key(),
        "MOMENTO_ENDPOINT": emulator.endpoint,
    }


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "--env", "MOMENTO_API_KEY"],  # the fast path
        ["inspect", "--env", "MOMENTO_API_KEY", "--require-expiry", "--output=json"],
        ["mint", "chat-reader", "-c", str(EXAMPLE)],  # the fast path
        ["mint", "chat-reader", "-c", str(EXAMPLE), "--output", "text"],
        ["--debug", "mint", "chat-reader", "-c", str(EXAMPLE)],  # Typer
        ["mint", "chat-reader", "-c", str(EXAMPLE), "--debug"],
        ["inspect", "--env", "MOMENTO_API_KEY", "--output=json", "--debug"],
        ["profiles", "list", "-c", str(EXAMPLE)],
        ["profiles", "show", "chat-writer", "-c", str(EXAMPLE), "-o", "json"],
        ["cache", "path"],
        ["--version"],
        ["--help"],
    ],
    ids=lambda args: " ".join(a for a in args if "/" not in a),
)
def test_a_closed_pipe_ends_the_command_like_cat(key_env: dict[str, str], args: list[str]) -> None:
    code, stderr = run_into_a_closed_pipe(*args, env=key_env)
    assert (code, stderr) == (-signal.SIGPIPE, "")


def test_a_shell_sees_141_as_for_any_unix_tool(key_env: dict[str, str]) -> None:
    result = subprocess.run(
        [
            "bash",
            "-c",
            f'set -o pipefail; "{BIN}/momento-tvm" profiles list -c "{EXAMPLE}" | true; '
            'echo "tvm=$?"; yes | true; echo "yes=$?"',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=key_env,
        check=False,
    )
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    assert result.stdout.splitlines()[1] == "yes=141"
    assert result.stdout.splitlines()[0] in ("tvm=141", "tvm=0")  # 0 if it wrote before `true` left


def test_exec_hands_its_command_the_default_sigpipe(key_env: dict[str, str]) -> None:
    """Python ignores SIGPIPE and exec keeps ignored signals: `yes | head -1` inside complained
    about a broken pipe instead of ending quietly."""
    command = ["sh", "-c", "yes | head -1; grep SigIgn /proc/self/status"]
    result = subprocess.run(
        [str(BIN / "momento-tvm"), "exec", "chat-reader", "-c", str(EXAMPLE), "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=key_env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("y\n")
    assert result.stderr == ""
    ignored = int(result.stdout.split("SigIgn:")[1].strip(), 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
