"""Permission statements: the domain model shared by profiles, scopes and token decoding.

A statement grants one role on one cache (or all caches) and, within it, items, topics or
functions. Pure data, stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass

from tvmcli.permissions.roles import Resource, Role

ALL = "*"
MAX_STATEMENTS = 20
MAX_TOKEN_ID_LENGTH = 64
MIN_LIFETIME_SECONDS = 1
MAX_LIFETIME_SECONDS = 25 * 3600
ACCOUNT_MINTS_PER_SECOND = 5  # a hard limit per Momento account
ACCOUNT_WINDOW_SECONDS = 1.0  # ... counted per second


@dataclass(frozen=True)
class Statement:
    """One permission. `cache` is a name or ALL. Exactly the selectors its resource allows are set:
    cache statements at most one of key / key_prefix (neither: every item); topic statements one of
    topic (a name or ALL) / topic_prefix; function statements one of function / function_prefix."""

    role: Role
    cache: str
    key: str | None = None
    key_prefix: str | None = None
    topic: str | None = None
    topic_prefix: str | None = None
    function: str | None = None
    function_prefix: str | None = None

    @property
    def resource(self) -> Resource:
        return self.role.resource

    @property
    def target(self) -> tuple[Resource, str, str, str]:
        """What the statement covers, without the role: two statements with the same target
        and different roles conflict."""
        selector, value = self.selector
        return (self.resource, self.cache, selector, value)

    @property
    def selector(self) -> tuple[str, str]:
        """(field, value) of the narrowing inside the cache, e.g. ('topic_prefix', 'room-')."""
        for name in ("key", "key_prefix", "topic", "topic_prefix", "function", "function_prefix"):
            value = getattr(self, name)
            if value is not None:
                return name, value
        return "items", ALL

    def describe(self) -> dict[str, str]:
        """A flat, stable view for tables and JSON output."""
        selector, value = self.selector
        if selector == "items":
            what = "all items"
        elif value == ALL:
            what = f"all {selector}s"
        else:
            what = f"{selector.replace('_', ' ')} {value!r}"
        return {
            "resource": self.resource.value,
            "role": self.role.value,
            "cache": "all caches" if self.cache == ALL else self.cache,
            "scope": what,
        }
