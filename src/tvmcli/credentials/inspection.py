"""Describing a decoded key or token for `inspect`: kind, endpoints, expiry, status, grant.

Pure and light: stdlib only, no I/O, no typing at run time (`inspect` must start fast).
"""

from __future__ import annotations

import base64
import binascii
import enum

from tvmcli.credentials.decoding import Credential, Kind, clean_input, mask
from tvmcli.permissions.roles import RESOURCE_BY_WIRE, ROLE_BY_WIRE, WIRE, Resource
from tvmcli.system.durations import iso_utc
from tvmcli.system.netaddr import split_host_port

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_KNOWN_CLAIMS = ("exp", "iat", "sub", "jti", "id", "p", "t", "c", "cp")


class Status(str, enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    NO_EXPIRY = "no expiry"  # only when there is no exp claim at all
    BAD_EXPIRY = "unusable expiry"  # an exp that is no time: -5, "1", true, 1e30


class Description:
    """What `inspect` shows. Holds no secret: the token only in masked form."""

    __slots__ = (
        "endpoint",
        "endpoints",
        "expires_at",
        "issued_at",
        "kind",
        "masked",
        "other_claims",
        "permissions",
        "seconds_left",
        "status",
        "subject",
        "super_user",
        "token_id",
    )

    def __init__(
        self,
        *,
        kind: Kind,
        masked: str,
        endpoint: str | None,
        endpoints: dict[str, dict[str, str]] | None,
        issued_at: int | None,
        expires_at: int | None,
        status: Status,
        seconds_left: float | None,
        token_id: str | None,
        subject: str | None,
        super_user: bool,
        permissions: list[dict[str, str]] | None,
        other_claims: dict[str, Any],
    ) -> None:
        self.kind = kind
        self.masked = masked
        self.endpoint = endpoint
        self.endpoints = endpoints
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.status = status
        self.seconds_left = seconds_left
        self.token_id = token_id
        self.subject = subject
        self.super_user = super_user
        self.permissions = permissions
        self.other_claims = other_claims

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "kindLabel": self.kind.label,
            "token": self.masked,
            "endpoint": self.endpoint,
            "endpoints": self.endpoints,
            "issuedAt": self.issued_at,
            "issuedAtIso": iso_utc(self.issued_at),
            "expiresAt": self.expires_at,
            "expiresAtIso": iso_utc(self.expires_at),
            "secondsLeft": None if self.seconds_left is None else int(self.seconds_left),
            "status": self.status.value,
            "tokenId": self.token_id,
            "subject": self.subject,
            "superUser": self.super_user,
            "permissions": self.permissions,
            "claims": self.other_claims,
        }


