"""The one place errors become messages and exit codes."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from tvmcli.cli.options import handle_errors
from tvmcli.errors import (
    AuthError,
    ConfigError,
    ExitCode,
    ExpiredError,
    UnavailableError,
    UsageError,
)
from tvmcli.system.envvars import DEBUG as DEBUG_ENV

SECRET = "eyJsecret-value-that-must-not-leak"


def app_raising(error: BaseException) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @handle_errors
    def boom() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("u"), 2),
        (ConfigError("c", problems=["p1", "p2"]), 3),
        (AuthError("a", hint="h"), 4),
        (UnavailableError("n"), 5),
        (ExpiredError("e"), 6),
    ],
)
def test_each_error_kind_has_its_documented_exit_code(error: Exception, code: int) -> None:
    result = CliRunner().invoke(app_raising(error), [])
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {error}")


def test_config_problems_and_hints_are_listed() -> None:
    result = CliRunner().invoke(
        app_raising(ConfigError("bad", problems=["p1", "p2"], hint="fix")), []
    )
    assert result.stderr == "error: bad\n  - p1\n  - p2\nhint: fix\n"


def test_unexpected_exceptions_exit_1_without_their_text_or_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    result = CliRunner().invoke(app_raising(RuntimeError(SECRET)), [])
    assert result.exit_code == ExitCode.INTERNAL
    assert SECRET not in result.stderr
    assert "Traceback" not in result.stderr
    assert "internal error (RuntimeError)" in result.stderr


def test_debug_lets_the_traceback_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEBUG_ENV, "1")
    result = CliRunner().invoke(app_raising(RuntimeError("boom")), [])
    assert isinstance(result.exception, RuntimeError)


def test_ctrl_c_exits_130() -> None:
    assert CliRunner().invoke(app_raising(KeyboardInterrupt()), []).exit_code == 130


# -- the hint line docs/exit-codes.md promises, where there is something to do -----------------


def test_broken_toml_comes_with_a_hint(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from tvmcli.cli.app import app

    path = Path(str(tmp_path)) / "p.toml"
    path.write_text("[profiles.a\npermissions = []\n")
    result = CliRunner().invoke(app, ["profiles", "validate", "-c", str(path)])
    assert result.exit_code == 3
    assert "not valid TOML" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("hint: ")


def test_a_malformed_key_comes_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from tvmcli.cli.app import app

    monkeypatch.setenv("MOMENTO_API_KEY", "not-a-key")
    example = Path(__file__).parent.parent / "profiles.example.toml"
    result = CliRunner().invoke(app, ["mint", "chat-reader", "-c", str(example)])
    assert result.exit_code == 2
    assert "is not a Momento API key" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("hint: ")
    assert "not-a-key" not in result.stderr


def test_missing_github_output_comes_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from tvmcli.cli.app import app

    example = Path(__file__).parent.parent / "profiles.example.toml"
    result = CliRunner().invoke(app, ["mint", "chat-reader", "-c", str(example), "-o", "github"])
    assert result.exit_code == 2
    assert "needs $GITHUB_OUTPUT" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("hint: ")
