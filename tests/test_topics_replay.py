"""Momento's own integration-test expectations for topic tokens, replayed on the emulator.

Written against the real service in Momento's SDK repositories (read, not copied):
- client-sdk-python tests/momento/auth_client/test_auth_client.py: topic_publish_only,
  topic_subscribe_only, topic_publish_subscribe, each for one cache and topic and for all
  caches and topics; success or PERMISSION_ERROR for the named topic, another topic, another
  cache. Tokens are minted here as there: the Python SDK's AuthClient and DisposableTokenScopes.
- client-sdk-go momento/auth_client_test.go TopicNamePrefix{PublishSubscribe,PublishOnly,
  SubscribeOnly}: a topic with the prefix is allowed, another is denied, another cache is
  denied unless the scope is all caches. (The Python SDK cannot express a topic prefix, so the
  token comes from a profile statement, which builds the same wire message as the Go SDK.)
- client-sdk-javascript packages/common-integration-tests/src/auth/auth-client.ts:
  subscribe-only cannot publish; a token id "myTokenID" is what subscribers see as tokenId()
  (read with the raw stub: the Python SDK hides publisher_id); a 66-character token id is
  INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from momento import AuthClient, CredentialProvider, TopicClient, TopicConfigurations
from momento.auth.access_control.disposable_token_scopes import DisposableTokenScopes
from momento.auth.access_control.permission_scope import AllCaches, AllTopics
from momento.config.auth_configurations import AuthConfigurations
from momento.errors import MomentoErrorCode
from momento.responses import TopicPublish, TopicSubscribe
from momento.responses.auth.generate_disposable_token import GenerateDisposableToken
from momento.utilities import ExpiresIn
from momento_wire_types import cachepubsub_pb2 as pubsub_pb
from momento_wire_types import cachepubsub_pb2_grpc, token_pb2, token_pb2_grpc
from momento_wire_types import permissionmessages_pb2 as perm

from tests.minted import mint_once
from tvmcli.config.file import parse_config
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator

CACHE = "replay-cache"
OTHER_CACHE = "replay-other-cache"
TOPIC = "replay-topic"
CONFIG = TopicConfigurations.Default.v1().with_client_timeout(timedelta(seconds=30))


def provider(emulator: Emulator, credential: str) -> CredentialProvider:
    host, port = emulator.endpoint.split(":")
    return CredentialProvider(credential, host, host, host, int(port))


@pytest.fixture
def auth_client(emulator: Emulator, api_key: str) -> Iterator[AuthClient]:
    client = AuthClient(AuthConfigurations.Laptop.latest(), provider(emulator, api_key))
    yield client
    client.close()


def sdk_token(auth_client: AuthClient, scope: object) -> str:
    response = auth_client.generate_disposable_token(scope, ExpiresIn.minutes(2))  # type: ignore[arg-type]
    assert isinstance(response, GenerateDisposableToken.Success), response
    return parse_credential(response.auth_token).secret


def can_publish(client: TopicClient, cache: str, topic: str) -> bool:
    response = client.publish(cache, topic, "hello")
    if isinstance(response, TopicPublish.Error):
        assert response.error_code is MomentoErrorCode.PERMISSION_ERROR, response
        return False
    assert isinstance(response, TopicPublish.Success)
    return True


def can_subscribe(client: TopicClient, cache: str, topic: str) -> bool:
    response = client.subscribe(cache, topic)
    if isinstance(response, TopicSubscribe.Error):
        assert response.error_code is MomentoErrorCode.PERMISSION_ERROR, response
        return False
    assert isinstance(response, TopicSubscribe.Subscription)
    response.unsubscribe()
    return True


SCOPES = {
    "publish_only": DisposableTokenScopes.topic_publish_only,
    "subscribe_only": DisposableTokenScopes.topic_subscribe_only,
    "publish_subscribe": DisposableTokenScopes.topic_publish_subscribe,
}
MAY = {
    "publish_only": (True, False),
    "subscribe_only": (False, True),
    "publish_subscribe": (True, True),
}


@pytest.mark.parametrize("role", list(SCOPES))
def test_python_sdk_topic_scopes_for_one_cache_and_topic(
    emulator: Emulator, auth_client: AuthClient, role: str
) -> None:
    token = sdk_token(auth_client, SCOPES[role](CACHE, TOPIC))
    publish, subscribe = MAY[role]
    with TopicClient(CONFIG, provider(emulator, token)) as client:
        assert can_publish(client, CACHE, TOPIC) is publish
        assert can_subscribe(client, CACHE, TOPIC) is subscribe
        for cache, topic in ((CACHE, "another-topic"), (OTHER_CACHE, TOPIC)):
            assert not can_publish(client, cache, topic)
            assert not can_subscribe(client, cache, topic)


@pytest.mark.parametrize("role", list(SCOPES))
def test_python_sdk_topic_scopes_for_all_caches_and_topics(
    emulator: Emulator, auth_client: AuthClient, role: str
) -> None:
    token = sdk_token(auth_client, SCOPES[role](AllCaches(), AllTopics()))
    publish, subscribe = MAY[role]
    with TopicClient(CONFIG, provider(emulator, token)) as client:
        for cache, topic in ((CACHE, TOPIC), (CACHE, "another-topic"), (OTHER_CACHE, TOPIC)):
            assert can_publish(client, cache, topic) is publish
            assert can_subscribe(client, cache, topic) is subscribe


def test_python_sdk_cache_scopes_grant_no_topic_access(
    emulator: Emulator, auth_client: AuthClient
) -> None:
    # The Go test's cache-key tokens: publish and subscribe fail on the token's own cache.
    for scope in (
        DisposableTokenScopes.cache_read_write(AllCaches()),
        DisposableTokenScopes.cache_key_read_only(CACHE, "some-key"),
    ):
        token = sdk_token(auth_client, scope)
        with TopicClient(CONFIG, provider(emulator, token)) as client:
            assert not can_publish(client, CACHE, TOPIC)
            assert not can_subscribe(client, CACHE, TOPIC)


GO_PREFIX_ROLES = {
    "TopicNamePrefixPublishSubscribe": ("publish-subscribe", True, True),
    "TopicNamePrefixPublishOnly": ("publish-only", True, False),
    "TopicNamePrefixSubscribeOnly": ("subscribe-only", False, True),
}


@pytest.mark.parametrize("scope", list(GO_PREFIX_ROLES))
@pytest.mark.parametrize("all_caches", [False, True])
def test_go_sdk_topic_name_prefix_scopes(emulator: Emulator, scope: str, all_caches: bool) -> None:
    role, publish, subscribe = GO_PREFIX_ROLES[scope]
    cache = "*" if all_caches else CACHE
    text = (
        "[profiles.p]\npermissions = ["
        f'{{ role = "{role}", cache = "{cache}", topic_prefix = "{TOPIC}" }}]\n'
    )
    statements = parse_config(text, Path("p.toml")).profile("p").statements
    key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
    token = parse_credential(mint_once(key, statements, 120).auth_token).secret
    sent = emulator.service.received[-1].permissions.explicit.permissions[0].topic_permissions
    assert sent.topic_selector.topic_name_prefix == TOPIC  # the Go SDK's wire shape
    with TopicClient(CONFIG, provider(emulator, token)) as client:
        assert can_publish(client, CACHE, f"{TOPIC}w00t") is publish
        assert can_subscribe(client, CACHE, f"{TOPIC}w00t") is subscribe
        assert not can_publish(client, CACHE, f"w00t{TOPIC}")
        assert not can_subscribe(client, CACHE, f"w00t{TOPIC}")
        assert can_publish(client, OTHER_CACHE, f"{TOPIC}w00t") is (publish and all_caches)
        assert can_subscribe(client, OTHER_CACHE, f"{TOPIC}w00t") is (subscribe and all_caches)


def test_js_subscribe_only_cannot_publish(emulator: Emulator, auth_client: AuthClient) -> None:
    token = sdk_token(auth_client, DisposableTokenScopes.topic_subscribe_only(CACHE, AllTopics()))
    with TopicClient(CONFIG, provider(emulator, token)) as client:
        assert can_subscribe(client, CACHE, TOPIC)
        assert not can_publish(client, CACHE, TOPIC)


def test_js_a_66_character_token_id_is_invalid_argument(emulator: Emulator, api_key: str) -> None:
    PT = perm.PermissionsType
    request = token_pb2._GenerateDisposableTokenRequest(
        expires=token_pb2._GenerateDisposableTokenRequest.Expires(valid_for_seconds=60),
        auth_token=api_key,
        token_id="x" * 66,
        permissions=perm.Permissions(
            explicit=perm.ExplicitPermissions(
                permissions=[
                    PT(
                        topic_permissions=PT.TopicPermissions(
                            role=perm.TopicReadWrite, all_caches=PT.All(), all_topics=PT.All()
                        )
                    )
                ]
            )
        ),
    )
    with grpc.insecure_channel(emulator.endpoint) as channel:
        stub = token_pb2_grpc.TokenStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as refused:
            stub.GenerateDisposableToken(request, timeout=10)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_js_the_token_id_is_what_subscribers_see(
    emulator: Emulator, auth_client: AuthClient, api_key: str
) -> None:
    from momento.auth.access_control.disposable_token_scope import DisposableTokenProps

    response = auth_client.generate_disposable_token(
        DisposableTokenScopes.topic_publish_subscribe(CACHE, AllTopics()),
        ExpiresIn.minutes(2),
        DisposableTokenProps(token_id="myTokenID"),
    )
    assert isinstance(response, GenerateDisposableToken.Success), response
    token = parse_credential(response.auth_token).secret
    with grpc.insecure_channel(emulator.endpoint) as channel:
        stub = cachepubsub_pb2_grpc.PubsubStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.Subscribe(
            pubsub_pb._SubscriptionRequest(cache_name=CACHE, topic=TOPIC),
            metadata=(("authorization", api_key),),
            timeout=30,
        )
        assert next(stream).WhichOneof("kind") == "heartbeat"
        with TopicClient(CONFIG, provider(emulator, token)) as client:
            assert can_publish(client, CACHE, TOPIC)
        message = next(m for m in stream if m.WhichOneof("kind") == "item")
        stream.cancel()
    assert message.item.publisher_id == "myTokenID"
