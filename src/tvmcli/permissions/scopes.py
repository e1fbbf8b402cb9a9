"""Statements -> the exact `permission_messages.Permissions` message, and back. Pure, no I/O.

Built from momento_wire_types directly: the SDK's scope builder drops key restrictions when a
token also has topic permissions and cannot express topic or function name prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable

from momento_wire_types import permissionmessages_pb2 as pb

from tvmcli.permissions.roles import Resource
from tvmcli.permissions.statements import ALL, Statement

_PT = pb.PermissionsType


def build_permissions(statements: Iterable[Statement]) -> pb.Permissions:
    """The explicit Permissions message granting exactly `statements` and nothing broader."""
    return pb.Permissions(
        explicit=pb.ExplicitPermissions(permissions=[_permission(s) for s in statements])
    )


def _permission(statement: Statement) -> pb.PermissionsType:
    if statement.resource is Resource.CACHE:
        cache = _PT.CachePermissions(role=statement.role.wire)
        _select_cache(cache, statement.cache)
        if statement.key is not None:
            cache.item_selector.key = statement.key.encode("utf-8")
        elif statement.key_prefix is not None:
            cache.item_selector.key_prefix = statement.key_prefix.encode("utf-8")
        else:
            cache.all_items.SetInParent()
        return _PT(cache_permissions=cache)
    if statement.resource is Resource.TOPIC:
        topic = _PT.TopicPermissions(role=statement.role.wire)
        _select_cache(topic, statement.cache)
        if statement.topic == ALL:
            topic.all_topics.SetInParent()
        elif statement.topic is not None:
            topic.topic_selector.topic_name = statement.topic
        else:
            assert statement.topic_prefix is not None
            topic.topic_selector.topic_name_prefix = statement.topic_prefix
        return _PT(topic_permissions=topic)
    function = _PT.FunctionPermissions(role=statement.role.wire)
    _select_cache(function, statement.cache)
    if statement.function == ALL:
        function.all_functions.SetInParent()
    elif statement.function is not None:
        function.function_selector.function_name = statement.function
    else:
        assert statement.function_prefix is not None
        function.function_selector.function_name_prefix = statement.function_prefix
    return _PT(function_permissions=function)


def _select_cache(
    message: _PT.CachePermissions | _PT.TopicPermissions | _PT.FunctionPermissions, cache: str
) -> None:
    if cache == ALL:
        message.all_caches.SetInParent()
    else:
        message.cache_selector.cache_name = cache
