"""The access log: one line per request, batched, with control characters escaped."""

from __future__ import annotations

import asyncio
import logging

access_log = logging.getLogger("tvmcli.server.access")


class AccessLog:
    """Access-log lines, handed to the `tvmcli.server.access` logger in batches: a log record per
    request would cost a quarter of a cached request's time. Flushed at most 0.25 s after a
    line arrives, every 256 lines, and at shutdown."""

    DELAY = 0.25
    BATCH = 256

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._pending: asyncio.TimerHandle | None = None

    def add(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self.BATCH:
            self.flush()
        elif self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self.DELAY, self.flush)

    def flush(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._lines:
            access_log.info("%s", "\n".join(self._lines))
            self._lines.clear()


def printable(text: str) -> str:
    """Control characters escaped, so a request cannot forge lines in the log."""
    if text.isprintable() and len(text) <= 200:
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)[:200]
