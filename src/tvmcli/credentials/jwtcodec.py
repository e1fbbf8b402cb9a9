"""Just enough JWT for this tool: split and decode without verifying, and HS256 for the emulator.

Stdlib only, so `inspect` stays fast and the emulator needs no extra dependency.
"""

from __future__ import annotations

import base64
import binascii
import json

TYPE_CHECKING = False  # typing stays unloaded at run time: `inspect` must start fast
if TYPE_CHECKING:
    from typing import Any


class JwtFormatError(ValueError):
    """The text is not a well-formed JWT. The message says why, never quoting the input."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    if not segment or any(c not in _B64URL_ALPHABET for c in segment):
        raise JwtFormatError("a segment is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwtFormatError("a segment is not base64url") from exc


_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# Real keys and tokens nest JSON about 7 levels deep (the grant in "p"). The limit keeps the
# decoder and everything that walks the claims far from Python's recursion limit.
MAX_JSON_DEPTH = 64


def load_json(raw: bytes) -> Any:
    """JSON from untrusted credential bytes. ValueError says what is wrong, never quoting it:
    not UTF-8 or not JSON, a number over Python's 4300-digit limit, or nesting over
    MAX_JSON_DEPTH (json's own RecursionError comes only near 1000 levels, and deep values
    would crash whatever walks them next)."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("is not JSON") from None
    except RecursionError:
        raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:  # int("9" * 5000): "Exceeds the limit (4300 digits)"
        raise ValueError("holds a number too long to read") from None
    if _too_deep(value):
        raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def _too_deep(value: Any) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth >= MAX_JSON_DEPTH:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        value = load_json(raw)
    except ValueError as exc:
        raise JwtFormatError(f"the JWT {part} {exc}") from None
    if not isinstance(value, dict):
        raise JwtFormatError(f"the JWT {part} is not a JSON object")
    return value


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT, without checking the signature."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtFormatError(f"a JWT has 3 dot-separated segments, this has {len(parts)}")
    header = _json_object(b64url_decode(parts[0]), "header")
    claims = _json_object(b64url_decode(parts[1]), "payload")
    if parts[2]:
        b64url_decode(parts[2])
    return header, claims


def sign_hs256(claims: dict[str, Any], secret: bytes) -> str:
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":"), sort_keys=True).encode())
        for part in (header, claims)
    )
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(signature)}"


def verify_hs256(token: str, secret: bytes) -> dict[str, Any] | None:
    """The claims if `token` is an HS256 JWT signed with `secret`, else None."""
    import hashlib
    import hmac

    try:
        header, claims = decode_unverified(token)
    except JwtFormatError:
        return None
    if header.get("alg") != "HS256":
        return None
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    try:
        given = b64url_decode(signature)
    except JwtFormatError:
        return None
    return claims if hmac.compare_digest(expected, given) else None
