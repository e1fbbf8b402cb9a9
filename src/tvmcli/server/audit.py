"""The audit trail: one JSON line per token handed out, to `[server] audit_log = "PATH"`
(created 0600, appended, one write per line) or to stderr.

A line: `time` (ISO 8601 UTC), `principal` (the user, or for a sign-in or CI token its `sub`),
`issuer` (for JWT principals), `auth` (the mode), `profile`, `tokenId`, `expiresAt`, `client`
(the caller's address), `source` (`hit`, `shared`: from the fleet's shared cache, or `mint`),
`requestId`. Never a token, key, password or Authorization header: the record has no field
that could hold one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO

from tvmcli.errors import ConfigError
from tvmcli.system.durations import iso_utc


class AuditLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stream: IO[str]
        if path is None:
            self._stream = sys.stderr
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(f"[server] audit_log {path}: {exc.strerror}") from None
        self._stream = os.fdopen(fd, "a", encoding="utf-8", buffering=1)  # line-buffered

    def record(
        self,
        *,
        principal: str,
        issuer: str | None,
        auth: str,
        profile: str,
        token_id: str | None,
        expires_at: int,
        client: str,
        source: str,
        request_id: str,
    ) -> None:
        line = {
            "time": iso_utc(time.time()),
            "principal": principal,
            "issuer": issuer,
            "auth": auth,
            "profile": profile,
            "tokenId": token_id,
            "expiresAt": expires_at,
            "client": client,
            "source": source,
            "requestId": request_id,
        }
        # ensure_ascii: control characters and newlines are escaped, so one vend is one line
        self._stream.write(json.dumps(line, ensure_ascii=True, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self.path is not None:
            self._stream.close()
