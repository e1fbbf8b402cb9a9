from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tvmcli.credentials import jwtcodec
from tvmcli.credentials.decoding import Kind, make_envelope
from tvmcli.credentials.sources import Target, resolve_api_key, target_for
from tvmcli.errors import ConfigError, UsageError

V2 = jwtcodec.sign_hs256({"t": "g", "sub": "me"}, b"s" * 32)
INNER = jwtcodec.sign_hs256({"sub": "me"}, b"s" * 32)
V1 = make_envelope("cell-1.example.momentohq.com", INNER)
LEGACY = jwtcodec.sign_hs256(
    {"c": "cache.cell-2.example.momentohq.com", "cp": "control.cell-2.example.momentohq.com"},
    b"s" * 32,
)


def resolve(env: dict[str, str], stdin: str = "", **kwargs: str) -> object:
    return resolve_api_key(env=env, stdin=io.StringIO(stdin), **kwargs)


def test_v2_key_from_env_uses_momento_endpoint() -> None:
    key = resolve({"MOMENTO_API_KEY": V2, "MOMENTO_ENDPOINT": "cell-9.example.com"})
    assert (key.secret, key.endpoint, key.source, key.kind) == (
        V2,
        "cell-9.example.com",
        "$MOMENTO_API_KEY",
        Kind.V2_API_KEY,
    )


def test_v2_key_without_endpoint_says_to_set_one() -> None:
    with pytest.raises(
        ConfigError, match=r"key from \$MOMENTO_API_KEY is a v2 API key and needs an endpoint"
    ) as caught:
        resolve({"MOMENTO_API_KEY": V2})
    assert "MOMENTO_ENDPOINT" in (caught.value.hint or "")


def test_v1_key_carries_its_endpoint_and_sends_the_inner_key() -> None:
    key = resolve({"MOMENTO_API_KEY": V1})
    assert key.endpoint == "cell-1.example.momentohq.com"
    assert key.secret == INNER


def test_momento_endpoint_overrides_the_one_inside_a_v1_key() -> None:
    key = resolve({"MOMENTO_API_KEY": V1, "MOMENTO_ENDPOINT": "127.0.0.1:9999"})
    assert key.endpoint == "127.0.0.1:9999"


def test_endpoint_flag_overrides_everything() -> None:
    env = {"MOMENTO_API_KEY": V1, "MOMENTO_ENDPOINT": "a.example.com"}
    assert resolve(env, endpoint="b.example.com").endpoint == "b.example.com"


def test_legacy_key_endpoint_comes_from_its_cache_claim() -> None:
    key = resolve({"MOMENTO_AUTH_TOKEN": LEGACY})
    assert (key.kind, key.endpoint, key.source) == (
        Kind.LEGACY_API_KEY,
        "cell-2.example.momentohq.com",
        "$MOMENTO_AUTH_TOKEN",
    )


