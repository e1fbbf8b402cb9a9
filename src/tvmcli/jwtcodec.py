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


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JwtFormatError(f"the JWT {part} is not JSON") from exc
    if not isinstance(value, dict):
        raise JwtFormatError(f"the JWT {part} is not a JSON object")
    return value


def looks_like_jwt(text: str) -> bool:
    return text.count(".") == 2 and text.startswith("eyJ")


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
