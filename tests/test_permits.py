"""The one permission evaluator, `tvmcli.permits`: its rules, its edge cases and its words.

Grants come as profiles parsed from TOML (what users write), as statement tuples, and as the
exact wire Permissions message (what the emulator decides on); each case runs on both the
profile and the message built from it, which must agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from momento_wire_types import permissionmessages_pb2 as pb

import tvmcli
from tvmcli.config.file import parse_config
from tvmcli.config.profiles import Profile
from tvmcli.permissions.evaluator import ACTIONS, CACHE_CALLS, Action, Decision, describe, permits
from tvmcli.permissions.scopes import build_permissions

PT = pb.PermissionsType


def profile(*statements: str) -> Profile:
    text = "[profiles.p]\npermissions = [\n" + ",\n".join(statements) + "\n]\n"
    return parse_config(text, Path("p.toml")).profile("p")


def both(*statements: str) -> list[object]:
    """The profile and its wire message: the evaluator must say the same of each."""
    chosen = profile(*statements)
    return [chosen, build_permissions(chosen.statements)]


def decide(statements: tuple[str, ...], action: str, cache: str, name: str | bytes) -> Decision:
    decisions = [permits(grant, action, cache, name) for grant in both(*statements)]
    assert decisions[0] == decisions[1]
    return decisions[0]


CHAT_READER = ('{ role = "subscribe-only", cache = "chat", topic = "*" }',)


def test_the_public_names_and_the_action_table() -> None:
    assert tvmcli.permits is permits
    assert tvmcli.Decision is Decision
    assert "permits" in tvmcli.__all__
    assert "Decision" in tvmcli.__all__
    assert ACTIONS == (
        "get",
        "set",
        "delete",
        "set-if-absent",
        "increment",
        "publish",
        "subscribe",
        "invoke",
    )
    # every cache call of the emulator is one of the actions
    assert CACHE_CALLS == {
        "Get": Action.GET,
        "ItemGetTtl": Action.GET,
        "Set": Action.SET,
        "UpdateTtl": Action.SET,
        "Delete": Action.DELETE,
        "SetIfNotExists": Action.SET_IF_ABSENT,
        "Increment": Action.INCREMENT,
    }


def test_subscribe_only_allows_subscribe_and_explains_a_publish() -> None:
    allowed = decide(CHAT_READER, "subscribe", "chat", "room-1")
    assert allowed == Decision(
        True, 1, (), "statement 1 allows subscribe-only on cache chat, every topic"
    )
    refused = decide(CHAT_READER, "publish", "chat", "room-1")
    assert not refused.allowed
    assert refused.statement is None
    assert refused.closest == (1,)
    assert refused.reason == (
        "statement 1 allows subscribe-only here; publishing needs publish-subscribe or publish-only"
    )
    assert refused.hint == '{ role = "publish-subscribe", cache = "chat", topic = "*" }'


@pytest.mark.parametrize(
    ("role", "publish", "subscribe"),
    [
        ("publish-subscribe", True, True),
        ("subscribe-only", False, True),
        ("publish-only", True, False),
    ],
)
def test_topic_roles(role: str, publish: bool, subscribe: bool) -> None:
    grant = (f'{{ role = "{role}", cache = "chat", topic = "room-1" }}',)
    assert decide(grant, "publish", "chat", "room-1").allowed is publish
    assert decide(grant, "subscribe", "chat", "room-1").allowed is subscribe
    for action in ("publish", "subscribe"):  # another topic, another cache: never
        assert not decide(grant, action, "chat", "room-2").allowed
        assert not decide(grant, action, "other", "room-1").allowed


def test_topic_prefix_and_all_caches() -> None:
    grant = ('{ role = "publish-subscribe", cache = "*", topic_prefix = "room-" }',)
    assert decide(grant, "publish", "any-cache", "room-").allowed  # the prefix itself
    assert decide(grant, "publish", "chat", "room-42").allowed
    refused = decide(grant, "publish", "chat", "lobby")
    assert refused.closest == (1,)
    assert refused.reason == (
        'statement 1 allows publish-subscribe on every cache, topic prefix "room-" only; '
        'topic "lobby" in cache chat is not covered '
        "(publishing needs publish-subscribe or publish-only)"
    )
    assert refused.hint == '{ role = "publish-only", cache = "chat", topic = "lobby" }'
    assert not decide(grant, "publish", "chat", "Room-1").allowed  # case matters


def test_cache_and_function_statements_grant_no_topic_access() -> None:
    grant = (
        '{ role = "read-write", cache = "*" }',
        '{ role = "invoke", cache = "*", function = "*" }',
    )
    refused = decide(grant, "subscribe", "chat", "room-1")
    assert not refused.allowed
    assert refused.closest == ()
    assert refused.reason == (
        "no statement grants topics; this grant has only cache and function statements, "
        "which grant no topic access"
    )
    assert refused.hint == '{ role = "subscribe-only", cache = "chat", topic = "room-1" }'
    # and topic statements grant no cache access
    assert not decide(CHAT_READER, "get", "chat", "room-1").allowed


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("read-write", {"get", "set", "delete", "set-if-absent", "increment"}),
        ("read-only", {"get"}),
        ("write-only", {"set", "delete"}),  # conditional writes need read-write
    ],
)
def test_cache_roles(role: str, allowed: set[str]) -> None:
    grant = (f'{{ role = "{role}", cache = "state" }}',)
    for action in ("get", "set", "delete", "set-if-absent", "increment"):
        assert decide(grant, action, "state", "k").allowed is (action in allowed), action
        assert not decide(grant, action, "other", "k").allowed


def test_write_only_explains_a_conditional_write() -> None:
    refused = decide(('{ role = "write-only", cache = "state" }',), "set-if-absent", "state", "k")
    assert refused.reason == (
        "statement 1 allows write-only here; a conditional write needs read-write"
    )
    assert refused.hint == '{ role = "read-write", cache = "state" }'


def test_keys_exact_prefix_empty_and_bytes() -> None:
    exact = ('{ role = "read-only", cache = "c", key = "motd" }',)
    assert decide(exact, "get", "c", "motd").allowed
    assert decide(exact, "get", "c", b"motd").allowed
    assert not decide(exact, "get", "c", "motd2").allowed
    assert not decide(exact, "get", "c", "").allowed  # the empty key is a key like any other
    prefix = ('{ role = "read-write", cache = "c", key_prefix = "user-" }',)
    assert decide(prefix, "set", "c", "user-").allowed  # a prefix equal to the whole key
    assert decide(prefix, "set", "c", b"user-\xff\x00").allowed  # bytes beyond UTF-8
    assert not decide(prefix, "set", "c", "user").allowed
    assert not decide(prefix, "set", "c", "").allowed
    refused = decide(prefix, "get", "c", "other")
    assert refused.closest == (1,)
    assert refused.hint == '{ role = "read-only", cache = "c", key = "other" }'
    # a key's bytes are its UTF-8: a non-ASCII prefix matches the encoded key
    accented = ('{ role = "read-only", cache = "c", key_prefix = "usér-" }',)
    assert decide(accented, "get", "c", "usér-1".encode()).allowed
    assert not decide(accented, "get", "c", "user-1").allowed
    # all items covers the empty key
    assert decide(('{ role = "read-only", cache = "*" }',), "get", "any", "").allowed
    empty = decide(('{ role = "write-only", cache = "c", key = "k" }',), "get", "c", "")
    assert empty.hint == '{ role = "read-only", cache = "c" }'  # no empty key selector


def test_no_item_selector_means_all_items_on_the_wire() -> None:
    # The SDKs send cacheReadOnly(AllCaches) with no all_items/item_selector.
    grant = pb.Permissions(
        explicit=pb.ExplicitPermissions(
            permissions=[
                PT(
                    cache_permissions=PT.CachePermissions(
                        role=pb.CacheReadOnly, all_caches=PT.All()
                    )
                )
            ]
        )
    )
    assert permits(grant, "get", "c", "anything").allowed
    assert not permits(grant, "set", "c", "anything").allowed
    bytes_key = pb.Permissions(
        explicit=pb.ExplicitPermissions(
            permissions=[
                PT(
                    cache_permissions=PT.CachePermissions(
                        role=pb.CacheReadOnly,
                        cache_selector=PT.CacheSelector(cache_name="c"),
                        item_selector=PT.CacheItemSelector(key_prefix=b"\xff"),
                    )
                )
            ]
        )
    )
    assert permits(bytes_key, "get", "c", b"\xff\x01").allowed
    assert not permits(bytes_key, "get", "c", "\xff").allowed  # str: UTF-8 is c3 bf


def test_functions() -> None:
    grant = ('{ role = "invoke", cache = "media", function_prefix = "resize-" }',)
    assert decide(grant, "invoke", "media", "resize-png").allowed
    assert decide(grant, "invoke", "media", "resize-").allowed
    assert not decide(grant, "invoke", "media", "crop").allowed
    assert not decide(grant, "invoke", "other", "resize-png").allowed
    assert not decide(grant, "get", "media", "resize-png").allowed
    assert not decide(grant, "publish", "media", "resize-png").allowed
    named = ('{ role = "invoke", cache = "*", function = "f" }',)
    assert decide(named, "invoke", "x", "f").allowed
    assert not decide(named, "invoke", "x", "g").allowed
    every = ('{ role = "invoke", cache = "*", function = "*" }',)
    assert decide(every, "invoke", "x", "anything").allowed
    assert decide(every, "invoke", "x", "anything").reason == (
        "statement 1 allows invoke on every cache, every function"
    )


def test_first_allowing_statement_decides_and_closest_lists_the_near_misses() -> None:
    grant = (
        '{ role = "subscribe-only", cache = "chat", topic = "*" }',
        '{ role = "publish-only", cache = "chat", topic = "lobby" }',
        '{ role = "publish-only", cache = "chat", topic_prefix = "room-" }',
        '{ role = "read-write", cache = "chat" }',
    )
    assert decide(grant, "publish", "chat", "room-1").statement == 3
    refused = decide(grant, "publish", "chat", "news")
    assert refused.closest == (1, 2, 3)  # 1: the role; 2 and 3: the selector
    assert refused.reason.startswith("statement 1 allows subscribe-only here")
    refused = decide(grant, "publish", "other", "news")
    assert refused.closest == ()
    assert refused.reason == "no statement covers cache other; the topic statements name cache chat"


def test_super_user_may_do_everything() -> None:
    grant = pb.Permissions(super_user=pb.SuperUser)
    for action in ACTIONS:
        decision = permits(grant, action, "any", b"")
        assert decision.allowed, action
        assert decision.statement is None
    assert decision.reason == "super-user permissions (an API key) allow every call"


def test_empty_or_unknown_grants_allow_nothing() -> None:
    refused = permits(pb.Permissions(), "get", "c", "k")
    assert not refused.allowed
    assert refused.reason == "the grant has no statements"
    # a statement with no role (PermitNone) on the right target is a near miss, not a grant
    grant = pb.Permissions(
        explicit=pb.ExplicitPermissions(
            permissions=[
                PT(
                    topic_permissions=PT.TopicPermissions(
                        role=pb.TopicPermitNone,
                        cache_selector=PT.CacheSelector(cache_name="chat"),
                        all_topics=PT.All(),
                    )
                )
            ]
        )
    )
    assert permits(grant, "subscribe", "chat", "t").closest == (1,)
    assert not permits(grant, "subscribe", "chat", "t").allowed


def test_grant_forms_and_bad_arguments() -> None:
    chosen = profile(*CHAT_READER)
    assert permits(chosen.statements, "subscribe", "chat", "t").allowed  # a statement tuple
    assert permits(list(chosen.statements), Action.SUBSCRIBE, "chat", "t").allowed
    with pytest.raises(ValueError, match="unknown action 'write'; one of: get, set"):
        permits(chosen, "write", "chat", "t")
    with pytest.raises(ValueError, match="a grant is a profile"):
        permits("chat-reader", "get", "chat", "t")


def test_describe_names_each_statement_in_the_words_of_the_reasons() -> None:
    statements = (
        '{ role = "publish-subscribe", cache = "chat", topic_prefix = "room-" }',
        '{ role = "read-write", cache = "*", key_prefix = "user-" }',
        '{ role = "invoke", cache = "media", function = "*" }',
    )
    for grant in both(*statements):
        assert describe(grant) == (
            'publish-subscribe on cache chat, topic prefix "room-"',
            'read-write on every cache, key prefix "user-"',
            "invoke on cache media, every function",
        )
    allowed = permits(profile(*statements), "get", "sessions", "user-1")
    assert allowed.reason == f"statement 2 allows {describe(profile(*statements))[1]}"
    assert describe(pb.Permissions(super_user=pb.SuperUser)) == ()
    with pytest.raises(ValueError, match="a grant is a profile"):
        describe("read-write")


def test_deciding_for_a_profile_loads_no_grpc_or_protobuf() -> None:
    # `momento-tvm can PROFILE ...` must start fast: the wire messages load only for wire grants
    script = (
        "import sys, tvmcli\n"
        "from tvmcli.config.file import parse_config\n"
        "from pathlib import Path\n"
        'text = \'[profiles.p]\\npermissions = [{ role = "read-only", cache = "c" }]\\n\'\n'
        "profile = parse_config(text, Path('p.toml')).profile('p')\n"
        "assert tvmcli.permits(profile, 'get', 'c', 'k').allowed\n"
        "print(sorted(m for m in sys.modules if m.startswith(('grpc', 'google', 'momento'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
