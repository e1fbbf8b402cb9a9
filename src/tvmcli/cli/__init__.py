"""The command line: one small module per command, joined in `app`.

The only package that imports typer, decides exit codes and renders (through `output`). This
module stays light: `main` hands the arguments to `fast`, which answers `--version`, `cache
path`, plain `inspect`, `mint` and `exec` calls without loading Typer; the rest goes to `app`.
"""

from __future__ import annotations

import os
import sys

# Long-running servers keep Python's SIGPIPE handling: a client that goes away must not kill
# them (asyncio writes to sockets without MSG_NOSIGNAL).
_SERVERS = ("serve", "emulator")


def main() -> None:
    argv = sys.argv[1:]
    if next((arg for arg in argv if not arg.startswith("-")), None) not in _SERVERS:
        _die_on_closed_pipe()
    if sys.stdout is None:
        _stdout_was_closed()
    from tvmcli.cli.fast import run

    # The program name picks the completion variable (_TVM_COMPLETE for `tvm`), so completion
    # installed from either name answers under that name.
    stem = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    prog = "tvm" if stem == "tvm" else "momento-tvm"
    code = run(argv, prog)
    if code is not None:
        sys.exit(code)
    from tvmcli.cli.app import app

    try:
        # A bare `momento-tvm` is a request for usage (exit 0), not a usage error (Click's
        # no_args_is_help exits 2).
        app(args=argv or ["--help"], prog_name=prog)
    except OSError as exc:
        # Help, --version and usage text are Click's own writes: a full stdout ends there.
        from tvmcli.cli import output

        output.error(output.stdout_failed(exc))
        sys.exit(2)


def interrupted() -> int:
    """Ctrl-C: exit 130. SIGPIPE is ignored from here on: while the interpreter shuts down, a
    gRPC thread can still write to the event loop's wake-up socket, already closed, and with
    the default action that write killed the process (141 instead of 130)."""
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    return 130


class _ClosedStdout:
    """sys.stdout when descriptor 1 was closed (`mint >&-`): Python leaves it None, so the first
    write was an AttributeError. Every write now fails as a write to a closed descriptor does."""

    def write(self, text: str) -> int:
        import errno
        import os

        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _stdout_was_closed() -> None:
    """Take descriptor 1 for /dev/null, so no file or socket the command opens lands there
    (and is then written to as if it were stdout), and make writes to stdout fail plainly."""
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    if null != 1:
        os.dup2(null, 1)
        os.close(null)
    sys.stdout = _ClosedStdout()


def _die_on_closed_pipe() -> None:
    """Let a closed stdout end the command as it ends `cat`: killed by SIGPIPE (141 in a shell,
    so `set -o pipefail` treats it alike), silently. Python ignores SIGPIPE and raises
    BrokenPipeError instead, which surfaced as a traceback or "internal error", exit 1. gRPC
    sends with MSG_NOSIGNAL, so a dropped connection to Momento is still an error, not a death.
    `exec` inherits the default too, so its command sees SIGPIPE as it would from a shell."""
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
