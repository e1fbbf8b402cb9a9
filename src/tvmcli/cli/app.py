"""The Typer app: one small module per command, joined here."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from tvmcli import __version__, envvars
from tvmcli.cli import cache, emulator, execute, hash_password, inspect, mint, profiles, serve

app = typer.Typer(
    name="momento-tvm",
    help="Mint, inspect and vend scoped Momento disposable tokens.\n\n"
    "Profiles in a TOML file name the caches, topics, keys and lifetimes of each kind of token.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExamples:\n"
    "  momento-tvm emulator --print-env --quiet\n"
    "  momento-tvm mint chat-reader --config profiles.example.toml\n"
    "  momento-tvm profiles list",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"momento-tvm {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for internal errors.")
    ] = False,
) -> None:
    if debug:
        os.environ[envvars.DEBUG] = "1"


app.command("mint", epilog=mint.EPILOG)(mint.mint)
app.command("exec", cls=execute.ExecCommand, epilog=execute.EPILOG)(execute.exec_command)
app.command("inspect", epilog=inspect.EPILOG)(inspect.inspect)
app.command("emulator", cls=emulator.EmulatorCommand, epilog=emulator.EPILOG)(emulator.emulator)
app.command("serve", epilog=serve.EPILOG)(serve.serve)
app.command("hash-password", epilog=hash_password.EPILOG)(hash_password.hash_password)
app.add_typer(profiles.app, name="profiles")
app.add_typer(cache.app, name="cache")
