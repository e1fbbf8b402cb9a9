"""--debug is accepted anywhere before `--`, as the error "rerun with --debug" implies."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tvmcli.cli import fast
from tvmcli.emulator import Emulator
from tvmcli.system import envvars

Cli = Callable[..., Result]


@pytest.fixture(autouse=True)
def _restore_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(envvars.DEBUG, raising=False)  # the callback sets it; undo after


@pytest.mark.parametrize(
    "args",
    [
        ["--debug", "mint", "chat-reader"],
        ["mint", "--debug", "chat-reader"],
        ["mint", "chat-reader", "--debug"],
        ["mint", "chat-reader", "-o", "json", "--debug"],
    ],
)
def test_debug_before_or_after_the_subcommand(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, args: list[str]
) -> None:
    result = cli(*args, "-c", str(profiles_file))
    assert result.exit_code == 0, result.stderr
    assert os.environ.get(envvars.DEBUG) == "1"


def test_debug_in_a_subcommand_group(cli: Cli, profiles_file: Path) -> None:
    assert cli("profiles", "list", "-c", str(profiles_file), "--debug").exit_code == 0
    assert (
        cli("profiles", "--debug", "show", "chat-reader", "-c", str(profiles_file)).exit_code == 0
    )


def test_exec_takes_debug_as_its_own_only_before_the_separator(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    """After `--` it belongs to the command (exec replaces this process, so run it for real)."""
    import subprocess
    import sys

    tvm = Path(sys.executable).parent / "momento-tvm"
    command = ["sh", "-c", 'echo "debug=$MOMENTO_TVM_DEBUG args=$*"', "sh", "--debug"]
    result = subprocess.run(
        [str(tvm), "exec", "chat-reader", "-c", str(profiles_file), "--debug", "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "debug=1 args=--debug\n"


def test_the_fast_paths_leave_debug_to_typer() -> None:
    assert fast.run(["mint", "a", "--debug"]) is None
    assert fast.run(["inspect", "x", "--debug"]) is None
    assert fast.run(["--debug", "inspect", "x"]) is None
