"""The emulator behaves like Momento's token service, checked with a raw gRPC client."""

from __future__ import annotations

import logging
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from momento_wire_types import permissionmessages_pb2 as pb
from momento_wire_types import token_pb2, token_pb2_grpc

from tvmcli.credentials import jwtcodec
from tvmcli.credentials.decoding import make_envelope
from tvmcli.emulator import Emulator, Faults
from tvmcli.emulator.runner import load_or_create_secret
from tvmcli.errors import ConfigError, UsageError

PT = pb.PermissionsType
Request = token_pb2._GenerateDisposableTokenRequest


def read_cache(name: str = "c") -> PT:
    return PT(
        cache_permissions=PT.CachePermissions(
            role=pb.CacheReadOnly,
            cache_selector=PT.CacheSelector(cache_name=name),
            all_items=PT.All(),
        )
    )


def request(key: str, *statements: PT, seconds: int = 60, token_id: str = "") -> Request:
    return Request(
        expires=Request.Expires(valid_for_seconds=seconds),
        auth_token=key,
        permissions=pb.Permissions(
            explicit=pb.ExplicitPermissions(permissions=list(statements or [read_cache()]))
        ),
        token_id=token_id,
    )


@pytest.fixture
def stub(emulator: Emulator) -> Iterator[token_pb2_grpc.TokenStub]:
    with grpc.insecure_channel(emulator.endpoint) as channel:
        yield token_pb2_grpc.TokenStub(channel)


def refusal(stub: token_pb2_grpc.TokenStub, req: Request, metadata: tuple = ()) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.GenerateDisposableToken(req, metadata=metadata, timeout=5)
    return caught.value


def test_mints_a_signed_token_carrying_expiry_id_and_exact_permissions(
    emulator: Emulator, api_key: str, stub: token_pb2_grpc.TokenStub
) -> None:
    before = int(time.time())
    req = request(api_key, read_cache("a"), seconds=600, token_id="alice")
    response = stub.GenerateDisposableToken(req, timeout=5)

    assert response.endpoint == emulator.endpoint
    assert before + 600 <= response.valid_until <= int(time.time()) + 600
    header, claims = jwtcodec.decode_unverified(response.api_key)
    assert header["alg"] == "HS256"
    assert claims["exp"] == response.valid_until
    assert before <= claims["iat"] <= response.valid_until - 600
    assert claims["id"] == "alice"
    assert "t" not in claims
    granted = json_format.ParseDict(claims["p"], pb.Permissions())
    assert granted == req.permissions


def test_key_is_read_from_the_request_field_like_the_js_sdk(
    api_key: str, stub: token_pb2_grpc.TokenStub
) -> None:
    assert stub.GenerateDisposableToken(request(api_key), timeout=5).api_key


def test_key_in_authorization_metadata_is_accepted_when_the_field_is_empty(
    api_key: str, stub: token_pb2_grpc.TokenStub
) -> None:
    response = stub.GenerateDisposableToken(
        request(""), metadata=(("authorization", api_key),), timeout=5
    )
    assert response.api_key


def test_a_v1_envelope_around_the_key_is_accepted(
    emulator: Emulator, api_key: str, stub: token_pb2_grpc.TokenStub
) -> None:
    envelope = make_envelope(emulator.endpoint, api_key)
    assert stub.GenerateDisposableToken(request(envelope), timeout=5).api_key


