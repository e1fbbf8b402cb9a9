"""Statements -> the exact `permission_messages.Permissions` message, and back. Pure, no I/O.

Built from momento_wire_types directly: the SDK's scope builder drops key restrictions when a
token also has topic permissions and cannot express topic or function name prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable

from momento_wire_types import permissionmessages_pb2 as pb

from tvmcli.permissions.roles import WIRE, Resource
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
        _select_name(topic, Resource.TOPIC, statement.topic, statement.topic_prefix)
        return _PT(topic_permissions=topic)
    function = _PT.FunctionPermissions(role=statement.role.wire)
    _select_cache(function, statement.cache)
    _select_name(function, Resource.FUNCTION, statement.function, statement.function_prefix)
    return _PT(function_permissions=function)


def _select_name(
    message: _PT.TopicPermissions | _PT.FunctionPermissions,
    resource: Resource,
    name: str | None,
    prefix: str | None,
) -> None:
    """A topic or function selector (its fields in roles.WIRE), whose name fields the wire
    names alike: {kind}_name or {kind}_name_prefix."""
    _, _, _, every, selector_name = WIRE[resource]
    if name == ALL:
        getattr(message, every).SetInParent()
        return
    kind = resource.value
    selector = getattr(message, selector_name)
    if name is not None:
        setattr(selector, f"{kind}_name", name)
    else:
        assert prefix is not None
        setattr(selector, f"{kind}_name_prefix", prefix)


def _select_cache(
    message: _PT.CachePermissions | _PT.TopicPermissions | _PT.FunctionPermissions, cache: str
) -> None:
    if cache == ALL:
        message.all_caches.SetInParent()
    else:
        message.cache_selector.cache_name = cache
