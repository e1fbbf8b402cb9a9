"""`momento-tvm cache`: the tokens `--reuse` keeps."""

from __future__ import annotations

import os

import typer

from tvmcli.cli import options, output

app = typer.Typer(
    help="Manage the tokens that --reuse keeps between commands.",
    no_args_is_help=True,
    rich_markup_mode=None,
    epilog="\b\nExamples:\n  momento-tvm cache clear\n  momento-tvm cache path",
)


@options.subcommand(app, "clear", epilog="\b\nExample:\n  momento-tvm cache clear")
def clear() -> None:
    """Delete every cached token."""
    from tvmcli.system.paths import default_cache_dir
    from tvmcli.vending.reuse import TokenCache

    cache = TokenCache(default_cache_dir(os.environ))
    removed = cache.clear()
    output.info(f"Removed {removed} cached token{'s' if removed != 1 else ''} from {cache.folder}")


@options.subcommand(app, "path", epilog='\b\nExample:\n  ls -l "$(momento-tvm cache path)"')
def path() -> None:
    """Print the folder where --reuse keeps tokens."""
    from tvmcli.system.paths import default_cache_dir

    output.data(str(default_cache_dir(os.environ)))
