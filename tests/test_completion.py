"""Shell completion: --install-completion/--show-completion, and profile names completed from
the profiles file, cheaply and without ever printing an error into the user's prompt."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

BIN = Path(sys.executable).parent
Cli = Callable[..., Result]


def complete(
    words: str, home: Path, program: str = "momento-tvm"
) -> subprocess.CompletedProcess[str]:
    """What bash asks for when the user presses Tab after `words`."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MOMENTO_", "XDG_"))},
        "HOME": str(home),
        f"_{program.replace('-', '_').upper()}_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    return subprocess.run(
        [str(BIN / program)], capture_output=True, text=True, timeout=60, env=env, check=False
    )


@pytest.fixture
def home(tmp_path: Path, profiles_file: Path) -> Path:
    target = tmp_path / "completion-home" / ".config" / "momento-tvm" / "profiles.toml"
    target.parent.mkdir(parents=True)
    target.write_text(profiles_file.read_text())
    return tmp_path / "completion-home"


@pytest.mark.parametrize(
    "words",
    [
        "momento-tvm mint ",
        "momento-tvm mint chat-",
        "momento-tvm exec ",
        "momento-tvm profiles show c",
    ],
)
def test_profile_names_complete(home: Path, words: str) -> None:
    result = complete(words, home)
    assert result.returncode == 0
    assert result.stderr == ""
    assert {"chat-reader", "chat-writer"} <= set(result.stdout.splitlines())


def test_completion_reads_the_file_given_with_config(home: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[profiles.only-here]\npermissions = [{ role = "read-only", cache = "c" }]\n')
    result = complete(f"momento-tvm mint --config {other} ", home)
    assert result.stdout.splitlines() == ["only-here"]


def test_a_broken_file_completes_nothing_and_says_nothing(home: Path) -> None:
    (home / ".config" / "momento-tvm" / "profiles.toml").write_text("[profiles\nnot toml")
    result = complete("momento-tvm mint ", home)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "", "")


def test_the_tvm_alias_completes_too(home: Path) -> None:
    result = complete("tvm mint chat-w", home, program="tvm")
    assert result.stdout.splitlines() == ["chat-writer"]


def test_show_completion_prints_a_script_for_the_shell(cli: Cli) -> None:
    result = cli("--show-completion", "bash")
    assert result.exit_code == 0
    assert "_MOMENTO_TVM_COMPLETE=complete_bash" in result.stdout


def test_install_completion_is_offered_in_help(cli: Cli) -> None:
    help_text = cli("--help").stdout
    assert "--install-completion" in help_text
    assert "--show-completion" in help_text
