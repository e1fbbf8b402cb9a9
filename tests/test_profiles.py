from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tvmcli.config.file import find_config, load_config, parse_config
from tvmcli.errors import ConfigError
from tvmcli.permissions.roles import Role
from tvmcli.permissions.statements import Statement

HERE = Path("profiles.toml")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, HERE)
    return caught.value.problems or [caught.value.message]


def one_profile(statements: str, extra: str = "") -> str:
    return f"[profiles.p]\n{extra}\npermissions = [\n{statements}\n]\n"


def test_example_file_loads_and_every_profile_validates() -> None:
    example = Path(__file__).parent.parent / "profiles.example.toml"
    profiles = load_config(example).profiles
    assert set(profiles) == {
        "chat-reader",
        "chat-writer",
        "ci-warmup",
        "dashboard",
        "media-functions",
    }
    assert profiles["chat-writer"].statements == (
        Statement(Role.PUBLISH_SUBSCRIBE, "chat", topic_prefix="room-"),
        Statement(Role.READ_WRITE, "chat", key_prefix="user-"),
    )
    assert profiles["chat-writer"].token_id == "ci-bot"
    assert profiles["chat-writer"].expires_in == 15 * 60  # from [defaults]
    assert profiles["dashboard"].expires_in == 25 * 3600
    assert profiles["dashboard"].cache is False
    assert profiles["media-functions"].expires_in == 900


@pytest.mark.parametrize(
    ("spelling", "role"),
    [
        ("read-write", Role.READ_WRITE),
        ("readwrite", Role.READ_WRITE),
        ("read_write", Role.READ_WRITE),
        ("ReadOnly", Role.READ_ONLY),
        ("writeonly", Role.WRITE_ONLY),
    ],
)
def test_cache_role_spellings_of_both_sdks_are_accepted(spelling: str, role: Role) -> None:
    profile = parse_config(one_profile(f'{{ role = "{spelling}", cache = "c" }}'), HERE)
    assert profile.profiles["p"].statements == (Statement(role, "c"),)


@pytest.mark.parametrize(
    ("spelling", "role"),
    [
        ("publishsubscribe", Role.PUBLISH_SUBSCRIBE),
        ("subscribe_only", Role.SUBSCRIBE_ONLY),
        ("publishonly", Role.PUBLISH_ONLY),
    ],
)
def test_topic_role_spellings_of_both_sdks_are_accepted(spelling: str, role: Role) -> None:
    text = one_profile(f'{{ role = "{spelling}", cache = "c", topic = "t" }}')
    assert parse_config(text, HERE).profiles["p"].statements == (Statement(role, "c", topic="t"),)


def test_malformed_toml_reports_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("[profiles.p]\nexpires_in = = 3\n", HERE)
    assert "profiles.toml: not valid TOML" in caught.value.message
    assert "line 2" in caught.value.message
    assert "column" in caught.value.message


def test_unknown_statement_field_suggests_the_nearest_name() -> None:
    [problem] = problems_of(one_profile('{ role = "subscribe-only", cache = "c", topics = "t" }'))
    assert problem.startswith("profiles.toml: profile 'p', permissions[0]: unknown field 'topics'")
    assert "Did you mean 'topic'?" in problem


def test_unknown_profile_field_and_top_level_table_are_reported() -> None:
    text = "[server]\n[profile.x]\n" + one_profile(
        '{ role = "read-only", cache = "c" }', extra='expire_in = "5m"'
    )
    problems = problems_of(text)
    assert any("top level: unknown field 'profile'" in p and "'profiles'" in p for p in problems)
    assert any(
        "profile 'p': unknown field 'expire_in'" in p and "'expires_in'" in p for p in problems
    )


def test_role_of_the_wrong_kind_says_which_roles_fit() -> None:
    [problem] = problems_of(one_profile('{ role = "read-write", cache = "c", topic = "t" }'))
    assert "permissions[0].topic" in problem
    assert "'read-write' is a cache role" in problem
    assert "publish-subscribe, subscribe-only, publish-only" in problem


def test_unknown_role_lists_roles_and_suggests() -> None:
    [problem] = problems_of(one_profile('{ role = "subscribeonyl", cache = "c", topic = "t" }'))
    assert "unknown role 'subscribeonyl'" in problem
    assert "Did you mean 'subscribeonly'?" in problem


def test_conflicting_selectors_in_one_statement_are_refused() -> None:
    [problem] = problems_of(
        one_profile('{ role = "publish-subscribe", cache = "c", topic = "a", topic_prefix = "b" }')
    )
    assert "conflicting selectors 'topic' and 'topic_prefix'" in problem


def test_key_and_key_prefix_together_are_refused() -> None:
    [problem] = problems_of(
        one_profile('{ role = "read-only", cache = "c", key = "a", key_prefix = "b" }')
    )
    assert "conflicting selectors 'key' and 'key_prefix'" in problem


def test_topic_statement_without_a_topic_says_how_to_grant_all() -> None:
    [problem] = problems_of(one_profile('{ role = "subscribe-only", cache = "c" }'))
    assert "topic statements need 'topic'" in problem
    assert '"*" for all' in problem


@pytest.mark.parametrize("field", ["cache", "topic", "topic_prefix"])
def test_empty_names_and_prefixes_are_refused(field: str) -> None:
    values = {"cache": "c", "topic": "t"}
    values[field] = ""
    body = ", ".join(f'{k} = "{v}"' for k, v in values.items())
    problems = problems_of(one_profile(f'{{ role = "publish-only", {body} }}'))
    assert any(f"permissions[0].{field}: must not be empty" in p for p in problems)


