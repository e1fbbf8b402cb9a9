"""THE permission evaluator: may this grant do this call on this cache and name, and why?

`permits(grant, action, cache, name) -> Decision` is pure (no I/O). The emulator's cache and
topic services decide every call with it, and `momento-tvm can` explains with it, so what one
says is what the other does. A grant is a profile (anything with `.statements`), a sequence of
`Statement`s, or a wire `permission_messages.Permissions` message (`super_user` included: the
emulator's API key may do everything).

The rules, as Momento applies them:
- Statements are tried in order (numbered from 1); the first that allows the call decides.
- A statement applies to its own resource only: cache statements grant no topic or function
  access, topic statements no cache access, function statements only `invoke`.
- Its cache must be the call's cache, or all caches (`*`).
- Cache items: all items, no item selector (the SDKs' "all items"), the exact key, or a key
  prefix; keys are bytes (a str key is its UTF-8). An empty prefix covers every key.
- Topics: all topics, the exact name, or a name prefix. Functions: all, the name, or a prefix.
- Roles: reads (get) need read-write or read-only; plain writes (set, delete) read-write or
  write-only; set-if-absent and increment read before they write and need read-write
  (Momento's write-only role excludes conditional writes). publish needs publish-subscribe or
  publish-only, subscribe publish-subscribe or subscribe-only, invoke the invoke role.

Stdlib only at import time; the wire messages load only when a wire grant is given.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Union

from tvmcli.permissions.roles import RESOURCE_BY_WIRE, ROLE_BY_WIRE, WIRE, Resource, Role
from tvmcli.permissions.statements import ALL, Statement

if TYPE_CHECKING:
    from momento_wire_types import permissionmessages_pb2 as pb


class Action(str, enum.Enum):
    """The calls a grant is asked about. `ACTIONS` lists their names, in this order."""

    GET = "get"
    SET = "set"
    DELETE = "delete"
    SET_IF_ABSENT = "set-if-absent"
    INCREMENT = "increment"
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    INVOKE = "invoke"

    @property
    def resource(self) -> Resource:
        return _ACTIONS[self][0]

    @property
    def roles(self) -> tuple[Role, ...]:
        """The roles that allow this action, the narrowest last."""
        return _ACTIONS[self][1]

    @property
    def gerund(self) -> str:
        return _ACTIONS[self][2]


# action: (resource, roles allowing it (broadest first), the action as a gerund for reasons)
_ACTIONS: dict[Action, tuple[Resource, tuple[Role, ...], str]] = {
    Action.GET: (Resource.CACHE, (Role.READ_WRITE, Role.READ_ONLY), "reading"),
    Action.SET: (Resource.CACHE, (Role.READ_WRITE, Role.WRITE_ONLY), "writing"),
    Action.DELETE: (Resource.CACHE, (Role.READ_WRITE, Role.WRITE_ONLY), "deleting"),
    Action.SET_IF_ABSENT: (Resource.CACHE, (Role.READ_WRITE,), "a conditional write"),
    Action.INCREMENT: (Resource.CACHE, (Role.READ_WRITE,), "incrementing"),
    Action.PUBLISH: (
        Resource.TOPIC,
        (Role.PUBLISH_SUBSCRIBE, Role.PUBLISH_ONLY),
        "publishing",
    ),
    Action.SUBSCRIBE: (
        Resource.TOPIC,
        (Role.PUBLISH_SUBSCRIBE, Role.SUBSCRIBE_ONLY),
        "subscribing",
    ),
    Action.INVOKE: (Resource.FUNCTION, (Role.INVOKE,), "invoking"),
}
ACTIONS: tuple[str, ...] = tuple(action.value for action in Action)

# Momento's cache calls (Scs method names) -> the action that decides them.
CACHE_CALLS: dict[str, Action] = {
    "Get": Action.GET,
    "ItemGetTtl": Action.GET,
    "Set": Action.SET,
    "UpdateTtl": Action.SET,
    "Delete": Action.DELETE,
    "SetIfNotExists": Action.SET_IF_ABSENT,
    "Increment": Action.INCREMENT,
}

_NOUNS = {Resource.CACHE: "cache items", Resource.TOPIC: "topics", Resource.FUNCTION: "functions"}
_ACCESS = {Resource.CACHE: "cache", Resource.TOPIC: "topic", Resource.FUNCTION: "function"}
_SELECTOR_WORDS = {
    "key": "key",
    "key_prefix": "key prefix",
    "topic": "topic",
    "topic_prefix": "topic prefix",
    "function": "function",
    "function_prefix": "function prefix",
}


def parse_action(text: str | Action) -> Action:
    """The action named `text`; ValueError naming the known actions otherwise."""
    if isinstance(text, Action):
        return text
    try:
        return Action(text)
    except ValueError:
        raise ValueError(f"unknown action {text!r}; one of: {', '.join(ACTIONS)}") from None


@dataclass(frozen=True)
class Decision:
    """The answer. `statement` is the 1-based index of the deciding statement (None when none
    decided, or for super-user permissions); `closest` the statements that matched the resource
    but not the role, or the cache but not the selector; `reason` says it in words; `hint` is a
    profile statement (TOML) that would allow the call, when it was denied."""

    allowed: bool
    statement: int | None
    closest: tuple[int, ...]
    reason: str
    hint: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


class HasStatements(Protocol):
    """A profile, or anything else that carries its statements (tvmcli.Profile does)."""

    @property
    def statements(self) -> tuple[Statement, ...]: ...


Grant = Union[HasStatements, Sequence[Statement], "pb.Permissions"]


@dataclass(frozen=True)
class _Rule:
    """One statement, normalised: selector is None for everything (all items/topics/functions),
    else (field, value) with bytes values for keys. role None: a role this evaluator does not
    know (PermitNone), which allows nothing."""

    resource: Resource | None
    role: Role | None
    cache: str | None  # None: the statement selects no cache, so it matches no call
    selector: tuple[str, bytes | str] | None

    def covers(self, name: bytes | str) -> bool:
        if self.selector is None:
            return True
        field, value = self.selector
        if field.endswith("_prefix"):
            return name.startswith(value)  # type: ignore[arg-type]
        return name == value

    def describe(self) -> str:
        role = self.role.value if self.role else "no role"
        cache = "every cache" if self.cache == ALL else f"cache {self.cache or '(none)'}"
        return f"{role} on {cache}, {self.scope()}"

    def scope(self) -> str:
        if self.selector is None:
            return {
                Resource.CACHE: "all items",
                Resource.TOPIC: "every topic",
                Resource.FUNCTION: "every function",
                None: "nothing",
            }[self.resource]
        field, value = self.selector
        return f"{_SELECTOR_WORDS[field]} {_show(value)}"


def permits(grant: Grant, action: str | Action, cache: str, name: str | bytes) -> Decision:
    """May `grant` do `action` on `name` (a key, topic or function) in `cache`? Pure.

    ValueError for an unknown action or a grant of another type."""
    act = parse_action(action)
    resource = act.resource
    if resource is Resource.CACHE:
        target: bytes | str = name.encode("utf-8") if isinstance(name, str) else bytes(name)
    else:
        target = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
    rules = _rules(grant)
    if rules is None:
        return Decision(True, None, (), "super-user permissions (an API key) allow every call")
    if not rules:
        return Decision(
            False, None, (), "the grant has no statements", _hint(act, cache, target, None)
        )
    wrong_role: list[int] = []
    wrong_selector: list[int] = []
    for index, rule in enumerate(rules, 1):
        if rule.resource is not resource or (rule.cache != ALL and rule.cache != cache):
            continue
        if not rule.covers(target):
            wrong_selector.append(index)
        elif rule.role in act.roles:
            return Decision(True, index, (), f"statement {index} allows {rule.describe()}")
        else:
            wrong_role.append(index)
    closest = tuple(sorted(wrong_role + wrong_selector))
    where = _where(resource, cache, target)
    needs = " or ".join(role.value for role in act.roles)
    if wrong_role:
        first = wrong_role[0]
        role = rules[first - 1].role
        role_text = role.value if role else "no role"
        reason = f"statement {first} allows {role_text} here; {act.gerund} needs {needs}"
        return Decision(False, None, closest, reason, _hint(act, cache, target, rules[first - 1]))
    if wrong_selector:
        first = wrong_selector[0]
        rule = rules[first - 1]
        reason = (
            f"statement {first} allows {rule.describe()} only; {where} is not covered "
            f"({act.gerund} needs {needs})"
        )
        return Decision(False, None, closest, reason, _hint(act, cache, target, None))
    others = [rule for rule in rules if rule.resource is resource]
    if not others:
        kinds = sorted({rule.resource.value for rule in rules if rule.resource is not None})
        granted = " and ".join(kinds) + " statements" if kinds else "statements without a role"
        reason = (
            f"no statement grants {_NOUNS[resource]}; this grant has only {granted}, "
            f"which grant no {_ACCESS[resource]} access"
        )
    else:
        caches = sorted({rule.cache or "(none)" for rule in others})
        reason = (
            f"no statement covers cache {cache}; the {_ACCESS[resource]} statements name "
            f"cache {', '.join(caches)}"
        )
    return Decision(False, None, (), reason, _hint(act, cache, target, None))


def describe(grant: Any) -> tuple[str, ...]:
    """The grant's statements in the words reasons use ("subscribe-only on cache chat, every
    topic"), statement n at index n - 1; empty for super-user permissions. For `can`, which
    names the closest statements of a denial. ValueError for a grant of another type."""
    rules = _rules(grant)
    return () if rules is None else tuple(rule.describe() for rule in rules)


def _where(resource: Resource, cache: str, target: bytes | str) -> str:
    word = {Resource.CACHE: "key", Resource.TOPIC: "topic", Resource.FUNCTION: "function"}
    return f"{word[resource]} {_show(target)} in cache {cache}"


def _show(value: bytes | str) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _hint(act: Action, cache: str, target: bytes | str, near: _Rule | None) -> str:
    """A profile statement that would allow the call: the near statement's target with a role
    that also keeps what it allowed, else the narrowest role on exactly this name."""
    if near is not None and near.role is not None and act.resource is Resource.CACHE:
        role = Role.READ_WRITE
    elif near is not None and near.role is not None and act.resource is Resource.TOPIC:
        role = Role.PUBLISH_SUBSCRIBE
    else:
        role = act.roles[-1]
    parts = [
        f"role = {_toml(role.value)}",
        f"cache = {_toml(near.cache if near and near.cache else cache)}",
    ]
    if near is not None and near.selector is not None:
        field, value = near.selector
        parts.append(f"{field} = {_toml(value)}")
    elif near is not None:
        if act.resource is Resource.TOPIC:
            parts.append('topic = "*"')
        elif act.resource is Resource.FUNCTION:
            parts.append('function = "*"')
    else:
        text = target.decode("utf-8", "replace") if isinstance(target, bytes) else target
        field = {Resource.CACHE: "key", Resource.TOPIC: "topic", Resource.FUNCTION: "function"}[
            act.resource
        ]
        if text == "":  # an empty name cannot be a profile selector: the whole resource
            if act.resource is not Resource.CACHE:
                parts.append(f'{field} = "*"')
        else:
            parts.append(f"{field} = {_toml(text)}")
    return "{ " + ", ".join(parts) + " }"


def _toml(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return json.dumps(text)  # a TOML basic string: JSON's escapes are TOML's


# -- grants -> rules -------------------------------------------------------------------------


def _rules(grant: Any) -> list[_Rule] | None:
    """The grant's statements as rules; None for super-user permissions."""
    statements = getattr(grant, "statements", None)
    if statements is not None:
        return [_from_statement(s) for s in statements]
    if isinstance(grant, (list, tuple)):
        return [_from_statement(s) for s in grant]
    from momento_wire_types import permissionmessages_pb2 as wire

    if not isinstance(grant, wire.Permissions):
        raise ValueError(
            f"a grant is a profile, statements or a Permissions message, not {type(grant).__name__}"
        )
    kind = grant.WhichOneof("kind")
    if kind == "super_user":
        return None
    if kind != "explicit":
        return []
    return [_from_wire(statement) for statement in grant.explicit.permissions]