@pytest.mark.parametrize("key", ["", "not-a-key", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"])
def test_keys_it_did_not_sign_are_unauthenticated(stub: token_pb2_grpc.TokenStub, key: str) -> None:
    error = refusal(stub, request(key))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


def test_keys_of_another_emulator_are_unauthenticated(stub: token_pb2_grpc.TokenStub) -> None:
    with Emulator() as other:
        foreign = other.issue_api_key()
    assert refusal(stub, request(foreign)).code() is grpc.StatusCode.UNAUTHENTICATED


def test_expired_keys_are_unauthenticated(
    emulator: Emulator, stub: token_pb2_grpc.TokenStub
) -> None:
    key = emulator.issue_api_key(expires_in=1)
    stub.GenerateDisposableToken(request(key), timeout=5)
    time.sleep(1.1)
    error = refusal(stub, request(key))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in error.details()


def test_a_disposable_token_cannot_mint(
    emulator: Emulator, api_key: str, stub: token_pb2_grpc.TokenStub
) -> None:
    token = stub.GenerateDisposableToken(request(api_key), timeout=5).api_key
    error = refusal(stub, request(token))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    envelope = make_envelope(emulator.endpoint, token)
    assert refusal(stub, request(envelope)).code() is grpc.StatusCode.PERMISSION_DENIED


def test_a_key_without_the_right_to_mint_is_permission_denied(
    emulator: Emulator, stub: token_pb2_grpc.TokenStub
) -> None:
    error = refusal(stub, request(emulator.issue_api_key(can_mint=False)))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "Insufficient permissions"


@pytest.mark.parametrize(("seconds", "ok"), [(0, False), (1, True), (90000, True), (90001, False)])
def test_lifetime_must_be_one_second_to_25_hours(
    api_key: str, stub: token_pb2_grpc.TokenStub, seconds: int, ok: bool
) -> None:
    req = request(api_key, seconds=seconds)
    if ok:
        assert stub.GenerateDisposableToken(req, timeout=5).valid_until
    else:
        error = refusal(stub, req)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "valid_for_seconds must be 1 to 90000" in error.details()


def invalid(stub: token_pb2_grpc.TokenStub, req: Request) -> str:
    error = refusal(stub, req)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    return str(error.details())


def test_permission_count_must_be_1_to_20(api_key: str, stub: token_pb2_grpc.TokenStub) -> None:
    empty = request(api_key)
    del empty.permissions.explicit.permissions[:]
    assert "1 to 20 permissions, got 0" in invalid(stub, empty)
    many = request(api_key, *(read_cache(f"c{i}") for i in range(21)))
    assert "got 21" in invalid(stub, many)
    twenty = request(api_key, *(read_cache(f"c{i}") for i in range(20)))
    assert stub.GenerateDisposableToken(twenty, timeout=5).api_key


def test_super_user_and_missing_permissions_are_refused(
    api_key: str, stub: token_pb2_grpc.TokenStub
) -> None:
    req = request(api_key)
    req.permissions.super_user = pb.SuperUser
    assert "super user" in invalid(stub, req)
    req.ClearField("permissions")
    assert "permissions are missing" in invalid(stub, req)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (PT(), "grants nothing"),
        (
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CachePermitNone, all_caches=PT.All(), all_items=PT.All()
                )
            ),
            "no role",
        ),
        (
            PT(
                topic_permissions=PT.TopicPermissions(
                    role=pb.TopicPermitNone, all_caches=PT.All(), all_topics=PT.All()
                )
            ),
            "no role",
        ),
        (
            PT(cache_permissions=PT.CachePermissions(role=pb.CacheReadOnly, all_items=PT.All())),
            "selects no cache",
        ),
        (
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadOnly, cache_selector=PT.CacheSelector(), all_items=PT.All()
                )
            ),
            "empty cache name",
        ),
        (
            PT(topic_permissions=PT.TopicPermissions(role=pb.TopicReadOnly, all_caches=PT.All())),
            "selects no topic",
        ),
        (
            PT(
                topic_permissions=PT.TopicPermissions(
                    role=pb.TopicReadOnly, all_caches=PT.All(), topic_selector=PT.TopicSelector()
                )
            ),
            "empty topic selector",
        ),
        (
            PT(
                function_permissions=PT.FunctionPermissions(
                    role=pb.FunctionInvoke,
                    all_caches=PT.All(),
                    function_selector=PT.FunctionSelector(function_name_prefix=""),
                )
            ),
            "empty function selector",
        ),
        (
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadOnly, all_caches=PT.All(), item_selector=PT.CacheItemSelector()
                )
            ),
            "empty item selector",
        ),
    ],
)
def test_incomplete_statements_are_refused_saying_what_is_wrong(
    api_key: str, stub: token_pb2_grpc.TokenStub, statement: PT, message: str
) -> None:
    assert message in invalid(stub, request(api_key, read_cache("ok"), statement))


def test_duplicate_and_conflicting_statements_are_refused(
    api_key: str, stub: token_pb2_grpc.TokenStub
) -> None:
    assert "permissions[1] duplicates permissions[0]" in invalid(
        stub, request(api_key, read_cache("c"), read_cache("c"))
    )
    writer = PT(
        cache_permissions=PT.CachePermissions(
            role=pb.CacheReadWrite,
            cache_selector=PT.CacheSelector(cache_name="c"),
            all_items=PT.All(),
        )
    )
    assert "permissions[1] conflicts with permissions[0]" in invalid(
        stub, request(api_key, read_cache("c"), writer)
    )


def test_token_id_over_64_characters_is_refused(
    api_key: str, stub: token_pb2_grpc.TokenStub
) -> None:
    assert "token_id is longer than 64" in invalid(stub, request(api_key, token_id="x" * 65))
    assert stub.GenerateDisposableToken(request(api_key, token_id="x" * 64), timeout=5).api_key