def test_star_is_not_a_wildcard_for_keys_or_prefixes() -> None:
    [problem] = problems_of(one_profile('{ role = "read-only", cache = "c", key_prefix = "*" }'))
    assert "leave the field out" in problem


def test_missing_role_and_cache_are_both_reported() -> None:
    problems = problems_of(one_profile('{ topic = "t" }'))
    assert any("needs 'role'" in p for p in problems)
    assert any("needs 'cache'" in p for p in problems)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ('"0s"', False),
        ("0", False),
        ('"1s"', True),
        ('"25h"', True),
        ('"25h1s"', False),
        ("90001", False),
    ],
)
def test_lifetime_must_be_one_second_to_25_hours(value: str, ok: bool) -> None:
    text = one_profile('{ role = "read-only", cache = "c" }', extra=f"expires_in = {value}")
    if ok:
        assert parse_config(text, HERE).profiles["p"]
    else:
        [problem] = problems_of(text)
        assert "profile 'p'.expires_in" in problem
        assert "1s to 25h" in problem


def test_more_than_20_statements_are_refused() -> None:
    statements = ",\n".join(f'{{ role = "read-only", cache = "c{i}" }}' for i in range(21))
    [problem] = problems_of(one_profile(statements))
    assert "has 21 statements; Momento allows at most 20" in problem


def test_twenty_statements_are_fine() -> None:
    statements = ",\n".join(f'{{ role = "read-only", cache = "c{i}" }}' for i in range(20))
    assert len(parse_config(one_profile(statements), HERE).profiles["p"].statements) == 20


def test_duplicate_statements_are_refused_naming_both() -> None:
    [problem] = problems_of(
        one_profile('{ role = "read-only", cache = "c" },\n{ role = "readonly", cache = "c" }')
    )
    assert "permissions[1]: duplicates permissions[0]" in problem


def test_same_target_with_two_roles_conflicts() -> None:
    [problem] = problems_of(
        one_profile(
            '{ role = "read-only", cache = "c", key = "k" },\n'
            '{ role = "read-write", cache = "c", key = "k" }'
        )
    )
    assert "permissions[1]: conflicts with permissions[0]" in problem


def test_token_id_over_64_characters_is_refused() -> None:
    text = one_profile('{ role = "read-only", cache = "c" }', extra=f'token_id = "{"x" * 65}"')
    [problem] = problems_of(text)
    assert "token_id: is 65 characters; Momento allows at most 64" in problem


def test_empty_permissions_are_refused() -> None:
    [problem] = problems_of("[profiles.p]\npermissions = []\n")
    assert "is empty; a token needs 1 to 20 statements" in problem


def test_every_problem_in_the_file_is_reported_at_once() -> None:
    text = (
        one_profile('{ role = "read-only", cache = "c", topics = "t" }')
        + '[profiles.q]\nexpires_in = "99h"\npermissions = [{ role = "nope", cache = "c" }]\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, HERE)
    assert caught.value.message == "profiles.toml: 3 problems in the profiles file"
    assert len(caught.value.problems) == 3


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no profiles file at") as caught:
        load_config(tmp_path / "absent.toml")
    assert caught.value.hint is not None
    assert f"momento-tvm profiles init {tmp_path / 'absent.toml'}" in caught.value.hint


def test_unknown_profile_name_suggests_the_nearest(write_profiles: Callable[[str], Path]) -> None:
    path = write_profiles(
        one_profile('{ role = "read-only", cache = "c" }').replace(
            "profiles.p", "profiles.chat-reader"
        )
    )
    with pytest.raises(ConfigError, match="no profile named 'chat-raeder'") as caught:
        load_config(path).profile("chat-raeder")
    assert caught.value.hint == "Did you mean 'chat-reader'?"


def test_config_lookup_order(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home")}
    assert find_config(None, env, tmp_path) == tmp_path / "home/.config/momento-tvm/profiles.toml"
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    assert find_config(None, env, tmp_path) == tmp_path / "xdg/momento-tvm/profiles.toml"
    (tmp_path / "momento-tvm.toml").write_text("")
    assert find_config(None, env, tmp_path) == tmp_path / "momento-tvm.toml"
    env["MOMENTO_TVM_CONFIG"] = "/from/env.toml"
    assert find_config(None, env, tmp_path) == Path("/from/env.toml")
    assert find_config(Path("flag.toml"), env, tmp_path) == Path("flag.toml")


def test_server_and_profile_problems_are_collected_and_worded_alike() -> None:
    """One collector for the profiles and [server]: an unknown field reads the same in both,
    with the nearest name and the allowed ones."""
    text = one_profile('{ role = "read-only", cache = "c" }', 'expire_in = "1h"') + (
        "\n[server]\nprot = 8700\n"
    )
    problems = problems_of(text)
    assert len(problems) == 2
    profile, server = problems
    assert "profile 'p': unknown field 'expire_in'. Did you mean 'expires_in'? Allowed: " in (
        profile
    )
    assert server.startswith(f"{HERE}: [server]: unknown field 'prot'. Did you mean 'port'?")
    allowed = server.split("Allowed: ")[1].split(", ")
    assert {"host", "port", "auth"} <= set(allowed)
