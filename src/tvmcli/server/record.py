"""What one request leaves for the access log and the audit trail, typed: the Guard writes the
client's address (X-Forwarded-For from trusted proxies only), the token handler who asked and
which profile and token id it got. One per request, in the ASGI scope under `SCOPE_KEY`."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

SCOPE_KEY = "tvmcli.record"


@dataclass(slots=True)
class RequestRecord:
    client: str = "-"
    principal: str | None = None
    profile: str | None = None
    token_id: str | None = None
    audit: tuple[tuple[str, str], ...] = ()  # a CI trust's name, rule and issuer


def record_of(scope: MutableMapping[str, Any]) -> RequestRecord:
    """The request's record, made empty if the Guard did not run (an app mounted elsewhere)."""
    record = scope.get(SCOPE_KEY)
    if record is None:
        record = scope[SCOPE_KEY] = RequestRecord()
    return record
