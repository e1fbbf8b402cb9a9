"""The vending server under attack and faults (issue 10): each test reproduces one attack or
injected fault against the real app under uvicorn on loopback, minting from the emulator."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.serving import BEARER, serve
from tvmcli.emulator import Emulator, Faults

AUTH = {"Authorization": f"Bearer {BEARER}"}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


# -- Momento statuses without a mapping (item 10) ---------------------------------------------

REFUSALS = ["NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNIMPLEMENTED"]
TRANSIENT = ["UNKNOWN", "ABORTED", "DATA_LOSS", "CANCELLED"]


@pytest.mark.parametrize("status", REFUSALS + TRANSIENT)
def test_every_momento_status_is_a_json_error_never_a_500(
    status: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode[status])
    with Emulator(rate_limit=0, faults=faults) as emulator, serve(emulator, timeout=1) as server:
        response = httpx.get(server.url + "/token", headers=AUTH, timeout=10)
    if status in REFUSALS:
        assert_error(response, 502, "momento_error")
    else:
        assert_error(response, 503, "momento_unavailable")
        assert int(response.headers["retry-after"]) >= 1
    assert "Traceback" not in caplog.text
    assert "internal error" not in caplog.text


def test_an_unmapped_status_exits_5_from_the_cli_library_too() -> None:
    from tvmcli.credential_format import Kind
    from tvmcli.credentials import ApiKey
    from tvmcli.errors import ExitCode, MomentoError, TvmError
    from tvmcli.minting import mint_once
    from tvmcli.roles import Role
    from tvmcli.statements import Statement

    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode.UNIMPLEMENTED)
    with Emulator(rate_limit=0, faults=faults) as emulator:
        key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
        with pytest.raises(TvmError) as caught:
            mint_once(key, (Statement(Role.READ_ONLY, "c"),), 60, timeout=1)
    assert isinstance(caught.value, MomentoError)
    assert caught.value.exit_code is ExitCode.UNAVAILABLE
    assert "UNIMPLEMENTED" in caught.value.message


# -- token ids: one rule for ?name=, sign-ins and profiles (item 12) ----------------------------

BAD_IDS = {
    "NUL": "a\x00b",
    "newline": "alice\nbob",
    "escape sequence": "\x1b]0;title\x07",
    "bidi override": "evil\u202egpj.exe",
    "zero-width joiner": "a\u200db",
    "65 ASCII": "x" * 65,
    "emoji 80 bytes": "\U0001f600" * 20,
    "accents 66 bytes": "\u00e9" * 33,
}


@pytest.mark.parametrize("name", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_name_must_be_a_printable_token_id_of_at_most_64_bytes(
    emulator: Emulator, name: str
) -> None:
    with serve(emulator) as server:
        response = httpx.get(server.url + "/token", params={"name": name}, headers=AUTH)
    assert_error(response, 400, "bad_query")
    assert emulator.service.stats()["calls"] == 0


@pytest.mark.parametrize("name", ["x" * 64, "\u00fc" * 32, "rita@example.com", "a b"])
def test_names_within_the_rule_are_minted(emulator: Emulator, name: str) -> None:
    with serve(emulator) as server:
        response = httpx.get(server.url + "/token", params={"name": name}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["tokenId"] == name


def toml_string(text: str) -> str:
    def escape(c: str) -> str:
        if c.isascii() and c.isprintable() and c not in '"\\':
            return c
        return f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"

    return '"' + "".join(escape(c) for c in text) + '"'


@pytest.mark.parametrize("name", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_profiles_and_user_names_follow_the_same_token_id_rule(name: str) -> None:
    from tvmcli.config import parse_config
    from tvmcli.errors import ConfigError
    from tvmcli.server.passwords import hash_password

    escaped = toml_string(name)
    permissions = 'permissions = [{ role = "read-only", cache = "c" }]\n'
    profile = f"[profiles.p]\ntoken_id = {escaped}\n{permissions}"
    with pytest.raises(ConfigError) as caught:
        parse_config(profile, Path("p.toml"))
    assert any("'p'.token_id" in p for p in caught.value.problems)
    user = (
        '[profiles.p]\npermissions = [{ role = "read-only", cache = "c" }]\n'
        f'[server]\nauth = "basic"\n[server.users.{escaped}]\n'
        f'password_hash = "{hash_password("pw")}"\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(user, Path("p.toml"))
    assert any("the user name becomes the token id" in p for p in caught.value.problems)


# -- a secret where a variable name belongs (item 11) ------------------------------------------

SECRET_VALUES = ["s3cr3t-Bearer-Token-value-1234", "S3cr3tBearerTokenValue1234xyz"]


@pytest.mark.parametrize("secret", SECRET_VALUES, ids=["not a name", "shaped like a name"])
@pytest.mark.parametrize("field", ["tokens_env", "password_env"])
def test_a_secret_given_as_the_variable_name_is_never_echoed(
    cli: Any, emulator_env: Emulator, tmp_path: Path, secret: str, field: str
) -> None:
    from tests.serving import PROFILES

    if field == "tokens_env":
        server = f'[server]\n[server.bearer]\ntokens_env = "{secret}"\n'
    else:
        server = f'[server]\nauth = "basic"\n[server.users.walt]\npassword_env = "{secret}"\n'
    path = tmp_path / "tvm.toml"
    path.write_text(PROFILES + server)
    result = cli("serve", "-c", str(path), "--port", "0")
    assert result.exit_code == 3, result.output
    assert field in result.stderr
    assert secret not in result.stdout + result.stderr
    assert secret[:12] not in result.stdout + result.stderr
