"""The one error hierarchy. Each error carries the exit code the CLI documents.

Messages never contain a key or token: they name where a secret came from, never what it is.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    AUTH = 4
    UNAVAILABLE = 5
    EXPIRED = 6


class TvmError(Exception):
    """Base of every error the tool reports to the user without a traceback."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(TvmError):
    """Bad arguments or unreadable input (exit 2)."""

    exit_code = ExitCode.USAGE


class ConfigError(TvmError):
    """Invalid configuration or profile (exit 3). `problems` lists every error found."""

    exit_code = ExitCode.CONFIG

    def __init__(
        self, message: str, *, problems: list[str] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []


class AuthError(TvmError):
    """Momento refused the key: unauthenticated or not permitted (exit 4)."""

    exit_code = ExitCode.AUTH


class UnavailableError(TvmError):
    """Momento unreachable, throttled or timed out after retries (exit 5)."""

    exit_code = ExitCode.UNAVAILABLE


class MintTimeoutError(UnavailableError):
    """No answer within the deadline (exit 5; the server says 504)."""


class ExpiredError(TvmError):
    """A token is expired or has less life left than asked for (exit 6)."""

    exit_code = ExitCode.EXPIRED
