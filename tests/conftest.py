"""Shared fixtures: isolated user state, a real emulator on port 0, and an in-process CLI."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tvmcli.cli.app import app
from tvmcli.emulator import Emulator

PROFILES = """\
[defaults]
expires_in = "15m"

[profiles.chat-reader]
description = "Browser client: read the chat topics"
expires_in = "1h"
permissions = [
  { role = "subscribe-only", cache = "chat", topic = "*" },
]

[profiles.chat-writer]
token_id = "ci-bot"
permissions = [
  { role = "publish-subscribe", cache = "chat", topic_prefix = "room-" },
  { role = "read-write", cache = "chat", key_prefix = "user-" },
]
"""


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the developer's keys, profiles or caches, or leaves any behind."""
    for name in list(os.environ):
        if name.startswith(("MOMENTO_", "GITHUB_", "XDG_", "ACTIONS_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("MOMENTO_CONFIG_DIR", str(home / ".momento"))
    monkeypatch.setenv("NO_COLOR", "1")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A real token service over gRPC on 127.0.0.1, rate limit off unless a test sets one."""
    with Emulator(rate_limit=0) as running:
        yield running


@pytest.fixture
def api_key(emulator: Emulator) -> str:
    return emulator.issue_api_key()


@pytest.fixture
def emulator_env(emulator: Emulator, api_key: str, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """MOMENTO_API_KEY and MOMENTO_ENDPOINT point at the emulator, as a user would set them."""
    monkeypatch.setenv("MOMENTO_API_KEY", api_key)
    monkeypatch.setenv("MOMENTO_ENDPOINT", emulator.endpoint)
    return emulator


@pytest.fixture
def write_profiles(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "profiles.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def profiles_file(write_profiles: Callable[[str], Path]) -> Path:
    return write_profiles(PROFILES)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run the app in-process: cli("mint", "x", input=...) -> Result with stdout and stderr."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzz counts of tests/test_fuzz_cli.py, when it ran: how many inputs each test tried."""
    import sys

    fuzz = sys.modules.get("tests.test_fuzz_cli")
    counts = getattr(fuzz, "COUNTS", None)
    if counts:
        summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        terminalreporter.write_line(f"fuzz: {sum(counts.values())} generated inputs ({summary})")
