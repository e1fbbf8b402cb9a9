"""The emulator accepts what Momento's SDKs actually send, replayed byte for byte.

The Python SDK drives the emulator itself (AuthClient over its own channel); the JS SDK's
request is built exactly as @gomomento/sdk 1.118 builds it (internal-auth-client.ts: the key
only in the `auth_token` field, no `authorization` metadata, a 60 s deadline, and a cache
permission with no item selector for cacheReadOnly(AllCaches) and AllDataReadWrite).
Momento's own integration test (client-sdk-javascript, common-integration-tests
src/auth/auth-client.ts) expects the service to accept that shape as "all items".
"""

from __future__ import annotations

import json
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import json_format
from momento_wire_types import permissionmessages_pb2 as pb
from momento_wire_types import token_pb2, token_pb2_grpc
from typer.testing import Result

from tvmcli.credentials import jwtcodec
from tvmcli.emulator import Emulator

PT = pb.PermissionsType
Request = token_pb2._GenerateDisposableTokenRequest
Cli = Callable[..., Result]


def python_sdk_scopes() -> dict[str, object]:
    from momento.auth.access_control.disposable_token_scope import DisposableTokenScope
    from momento.auth.access_control.disposable_token_scopes import DisposableTokenScopes
    from momento.auth.access_control.permission_scope import (
        ALL_DATA_READ_WRITE,
        AllCaches,
        CachePermission,
        CacheRole,
        CacheSelector,
        Permissions,
        TopicPermission,
        TopicRole,
        TopicSelector,
    )

    return {
        "cache_read_only(AllCaches)": DisposableTokenScopes.cache_read_only(AllCaches()),
        "cache_read_write('chat')": DisposableTokenScopes.cache_read_write("chat"),
        "AllDataReadWrite": DisposableTokenScope(ALL_DATA_READ_WRITE),
        "cache plus topic": DisposableTokenScope(
            Permissions(
                [
                    CachePermission(CacheSelector("chat"), CacheRole.READ_ONLY),
                    TopicPermission(
                        TopicRole.SUBSCRIBE_ONLY, CacheSelector("chat"), TopicSelector("news")
                    ),
                ]
            )
        ),
    }


@pytest.mark.parametrize("name", list(python_sdk_scopes()))
def test_the_python_sdk_scopes_without_an_item_selector_are_accepted(
    emulator: Emulator, api_key: str, cli: Cli, name: str
) -> None:
    from momento import AuthClient, CredentialProvider
    from momento.config.auth_configurations import AuthConfigurations
    from momento.responses.auth.generate_disposable_token import GenerateDisposableToken
    from momento.utilities import ExpiresIn

    host, port = emulator.endpoint.split(":")
    client = AuthClient(
        AuthConfigurations.Laptop.latest(), CredentialProvider(api_key, host, host, host, int(port))
    )
    try:
        response = client.generate_disposable_token(python_sdk_scopes()[name], ExpiresIn.minutes(5))
    finally:
        client.close()
    assert isinstance(response, GenerateDisposableToken.Success), response
    sent = emulator.service.received[-1].permissions.explicit.permissions
    cache_statements = [s.cache_permissions for s in sent if s.HasField("cache_permissions")]
    assert cache_statements
    assert all(c.WhichOneof("cache_item") is None for c in cache_statements)  # the SDK's shape
    body = json.loads(cli("inspect", response.auth_token, "-o", "json").stdout)
    cache_rows = [p for p in body["permissions"] if p["resource"] == "cache"]
    assert cache_rows
    assert all(row["scope"] == "all items" for row in cache_rows)


def js_sdk_request(key: str, *statements: PT, seconds: int = 300) -> Request:
    """What InternalAuthClient.generateDisposableToken builds: no token_id unless given."""
    return Request(
        expires=Request.Expires(valid_for_seconds=seconds),
        auth_token=key,
        permissions=pb.Permissions(explicit=pb.ExplicitPermissions(permissions=list(statements))),
    )


JS_SCOPES = {
    "cacheReadOnly(AllCaches)": [
        PT(cache_permissions=PT.CachePermissions(role=pb.CacheReadOnly, all_caches=PT.All()))
    ],
    "AllDataReadWrite": [
        PT(cache_permissions=PT.CachePermissions(role=pb.CacheReadWrite, all_caches=PT.All())),
        PT(
            topic_permissions=PT.TopicPermissions(
                role=pb.TopicReadWrite, all_caches=PT.All(), all_topics=PT.All()
            )
        ),
    ],
    "cacheReadWrite('chat') + topicPublishSubscribe('chat', AllTopics)": [
        PT(
            cache_permissions=PT.CachePermissions(
                role=pb.CacheReadWrite, cache_selector=PT.CacheSelector(cache_name="chat")
            )
        ),
        PT(
            topic_permissions=PT.TopicPermissions(
                role=pb.TopicReadWrite,
                cache_selector=PT.CacheSelector(cache_name="chat"),
                all_topics=PT.All(),
            )
        ),
    ],
}


@pytest.mark.parametrize("name", list(JS_SCOPES))
def test_the_js_sdk_request_shapes_are_accepted(
    emulator: Emulator, api_key: str, name: str
) -> None:
    with grpc.insecure_channel(emulator.endpoint) as channel:
        response = token_pb2_grpc.TokenStub(channel).GenerateDisposableToken(
            js_sdk_request(api_key, *JS_SCOPES[name]),
            metadata=(("agent", "nodejs:auth:1.118.1"), ("runtime-version", "nodejs:20.0.0")),
            timeout=60,
        )
    _, claims = jwtcodec.decode_unverified(response.api_key)
    assert claims["p"] == json_format.MessageToDict(
        js_sdk_request(api_key, *JS_SCOPES[name]).permissions, preserving_proto_field_name=True
    )
    assert response.valid_until - claims["iat"] == 300


def test_no_item_selector_and_all_items_are_the_same_target(
    emulator: Emulator, api_key: str
) -> None:
    """Both mean every item, so sending both is a duplicate, as two all_items would be."""
    bare = PT(cache_permissions=PT.CachePermissions(role=pb.CacheReadOnly, all_caches=PT.All()))
    explicit = PT(
        cache_permissions=PT.CachePermissions(
            role=pb.CacheReadWrite, all_caches=PT.All(), all_items=PT.All()
        )
    )
    with grpc.insecure_channel(emulator.endpoint) as channel, pytest.raises(grpc.RpcError) as err:
        token_pb2_grpc.TokenStub(channel).GenerateDisposableToken(
            js_sdk_request(api_key, bare, explicit), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "permissions[1] conflicts with permissions[0]" in (err.value.details() or "")
