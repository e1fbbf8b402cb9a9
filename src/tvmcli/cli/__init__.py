"""The command line: one small module per command, joined in `app`.

The only package that imports typer, decides exit codes and renders (through `output`). This
module stays light: `main` answers `--version`, `cache path` and plain `inspect` calls without
loading Typer at all (see `fast`).
"""

from __future__ import annotations

import sys


def main() -> None:
    from tvmcli.cli.fast import run

    code = run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from tvmcli.cli.app import app

    app(prog_name="momento-tvm")
