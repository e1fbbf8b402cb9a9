"""The minting client against a real emulator: deadlines, retries and error mapping."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import grpc
import pytest

from tests.minted import mint_once
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator, Faults
from tvmcli.errors import AuthError, ConfigError, ExitCode, TvmError, UnavailableError
from tvmcli.minting.client import Minter, RetryPolicy
from tvmcli.minting.tokens import Token
from tvmcli.permissions.roles import Role
from tvmcli.permissions.statements import Statement

READ = (Statement(Role.READ_ONLY, "c"),)


def key_for(emulator: Emulator, secret: str | None = None) -> ApiKey:
    return ApiKey(
        secret or emulator.issue_api_key(), emulator.endpoint, "$MOMENTO_API_KEY", Kind.V2_API_KEY
    )


def faulty(**faults: Any) -> Emulator:
    return Emulator(rate_limit=0, faults=Faults(**faults))


def test_minted_token_is_an_envelope_the_sdk_reads(emulator: Emulator) -> None:
    from momento import CredentialProvider

    token = mint_once(key_for(emulator), READ, 120, "job-7")
    provider = CredentialProvider.from_disposable_token(token.auth_token)
    assert provider.token_endpoint == f"token.{emulator.endpoint}"
    decoded = parse_credential(token.auth_token)
    assert decoded.kind is Kind.DISPOSABLE_TOKEN
    assert decoded.endpoint == emulator.endpoint
    assert decoded.claims["id"] == "job-7"
    assert decoded.claims["exp"] == token.expires_at
    assert token.token_id == "job-7"


def test_repr_of_a_minted_token_masks_it(emulator: Emulator) -> None:
    async def one() -> Token:
        async with Minter(key_for(emulator)) as minter:
            return await minter.mint(READ, 60)

    token = asyncio.run(one())
    assert token.auth_token not in repr(token)
    assert repr(token).startswith("Token(profile=None, endpoint=")


@pytest.mark.parametrize("status", ["UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED"])
def test_transient_failures_are_retried_within_the_deadline(status: str) -> None:
    with faulty(fail_first=2, fail_status=grpc.StatusCode[status]) as emulator:
        token = mint_once(key_for(emulator), READ, 60, timeout=10)
        assert token.expires_at > 0
        assert emulator.service.stats() == {"calls": 3, "mints": 1, "refusals": {status: 2}}


def test_persistent_unavailability_exits_5_naming_endpoint_and_last_status() -> None:
    with faulty(fail_rate=1.0) as emulator:
        with pytest.raises(UnavailableError) as caught:
            mint_once(key_for(emulator), READ, 60, timeout=1.0)
        assert caught.value.exit_code is ExitCode.UNAVAILABLE
        assert emulator.endpoint in caught.value.message
        assert "UNAVAILABLE after" in caught.value.message
        assert emulator.service.stats()["calls"] > 1


def test_throttling_after_retries_hints_at_the_account_limit() -> None:
    with faulty(fail_rate=1.0, fail_status=grpc.StatusCode.RESOURCE_EXHAUSTED) as emulator:
        with pytest.raises(UnavailableError, match="RESOURCE_EXHAUSTED") as caught:
            mint_once(key_for(emulator), READ, 60, timeout=0.5)
        assert caught.value.hint is not None
        assert "5 mints per second" in caught.value.hint


@pytest.mark.parametrize("status", ["UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT"])
def test_refusals_are_never_retried(status: str) -> None:
    with faulty(fail_first=1, fail_status=grpc.StatusCode[status]) as emulator:
        with pytest.raises(TvmError):
            mint_once(key_for(emulator), READ, 60)
        assert emulator.service.stats()["calls"] == 1


def test_a_slow_service_times_out_with_exit_5() -> None:
    with (
        faulty(latency=2.0) as emulator,
        pytest.raises(UnavailableError, match=r"no answer from .* within 0.3s"),
    ):
        mint_once(key_for(emulator), READ, 60, timeout=0.3)


def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = ApiKey("k.k.k", f"127.0.0.1:{port}", "test", Kind.V2_API_KEY)
    with pytest.raises(UnavailableError, match=f"127.0.0.1:{port}"):
        mint_once(key, READ, 60, timeout=0.5)


def test_unknown_key_is_an_auth_error_naming_the_source_not_the_key(emulator: Emulator) -> None:
    with Emulator() as other:
        foreign = other.issue_api_key()
    with pytest.raises(AuthError) as caught:
        mint_once(key_for(emulator, foreign), READ, 60)
    assert caught.value.exit_code is ExitCode.AUTH
    assert "the key from $MOMENTO_API_KEY" in caught.value.message
    assert foreign not in caught.value.message


def test_minting_with_a_disposable_token_explains_why_it_is_refused(emulator: Emulator) -> None:
    token = mint_once(key_for(emulator), READ, 60)
    decoded = parse_credential(token.auth_token)
    as_key = ApiKey(decoded.secret, emulator.endpoint, "file t", decoded.kind)
    with pytest.raises(AuthError) as caught:
        mint_once(as_key, READ, 60)
    assert (
        caught.value.hint
        == "That is a disposable token; tokens cannot mint tokens. Use an API key."
    )


def test_service_side_validation_errors_are_config_errors(emulator: Emulator) -> None:
    with pytest.raises(ConfigError, match="Momento rejected the request: permissions"):
        mint_once(key_for(emulator), READ * 2, 60)


def test_minter_reuses_its_channel_for_many_mints(emulator: Emulator) -> None:
    async def run() -> list[Token]:
        async with Minter(key_for(emulator)) as minter:
            return await asyncio.gather(*(minter.mint(READ, 60, f"id-{i}") for i in range(10)))

    tokens = asyncio.run(run())
    assert len({t.auth_token for t in tokens}) == 10
    assert emulator.service.stats()["mints"] == 10


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    policy = RetryPolicy(base=0.1, cap=1.0)
    assert [policy.backoff(n, lambda: 1.0) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert policy.backoff(3, lambda: 0.5) == pytest.approx(0.4)
    assert policy.backoff(3, lambda: 0.0) == 0.0
