"""The Python API (`import tvmcli`): config, mint, Vendor, errors, against the real emulator."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import tvmcli
from tvmcli import errors
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator

PROFILES = """
[profiles.reader]
expires_in = "1h"
permissions = [{ role = "subscribe-only", cache = "chat", topic = "*" }]

[profiles.bot]
token_id = "the-bot"
permissions = [{ role = "publish-only", cache = "chat", topic = "news" }]
"""


@pytest.fixture
def config_file(write_profiles: Callable[[str], Path]) -> Path:
    return write_profiles(PROFILES + '\n[server]\ndefault_profile = "reader"\n')


def test_public_names_are_listed_and_import_lazily() -> None:
    assert {"load_config", "Config", "mint", "mint_async", "Token", "Vendor", "TvmError"} <= set(
        tvmcli.__all__
    )
    code = "import sys, tvmcli; print(sorted(m for m in sys.modules if m.startswith('tvmcli')))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "['tvmcli']"
    for name in tvmcli.__all__:
        assert getattr(tvmcli, name) is not None


def test_load_config_finds_the_file_as_the_cli_does(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOMENTO_TVM_CONFIG", str(config_file))
    config = tvmcli.load_config()
    assert config.path == config_file
    assert set(config.profiles) == {"reader", "bot"}
    assert config.profile("reader").expires_in == 3600
    assert config.server.access.default == "reader"
    assert config.server.port == 8700  # defaults come typed, from one place


def test_load_config_reports_server_problems_with_profile_problems(
    write_profiles: Callable[[str], Path],
) -> None:
    path = write_profiles(
        PROFILES
        + '[profiles.broken]\npermissions = []\n[server]\nauth = "bogus"\nport = "x"\n'
        + "timeout = -1\n"
    )
    with pytest.raises(tvmcli.ConfigError) as caught:
        tvmcli.load_config(path)
    problems = caught.value.problems
    assert any("profile 'broken'" in p and "is empty" in p for p in problems)
    assert any("[server].auth" in p and "'bogus'" in p for p in problems)
    assert any("[server].port" in p and "whole number" in p for p in problems)
    assert caught.value.exit_code == 3


def test_profiles_validate_exits_3_naming_server_problems(
    cli: Callable[..., object], write_profiles: Callable[[str], Path]
) -> None:
    path = write_profiles(PROFILES + '[server]\nauth = "bogus"\nport = "x"\n')
    result = cli("profiles", "validate", "-c", str(path))
    assert result.exit_code == 3  # type: ignore[attr-defined]
    assert "[server].auth: must be one of" in result.stderr  # type: ignore[attr-defined]
    assert "[server].port: must be a whole number" in result.stderr  # type: ignore[attr-defined]
    assert "all valid" not in result.stderr  # type: ignore[attr-defined]


def test_unknown_profile_is_a_config_error_with_a_404(config_file: Path) -> None:
    config = tvmcli.load_config(config_file)
    with pytest.raises(tvmcli.UnknownProfileError) as caught:
        config.profile("raeder")
    assert caught.value.exit_code == 3
    assert caught.value.http_status == 404
    assert caught.value.hint == "Did you mean 'reader'?"


def test_every_error_is_a_tvm_error_with_an_exit_code_and_http_status() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)]
    raised = [c for c in classes if issubclass(c, Exception)]
    assert len(raised) >= 10
    for cls in raised:
        assert issubclass(cls, tvmcli.TvmError), cls
        assert isinstance(cls.exit_code, int)
        assert 400 <= cls.http_status <= 599
    assert tvmcli.MintLimitError(2.0).exit_code == 5
    assert tvmcli.MintLimitError(2.0).http_status == 503
    assert tvmcli.MintTimeoutError("x").http_status == 504
    assert tvmcli.AuthError("x").http_status == 502


def test_mint_returns_a_token_the_sdk_reads(
    config_file: Path, emulator: Emulator, api_key: str
) -> None:
    config = tvmcli.load_config(config_file)
    token = tvmcli.mint("reader", config=config, api_key=api_key, endpoint=emulator.endpoint)
    assert token.profile == "reader"
    assert token.endpoint == emulator.endpoint
    credential = parse_credential(token.auth_token)
    assert credential.kind is Kind.DISPOSABLE_TOKEN
    assert credential.claims["exp"] == token.expires_at
    assert token.auth_token not in repr(token)
    assert token.to_tvm_json() == {
        "authToken": token.auth_token,
        "expiresAt": token.expires_at,
        "endpoint": emulator.endpoint,
        "profile": "reader",
        "tokenId": None,
    }
    bot = tvmcli.mint("bot", config=config, api_key=api_key, endpoint=emulator.endpoint)
    assert bot.token_id == "the-bot"


def test_mint_takes_the_key_from_the_environment_like_the_cli(
    config_file: Path, emulator_env: Emulator
) -> None:
    token = tvmcli.mint("reader", config=tvmcli.load_config(config_file), expires_in="90s")
    assert parse_credential(token.auth_token).claims["exp"] - token.expires_at == 0
    assert emulator_env.service.received[-1].valid_for_seconds == 90


@pytest.mark.parametrize("lifetime", [0, "0s", "00", 25 * 3600 + 1, "1d2h"])
def test_mint_refuses_lifetimes_momento_refuses(
    config_file: Path, emulator_env: Emulator, lifetime: int | str
) -> None:
    with pytest.raises(tvmcli.UsageError, match="outside what Momento allows"):
        tvmcli.mint("reader", config=tvmcli.load_config(config_file), expires_in=lifetime)
    assert emulator_env.service.stats()["calls"] == 0


def test_sync_mint_works_inside_a_running_event_loop(
    config_file: Path, emulator_env: Emulator
) -> None:
    config = tvmcli.load_config(config_file)

    async def handler() -> tvmcli.Token:  # e.g. a sync helper called from an async framework
        return tvmcli.mint("reader", config=config)

    token = asyncio.run(handler())
    assert token.profile == "reader"


def test_mint_async(config_file: Path, emulator_env: Emulator) -> None:
    config = tvmcli.load_config(config_file)
    token = asyncio.run(tvmcli.mint_async("bot", config=config, token_id="ignored"))
    assert token.token_id == "the-bot"  # the profile's own id wins, as in serve


def test_vendor_reuses_tokens_and_mints_once_for_many_threads(
    config_file: Path, emulator_env: Emulator
) -> None:
    with tvmcli.Vendor(tvmcli.load_config(config_file)) as vendor:
        results: list[tvmcli.Token] = []
        lock = threading.Lock()

        def fetch() -> None:
            token = vendor.token(token_id="alice")
            with lock:
                results.append(token)

        threads = [threading.Thread(target=fetch) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({t.auth_token for t in results}) == 1
        assert results[0].profile == "reader"  # the [server] default profile
        assert results[0].token_id == "alice"
        assert vendor.token("reader", "alice") == results[0]
        other = vendor.token("reader", "bob")
        assert other.auth_token != results[0].auth_token
    assert emulator_env.service.stats()["mints"] == 2
    assert os.environ["MOMENTO_API_KEY"] not in repr(vendor)


def test_vendor_token_async_shares_the_cache_with_sync_calls(
    config_file: Path, emulator_env: Emulator
) -> None:
    vendor = tvmcli.Vendor(tvmcli.load_config(config_file))
    try:
        first = vendor.token("reader", "carol")

        async def many() -> list[tvmcli.Token]:
            return await asyncio.gather(*(vendor.token_async("reader", "carol") for _ in range(10)))

        assert {t.auth_token for t in asyncio.run(many())} == {first.auth_token}
    finally:
        vendor.close()
    assert emulator_env.service.stats()["mints"] == 1
    with pytest.raises(tvmcli.UsageError, match="closed"):
        vendor.token("reader")


def test_vendor_sheds_with_a_tvm_error_when_the_budget_is_spent(
    write_profiles: Callable[[str], Path], emulator_env: Emulator
) -> None:
    path = write_profiles(PROFILES + '[server]\nmint_rate = 1\nmint_queue = "0s"\n')
    with tvmcli.Vendor(tvmcli.load_config(path)) as vendor:
        vendor.token("reader", "first")
        with pytest.raises(tvmcli.MintLimitError) as caught:
            vendor.token("reader", "second")
    assert isinstance(caught.value, tvmcli.TvmError)
    assert caught.value.http_status == 503
    assert caught.value.retry_after > 0


def test_vendor_without_a_default_profile_says_so(
    write_profiles: Callable[[str], Path], emulator_env: Emulator
) -> None:
    with (
        tvmcli.Vendor(tvmcli.load_config(write_profiles(PROFILES))) as vendor,
        pytest.raises(tvmcli.UsageError, match="no default_profile"),
    ):
        vendor.token()


def test_vendor_refuses_a_bad_token_id(config_file: Path, emulator_env: Emulator) -> None:
    with (
        tvmcli.Vendor(tvmcli.load_config(config_file)) as vendor,
        pytest.raises(tvmcli.UsageError, match="64"),
    ):
        vendor.token("reader", "x" * 65)


HEAVY = ("grpc", "starlette", "jwt", "cryptography", "uvicorn", "momento_wire_types")


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["inspect", "--help"],
        ["inspect", "-"],
        ["profiles", "list"],
        ["profiles", "validate"],
        ["profiles", "show", "chat-reader"],
        ["cache", "path"],
        ["cache", "clear"],
        ["hash-password"],
        ["mint", "--help"],
    ],
)
def test_light_commands_load_nothing_heavy(args: list[str], tmp_path: Path) -> None:
    probe = textwrap.dedent(
        f"""
        import atexit, sys
        def report():
            heavy = sorted({{m.split(".")[0] for m in sys.modules if m.startswith({HEAVY!r})}})
            sys.__stderr__.write("HEAVY=" + ",".join(heavy) + "\\n")
        atexit.register(report)
        sys.argv = ["momento-tvm", *{args!r}]
        from tvmcli.cli import main
        main()
        """
    )
    example = Path(__file__).parent.parent / "profiles.example.toml"
    token = tvmcli.Token("x", "e", 1).auth_token  # any input: inspect fails cleanly on it
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        input="a-long-enough-password\n" if args == ["hash-password"] else token,
        env={**os.environ, "MOMENTO_TVM_CONFIG": str(example), "HOME": str(tmp_path)},
        check=False,
    )
    assert "Traceback" not in result.stderr
    assert "HEAVY=\n" in result.stderr, result.stderr