def _from_statement(statement: Statement) -> _Rule:
    if not isinstance(statement, Statement):
        raise ValueError(f"not a Statement: {type(statement).__name__}")
    field, value = statement.selector
    selector: tuple[str, bytes | str] | None
    if field == "items" or (value == ALL and field in ("topic", "function")):
        selector = None
    elif field in ("key", "key_prefix"):
        selector = (field, value.encode("utf-8"))
    else:
        selector = (field, value)
    return _Rule(statement.resource, statement.role, statement.cache, selector)


def _from_wire(statement: pb.PermissionsType) -> _Rule:
    kind = statement.WhichOneof("kind")
    if kind is None:
        return _Rule(None, None, None, None)
    resource = RESOURCE_BY_WIRE[kind]
    enum_name = WIRE[resource][1]
    body = getattr(statement, kind)
    enum_type = type(statement).DESCRIPTOR.file.enum_types_by_name[enum_name]
    number = body.role
    wire_name = (
        enum_type.values_by_number[number].name if number in enum_type.values_by_number else ""
    )
    role = ROLE_BY_WIRE.get(wire_name)
    if body.WhichOneof("cache") == "cache_selector":
        cache = body.cache_selector.cache_name
    elif body.WhichOneof("cache") == "all_caches":
        cache = ALL
    else:
        return _Rule(resource, None, None, None)
    if resource is Resource.CACHE:
        formed, selector = _item_selector(body)
    else:
        formed, selector = _named_selector(body, resource)
    if not formed:
        return _Rule(resource, None, cache, None)
    return _Rule(resource, role, cache, selector)


