"""`momento-tvm profiles`: list, show, validate and locate the profiles file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tvmcli.cli import options, output, steps
from tvmcli.config.file import find_config, write_starter
from tvmcli.config.profiles import Profile
from tvmcli.system.durations import format_duration

SHORT = "List, show, check and create the profiles file."
app = typer.Typer(
    help="Inspect the profiles file: what each profile grants and for how long.",
    no_args_is_help=True,
    rich_markup_mode=None,
    epilog="\b\nExamples:\n  momento-tvm profiles list\n  momento-tvm profiles show chat-reader",
)


Format = options.TextOrJson


FormatOption = Annotated[
    Format, typer.Option("--output", "-o", help="text (a table) or json.", metavar="FORMAT")
]


def profile_json(profile: Profile) -> dict[str, object]:
    return {
        "name": profile.name,
        "description": profile.description,
        "expiresIn": profile.expires_in,
        "tokenId": profile.token_id,
        "cache": profile.cache,
        "permissions": [s.describe() for s in profile.statements],
    }


@options.subcommand(
    app,
    "list",
    short_help="List the profiles: lifetime, statements, description.",
    epilog="\b\nExamples:\n  momento-tvm profiles list\n  momento-tvm profiles list -o json",
)
def list_profiles(config: options.ConfigOption = None, fmt: FormatOption = Format.text) -> None:
    """List the profiles: name, lifetime, number of statements, description."""
    profiles = steps.load(config).profiles
    if fmt is Format.json:
        output.json_data([profile_json(p) for p in profiles.values()])
        return
    output.table(
        ("Profile", "Lifetime", "Statements", "Description"),
        (
            (p.name, format_duration(p.expires_in), str(len(p.statements)), p.description)
            for p in profiles.values()
        ),
    )


@options.subcommand(
    app,
    "show",
    short_help="Show what a profile grants, as sent to Momento.",
    epilog="\b\nExamples:\n  momento-tvm profiles show chat-reader\n"
    "  momento-tvm profiles show chat-writer -o json",
)
def show(
    name: options.ProfileArgument,
    config: options.ConfigOption = None,
    fmt: FormatOption = Format.text,
) -> None:
    """Show the statements a profile grants, as they will be sent to Momento."""
    profile = steps.load(config).profile(name)
    if fmt is Format.json:
        output.json_data(profile_json(profile))
        return
    output.key_values(
        [
            ("Profile", profile.name),
            ("Description", profile.description or "-"),
            ("Lifetime", format_duration(profile.expires_in)),
            ("Token id", profile.token_id or "-"),
        ]
    )
    rows = (tuple(s.describe().values()) for s in profile.statements)
    output.table(("Resource", "Role", "Cache", "Scope"), rows)


@options.subcommand(
    app,
    "validate",
    short_help="Check the whole file and report every problem.",
    epilog="\b\nExamples:\n  momento-tvm profiles validate\n"
    "  momento-tvm profiles validate -c deploy/profiles.toml",
)
def validate(config: options.ConfigOption = None) -> None:
    """Check the whole file, profiles and [server], and report every problem at once (exit 3)."""
    loaded = steps.load(config)
    for warning in loaded.server.warnings:
        output.warning(warning)
    count = len(loaded.profiles)
    output.info(f"{loaded.path}: {count} profile{'s' if count != 1 else ''}, all valid")


@options.subcommand(
    app,
    "path",
    short_help="Print the path of the profiles file commands use.",
    epilog='\b\nExample:\n  $EDITOR "$(momento-tvm profiles path)"',
)
def path(config: options.ConfigOption = None) -> None:
    """Print the path of the profiles file that commands would use."""
    found: Path = find_config(config, os.environ)
    output.data(str(found))
    if not found.exists():
        output.info("(no file there yet; create it with: momento-tvm profiles init)")


@options.subcommand(
    app,
    "init",
    short_help="Write a commented starter profiles file.",
    epilog="\b\nExamples:\n  momento-tvm profiles init\n"
    "  momento-tvm profiles init ./momento-tvm.toml\n"
    "  momento-tvm profiles init deploy/profiles.toml --force",
)
def init(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Where to write. Default: where commands look "
            "($MOMENTO_TVM_CONFIG, else ~/.config/momento-tvm/profiles.toml).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented starter profiles file (every feature shown) to edit."""
    target = path if path is not None else find_config(None, os.environ)
    write_starter(target, force=force, env=os.environ)
    output.info(f"Wrote a starter profiles file to {target} (mode 0600); edit it, then run:")
    output.info("  momento-tvm profiles validate" + _config_flag(target))
    if _config_flag(target):
        output.info(
            f"Commands look elsewhere first: pass --config {target} or set MOMENTO_TVM_CONFIG."
        )


def _config_flag(target: Path) -> str:
    """' --config TARGET' unless commands find TARGET by themselves (asked once it exists)."""
    found = find_config(None, os.environ)
    return "" if found.resolve() == target.resolve() else f" --config {target}"
