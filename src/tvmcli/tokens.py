"""Recognising and decoding any Momento key or token. Pure and light: stdlib only, no I/O.

Formats (see shared MOMENTO.md):
- envelope: standard base64 of JSON {"endpoint", "api_key"}; v1 API keys and disposable tokens.
- v2 API key: a JWT whose claims have "t": "g"; its endpoint travels separately.
- legacy key: a JWT with claims "c" (cache endpoint) and "cp" (control endpoint).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import time

from tvmcli import jwtcodec
from tvmcli.errors import UsageError

# No typing or dataclasses at run time: `inspect` imports this module and must start fast.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_INPUT_BYTES = 64 * 1024


class CredentialFormatError(UsageError):
    """The input is not a Momento key or token. The message never quotes the input."""


class Kind(str, enum.Enum):
    DISPOSABLE_TOKEN = "disposable-token"  # noqa: S105 - a kind name, not a secret
    ENVELOPE = "v1-api-key-or-disposable-token"
    V2_API_KEY = "v2-api-key"
    LEGACY_API_KEY = "legacy-api-key"
    JWT = "jwt"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Kind.DISPOSABLE_TOKEN: "disposable token",
    Kind.ENVELOPE: "v1 API key or disposable token",
    Kind.V2_API_KEY: "v2 API key",
    Kind.LEGACY_API_KEY: "legacy API key",
    Kind.JWT: "JWT (not a recognised Momento credential)",
}


def mask(secret: str) -> str:
    """A form safe to show: the first and last three characters, e.g. "eyJ...k9A"."""
    if len(secret) <= 12:
        return "..."
    return f"{secret[:3]}...{secret[-3:]}"


class Credential:
    """A decoded key or token. `secret` is what goes on the wire; its repr is masked."""

    __slots__ = ("claims", "endpoint", "header", "kind", "secret")

    def __init__(
        self,
        kind: Kind,
        secret: str,
        endpoint: str | None,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.secret = secret
        self.endpoint = endpoint
        self.header = header or {}
        self.claims = claims or {}

    def __repr__(self) -> str:
        return (
            f"Credential(kind={self.kind.value!r}, endpoint={self.endpoint!r}, "
            f"secret={mask(self.secret)!r})"
        )


def make_envelope(endpoint: str, api_key: str) -> str:
    """The form users hand around and `CredentialProvider.from_disposable_token` reads."""
    payload = json.dumps({"endpoint": endpoint, "api_key": api_key}, separators=(",", ":"))
    return base64.b64encode(payload.encode("utf-8")).decode("ascii")


def clean_input(text: str) -> str:
    """Strip white space and a 'Bearer ' prefix; reject empty or oversized input."""
    if len(text) > MAX_INPUT_BYTES:
        raise CredentialFormatError(
            f"input is over {MAX_INPUT_BYTES // 1024} KiB; no Momento credential is that long"
        )
    text = text.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    if not text:
        raise CredentialFormatError("input is empty: expected a Momento API key or token")
    return text


def parse_credential(text: str) -> Credential:
    """Recognise `text` as one of the Momento formats. Raises CredentialFormatError."""
    text = clean_input(text)
    if "." in text:
        return _parse_jwt(text)
    return _parse_envelope(text)


def _parse_jwt(text: str) -> Credential:
    try:
        header, claims = jwtcodec.decode_unverified(text)
    except jwtcodec.JwtFormatError as exc:
        raise CredentialFormatError(f"not a valid JWT: {exc}") from None
    if claims.get("t") == "g":
        return Credential(Kind.V2_API_KEY, text, None, header, claims)
    cache, control = claims.get("c"), claims.get("cp")
    if isinstance(cache, str) and isinstance(control, str):
        endpoint = cache.removeprefix("cache.")
        return Credential(Kind.LEGACY_API_KEY, text, endpoint, header, claims)
    return Credential(Kind.JWT, text, None, header, claims)


def _parse_envelope(text: str) -> Credential:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialFormatError(
            "not a Momento credential: neither a JWT nor base64 (is it cut short or quoted?)"
        ) from None
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CredentialFormatError(
            "not a Momento credential: it is base64, but what it holds is not JSON"
        ) from None
    if not isinstance(payload, dict):
        raise CredentialFormatError("not a Momento credential: the JSON inside is not an object")
    endpoint, api_key = payload.get("endpoint"), payload.get("api_key")
    missing = [
        name
        for name, value in (("endpoint", endpoint), ("api_key", api_key))
        if not isinstance(value, str) or not value
    ]
    if missing:
        raise CredentialFormatError(
            "not a Momento credential: the JSON inside lacks "
            + " and ".join(repr(m) for m in missing)
        )
    assert isinstance(endpoint, str)
    assert isinstance(api_key, str)
    header: dict[str, Any] = {}
    claims: dict[str, Any] = {}
    if jwtcodec.looks_like_jwt(api_key):
        try:
            header, claims = jwtcodec.decode_unverified(api_key)
        except jwtcodec.JwtFormatError as exc:
            raise CredentialFormatError(f"the api_key inside is not a valid JWT: {exc}") from None
    kind = Kind.DISPOSABLE_TOKEN if "p" in claims else Kind.ENVELOPE
    return Credential(kind, api_key, endpoint, header, claims)


# -- describing a credential (for `inspect`) ---------------------------------------------------

_KNOWN_CLAIMS = ("exp", "iat", "sub", "jti", "id", "p", "t", "c", "cp")

_ROLE_NAMES = {
    "CacheReadWrite": "read-write",
    "CacheReadOnly": "read-only",
    "CacheWriteOnly": "write-only",
    "TopicReadWrite": "publish-subscribe",
    "TopicReadOnly": "subscribe-only",
    "TopicWriteOnly": "publish-only",
    "FunctionInvoke": "invoke",
}


class Status(str, enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    NO_EXPIRY = "no expiry"


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
        endpoints: dict[str, str] | None,
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


def iso_utc(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):
        return None


def derived_endpoints(endpoint: str, claims: dict[str, Any]) -> dict[str, str]:
    """The cache, control and token endpoints a client would use, as the SDKs derive them."""
    if isinstance(claims.get("c"), str) and isinstance(claims.get("cp"), str):
        return {"cache": claims["c"], "control": claims["cp"], "token": f"token.{endpoint}"}
    host, _, port = endpoint.rpartition(":")
    if host and port.isdigit():  # host:port, e.g. a local emulator: one address for everything
        return {"cache": endpoint, "control": endpoint, "token": endpoint}
    return {name: f"{name}.{endpoint}" for name in ("cache", "control", "token")}


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
        status, left = Status.NO_EXPIRY, None
    else:
        left = expires_at - now
        status = Status.VALID if left > 0 else Status.EXPIRED
    super_user, permissions = _permissions(claims.get("p"))
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
        endpoints=derived_endpoints(credential.endpoint, claims) if credential.endpoint else None,
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
    resource = {
        "cache_permissions": "cache",
        "topic_permissions": "topic",
        "function_permissions": "function",
    }.get(kind)
    if resource is None or not isinstance(body, dict):
        return None
    role = _ROLE_NAMES.get(str(body.get("role")))
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
    return {"resource": resource, "role": role, "cache": cache, "scope": scope}


def _scope(resource: str, body: dict[str, Any]) -> str | None:
    plural = {"cache": "items", "topic": "topics", "function": "functions"}[resource]
    if f"all_{plural}" in body:
        return f"all {plural}"
    selector = body.get(
        {"cache": "item_selector", "topic": "topic_selector", "function": "function_selector"}[
            resource
        ]
    )
    if not isinstance(selector, dict) or len(selector) != 1:
        return None
    ((name, value),) = selector.items()
    if not isinstance(value, str):
        return None
    if resource == "cache":
        value = _bytes_text(value)
        labels = {"key": "key", "key_prefix": "key prefix"}
    elif resource == "topic":
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
