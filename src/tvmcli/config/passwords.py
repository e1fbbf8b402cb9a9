"""Salted scrypt password hashes: `scrypt$N$r$p$salt$hash`, base64 parts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
_DKLEN = 32
_MAX_MEMORY = 64 * 1024 * 1024  # scrypt's maxmem for N, r, p above, with room


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=_DKLEN)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against a hash from `hash_password`."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=_MAX_MEMORY,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def hash_problem(encoded: str) -> str | None:
    """What is wrong with a stored hash, or None if `verify_password` can check against it.
    Found at start-up: a malformed hash (a README placeholder, a truncated paste) would
    otherwise refuse every password, unexplained. The message never quotes the hash."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return f"has {len(parts)} parts; a hash is 6 parts: scrypt$N$r$p$salt$hash"
    _, n_text, r_text, p_text, salt, digest = parts
    if not all(text.isdigit() for text in (n_text, r_text, p_text)):
        return "N, r and p must be whole numbers"
    n, r, p = int(n_text), int(r_text), int(p_text)
    if n < 2 or n & (n - 1):
        return "N must be a power of 2"
    if not (1 <= r <= 64 and 1 <= p <= 16):
        return "r and p are out of range (r 1 to 64, p 1 to 16)"
    if 128 * r * (n + p) > _MAX_MEMORY:
        return "N and r ask for more memory than the 64 MiB a check may use"
    for name, part, least in (("salt", salt, 8), ("hash", digest, 16)):
        try:
            raw = base64.b64decode(part, validate=True)
        except ValueError:
            return f"the {name} is not base64"
        if len(raw) < least:
            return f"the {name} is too short ({len(raw)} bytes, at least {least})"
    return None
