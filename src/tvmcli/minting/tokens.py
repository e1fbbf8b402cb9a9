"""A vended token, and the one JSON shape it travels in (the Token Vending Machine's)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tvmcli.credentials.decoding import mask


@dataclass(frozen=True)
class Token:
    """A disposable token. `auth_token` is the envelope users hand around
    (`CredentialProvider.from_disposable_token` reads it); `expires_at` is epoch seconds, as
    Momento answered. The repr never shows the token."""

    auth_token: str = field(repr=False)
    endpoint: str
    expires_at: int
    token_id: str | None = None
    profile: str | None = None

    def __repr__(self) -> str:
        return (
            f"Token(profile={self.profile!r}, endpoint={self.endpoint!r}, "
            f"expires_at={self.expires_at}, token_id={self.token_id!r}, "
            f"auth_token={mask(self.auth_token)!r})"
        )

    def to_tvm_json(self) -> dict[str, Any]:
        """{authToken, expiresAt, endpoint, profile, tokenId}: what `serve` answers and
        Momento's browser examples read (`authToken` and `expiresAt` are the TVM's own)."""
        return {
            "authToken": self.auth_token,
            "expiresAt": self.expires_at,
            "endpoint": self.endpoint,
            "profile": self.profile,
            "tokenId": self.token_id,
        }

    @cached_property
    def tvm_json_prefix(self) -> bytes:
        """`to_tvm_json()` serialised without its closing brace, made once per token: the
        server appends `,"now":...}` to it for every answer."""
        body = json.dumps(self.to_tvm_json(), separators=(",", ":")).encode("utf-8")
        return body[:-1]
