"""The command line: one small module per command, joined in `app`.

The only package that imports typer, decides exit codes and renders (through `output`). This
module stays light: `main` runs plain `inspect` calls without loading Typer at all.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["inspect"]:
        # Scripts call `inspect --check` often; skip Typer when the arguments are plain ones.
        from tvmcli.cli.inspect_report import fast_main

        code = fast_main(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    from tvmcli.cli.app import app

    app(prog_name="momento-tvm")
