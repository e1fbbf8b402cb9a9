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
    from tvmcli.cli.fast import run

    # The program name picks the completion variable (_TVM_COMPLETE for `tvm`), so completion
    # installed from either name answers under that name.
    stem = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    prog = "tvm" if stem == "tvm" else "momento-tvm"
    code = run(argv, prog)
    if code is not None:
        sys.exit(code)
    from tvmcli.cli.app import app

    app(prog_name=prog)


def _die_on_closed_pipe() -> None:
    """Let a closed stdout end the command as it ends `cat`: killed by SIGPIPE (141 in a shell,
    so `set -o pipefail` treats it alike), silently. Python ignores SIGPIPE and raises
    BrokenPipeError instead, which surfaced as a traceback or "internal error", exit 1. gRPC
    sends with MSG_NOSIGNAL, so a dropped connection to Momento is still an error, not a death.
    `exec` inherits the default too, so its command sees SIGPIPE as it would from a shell."""
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
