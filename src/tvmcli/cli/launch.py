"""`exec`'s last step: replace this process with COMMAND. Light (os, sys, errno): the full
`exec` (`exec_body`) and a `--reuse` hit on the fast path (`fast.py`) both end here."""

from __future__ import annotations

import errno
import os
import sys

# The shell's convention: 127 when COMMAND is not found, 126 when it is found but cannot be run
# (not executable, a directory, not a program the kernel can start).
NOT_FOUND, CANNOT_RUN = 127, 126


def launch(command: list[str], env: dict[str, str]) -> int:
    """Never returns when the command starts (os.execvpe); NOT_FOUND or CANNOT_RUN, with the
    reason on stderr, when it cannot."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if not command[0]:  # execvpe raises ValueError for it; a shell says "not found"
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        os.execvpe(command[0], command, env)  # noqa: S606 - argv as given, no shell
    except OSError as exc:
        from tvmcli.cli import output
        from tvmcli.errors import TvmError

        output.error(TvmError(f"cannot run {command[0]!r}: {exc.strerror}"))
        missing = isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOTDIR
        return NOT_FOUND if missing else CANNOT_RUN
    return NOT_FOUND  # not reached: execvpe returns only by raising
