"""The Typer app: one small module per command, joined here."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tvmcli import __version__
from tvmcli.cli import (
    cache,
    can,
    doctor,
    emulator,
    execute,
    hash_password,
    inspect,
    mint,
    options,
    profiles,
    serve,
)
from tvmcli.system import envvars


class _DebugAnywhere(TyperGroup):
    """Accepts --debug anywhere before `--`, as "rerun with --debug" invites: it is moved to
    the front, where the callback takes it. After `--` it belongs to exec's command. (A
    --debug meant as another option's value, `--token-id --debug`, is taken as the flag.)"""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        for flag in ("--show-completion", "--install-completion"):
            shell = _named_shell(args[:end], flag)
            if shell is not None:
                _completion_for(ctx, flag, shell)
        if "--debug" in args[:end]:
            args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
        result: list[str] = super().parse_args(ctx, args)
        return result


SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _named_shell(args: list[str], flag: str) -> str | None:
    """SHELL of `--show-completion SHELL` (or `=SHELL`); None for the bare flag, which Typer
    answers for the shell it detects. Typer's flag took no value, so the named shell was
    ignored: bash printed fish's script, and tcsh exited 0."""
    for index, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.partition("=")[2]
        if arg == flag and index + 1 < len(args) and not args[index + 1].startswith("-"):
            return args[index + 1]
    return None


def _completion_for(ctx: Any, flag: str, shell: str) -> None:
    """The named shell's completion: printed, or installed. An unknown shell is exit 2."""
    from typer._click.exceptions import UsageError
    from typer._completion_shared import get_completion_script, install

    if shell not in SHELLS:
        raise UsageError(f"{flag}: unknown shell {shell!r}; choose one of {', '.join(SHELLS)}", ctx)
    prog_name = ctx.info_name or "momento-tvm"
    if flag == "--show-completion":
        complete_var = "_{}_COMPLETE".format(prog_name.replace("-", "_").upper())
        typer.echo(
            get_completion_script(prog_name=prog_name, complete_var=complete_var, shell=shell)
        )
    else:
        with ctx:
            installed, path = install(shell=shell, prog_name=prog_name)
        typer.echo(f"{installed} completion installed in {path}")
        typer.echo("Completion will take effect once you restart the terminal")
    ctx.exit(0)


app = typer.Typer(
    name="momento-tvm",
    cls=_DebugAnywhere,
    help="Mint, inspect and vend scoped Momento disposable tokens.\n\n"
    "Profiles in a TOML file name the caches, topics, keys and lifetimes of each kind of token.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
    rich_markup_mode=None,
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
            "--version",
            "-V",
            help="Show the version and exit.",
            callback=_version,
            is_eager=True,
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for internal errors.")
    ] = False,
) -> None:
    if debug:
        os.environ[envvars.DEBUG] = "1"


Command = options.Command
app.command("mint", cls=Command, epilog=mint.EPILOG, short_help=mint.SHORT)(mint.mint)
app.command("exec", cls=execute.ExecCommand, epilog=execute.EPILOG, short_help=execute.SHORT)(
    execute.exec_command
)
app.command("inspect", cls=Command, epilog=inspect.EPILOG, short_help=inspect.SHORT)(
    inspect.inspect
)
app.command(
    "emulator", cls=emulator.EmulatorCommand, epilog=emulator.EPILOG, short_help=emulator.SHORT
)(emulator.emulator)
app.command("serve", cls=Command, epilog=serve.EPILOG, short_help=serve.SHORT)(serve.serve)
app.command("can", cls=Command, epilog=can.EPILOG, short_help=can.SHORT)(can.can)
app.command("doctor", cls=Command, epilog=doctor.EPILOG, short_help=doctor.SHORT)(doctor.doctor)
app.command("hash-password", cls=Command, epilog=hash_password.EPILOG)(hash_password.hash_password)
app.add_typer(profiles.app, name="profiles", short_help=profiles.SHORT)
app.add_typer(cache.app, name="cache")
