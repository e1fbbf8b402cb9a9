"""`serve` minting from the emulator tells browsers where its gRPC-web listener is: token answers
carry `webEndpoint` (from MOMENTO_TVM_EMULATOR_WEB_ENDPOINT or --emulator-web), and only then."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.serving import PROFILES
from tvmcli.emulator import Emulator
from tvmcli.errors import UsageError
from tvmcli.minting.tokens import Token
from tvmcli.server.openapi import openapi_document
from tvmcli.server.running import web_endpoint_for

TVM = str(Path(sys.executable).parent / "momento-tvm")
WEB = "MOMENTO_TVM_EMULATOR_WEB_ENDPOINT"


def token_answer(config: Path, env: dict[str, str], *args: str) -> tuple[dict[str, object], str]:
    env = {**env, "TVM_TOKENS": "a-bearer-token-for-tests"}
    process = subprocess.Popen(
        [TVM, "serve", "-c", str(config), "--port", "0", "--no-canary", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url, process.stderr.read() if process.stderr else ""
        response = httpx.get(
            url, headers={"Authorization": "Bearer a-bearer-token-for-tests"}, timeout=10
        )
        assert response.status_code == 200, response.text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    return response.json(), stderr


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "momento-tvm.toml"
    path.write_text(
        PROFILES + '\n[server]\ndefault_profile = "chat-reader"\n'
        '[server.bearer]\ntokens_env = "TVM_TOKENS"\n'
    )
    return path


def test_answers_carry_the_emulators_web_endpoint_from_the_environment(
    emulator_env: Emulator, config: Path
) -> None:
    body, stderr = token_answer(config, {**os.environ, WEB: "http://127.0.0.1:5051"})
    assert body["webEndpoint"] == "http://127.0.0.1:5051"
    assert "webEndpoint http://127.0.0.1:5051" in stderr


def test_without_an_emulator_web_endpoint_answers_have_none(
    emulator_env: Emulator, config: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != WEB}
    body, _ = token_answer(config, env)
    assert "webEndpoint" not in body
    assert set(body) == {"authToken", "expiresAt", "endpoint", "profile", "tokenId", "now"}


def test_the_flag_wins_over_the_environment(emulator_env: Emulator, config: Path) -> None:
    env = {**os.environ, WEB: "http://127.0.0.1:5051"}
    body, _ = token_answer(config, env, "--emulator-web", "http://localhost:6000/")
    assert body["webEndpoint"] == "http://localhost:6000"


def test_a_bad_emulator_web_url_is_a_usage_error(emulator_env: Emulator, config: Path) -> None:
    result = subprocess.run(
        [TVM, "serve", "-c", str(config), "--emulator-web", "http://evil.example:80"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "TVM_TOKENS": "a-bearer-token-for-tests"},
    )
    assert result.returncode == 2
    assert "--emulator-web 'http://evil.example:80' must be https://" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_environment_is_ignored_when_minting_from_momento() -> None:
    """A variable left over from an emulator session must not send browsers holding real
    Momento tokens to a local listener."""
    env = {WEB: "http://127.0.0.1:5051"}
    assert web_endpoint_for(None, env, "127.0.0.1:5050") == ("http://127.0.0.1:5051", None)
    found, note = web_endpoint_for(None, env, "cell-1.prod.a.momentohq.com")
    assert found is None
    assert note is not None
    assert WEB in note
    assert web_endpoint_for(None, {}, "127.0.0.1:5050") == (None, None)
    with pytest.raises(UsageError, match="no path"):
        web_endpoint_for("http://127.0.0.1:5051/x", {}, "127.0.0.1:5050")


def test_the_one_json_shape_and_the_openapi_document_name_web_endpoint() -> None:
    token = Token("envelope", "127.0.0.1:5050", 100, "t", "p")
    assert "webEndpoint" not in token.to_tvm_json()
    assert token.to_tvm_json("http://127.0.0.1:5051")["webEndpoint"] == "http://127.0.0.1:5051"
    assert token.tvm_json_prefix("http://w:1").endswith(b'"webEndpoint":"http://w:1"')
    assert b"webEndpoint" not in token.tvm_json_prefix()
    schema = openapi_document()["components"]["schemas"]["Token"]["properties"]
    assert "gRPC-web" in schema["webEndpoint"]["description"]
