"""Errors as the vending API answers them: {"error": {"code", "message"}} with a status."""

from __future__ import annotations

import logging
import os
import traceback

from starlette.responses import JSONResponse

_log = logging.getLogger("tvmcli.server")


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """This error as the API answers it."""
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def log_internal_error(exc: BaseException) -> None:
    """A bug, logged as its type and where it was raised: never its message or a traceback
    with values, which may carry a request's text (a header, a claim)."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    where = " <- ".join(
        f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames)
    )
    _log.error("internal error: %s at %s", type(exc).__name__, where or "?")