def test_account_rate_limit_refuses_the_sixth_mint_in_a_second() -> None:
    with Emulator(rate_limit=5) as emulator, grpc.insecure_channel(emulator.endpoint) as channel:
        stub = token_pb2_grpc.TokenStub(channel)
        key = emulator.issue_api_key()
        for _ in range(5):
            stub.GenerateDisposableToken(request(key), timeout=5)
        error = refusal(stub, request(key))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        time.sleep(1.05)
        assert stub.GenerateDisposableToken(request(key), timeout=5).api_key
        assert emulator.service.stats() == {
            "calls": 7,
            "mints": 6,
            "refusals": {"RESOURCE_EXHAUSTED": 1},
        }


def test_fail_first_then_succeed() -> None:
    faults = Faults(fail_first=2, fail_status=grpc.StatusCode.INTERNAL)
    with (
        Emulator(rate_limit=0, faults=faults) as emulator,
        grpc.insecure_channel(emulator.endpoint) as channel,
    ):
        stub = token_pb2_grpc.TokenStub(channel)
        key = emulator.issue_api_key()
        assert refusal(stub, request(key)).code() is grpc.StatusCode.INTERNAL
        assert refusal(stub, request(key)).code() is grpc.StatusCode.INTERNAL
        assert stub.GenerateDisposableToken(request(key), timeout=5).api_key
        assert emulator.service.stats()["refusals"] == {"INTERNAL": 2}


def test_fail_rate_one_fails_every_call_with_the_chosen_status() -> None:
    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode.RESOURCE_EXHAUSTED)
    with (
        Emulator(rate_limit=0, faults=faults) as emulator,
        grpc.insecure_channel(emulator.endpoint) as channel,
    ):
        stub = token_pb2_grpc.TokenStub(channel)
        key = emulator.issue_api_key()
        for _ in range(3):
            assert refusal(stub, request(key)).code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_latency_delays_every_answer() -> None:
    with (
        Emulator(rate_limit=0, faults=Faults(latency=0.3)) as emulator,
        grpc.insecure_channel(emulator.endpoint) as channel,
    ):
        stub = token_pb2_grpc.TokenStub(channel)
        started = time.monotonic()
        stub.GenerateDisposableToken(request(emulator.issue_api_key()), timeout=5)
        assert time.monotonic() - started >= 0.3
        with pytest.raises(grpc.RpcError) as caught:
            stub.GenerateDisposableToken(request(emulator.issue_api_key()), timeout=0.1)
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


def test_one_log_line_per_call_without_secrets(
    api_key: str, stub: token_pb2_grpc.TokenStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tvmcli.emulator")
    token = stub.GenerateDisposableToken(request(api_key, token_id="bob"), timeout=5).api_key
    refusal(stub, request("wrong"))
    lines = [r.getMessage() for r in caplog.records if r.name == "tvmcli.emulator"]
    assert len(lines) == 2
    assert lines[0] == "minted token_id=bob statements=1 valid_for=60s"
    assert lines[1] == "refused UNAUTHENTICATED: Invalid API key"
    assert api_key not in caplog.text
    assert token not in caplog.text


def test_secret_file_lets_keys_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    secret = load_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with Emulator(secret=secret) as first:
        key = first.issue_api_key()
    with (
        Emulator(secret=load_or_create_secret(path)) as second,
        grpc.insecure_channel(second.endpoint) as channel,
    ):
        response = token_pb2_grpc.TokenStub(channel).GenerateDisposableToken(
            request(key), timeout=5
        )
        assert response.api_key


def test_a_short_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("short\n")
    with pytest.raises(ConfigError, match="fewer than 32 characters"):
        load_or_create_secret(path)


def test_a_port_in_use_is_a_clear_error(emulator: Emulator) -> None:
    with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{emulator.port}"):
        Emulator(port=emulator.port).start()


def test_the_momento_sdk_mints_against_the_emulator(emulator: Emulator, api_key: str) -> None:
    """The real SDK, over its own channel, gets a token that it can read back."""
    from momento import AuthClient, CredentialProvider
    from momento.auth.access_control.disposable_token_scopes import DisposableTokenScopes
    from momento.config.auth_configurations import AuthConfigurations
    from momento.responses.auth.generate_disposable_token import GenerateDisposableToken
    from momento.utilities import ExpiresIn

    host, port = emulator.endpoint.split(":")
    credentials = CredentialProvider(api_key, host, host, host, int(port))
    client = AuthClient(AuthConfigurations.Laptop.latest(), credentials)
    response = client.generate_disposable_token(
        DisposableTokenScopes.topic_subscribe_only("chat", "news"), ExpiresIn.minutes(5)
    )
    client.close()
    assert isinstance(response, GenerateDisposableToken.Success), response
    provider = CredentialProvider.from_disposable_token(response.auth_token)
    _, claims = jwtcodec.decode_unverified(provider.auth_token)
    assert claims["exp"] == response.expires_at.epoch()
    received = emulator.service.received[-1].permissions.explicit.permissions
    assert received[0].topic_permissions.topic_selector.topic_name == "news"