def sdk_endpoints(endpoint: str, claims: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The cache, control and token hosts each SDK dials for this credential (TLS, port 443).

    Read from the SDKs' sources and checked against the Python SDK in the tests: an envelope's
    endpoint E gives cache.E, control.E and token.E in both, even when E is host:port (so a
    local server is not reached that way). A legacy key's claims `c` and `cp` are the cache and
    control hosts; for the token host Python prefixes `token.` to `c` and JS uses `c` itself.
    """
    if isinstance(claims.get("c"), str) and isinstance(claims.get("cp"), str):
        cache, control = claims["c"], claims["cp"]
        return {
            "pythonSdk": {"cache": cache, "control": control, "token": f"token.{cache}"},
            "jsSdk": {"cache": cache, "control": control, "token": cache},
        }
    derived = {name: f"{name}.{endpoint}" for name in ("cache", "control", "token")}
    return {"pythonSdk": derived, "jsSdk": dict(derived)}


def is_host_port(endpoint: str) -> bool:
    """host:port, e.g. a local emulator: the SDKs' endpoint readers do not reach it."""
    return split_host_port(endpoint)[1] is not None


_LAST_SECOND_OF_9999 = 253402300799


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = int(value)
    except (OverflowError, ValueError):  # Infinity or NaN from JSON
        return None
    # Outside years 1970 to 9999 it is not a time anyone meant; show the raw claim instead.
    return number if 0 <= number <= _LAST_SECOND_OF_9999 else None


def describe(credential: Credential, original: str, now: float) -> Description:
    claims = credential.claims
    expires_at = _number(claims.get("exp"))
    if expires_at is None:
        status = Status.BAD_EXPIRY if "exp" in claims else Status.NO_EXPIRY
        left = None
    else:
        left = expires_at - now
        status = Status.VALID if left > 0 else Status.EXPIRED
    super_user, permissions = _permissions(claims.get("p"))
    super_user = super_user or credential.is_emulator_key
    shown = {k: v for k, v in claims.items() if k not in _KNOWN_CLAIMS}
    for name in ("exp", "iat"):
        if name in claims and _number(claims[name]) is None:
            shown[name] = claims[name]
    if "p" in claims and permissions is None and not super_user:
        shown["p"] = claims["p"]  # not a grant we understand: show it raw rather than hide it
    for name in ("t", "c", "cp"):
        if name in claims:
            shown[name] = claims[name]
    token_id = claims.get("id")
    subject = claims.get("sub")
    return Description(
        kind=credential.kind,
        masked=mask(clean_input(original)),
        endpoint=credential.endpoint,
        endpoints=sdk_endpoints(credential.endpoint, claims) if credential.endpoint else None,
        issued_at=_number(claims.get("iat")),
        expires_at=expires_at,
        status=status,
        seconds_left=left,
        token_id=token_id if isinstance(token_id, str) else None,
        subject=subject if isinstance(subject, str) else None,
        super_user=super_user,
        permissions=permissions,
        other_claims=shown,
    )


def _snake_keys(value: Any) -> Any:
    """protobuf JSON may spell fields cacheName or cache_name; use the proto names."""
    if isinstance(value, dict):
        return {
            "".join(f"_{c.lower()}" if c.isupper() else c for c in str(k)): _snake_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def _permissions(grant: Any) -> tuple[bool, list[dict[str, str]] | None]:
    """Read the protobuf JSON form of a Permissions message (either field-name style)."""
    if not isinstance(grant, dict):
        return False, None
    grant = _snake_keys(grant)
    if "super_user" in grant:
        return True, None
    explicit = grant.get("explicit")
    if not isinstance(explicit, dict) or not isinstance(explicit.get("permissions"), list):
        return False, None
    rows = []
    for item in explicit["permissions"]:
        row = _permission_row(item)
        if row is None:
            return False, None
        rows.append(row)
    return False, rows


def _permission_row(item: Any) -> dict[str, str] | None:
    if not isinstance(item, dict) or len(item) != 1:
        return None
    ((kind, body),) = item.items()
    resource = RESOURCE_BY_WIRE.get(kind)
    if resource is None or not isinstance(body, dict):
        return None
    role = ROLE_BY_WIRE.get(str(body.get("role")))
    if role is None:
        return None
    selector = body.get("cache_selector")
    if "all_caches" in body:
        cache = "all caches"
    elif isinstance(selector, dict) and isinstance(selector.get("cache_name"), str):
        cache = selector["cache_name"]
    else:
        return None
    scope = _scope(resource, body)
    if scope is None:
        return None
    return {"resource": resource.value, "role": role.label, "cache": cache, "scope": scope}


def _scope(resource: Resource, body: dict[str, Any]) -> str | None:
    _, _, _, every, selector_name = WIRE[resource]
    if every in body:
        return every.replace("_", " ")  # all items, all topics, all functions
    if resource is Resource.CACHE and selector_name not in body:
        return "all items"  # what both SDKs send for a whole cache; Momento reads it so
    selector = body.get(selector_name)
    if not isinstance(selector, dict) or len(selector) != 1:
        return None
    ((name, value),) = selector.items()
    if not isinstance(value, str):
        return None
    if resource is Resource.CACHE:
        value = _bytes_text(value)
        labels = {"key": "key", "key_prefix": "key prefix"}
    elif resource is Resource.TOPIC:
        labels = {"topic_name": "topic", "topic_name_prefix": "topic prefix"}
    else:
        labels = {"function_name": "function", "function_name_prefix": "function prefix"}
    label = labels.get(name)
    return f"{label} {value!r}" if label else None


def _bytes_text(encoded: str) -> str:
    """Protobuf JSON carries bytes as base64; show them as text when they are UTF-8."""
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=False)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return f"base64:{encoded}"
