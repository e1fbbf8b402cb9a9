"""Profiles reach the token service as exactly the Permissions message they name.

Each case pairs profile statements with the message written out by hand from the proto
definition, and checks what the emulator received on its side of the gRPC wire.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from momento_wire_types import permissionmessages_pb2 as pb

from tvmcli.config.file import parse_config
from tvmcli.credentials.decoding import Kind
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator
from tvmcli.minting.client import Minter

PT = pb.PermissionsType
ALL = PT.All()


def named(cache: str) -> PT.CacheSelector:
    return PT.CacheSelector(cache_name=cache)


CASES: list[tuple[str, str, list[PT]]] = [
    (
        "cache read-write, whole named cache",
        '{ role = "read-write", cache = "c" }',
        [
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadWrite, cache_selector=named("c"), all_items=ALL
                )
            )
        ],
    ),
    (
        "cache read-only, every cache",
        '{ role = "read-only", cache = "*" }',
        [
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadOnly, all_caches=ALL, all_items=ALL
                )
            )
        ],
    ),
    (
        "cache write-only, one key",
        '{ role = "write-only", cache = "c", key = "k1" }',
        [
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheWriteOnly,
                    cache_selector=named("c"),
                    item_selector=PT.CacheItemSelector(key=b"k1"),
                )
            )
        ],
    ),
    (
        "cache read-only, key prefix, non-ASCII",
        '{ role = "read-only", cache = "c", key_prefix = "usér-" }',
        [
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadOnly,
                    cache_selector=named("c"),
                    item_selector=PT.CacheItemSelector(key_prefix="usér-".encode()),
                )
            )
        ],
    ),
    (
        "topic publish-subscribe, all topics",
        '{ role = "publish-subscribe", cache = "chat", topic = "*" }',
        [
            PT(
                topic_permissions=PT.TopicPermissions(
                    role=pb.TopicReadWrite, cache_selector=named("chat"), all_topics=ALL
                )
            )
        ],
    ),
    (
        "topic subscribe-only, one topic, every cache",
        '{ role = "subscribe-only", cache = "*", topic = "news" }',
        [
            PT(
                topic_permissions=PT.TopicPermissions(
                    role=pb.TopicReadOnly,
                    all_caches=ALL,
                    topic_selector=PT.TopicSelector(topic_name="news"),
                )
            )
        ],
    ),
    (
        "topic publish-only, name prefix",
        '{ role = "publish-only", cache = "chat", topic_prefix = "room-" }',
        [
            PT(
                topic_permissions=PT.TopicPermissions(
                    role=pb.TopicWriteOnly,
                    cache_selector=named("chat"),
                    topic_selector=PT.TopicSelector(topic_name_prefix="room-"),
                )
            )
        ],
    ),
    (
        "function invoke, all functions",
        '{ role = "invoke", cache = "fn", function = "*" }',
        [
            PT(
                function_permissions=PT.FunctionPermissions(
                    role=pb.FunctionInvoke, cache_selector=named("fn"), all_functions=ALL
                )
            )
        ],
    ),
    (
        "function invoke, one function",
        '{ role = "functioninvoke", cache = "*", function = "resize" }',
        [
            PT(
                function_permissions=PT.FunctionPermissions(
                    role=pb.FunctionInvoke,
                    all_caches=ALL,
                    function_selector=PT.FunctionSelector(function_name="resize"),
                )
            )
        ],
    ),
    (
        "function invoke, name prefix",
        '{ role = "invoke", cache = "fn", function_prefix = "resize-" }',
        [
            PT(
                function_permissions=PT.FunctionPermissions(
                    role=pb.FunctionInvoke,
                    cache_selector=named("fn"),
                    function_selector=PT.FunctionSelector(function_name_prefix="resize-"),
                )
            )
        ],
    ),
    (
        # The SDK's builder widens the key prefix to the whole cache when a topic is present.
        "key prefix together with topics in one token",
        '{ role = "publish-subscribe", cache = "chat", topic_prefix = "room-" },\n'
        '{ role = "read-write", cache = "chat", key_prefix = "user-" }',
        [
            PT(
                topic_permissions=PT.TopicPermissions(
                    role=pb.TopicReadWrite,
                    cache_selector=named("chat"),
                    topic_selector=PT.TopicSelector(topic_name_prefix="room-"),
                )
            ),
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadWrite,
                    cache_selector=named("chat"),
                    item_selector=PT.CacheItemSelector(key_prefix=b"user-"),
                )
            ),
        ],
    ),
    (
        "single key together with a topic and a function",
        '{ role = "read-only", cache = "c", key = "flags" },\n'
        '{ role = "subscribe-only", cache = "c", topic = "t" },\n'
        '{ role = "invoke", cache = "c", function = "f" }',
        [
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadOnly,
                    cache_selector=named("c"),
                    item_selector=PT.CacheItemSelector(key=b"flags"),
                )
            ),
            PT(
                topic_permissions=PT.TopicPermissions(
                    role=pb.TopicReadOnly,
                    cache_selector=named("c"),
                    topic_selector=PT.TopicSelector(topic_name="t"),
                )
            ),
            PT(
                function_permissions=PT.FunctionPermissions(
                    role=pb.FunctionInvoke,
                    cache_selector=named("c"),
                    function_selector=PT.FunctionSelector(function_name="f"),
                )
            ),
        ],
    ),
    (
        "same cache, different keys and roles",
        '{ role = "read-only", cache = "c", key = "a" },\n'
        '{ role = "read-write", cache = "c", key = "b" },\n'
        '{ role = "write-only", cache = "d" }',
        [
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadOnly,
                    cache_selector=named("c"),
                    item_selector=PT.CacheItemSelector(key=b"a"),
                )
            ),
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheReadWrite,
                    cache_selector=named("c"),
                    item_selector=PT.CacheItemSelector(key=b"b"),
                )
            ),
            PT(
                cache_permissions=PT.CachePermissions(
                    role=pb.CacheWriteOnly, cache_selector=named("d"), all_items=ALL
                )
            ),
        ],
    ),
]


@pytest.mark.parametrize(
    ("statements", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_token_service_receives_exactly_the_profile(
    emulator: Emulator, api_key: str, statements: str, expected: list[PT]
) -> None:
    profile = parse_config(
        f"[profiles.p]\npermissions = [\n{statements}\n]\n", Path("p.toml")
    ).profiles["p"]
    key = ApiKey(api_key, emulator.endpoint, "test", Kind.V2_API_KEY)

    async def mint() -> None:
        async with Minter(key) as minter:
            await minter.mint(profile.statements, 60)

    asyncio.run(mint())

    received = emulator.service.received[-1].permissions
    assert received == pb.Permissions(explicit=pb.ExplicitPermissions(permissions=expected))
    assert received.WhichOneof("kind") == "explicit"