_Selector = tuple[str, bytes | str] | None


def _item_selector(body: Any) -> tuple[bool, _Selector]:
    """Whether a cache permission's item selector is well formed, and the key or key prefix it
    names (None: all items, or no item selector, which is what the SDKs send for that)."""
    if body.WhichOneof("cache_item") != "item_selector":
        return True, None
    which = body.item_selector.WhichOneof("kind")
    if which not in ("key", "key_prefix"):
        return False, None
    return True, (which, getattr(body.item_selector, which))


def _named_selector(body: Any, resource: Resource) -> tuple[bool, _Selector]:
    """The same for a topic or function permission (its fields in roles.WIRE), whose name fields
    the wire names alike: {kind}_name or {kind}_name_prefix; the selector is (kind, name) or
    (kind_prefix, prefix), as a Statement names its fields."""
    _, _, oneof, _, selector_field = WIRE[resource]
    kind = resource.value
    inner = body.WhichOneof(oneof)
    if inner is None:
        return False, None
    if inner != selector_field:
        return True, None
    selector = getattr(body, inner)
    which = selector.WhichOneof("kind")
    if which == f"{kind}_name":
        return True, (kind, getattr(selector, which))
    if which == f"{kind}_name_prefix":
        return True, (f"{kind}_prefix", getattr(selector, which))
    return False, None
