from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Cli = Callable[..., Result]


def test_list_shows_every_profile_tab_separated_when_piped(cli: Cli, profiles_file: Path) -> None:
    result = cli("profiles", "list", "-c", str(profiles_file))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "Profile\tLifetime\tStatements\tDescription",
        "chat-reader\t1h\t1\tBrowser client: read the chat topics",
        "chat-writer\t15m\t2\t",
    ]


def test_list_json(cli: Cli, profiles_file: Path) -> None:
    body = json.loads(cli("profiles", "list", "-c", str(profiles_file), "-o", "json").stdout)
    assert [p["name"] for p in body] == ["chat-reader", "chat-writer"]
    assert body[1]["tokenId"] == "ci-bot"


def test_show_resolves_statements(cli: Cli, profiles_file: Path) -> None:
    result = cli("profiles", "show", "chat-writer", "-c", str(profiles_file))
    assert result.exit_code == 0
    assert "Lifetime     15m" in result.stdout
    assert "topic\tpublish-subscribe\tchat\ttopic prefix 'room-'" in result.stdout
    assert "cache\tread-write\tchat\tkey prefix 'user-'" in result.stdout


def test_show_json(cli: Cli, profiles_file: Path) -> None:
    body = json.loads(
        cli("profiles", "show", "chat-reader", "-c", str(profiles_file), "-o", "json").stdout
    )
    assert body == {
        "name": "chat-reader",
        "description": "Browser client: read the chat topics",
        "expiresIn": 3600,
        "tokenId": None,
        "cache": True,
        "permissions": [
            {"resource": "topic", "role": "subscribe-only", "cache": "chat", "scope": "all topics"}
        ],
    }


def test_show_unknown_profile_exits_3(cli: Cli, profiles_file: Path) -> None:
    result = cli("profiles", "show", "nope", "-c", str(profiles_file))
    assert result.exit_code == 3
    assert "Profiles in this file: chat-reader, chat-writer" in result.stderr


def test_validate_ok(cli: Cli, profiles_file: Path) -> None:
    result = cli("profiles", "validate", "-c", str(profiles_file))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "2 profiles, all valid" in result.stderr


def test_validate_reports_every_problem(cli: Cli, write_profiles: Callable[[str], Path]) -> None:
    path = write_profiles(
        """
        [profiles.a]
        permissions = [
          { role = "subscribe-only", cache = "c" },
          { role = "read-only", cache = "c", key = "k" },
          { role = "read-only", cache = "c", key = "k" },
        ]
        [profiles.b]
        token_id = ""
        permissions = [{ role = "invoke", cache = "c", function_prefix = "" }]
        """
    )
    result = cli("profiles", "validate", "-c", str(path))
    assert result.exit_code == 3
    assert "4 problems in the profiles file" in result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 4
    assert all(str(path) in line for line in problems)


def test_path_follows_the_lookup_order(cli: Cli, tmp_path: Path, profiles_file: Path) -> None:
    result = cli("profiles", "path")
    assert result.stdout.strip().endswith("home/.config/momento-tvm/profiles.toml")
    assert "no file there yet" in result.stderr
    assert cli("profiles", "path", "-c", str(profiles_file)).stdout.strip() == str(profiles_file)
