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

from tvmcli.credentials import jwtcodec
from tvmcli.errors import UsageError
from tvmcli.system import text_files

# No typing or dataclasses at run time: `inspect` imports this module and must start fast.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_INPUT_BYTES = 64 * 1024
# The `iss` of every key and token the emulator signs (emulator/service.py signs with it).
EMULATOR_ISSUER = "momento-tvm-emulator"


def read_credential(stdin: Any) -> str:
    """A credential from a binary stream (stdin), at most MAX_INPUT_BYTES of UTF-8 text."""
    return text_files.read_stream(
        stdin, what="standard input", error=UsageError, limit=MAX_INPUT_BYTES
    )


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

    @property
    def is_emulator_key(self) -> bool:
        """THE offline rule for the emulator's API key (a v2 key it issued, no grant claim),
        which may do everything: `can` and `inspect` read it so. Offline means unverified;
        the emulator's services check the signature and grant the same (emulator/access.py)."""
        claims = self.claims
        return (
            self.kind is Kind.V2_API_KEY
            and claims.get("iss") == EMULATOR_ISSUER
            and "p" not in claims
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
        payload = jwtcodec.load_json(raw)
    except ValueError as exc:
        raise CredentialFormatError(
            f"not a Momento credential: it is base64, but what it holds {exc}"
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
    # Momento's v1 keys and disposable tokens always carry a JWT. Anything else inside is a
    # broken credential, not one without expiry: say so rather than show "never expires".
    if api_key.count(".") != 2:
        raise CredentialFormatError(
            "the api_key inside is not a JWT, as in every Momento key and token "
            "(is the credential cut short or made by hand?)"
        )
    try:
        header, claims = jwtcodec.decode_unverified(api_key)
    except jwtcodec.JwtFormatError as exc:
        raise CredentialFormatError(f"the api_key inside is not a valid JWT: {exc}") from None
    kind = Kind.DISPOSABLE_TOKEN if "p" in claims else Kind.ENVELOPE
    return Credential(kind, api_key, endpoint, header, claims)
