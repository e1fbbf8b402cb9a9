"""`cli/mint_flags.FLAGS` is THE table of mint's and exec's options: the Typer commands, the
fast path and `MintArgs` must say exactly what it says."""

from __future__ import annotations

import pytest
import typer.main
from typer.core import TyperGroup, TyperOption

from tvmcli.cli import fast, mint_flags
from tvmcli.cli.app import app
from tvmcli.cli.mint_body import MintArgs


def typer_options(command: str) -> dict[str, tuple[set[str], bool]]:
    """{parameter: (its flags, takes a value)} of a Typer command, as click sees it."""
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    params = group.commands[command].params
    return {
        str(p.name): (set(p.opts) | set(p.secondary_opts), not p.is_flag)
        for p in params
        if isinstance(p, TyperOption)
    }


def table(*, exec_only: bool = False) -> dict[str, tuple[set[str], bool]]:
    return {
        flag.field: (set(flag.names), flag.takes_value)
        for flag in mint_flags.FLAGS
        if flag.exec_too or not exec_only
    }


@pytest.mark.parametrize(("command", "exec_only"), [("mint", False), ("exec", True)])
def test_the_typer_commands_take_exactly_the_tables_options(command: str, exec_only: bool) -> None:
    assert typer_options(command) == table(exec_only=exec_only)


def test_mint_args_has_one_field_per_option_and_the_profile() -> None:
    assert MintArgs._fields == ("profile", *MintArgs._fields[1:])
    assert set(MintArgs._fields[1:]) == {flag.field for flag in mint_flags.FLAGS}


def test_the_fast_path_parses_every_flag_of_the_table() -> None:
    for flag in mint_flags.FLAGS:
        argv = [flag.names[-1], "v"] if flag.takes_value else [flag.names[-1]]
        parsed = fast.parse_options(argv, mint_flags.BY_NAME)
        assert parsed == ([], {flag.field: "v" if flag.takes_value else True})


def test_local_only_names_the_options_a_vending_server_decides() -> None:
    given = mint_flags.local_only({"config": "p.toml", "token_id": "x"})
    assert given == {
        "--expires-in": None,
        "--expires-at": None,
        "--config": "p.toml",
        "--api-key-file": None,
        "--endpoint": None,
        "--momento-profile": None,
    }
