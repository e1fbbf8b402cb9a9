"""Defects found by an adversarial probe of the installed CLI, each run as a user would: the
real console script in a subprocess, against the real emulator."""

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


@pytest.fixture
def key_env(emulator: Emulator) -> dict[str, str]:
    return {
        **os.environ,
        "MOMENTO_API_KEY": emulator.issue_api_key(),
        "MOMENTO_ENDPOINT": emulator.endpoint,
    }


def tvm(
    *args: str, env: dict[str, str], stdout: int | None = subprocess.PIPE, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "momento-tvm"), *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


# 2. An endpoint that is no host[:port] is exit 2 at once, not exit 5 after ten seconds of retries


@pytest.mark.parametrize(
    "endpoint",
    ["127.0.0.1:-1", "127.0.0.1:http", "[::1", "[::1]x", "evil host:1", "\x1b[2Jevil:1", "a:1/b"],
)
@pytest.mark.parametrize("where", ["--endpoint", "MOMENTO_ENDPOINT"])
def test_an_endpoint_that_is_no_host_and_port_is_exit_2_at_once(
    key_env: dict[str, str], emulator: Emulator, endpoint: str, where: str
) -> None:
    calls = emulator.service.calls
    if where == "--endpoint":
        result = tvm("mint", "chat-reader", "-c", str(EXAMPLE), "--endpoint", endpoint, env=key_env)
    else:
        result = tvm("mint", "chat-reader", "-c", str(EXAMPLE), env={**key_env, where: endpoint})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert "is not a host or host:port" in result.stderr
    assert "\x1b" not in result.stderr
    assert emulator.service.calls == calls


@pytest.mark.parametrize(
    "endpoint", ["localhost", "127.0.0.1:{port}", "localhost:{port}", "cell-1.example.com"]
)
def test_the_endpoints_people_write_are_still_accepted(
    key_env: dict[str, str], emulator: Emulator, endpoint: str
) -> None:
    port = emulator.endpoint.rpartition(":")[2]
    result = tvm(
        "mint", "chat-reader", "-c", str(EXAMPLE), "--timeout", "0.5",
        "--endpoint", endpoint.format(port=port), env=key_env,
    )  # fmt: skip
    assert "is not a host or host:port" not in result.stderr


# 3. exec with an empty command name is "not found" (127), as in a shell, not an internal error


@pytest.mark.parametrize("reuse", [[], ["--reuse"]], ids=["mint", "reuse"])
def test_exec_of_an_empty_command_name_is_127(key_env: dict[str, str], reuse: list[str]) -> None:
    args = ["exec", "chat-reader", "-c", str(EXAMPLE), *reuse, "--", ""]
    if reuse:
        tvm(*args, env=key_env)  # the second run is a --reuse hit, on the fast path
    result = tvm(*args, env=key_env)
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        127,
        "error: cannot run '': No such file or directory",
    )
    assert "Traceback" not in result.stderr


# 4. A profiles file with a number of more than 4300 digits is exit 3, not an internal error


@pytest.mark.parametrize(
    "command", [["profiles", "validate"], ["mint", "a"], ["serve", "--port", "0"]]
)
def test_a_number_too_long_for_python_in_the_profiles_file_is_exit_3(
    key_env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "huge.toml"
    path.write_text(
        f"[profiles.a]\nexpires_in = {'9' * 5000}\n"
        'permissions = [{ role = "read-only", cache = "c" }]\n'
    )
    result = tvm(*command, "-c", str(path), env=key_env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(f"error: {path}: not valid TOML: ")
    assert "digits" in result.stderr
    assert "internal error" not in result.stderr


# 5. serve --workers is held to [server] workers' range (1 to 256), not forked without limit


def test_serve_refuses_more_workers_than_the_server_table_allows(key_env: dict[str, str]) -> None:
    process = subprocess.Popen(
        [str(BIN / "momento-tvm"), "serve", "-c", str(EXAMPLE), "--port", "0", "--workers", "257"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=key_env,
        start_new_session=True,  # so that a forking server is stopped whole
    )
    try:
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 2, stderr
    assert "Invalid value for '--workers': 257 is not in the range 1<=x<=256." in stderr
