"""The role table: our name, the other spellings people bring, the resource it applies to and
the wire enum it becomes. Profiles, scopes and token decoding all read this one table.

Stdlib `enum` only: `inspect` imports it and must start fast.
"""

from __future__ import annotations

import enum


class Resource(str, enum.Enum):
    CACHE = "cache"
    TOPIC = "topic"
    FUNCTION = "function"


class Role(str, enum.Enum):
    READ_WRITE = "read-write"
    READ_ONLY = "read-only"
    WRITE_ONLY = "write-only"
    PUBLISH_SUBSCRIBE = "publish-subscribe"
    SUBSCRIBE_ONLY = "subscribe-only"
    PUBLISH_ONLY = "publish-only"
    INVOKE = "invoke"

    @property
    def resource(self) -> Resource:
        return _TABLE[self][0]

    @property
    def wire(self) -> str:
        """The enum name in permission_messages (e.g. CacheReadWrite)."""
        return _TABLE[self][1]

    @property
    def label(self) -> str:
        return self.value


# role: (resource, wire enum name, other spellings: the JS SDK and docs', the Python SDK's)
_TABLE: dict[Role, tuple[Resource, str, tuple[str, ...]]] = {
    Role.READ_WRITE: (Resource.CACHE, "CacheReadWrite", ("readwrite", "read_write")),
    Role.READ_ONLY: (Resource.CACHE, "CacheReadOnly", ("readonly", "read_only")),
    Role.WRITE_ONLY: (Resource.CACHE, "CacheWriteOnly", ("writeonly", "write_only")),
    Role.PUBLISH_SUBSCRIBE: (
        Resource.TOPIC,
        "TopicReadWrite",
        ("publishsubscribe", "publish_subscribe"),
    ),
    Role.SUBSCRIBE_ONLY: (Resource.TOPIC, "TopicReadOnly", ("subscribeonly", "subscribe_only")),
    Role.PUBLISH_ONLY: (Resource.TOPIC, "TopicWriteOnly", ("publishonly", "publish_only")),
    Role.INVOKE: (
        Resource.FUNCTION,
        "FunctionInvoke",
        ("functioninvoke", "function-invoke", "function_invoke"),
    ),
}

ROLE_ALIASES: dict[str, Role] = {
    **{role.value: role for role in Role},
    **{alias: role for role, (_, _, aliases) in _TABLE.items() for alias in aliases},
}
ROLE_BY_WIRE: dict[str, Role] = {wire: role for role, (_, wire, _) in _TABLE.items()}

# How permission_messages spells each resource's permission, for whatever writes or reads it
# (scopes, the evaluator, the emulator, inspect): resource: (its field in PermissionsType, its
# role enum, the oneof choosing its items, topics or functions, the field that grants all of
# them, the selector field)
WIRE: dict[Resource, tuple[str, str, str, str, str]] = {
    Resource.CACHE: ("cache_permissions", "CacheRole", "cache_item", "all_items", "item_selector"),
    Resource.TOPIC: ("topic_permissions", "TopicRole", "topic", "all_topics", "topic_selector"),
    Resource.FUNCTION: (
        "function_permissions",
        "FunctionRole",
        "function",
        "all_functions",
        "function_selector",
    ),
}
RESOURCE_BY_WIRE: dict[str, Resource] = {shape[0]: resource for resource, shape in WIRE.items()}


def roles_for(resource: Resource) -> list[str]:
    return [role.value for role in Role if role.resource is resource]
