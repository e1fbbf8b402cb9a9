"""Each output form, read back by its real consumer: bash, fish, python-dotenv, and a parser
that follows PowerShell's quoting rules (PowerShell itself cannot be installed here)."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from dotenv import dotenv_values

from tvmcli.cli.token_text import (
    child_environment,
    env_lines,
    github_file_block,
    github_mask,
    powershell_quote,
)

TRICKY = [
    "eyJlbmRwb2ludCI6ImUifQ==",
    "it's",
    "''",
    'say "hi"',
    "back\\slash\\",
    "$(rm -rf /) `id` ${HOME} $HOME",
    "semi;colon && pipe | amp &",
    "tab\tand\nnew line",
    "\u2018typographic\u2019 \u201aquotes\u201b",
    "unicode ü é 漢字 🙂",
    "*glob? [x]",
    "#hash",
    "",
]


@pytest.mark.parametrize("value", TRICKY)
def test_bash_evaluates_env_output_to_the_exact_value(value: str) -> None:
    lines = env_lines("env", {"V": value, "W": "2"})
    result = subprocess.run(
        ["bash", "-c", lines + 'printf "%s|%s" "$V" "$W"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == f"{value}|2"


def test_env_output_is_always_quoted_exports() -> None:
    assert env_lines("env", {"A": "abc"}) == "export A='abc'\n"


@pytest.mark.parametrize("value", TRICKY)
def test_fish_evaluates_fish_output_to_the_exact_value(value: str) -> None:
    fish = shutil.which("fish")
    assert fish, "fish is not installed; scripts/system-deps installs it"
    lines = env_lines("fish", {"V": value})
    result = subprocess.run(
        [fish, "--no-config", "-c", lines + "printf '%s' \"$V\""],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == value


@pytest.mark.parametrize("value", [v for v in TRICKY if "\n" not in v and "$" not in v])
def test_python_dotenv_parses_dotenv_output(value: str) -> None:
    parsed = dotenv_values(stream=io.StringIO(env_lines("dotenv", {"V": value, "W": "2"})))
    assert parsed == {"V": value, "W": "2"}


@pytest.mark.parametrize("value", ["${HOME}", "a\nb"])
def test_dotenv_refuses_what_readers_disagree_on(value: str) -> None:
    with pytest.raises(ValueError, match="dotenv cannot hold"):
        env_lines("dotenv", {"V": value})


def test_dotenv_leaves_tokens_unquoted() -> None:
    token = "eyJlbmRwb2ludCI6ImUifQ=="
    assert env_lines("dotenv", {"MOMENTO_API_KEY": token}) == f"MOMENTO_API_KEY={token}\n"


def powershell_single_quoted(text: str) -> str:
    """Read one single-quoted PowerShell string literal, per the language specification: any of
    ' U+2018 U+2019 U+201A U+201B opens and closes it, and two in a row stand for one."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert text[0] in quotes
    value, i = [], 1
    while i < len(text):
        char = text[i]
        if char in quotes:
            if i + 1 < len(text) and text[i + 1] in quotes:
                value.append(char)
                i += 2
                continue
            assert i == len(text) - 1, "the literal ended before the end of the text"
            return "".join(value)
        value.append(char)
        i += 1
    raise AssertionError("unterminated literal")


@pytest.mark.parametrize("value", TRICKY)
def test_powershell_quoting_round_trips(value: str) -> None:
    assert powershell_single_quoted(powershell_quote(value)) == value


def test_powershell_output_sets_env_variables() -> None:
    assert env_lines("powershell", {"A": "x"}) == "$env:A = 'x'\n"


def parse_github_file(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT the way the runner does: NAME=value or NAME<<DELIM ... DELIM."""
    values, lines = {}, iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                raise AssertionError(f"no closing delimiter for {name}")
            values[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            values[name] = value
    return values


@pytest.mark.parametrize("value", TRICKY)
def test_github_block_round_trips_through_the_runner_syntax(value: str) -> None:
    block = github_file_block({"V": value, "W": "2"})
    assert parse_github_file(block) == {"V": value, "W": "2"}


def test_github_delimiters_are_random_per_value() -> None:
    first = github_file_block({"V": "x"}).split("\n")[0]
    second = github_file_block({"V": "x"}).split("\n")[0]
    assert first != second
    assert first.startswith("V<<ghadelimiter_")


def test_github_block_refuses_a_value_containing_its_delimiter() -> None:
    with pytest.raises(ValueError, match="delimiter"):
        github_file_block({"V": "a\nEOF\nb"}, delimiter="EOF")


def test_github_mask_line() -> None:
    assert github_mask("abc") == "::add-mask::abc"


@pytest.mark.parametrize("name", ["1A", "A-B", "A B", "", "A=B", "A;rm"])
def test_variable_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        env_lines("env", {name: "x"})


def test_child_environment_drops_the_minting_key() -> None:
    base = {"MOMENTO_API_KEY": "admin", "MOMENTO_AUTH_TOKEN": "old-admin", "PATH": "/bin"}
    env = child_environment(base, "tok", 123, "MOMENTO_TOKEN")
    assert env == {"PATH": "/bin", "MOMENTO_TOKEN": "tok", "MOMENTO_TOKEN_EXPIRES_AT": "123"}
    assert child_environment(base, "tok", 123, "MOMENTO_API_KEY")["MOMENTO_API_KEY"] == "tok"
