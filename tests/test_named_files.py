"""Files a flag or a setting names, read as the user runs the tool: each refusal is one line
with its exit code, never a traceback, and nothing is read past its limit (/dev/zero is
refused, not read until memory runs out)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.serving import serve
from tests.test_oidc import KEYCLOAK_ISSUER, Key, jwt_server, token_with
from tvmcli.emulator import Emulator
from tvmcli.errors import UsageError
from tvmcli.server.oidc import RETRY_FIRST
from tvmcli.system import text_files

BIN = Path(sys.executable).parent
ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "profiles.example.toml"
PROFILE = '[profiles.reader]\npermissions = [{ role = "read-only", cache = "c" }]\n'


def tvm(
    *args: str, cwd: Path | None = None, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MOMENTO")}, **(env or {})}
    done = subprocess.run(
        [str(BIN / "momento-tvm"), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def refused(result: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_endless_api_key_file_is_refused_at_its_limit() -> None:
    result = tvm("mint", "chat-reader", "-c", str(EXAMPLE), "--api-key-file", "/dev/zero")
    refused(result, 2, "API key file /dev/zero is over 64 KiB")


def test_an_api_key_on_stdin_over_the_limit_is_refused() -> None:
    result = tvm(
        "mint", "chat-reader", "-c", str(EXAMPLE), "--api-key-file", "-", stdin=b"k" * 70_000
    )
    refused(result, 2, "standard input is over 64 KiB")


def test_an_api_key_file_that_is_a_directory_says_so(tmp_path: Path) -> None:
    result = tvm("mint", "chat-reader", "-c", str(EXAMPLE), "--api-key-file", str(tmp_path))
    refused(result, 2, f"API key file {tmp_path} is a directory")


def test_an_endless_bearer_file_is_refused_at_its_limit() -> None:
    result = tvm("mint", "reader", "--from", "http://127.0.0.1:9/", "--bearer-file", "/dev/zero")
    refused(result, 2, "--bearer-file /dev/zero is over 64 KiB")


def test_a_profiles_file_over_a_mebibyte_is_a_configuration_error(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text(PROFILE + "#" * (1 << 20) + "\n")
    result = tvm("profiles", "validate", "-c", str(big))
    refused(result, 3, f"profiles file {big} is over 1 MiB")


def test_a_profiles_file_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes(PROFILE.encode() + b"# caf\xe9\n")
    result = tvm("profiles", "validate", "-c", str(latin))
    refused(result, 3, f"profiles file {latin} is not UTF-8 text")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe not text\n", "is not UTF-8 text"),
        (None, "does not exist"),
    ],
    ids=["not UTF-8", "missing"],
)
def test_a_bearer_tokens_file_that_cannot_be_read_stops_serve_with_exit_3(
    emulator: Emulator, tmp_path: Path, content: bytes | None, words: str
) -> None:
    tokens = tmp_path / "tokens.txt"
    if content is not None:
        tokens.write_bytes(content)
    (tmp_path / "momento-tvm.toml").write_text(
        f'[server]\nauth = "bearer"\n[server.bearer]\ntokens_file = "{tokens}"\n' + PROFILE
    )
    key = {"MOMENTO_API_KEY": emulator.issue_api_key(), "MOMENTO_ENDPOINT": emulator.endpoint}
    result = tvm("serve", "--port", "0", cwd=tmp_path, env=key)
    refused(result, 3, f"[server.bearer] tokens_file {tokens} {words}")


def test_read_stream_counts_a_text_stream_in_characters_and_a_binary_one_in_bytes() -> None:
    ten = "é" * 10  # 20 bytes of UTF-8
    assert text_files.read_stream(io.StringIO(ten), what="x", error=UsageError, limit=10) == ten
    with pytest.raises(UsageError, match="x is over"):
        text_files.read_stream(io.BytesIO(ten.encode()), what="x", error=UsageError, limit=10)


def test_a_jwks_file_over_its_limit_is_not_read_as_its_first_mebibyte(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A JWKS file padded past 1 MiB was cut at 1 MiB and then trusted; now it is refused, as
    a JWKS that cannot be loaded is: the caller's token is not accepted."""
    key = Key("ec", "ec-big")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.jwk]}) + " " * (1 << 20))
    now = int(time.time())
    claims = {"iss": KEYCLOAK_ISSUER, "sub": "kate", "aud": "account", "iat": now, "exp": now + 300}
    config = jwt_server(
        KEYCLOAK_ISSUER, "account", f'jwks_file = "{jwks_file}"', 'groups_claim = "groups"'
    )
    signed = key.sign({**claims, "groups": ["readers"]})
    with serve(emulator, config) as server:
        answer = token_with(server.url, signed)
        jwks_file.write_text(json.dumps({"keys": [key.jwk]}))  # the same keys, in limits
        time.sleep(RETRY_FIRST + 0.2)  # the cache retries a failed load after RETRY_FIRST
        accepted = token_with(server.url, signed)
    assert answer.status_code in (401, 503), answer.text
    assert "tokenId" not in answer.text
    assert accepted.status_code == 200, accepted.text  # so the first refusal was the size


@pytest.mark.parametrize(
    ("stdin", "words"),
    [(b"\xff\xfe-a-long-password\n", "not UTF-8 text"), (b"p" * 70_000, "over 64 KiB")],
    ids=["not UTF-8", "endless"],
)
def test_hash_password_refuses_unreadable_stdin_with_exit_2(stdin: bytes, words: str) -> None:
    refused(tvm("hash-password", stdin=stdin), 2, f"standard input is {words}")
