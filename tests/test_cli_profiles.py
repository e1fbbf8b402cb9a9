from __future__ import annotations

import json
import re
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


# -- profiles init ------------------------------------------------------------------------------


def starter_text() -> str:
    from importlib import resources

    return (resources.files("tvmcli") / "profiles.example.toml").read_text(encoding="utf-8")


def test_the_packaged_starter_is_the_example_file() -> None:
    root = Path(__file__).parent.parent / "profiles.example.toml"
    assert starter_text() == root.read_text(encoding="utf-8")


def test_init_writes_a_commented_starter_where_commands_look(
    cli: Cli, isolated_user_state: Path, emulator_env: object
) -> None:
    result = cli("profiles", "init")
    target = isolated_user_state / ".config" / "momento-tvm" / "profiles.toml"
    assert result.exit_code == 0, result.stderr
    assert target.read_text(encoding="utf-8") == starter_text()
    assert str(target) in result.stderr
    assert result.stdout == ""
    assert cli("profiles", "validate").exit_code == 0  # found without --config
    assert cli("mint", "chat-reader").exit_code == 0


def test_init_refuses_to_overwrite_without_force(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("# my own profiles\n")
    result = cli("profiles", "init", str(target))
    assert result.exit_code == 2
    assert f"{target} already exists" in result.stderr
    assert "--force" in result.stderr
    assert target.read_text() == "# my own profiles\n"
    assert cli("profiles", "init", str(target), "--force").exit_code == 0
    assert target.read_text(encoding="utf-8") == starter_text()


def test_init_elsewhere_says_how_commands_will_find_it(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "deploy" / "profiles.toml"
    result = cli("profiles", "init", str(target))
    assert result.exit_code == 0, result.stderr
    assert target.exists()
    assert "--config" in result.stderr
    assert "MOMENTO_TVM_CONFIG" in result.stderr


def test_init_into_a_file_that_is_a_directory_is_refused(cli: Cli, tmp_path: Path) -> None:
    result = cli("profiles", "init", str(tmp_path))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_without_a_file_every_searched_place_is_named_and_init_suggested(cli: Cli) -> None:
    result = cli("profiles", "list")
    assert result.exit_code == 3
    assert "./momento-tvm.toml" in result.stderr
    assert "momento-tvm/profiles.toml" in result.stderr
    assert "momento-tvm profiles init" in result.stderr
    assert "profiles.example.toml" not in result.stderr  # pip users do not have it


def test_profiles_path_suggests_init_when_there_is_no_file(cli: Cli) -> None:
    result = cli("profiles", "path")
    assert result.exit_code == 0
    assert "momento-tvm profiles init" in result.stderr


def test_init_as_momento_tvm_toml_in_this_folder_needs_no_config_flag(cli: Cli) -> None:
    result = cli("profiles", "init", "momento-tvm.toml")
    assert result.exit_code == 0, result.stderr
    assert "--config" not in result.stderr
    assert cli("profiles", "validate").exit_code == 0


def test_the_starters_commented_jwt_and_trust_blocks_load_when_uncommented() -> None:
    """What a reader uncomments to sign in with JWTs and trust GitHub Actions is valid as it
    stands (auth switched to jwt, as its comment says)."""
    from tvmcli.config.file import parse_config

    lines = starter_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# [server.jwt]"))
    toml_line = re.compile(r"# (\[|[a-z_]+ = )")  # not the prose comments around them
    head, tail = lines[:start], lines[start:]
    uncommented = [line[2:] if toml_line.match(line) else line for line in tail]
    changed = sum(line != old for line, old in zip(uncommented, tail, strict=True))
    assert changed == 11  # the jwt block (5 lines) and the trust block (6)
    text = "\n".join(head + uncommented).replace('auth = "bearer"', 'auth = "jwt"')
    config = parse_config(text, Path("starter.toml"))
    (trust,) = config.server.trusts
    assert trust.name == "github"
    assert trust.audience == ("momento-tvm",)
    assert trust.issuer == "https://token.actions.githubusercontent.com"
    assert trust.rules[0].profiles == ("ci-warmup",)
    assert config.server.jwt is not None
