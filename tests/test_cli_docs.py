"""Every command explains itself with an example, and the README's commands exist."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
import typer.main
from typer.testing import Result

from tvmcli import __version__
from tvmcli.cli.app import app

Cli = Callable[..., Result]
ROOT = Path(__file__).parent.parent


def every_command() -> list[list[str]]:
    """All commands and subcommands of the app, read from the app itself."""
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        found.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = every_command()


def test_the_command_list_is_complete() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {
        "mint",
        "can",
        "exec",
        "inspect",
        "serve",
        "hash-password",
        "emulator",
        "cache clear",
        "cache path",
        "profiles list",
        "profiles show",
        "profiles validate",
        "profiles path",
    } <= names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_command_has_help_with_an_example(cli: Cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    assert "Example" in result.stdout
    examples = result.stdout.split("Example", 1)[1]
    assert re.search(r"momento-tvm [a-z]", examples)


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.stdout == f"momento-tvm {__version__}\n"


def test_readme_names_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/demo" in readme
    assert "scripts/test" in readme
    assert (ROOT / ".ci/run").read_text().strip().endswith("exec scripts/test")


def test_changelog_has_an_entry_for_this_version() -> None:
    assert re.search(rf"^## {re.escape(__version__)}\b", (ROOT / "CHANGELOG.md").read_text(), re.M)


def test_the_readme_demo_command_mints_a_token() -> None:
    import json
    import subprocess

    from tvmcli.credentials.decoding import Kind, parse_credential

    result = subprocess.run(
        [str(ROOT / "scripts/demo")], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    # scripts/test's bootstrap installed the development environment: the demo keeps it
    assert "bootstrap: installing" not in result.stderr
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines() if line)
    assert fields["Profile"] == "chat-reader"
    assert parse_credential(fields["Token"]).kind is Kind.DISPOSABLE_TOKEN
    other = subprocess.run(
        [str(ROOT / "scripts/demo"), "chat-writer", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert json.loads(other.stdout)["tokenId"] == "ci-bot"


def test_the_demo_answers_help_without_minting_a_profile_called_help() -> None:
    import subprocess

    result = subprocess.run(
        [str(ROOT / "scripts/demo"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("usage: scripts/demo [PROFILE")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_fits_80_columns_without_cutting_anything(command: list[str]) -> None:
    """Piped or in an 80-column terminal: no example broken across lines, no summary cut with
    '...', no '{PROFILE}' in the usage line, and the [server] table named, not eaten as markup."""
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=80)
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    usage = lines[0]
    assert "{" not in usage
    body = lines[1:]
    assert not [line for line in body if line.rstrip().endswith("...")]
    command_object = typer.main.get_command(app)
    for name in command:
        command_object = command_object.commands[name]  # type: ignore[attr-defined]
    for example in (command_object.epilog or "").splitlines():
        if example.strip() and example != "\b":
            assert example in result.stdout


def test_exec_usage_shows_the_command_after_the_double_dash(cli: Cli) -> None:
    usage = cli("exec", "--help").stdout.splitlines()[0]
    assert usage == "Usage: momento-tvm exec [OPTIONS] PROFILE -- COMMAND [ARGS]..."


def test_serve_help_names_the_server_table(cli: Cli) -> None:
    assert "the [server] table" in cli("serve", "--help").stdout