def test_key_file_wins_over_env(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(V1 + "\n")
    key = resolve({"MOMENTO_API_KEY": V2}, api_key_file=str(path))
    assert (key.secret, key.source) == (INNER, f"file {path}")


def test_key_from_stdin() -> None:
    key = resolve({"MOMENTO_ENDPOINT": "e.example.com"}, stdin=f"  {V2}\n", api_key_file="-")
    assert (key.secret, key.source, key.endpoint) == (V2, "standard input", "e.example.com")


def test_missing_key_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        resolve({}, api_key_file=str(tmp_path / "nope"))


def test_garbage_key_is_a_usage_error_that_does_not_quote_it() -> None:
    with pytest.raises(UsageError) as caught:
        resolve({"MOMENTO_API_KEY": "c2VjcmV0LXZhbHVl"})
    assert "c2VjcmV0LXZhbHVl" not in caught.value.message
    assert "not a Momento API key" in caught.value.message


def write_momento_cli(home: Path, text: str) -> Path:
    folder = home / ".momento"
    folder.mkdir(exist_ok=True)
    (folder / "credentials").write_text(text)
    return folder


def test_momento_cli_default_profile_v2(tmp_path: Path) -> None:
    folder = write_momento_cli(
        tmp_path, f"[default]\napi_key_v2 = {V2}\nendpoint = cell-5.example.com\n"
    )
    key = resolve({"MOMENTO_CONFIG_DIR": str(folder)})
    assert (key.secret, key.endpoint) == (V2, "cell-5.example.com")
    assert key.source == f"Momento CLI profile [default] in {folder / 'credentials'}"


def test_momento_cli_named_profile_with_a_token(tmp_path: Path) -> None:
    folder = write_momento_cli(tmp_path, f"[default]\ntoken = x\n[prod]\ntoken = {V1}\n")
    key = resolve({"MOMENTO_CONFIG_DIR": str(folder)}, momento_profile="prod")
    assert key.endpoint == "cell-1.example.momentohq.com"


def test_momento_cli_home_default_location(tmp_path: Path) -> None:
    write_momento_cli(tmp_path, f"[default]\ntoken = {V1}\n")
    assert resolve({"HOME": str(tmp_path)}).secret == INNER


def test_named_momento_profile_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    folder = write_momento_cli(tmp_path, f"[default]\ntoken = {V1}\n")
    with pytest.raises(ConfigError, match=r"has no profile \[staging\]"):
        resolve({"MOMENTO_CONFIG_DIR": str(folder)}, momento_profile="staging")


def test_a_named_momento_profile_without_the_momento_cli_file_says_where_it_looked(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="--momento-profile prod: no Momento CLI credentials"):
        resolve({"MOMENTO_CONFIG_DIR": str(tmp_path / "none")}, momento_profile="prod")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"[default]\ntoken = caf\xe9\n", "is not UTF-8 text"),
        (b"[default]\n" + b"#" * (64 * 1024), "is over 64 KiB"),
        (b"token = before any section\n", "MissingSectionHeaderError"),
    ],
    ids=["not UTF-8", "too large", "not INI"],
)
def test_an_unreadable_momento_cli_file_is_a_configuration_error_that_quotes_nothing(
    tmp_path: Path, content: bytes, words: str
) -> None:
    folder = tmp_path / ".momento"
    folder.mkdir()
    (folder / "credentials").write_bytes(content)
    with pytest.raises(ConfigError, match=words) as caught:
        resolve({"MOMENTO_CONFIG_DIR": str(folder)})
    assert "before any section" not in caught.value.message
    assert "caf" not in caught.value.message


def test_no_key_anywhere_says_where_keys_come_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no Momento API key found") as caught:
        resolve({"HOME": str(tmp_path)})
    assert "MOMENTO_API_KEY" in (caught.value.hint or "")
    assert "emulator" in (caught.value.hint or "")


def test_repr_of_a_key_is_masked() -> None:
    key = resolve({"MOMENTO_API_KEY": V2, "MOMENTO_ENDPOINT": "e"})
    assert V2 not in repr(key)
    assert V2 not in str(key)


@pytest.mark.parametrize(
    ("endpoint", "target"),
    [
        ("127.0.0.1:5050", Target("127.0.0.1:5050", "127.0.0.1:5050", secure=False)),
        ("127.8.9.10:5050", Target("127.8.9.10:5050", "127.8.9.10:5050", secure=False)),
        ("localhost:5050", Target("localhost:5050", "localhost:5050", secure=False)),
        ("[::1]:5050", Target("[::1]:5050", "[::1]:5050", secure=False)),
        ("10.0.0.5:5050", Target("10.0.0.5:5050", "10.0.0.5:5050", secure=True)),
        ("tvm.internal:8443", Target("tvm.internal:8443", "tvm.internal:8443", secure=True)),
        (
            "cell-us-east-1-1.prod.a.momentohq.com",
            Target(
                "cell-us-east-1-1.prod.a.momentohq.com",
                "token.cell-us-east-1-1.prod.a.momentohq.com:443",
                secure=True,
            ),
        ),
        (
            "https://cell-1.example.com/",
            Target("cell-1.example.com", "token.cell-1.example.com:443", True),
        ),
    ],
)
def test_plaintext_only_to_loopback_and_tls_to_token_host_otherwise(
    endpoint: str, target: Target
) -> None:
    assert target_for(endpoint) == target


def test_envelope_json_is_what_the_sdk_expects() -> None:
    import base64

    assert json.loads(base64.b64decode(V1)) == {
        "endpoint": "cell-1.example.momentohq.com",
        "api_key": INNER,
    }
