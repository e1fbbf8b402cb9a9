"""No output form, file or log shows the API key, and the token shows only where asked for.

With --reuse every command below hands out the same token, so its exact text can be searched.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tvmcli.emulator import Emulator

Cli = Callable[..., Result]
Setting = tuple[Callable[..., Result], str, str, pytest.LogCaptureFixture]


@pytest.fixture
def setting(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, caplog: pytest.LogCaptureFixture
) -> Setting:
    caplog.set_level(logging.DEBUG)

    def mint(*args: str) -> Result:
        return cli("mint", "chat-writer", "-c", str(profiles_file), "--reuse", *args)

    token = mint("-o", "raw").stdout.strip()
    return mint, token, os.environ["MOMENTO_API_KEY"], caplog


def assert_key_absent(key: str, *texts: str) -> None:
    for text in texts:
        assert key not in text
        assert key[-16:] not in text  # not even the signature


@pytest.mark.parametrize("form", ["text", "raw", "json", "env", "fish", "powershell", "dotenv"])
def test_stdout_forms_print_the_token_once_and_nothing_else_anywhere(
    setting: Setting, form: str
) -> None:
    mint, token, key, logs = setting
    result = mint("-o", form)
    assert result.exit_code == 0
    assert result.stdout.count(token) == 1
    assert token not in result.stderr
    assert token not in logs.text
    assert_key_absent(key, result.stdout, result.stderr, logs.text)


def test_out_file_holds_the_token_and_the_terminal_does_not(setting: Setting) -> None:
    mint, token, key, logs = setting
    result = mint("-o", "env", "--out", "t.env")
    assert result.stdout == ""
    assert token not in result.stderr + logs.text
    assert Path("t.env").read_text().count(token) == 1
    assert_key_absent(key, result.stderr, logs.text, Path("t.env").read_text())


def test_github_form_prints_only_the_mask_line(
    setting: Setting,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    mint, token, key, logs = setting
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    result = mint("-o", "github")
    assert result.stdout == f"::add-mask::{token}\n"
    assert token not in result.stderr + logs.text
    assert (tmp_path / "out").read_text().count(token) == 1
    assert_key_absent(key, result.stdout, result.stderr, logs.text, (tmp_path / "out").read_text())


def test_exec_shows_neither_the_token_nor_the_key(setting: Setting, profiles_file: Path) -> None:
    _, token, key, logs = setting
    script = 'test -n "$MOMENTO_API_KEY" && echo "child has ${#MOMENTO_API_KEY} characters"'
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "momento-tvm"),
            "exec",
            "chat-writer",
            "-c",
            str(profiles_file),
            "--reuse",
            "--",
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"child has {len(token)} characters\n"
    assert token not in result.stderr + logs.text
    assert_key_absent(key, result.stdout, result.stderr, logs.text)


def test_help_shows_no_secret_from_the_environment(setting: Setting, cli: Cli) -> None:
    _, token, key, _ = setting
    for command in (["--help"], ["mint", "--help"], ["exec", "--help"], ["inspect", "--help"]):
        out = cli(*command).stdout
        assert_key_absent(key, out)
        assert token not in out
