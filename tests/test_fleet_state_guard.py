"""In fleet mode no profile may vend a token that could write the fleet's state cache (issue
22, point 3): refused at load (exit 3, naming the profile) by `serve`, `profiles validate`,
`load_config` and `build_app`, decided by the evaluator. The decision is checked against the
emulator too: what is refused can really write there, what is accepted really cannot."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from momento.errors import MomentoErrorCode
from momento.responses import CacheIncrement, CacheSet
from typer.testing import Result

from tests.minted import mint_once
from tests.test_emulator_cache import client
from tvmcli.config.file import load_config, parse_config
from tvmcli.config.settings import StateSettings
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator
from tvmcli.errors import ConfigError
from tvmcli.server import build_app

Cli = Callable[..., Result]

FLEET = """
[server.state]
backend = "momento"
cache = "fleet-state"
"""

# name: (statement, could it write cache fleet-state?)
PROFILES = {
    "everything": ('{ role = "read-write", cache = "*" }', True),
    "any-cache-prefix": ('{ role = "read-write", cache = "*", key_prefix = "slot" }', True),
    "write-only-key": ('{ role = "write-only", cache = "fleet-state", key = "slot:1" }', True),
    "reader": ('{ role = "read-only", cache = "*" }', False),
    "topics": ('{ role = "publish-subscribe", cache = "fleet-state", topic = "*" }', False),
    "functions": ('{ role = "invoke", cache = "*", function = "*" }', False),
    "other-cache": ('{ role = "read-write", cache = "chat" }', False),
}


def profiles_toml(*names: str) -> str:
    return "".join(f"[profiles.{name}]\npermissions = [{PROFILES[name][0]}]\n" for name in names)


WRITERS = [name for name, (_, writes) in PROFILES.items() if writes]
SAFE = [name for name, (_, writes) in PROFILES.items() if not writes]


def test_fleet_mode_refuses_every_profile_that_could_write_the_state_cache() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(profiles_toml(*PROFILES) + FLEET, Path("fleet.toml"))
    assert caught.value.exit_code == 3
    assert caught.value.message == "fleet.toml: 3 problems in the profiles file"
    refused = [p.split("'")[1] for p in caught.value.problems]
    assert refused == WRITERS
    assert (
        "fleet.toml: profile 'everything': its tokens could write the fleet's state cache "
        "'fleet-state' (statement 1 allows read-write on every cache, all items)"
    ) in caught.value.problems[0]


def test_fleet_mode_accepts_profiles_that_cannot_write_it() -> None:
    config = parse_config(profiles_toml(*SAFE) + FLEET, Path("fleet.toml"))
    assert list(config.profiles) == SAFE


def test_memory_state_refuses_nothing() -> None:
    config = parse_config(profiles_toml(*PROFILES), Path("memory.toml"))
    assert list(config.profiles) == list(PROFILES)


def test_the_default_state_cache_name_is_the_one_checked() -> None:
    text = profiles_toml("reader") + (
        '[profiles.state-writer]\npermissions = [{ role = "write-only", '
        'cache = "momento-tvm-state" }]\n[server.state]\nbackend = "momento"\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("fleet.toml"))
    assert len(caught.value.problems) == 1
    assert "profile 'state-writer'" in caught.value.problems[0]
    assert "'momento-tvm-state'" in caught.value.problems[0]


def test_profiles_validate_and_serve_exit_3_naming_the_profile(
    cli: Cli, write_profiles: Callable[[str], Path]
) -> None:
    path = write_profiles(profiles_toml("reader", "everything") + FLEET)
    for command in (("profiles", "validate"), ("serve",)):
        result = cli(*command, "-c", str(path))
        assert result.exit_code == 3, result.stderr
        assert "profile 'everything': its tokens could write the fleet's state cache" in (
            result.stderr
        )
        assert "'reader'" not in result.stderr
    with pytest.raises(ConfigError):
        load_config(path)


def test_build_app_checks_a_config_built_by_hand(emulator: Emulator) -> None:
    memory = parse_config(profiles_toml("everything"), Path("hand.toml"))
    fleet = dataclasses.replace(
        memory,
        server=dataclasses.replace(memory.server, state=StateSettings("momento", "fleet-state")),
    )
    with pytest.raises(ConfigError, match="1 profile could write the fleet's state cache"):
        build_app(fleet, api_key=emulator.issue_api_key(), endpoint=emulator.endpoint)


@pytest.mark.parametrize("name", list(PROFILES))
def test_the_refusal_matches_what_the_emulator_lets_a_token_do(
    emulator: Emulator, name: str
) -> None:
    """A token of each profile tries to increment a slot of the state cache, as the attack of
    issue 22 did: exactly the refused profiles' tokens succeed."""
    statements = parse_config(profiles_toml(name), Path("p.toml")).profile(name).statements
    key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
    token = parse_credential(mint_once(key, statements, 300).auth_token).secret
    with client(emulator, token) as sdk:
        answers = [sdk.increment("fleet-state", slot) for slot in ("slot:1", "")]
        answers.append(sdk.set("fleet-state", "slot:1", "9"))
    wrote = any(
        isinstance(answer, (CacheIncrement.Success, CacheSet.Success)) for answer in answers
    )
    assert wrote is PROFILES[name][1]
    if not wrote:
        assert all(
            getattr(answer, "error_code", None) is MomentoErrorCode.PERMISSION_ERROR
            for answer in answers
        )
