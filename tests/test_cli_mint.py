"""`momento-tvm mint` in-process, against a real emulator."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator

Cli = Callable[..., Result]


def test_mint_prints_only_the_token_when_piped(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-reader", "--config", str(profiles_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("\n")
    assert result.stdout.count("\n") == 1
    token = parse_credential(result.stdout)
    assert token.kind is Kind.DISPOSABLE_TOKEN
    assert token.endpoint == emulator_env.endpoint
    assert result.stderr == ""


def test_mint_token_works_with_the_sdk(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    from momento import CredentialProvider

    result = cli("mint", "chat-writer", "-c", str(profiles_file), "-o", "raw")
    provider = CredentialProvider.from_disposable_token(result.stdout.strip())
    assert provider.token_endpoint == f"token.{emulator_env.endpoint}"


def test_mint_json_follows_the_vending_machine_contract(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    before = int(time.time())
    result = cli("mint", "chat-writer", "-c", str(profiles_file), "--output", "json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"authToken", "endpoint", "expiresAt", "expiresAtIso", "profile", "tokenId"}
    assert body["profile"] == "chat-writer"
    assert body["tokenId"] == "ci-bot"
    assert body["endpoint"] == emulator_env.endpoint
    assert before + 900 <= body["expiresAt"] <= int(time.time()) + 900
    assert body["expiresAtIso"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(body["expiresAt"])
    )
    assert parse_credential(body["authToken"]).claims["exp"] == body["expiresAt"]


def test_mint_text_summary_shows_profile_endpoint_expiry_and_token(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "-o", "text")
    lines = dict(
        line.split(None, 1) for line in result.stdout.replace("Token id", "Token-id").splitlines()
    )
    assert lines["Profile"] == "chat-reader"
    assert lines["Endpoint"] == emulator_env.endpoint
    assert re.search(r"\(in (1h|59m5\ds)\)$", lines["Expires"])  # 1 h, less the seconds taken
    assert lines["Token-id"] == "-"
    assert parse_credential(lines["Token"]).kind is Kind.DISPOSABLE_TOKEN


def test_expires_in_overrides_the_profile_and_a_profiles_token_id_is_final(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    fixed = cli(
        "mint", "chat-writer", "-c", str(profiles_file), "-e", "90s", "--token-id", "job-1",
        "-o", "json",
    )  # fmt: skip
    assert fixed.exit_code == 0
    assert json.loads(fixed.stdout)["tokenId"] == "ci-bot"
    assert "profile chat-writer fixes its token id (ci-bot); --token-id is ignored" in (
        fixed.stderr
    )
    received = emulator_env.service.received[-1]
    assert (received.valid_for_seconds, received.token_id) == (90, "ci-bot")
    free = cli("mint", "chat-reader", "-c", str(profiles_file), "--token-id", "job-1", "-o", "json")
    assert json.loads(free.stdout)["tokenId"] == "job-1"
    assert free.stderr == ""
    assert emulator_env.service.received[-1].token_id == "job-1"


def test_mint_refuses_expiry_over_25_hours(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--expires-in", "26h")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--expires-in: lifetime 26h is outside what Momento allows (1s to 25h)" in result.stderr
    assert emulator_env.service.stats()["calls"] == 0


def test_mint_refuses_a_token_id_over_64_characters(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--token-id", "x" * 65)
    assert result.exit_code == 2
    assert "--token-id is 65 characters" in result.stderr


def test_unknown_profile_exits_3_with_a_suggestion(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-raeder", "-c", str(profiles_file))
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "no profile named 'chat-raeder'" in result.stderr
    assert "Did you mean 'chat-reader'?" in result.stderr


def test_invalid_profile_file_exits_3_listing_every_problem(
    cli: Cli, emulator_env: Emulator, write_profiles: Callable[[str], Path]
) -> None:
    path = write_profiles(
        """
        [profiles.a]
        permissions = [{ role = "read-only", cache = "c", topics = "t" }]
        [profiles.b]
        expires_in = "30h"
        permissions = [{ role = "read-only", cache = "c" }]
        """
    )
    result = cli("mint", "b", "-c", str(path))
    assert result.exit_code == 3
    assert "2 problems in the profiles file" in result.stderr
    assert "unknown field 'topics'" in result.stderr
    assert "expires_in: lifetime 30h" in result.stderr


def test_refused_key_exits_4_naming_the_source_never_the_key(
    cli: Cli, emulator: Emulator, profiles_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator() as other:
        foreign = other.issue_api_key()
    monkeypatch.setenv("MOMENTO_API_KEY", foreign)
    monkeypatch.setenv("MOMENTO_ENDPOINT", emulator.endpoint)
    result = cli("mint", "chat-reader", "-c", str(profiles_file))
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "the key from $MOMENTO_API_KEY" in result.stderr
    assert "hint:" in result.stderr
    assert foreign not in result.stderr
    assert foreign[-20:] not in result.stderr


def test_key_without_mint_permission_exits_4(
    cli: Cli, emulator: Emulator, profiles_file: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(emulator.issue_api_key(can_mint=False))
    result = cli(
        "mint",
        "chat-reader",
        "-c",
        str(profiles_file),
        "--api-key-file",
        str(key_file),
        "--endpoint",
        emulator.endpoint,
    )
    assert result.exit_code == 4
    assert f"Momento refused to mint with the key from file {key_file}" in result.stderr


def test_key_from_stdin(cli: Cli, emulator: Emulator, profiles_file: Path) -> None:
    result = cli(
        "mint",
        "chat-reader",
        "-c",
        str(profiles_file),
        "--api-key-file",
        "-",
        "--endpoint",
        emulator.endpoint,
        input=emulator.issue_api_key() + "\n",
    )
    assert result.exit_code == 0, result.stderr
    assert parse_credential(result.stdout).kind is Kind.DISPOSABLE_TOKEN


def test_unreachable_service_exits_5_naming_the_endpoint(
    cli: Cli, profiles_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator() as gone:
        key, endpoint = gone.issue_api_key(), gone.endpoint
    monkeypatch.setenv("MOMENTO_API_KEY", key)
    monkeypatch.setenv("MOMENTO_ENDPOINT", endpoint)
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--timeout", "0.5")
    assert result.exit_code == 5
    assert result.stdout == ""
    assert f"could not mint from {endpoint}: UNAVAILABLE" in result.stderr


def test_no_key_exits_3_with_a_hint(cli: Cli, profiles_file: Path) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file))
    assert result.exit_code == 3
    assert "no Momento API key found" in result.stderr


def test_missing_profiles_file_exits_3(cli: Cli, emulator_env: Emulator) -> None:
    result = cli("mint", "chat-reader")
    assert result.exit_code == 3
    assert "no profiles file" in result.stderr
    assert "momento-tvm/profiles.toml" in result.stderr
    assert "momento-tvm profiles init" in result.stderr


def test_config_from_environment_and_local_file(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOMENTO_TVM_CONFIG", str(profiles_file))
    assert cli("mint", "chat-reader").exit_code == 0
    monkeypatch.delenv("MOMENTO_TVM_CONFIG")
    Path("momento-tvm.toml").write_text(profiles_file.read_text())
    assert cli("mint", "chat-reader").exit_code == 0


def test_bad_output_choice_is_a_usage_error(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "-o", "yaml")
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.mark.parametrize(
    "payload",
    [
        b'{"t": "g", "x": ' + b"[" * 20000 + b"]" * 20000 + b"}",
        b'{"t": "g", "n": ' + b"9" * 5000 + b"}",
    ],
    ids=["deeply nested", "5000-digit number"],
)
def test_mint_with_a_hostile_key_exits_2_with_one_line(
    cli: Cli,
    emulator: Emulator,
    profiles_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    payload: bytes,
) -> None:
    from tvmcli.credentials import jwtcodec

    key = "eyJhbGciOiJIUzI1NiJ9." + jwtcodec.b64url_encode(payload) + ".c2ln"
    monkeypatch.setenv("MOMENTO_API_KEY", key)
    monkeypatch.setenv("MOMENTO_ENDPOINT", emulator.endpoint)
    result = cli("mint", "chat-reader", "-c", str(profiles_file))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "is not a Momento API key" in result.stderr
    assert "Traceback" not in result.stderr
    assert emulator.service.stats()["calls"] == 0
