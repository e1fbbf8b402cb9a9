"""The one error hierarchy. Every error the library raises is a `TvmError` and carries the exit
code the CLI documents (`exit_code`) and the status an HTTP face answers with (`http_status`,
`code`, and `public_message`: what a remote caller may be told).

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
    http_status = 500
    code = "internal"
    public_message = "internal error"
    retry_after: float | None = None  # seconds, for errors worth retrying (HTTP Retry-After)

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(TvmError):
    """Bad arguments or unreadable input (exit 2)."""

    exit_code = ExitCode.USAGE
    http_status = 400
    code = "bad_request"
    public_message = "the request is not valid"


class ConfigError(TvmError):
    """Invalid configuration or profile (exit 3). `problems` lists every error found.

    Over HTTP this is the server's own fault (500); a request Momento refuses as invalid is
    `MomentoRejectedError` (502)."""

    exit_code = ExitCode.CONFIG
    code = "configuration"
    public_message = "the server's configuration is not valid"

    def __init__(
        self, message: str, *, problems: list[str] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []

    def __str__(self) -> str:
        """The message and every problem, one per line, as the CLI prints them: a library user
        who logs the error learns what is wrong, not only how many things are."""
        return "\n".join([self.message, *(f"  - {problem}" for problem in self.problems)])


_PROFILE_CHOICE = {  # code: (HTTP status, message)
    "no_profiles": (403, "you may use no profile (no group or rule grants one)"),
    "profile_required": (400, "no default profile for you; pass ?profile=NAME"),
    "profile_not_allowed": (
        403,
        "no profile by that name that you may use; GET /profiles lists yours",
    ),
}


class ProfileChoiceError(UsageError):
    """A caller may not use the profile asked for, or asked for none and has no default
    (`code`: no_profiles, profile_required, profile_not_allowed; HTTP 403 or 400)."""

    def __init__(self, code: str, profile: str | None = None) -> None:
        status, message = _PROFILE_CHOICE[code]
        super().__init__(message)
        self.code = code
        self.http_status = status
        self.public_message = message
        self.profile = profile  # the name asked for (never in the public message)


class UnknownProfileError(ConfigError):
    """No profile of that name (exit 3, HTTP 404)."""

    http_status = 404
    code = "unknown_profile"
    public_message = "no such profile"


class MomentoRejectedError(ConfigError):
    """Momento refused the request as invalid (INVALID_ARGUMENT): a profile it will not grant."""

    http_status = 502
    code = "momento_rejected_request"
    public_message = "Momento rejected the profile"


class AuthError(TvmError):
    """Momento refused the key: unauthenticated or not permitted (exit 4, HTTP 502: the
    server's key, not the caller, was refused)."""

    exit_code = ExitCode.AUTH
    http_status = 502
    code = "momento_refused_key"
    public_message = "Momento refused this server's key"


class MomentoError(TvmError):
    """Momento answered with an error this tool has no use for (NOT_FOUND, UNIMPLEMENTED, ...,
    or an answer without a token): often the endpoint is not a Momento token service
    (exit 5, HTTP 502: the upstream refused, not the caller)."""

    exit_code = ExitCode.UNAVAILABLE
    http_status = 502
    code = "momento_error"
    public_message = "Momento answered with an error"


class UndecodableAnswerError(MomentoError):
    """The token service answered bytes that are no answer message at all: a proxy, another
    service on that port, a corrupted reply (exit 5, HTTP 502)."""

    code = "momento_bad_answer"
    public_message = "Momento answered something that is not a token"


class UnavailableError(TvmError):
    """Momento unreachable, throttled or timed out after retries (exit 5, HTTP 503)."""

    exit_code = ExitCode.UNAVAILABLE
    http_status = 503
    code = "momento_unavailable"
    public_message = "Momento is unavailable or throttling"
    retry_after: float | None = 1.0


class MintTimeoutError(UnavailableError):
    """No answer within the deadline (exit 5, HTTP 504)."""

    http_status = 504
    code = "momento_timeout"
    public_message = "Momento did not answer in time"
    retry_after = None


class MintLimitError(UnavailableError):
    """The account's mint budget is spent for now (exit 5, HTTP 503 with Retry-After)."""

    code = "mint_limit"
    public_message = "too many new tokens at once; retry shortly"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"mint limit reached; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class ExpiredError(TvmError):
    """A token is expired or has less life left than asked for (exit 6)."""

    exit_code = ExitCode.EXPIRED
    http_status = 401
    code = "expired"
    public_message = "the token has expired"


class RefusedError(TvmError):
    """A vending server (`mint --from`), or the CI system's ID-token endpoint, refused this
    caller: 401 or 403 (exit 4)."""

    exit_code = ExitCode.AUTH
    http_status = 403
    code = "refused"
    public_message = "the vending server refused the caller"


class UnexpectedAnswerError(TvmError):
    """An answer that is not what a momento-tvm server (or GitHub's ID-token endpoint) sends:
    the wrong URL, a proxy's page (exit 1)."""

    code = "unexpected_answer"
