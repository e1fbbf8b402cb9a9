"""Commands that scripts call often, answered without loading Typer, Rich or anything heavy.

Each returns an exit code, or None for anything unusual (help, unknown flags): the full Typer
app then handles it, with the same output and errors. `python -X importtime` shows the cost.
"""

from __future__ import annotations


def run(argv: list[str]) -> int | None:
    if argv == ["--version"]:
        from tvmcli import __version__

        _write(f"momento-tvm {__version__}")
        return 0
    if argv == ["cache", "path"]:
        import os

        from tvmcli.paths import default_cache_dir

        _write(str(default_cache_dir(os.environ)))
        return 0
    if argv[:1] == ["inspect"]:
        from tvmcli.cli.inspect_report import fast_main

        return fast_main(argv[1:])
    return None


def _write(line: str) -> None:
    import sys

    sys.stdout.write(line + "\n")
    sys.stdout.flush()
