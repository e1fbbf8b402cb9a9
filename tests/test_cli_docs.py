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

    from tvmcli.credential_format import Kind, parse_credential

    result = subprocess.run(
        [str(ROOT / "scripts/demo")], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
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
