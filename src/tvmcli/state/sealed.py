"""Tokens at rest in the shared cache: sealed with AES-256-GCM under a key derived by HKDF from
the server's API key (which every instance of a fleet has), and stored under names that are
HMACs. A reader of the cache learns neither tokens nor token ids nor profile names; a changed,
swapped or foreign entry fails to open and is treated as absent (the caller mints again)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"momento-tvm shared state v1"
NONCE_BYTES = 12


class Sealer:
    def __init__(self, api_key_secret: str) -> None:
        material = HKDF(
            algorithm=hashes.SHA256(), length=64, salt=_SALT, info=b"seal and name"
        ).derive(api_key_secret.encode("utf-8"))
        self._aead = AESGCM(material[:32])
        self._names = material[32:]

    def name(self, *parts: str) -> bytes:
        """An opaque item key for `parts` (e.g. kind, profile, token id, scope digest)."""
        digest = hmac.new(self._names, json.dumps(parts).encode("utf-8"), hashlib.sha256)
        return digest.hexdigest().encode("ascii")

    def seal(self, name: bytes, record: dict[str, object]) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(record, separators=(",", ":")).encode("utf-8")
        return nonce + self._aead.encrypt(nonce, plain, name)  # the name is bound in

    def open(self, name: bytes, sealed: bytes) -> dict[str, object] | None:
        if len(sealed) <= NONCE_BYTES:
            return None
        try:
            plain = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], name)
            record = json.loads(plain)
        except (InvalidTag, ValueError):
            return None
        return record if isinstance(record, dict) else None
