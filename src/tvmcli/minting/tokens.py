"""A vended token, and the one JSON shape it travels in (the Token Vending Machine's)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    # tvm_json_prefix's answers, one per web endpoint: made once per token, not per request.
    _prefixes: dict[str | None, bytes] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __repr__(self) -> str:
        return (
            f"Token(profile={self.profile!r}, endpoint={self.endpoint!r}, "
            f"expires_at={self.expires_at}, token_id={self.token_id!r}, "
            f"auth_token={mask(self.auth_token)!r})"
        )

    def to_tvm_json(self, web_endpoint: str | None = None) -> dict[str, Any]:
        """{authToken, expiresAt, endpoint, profile, tokenId}: what `serve` answers and
        Momento's browser examples read (`authToken` and `expiresAt` are the TVM's own). With
        `web_endpoint` (a server minting from the emulator) also `webEndpoint`, the gRPC-web
        URL a browser's Web SDK must use for every endpoint; Momento itself needs none."""
        body: dict[str, Any] = {
            "authToken": self.auth_token,
            "expiresAt": self.expires_at,
            "endpoint": self.endpoint,
            "profile": self.profile,
            "tokenId": self.token_id,
        }
        if web_endpoint is not None:
            body["webEndpoint"] = web_endpoint
        return body

    def tvm_json_prefix(self, web_endpoint: str | None = None) -> bytes:
        """`to_tvm_json(web_endpoint)` serialised without its closing brace, made once per
        token: the server appends `,"now":...}` to it for every answer."""
        prefix = self._prefixes.get(web_endpoint)
        if prefix is None:
            body = self.to_tvm_json(web_endpoint)
            prefix = json.dumps(body, separators=(",", ":")).encode("utf-8")[:-1]
            self._prefixes[web_endpoint] = prefix
        return prefix
