"""A hostile credential or file cannot drive the terminal: control characters in anything shown
to a person (token ids, subjects, claim names, endpoints, descriptions, errors) are escaped.
JSON output escapes them by itself."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.terminal import on_a_terminal
from tvmcli.cli import fast
from tvmcli.credentials import jwtcodec
from tvmcli.credentials.decoding import make_envelope

Cli = Callable[..., Result]
BIN = Path(sys.executable).parent
TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
CONTROLS = [chr(c) for c in range(32) if chr(c) not in "\n"] + ["\x7f", "\x9b", "\u202e"]

HOSTILE = make_envelope(
    f"cell{CLEAR}.example.com",
    jwtcodec.sign_hs256(
        {
            "exp": 2_000_000_000,
            "id": f"ci{TITLE}",
            "sub": f"me{CLEAR}",
            f"x{CLEAR}": f"v{TITLE}",
            "p": {
                "explicit": {
                    "permissions": [
                        {
                            "cache_permissions": {
                                "role": "CacheReadOnly",
                                "cache_selector": {"cache_name": f"c{TITLE}\tx\ny"},
                                "all_items": {},
                            }
                        }
                    ]
                }
            },
        },
        b"k" * 32,
    ),
)


def assert_inert(text: str) -> None:
    assert not [c for c in text if c in CONTROLS and c != "\t"], repr(text)


def test_inspect_text_escapes_every_field(cli: Cli) -> None:
    result = cli("inspect", HOSTILE)
    assert result.exit_code == 0, result.stderr
    assert_inert(result.stdout.replace("\t", " "))
    assert "ci\\x1b]0;pwned\\x07" in result.stdout  # escaped, still readable
    assert "cell\\x1b[2J\\x1b[H.example.com" in result.stdout


def test_inspect_on_the_fast_path_escapes_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", HOSTILE)
    assert fast.run(["inspect", "--env", "TOKEN"]) == 0
    out = capsys.readouterr().out
    assert_inert(out.replace("\t", " "))


def test_table_cells_cannot_add_columns_or_rows(cli: Cli) -> None:
    """The cache name holds a tab and a newline: the piped table keeps its shape."""
    lines = cli("inspect", HOSTILE).stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("Resource\t")) :]
    assert [line.count("\t") for line in table] == [3, 3]


def test_json_output_is_escaped_by_json(cli: Cli) -> None:
    out = cli("inspect", HOSTILE, "-o", "json").stdout
    assert_inert(out)
    assert json.loads(out)["tokenId"] == f"ci{TITLE}"  # the value itself is kept


def test_inspect_on_a_real_terminal_shows_no_raw_sequence() -> None:
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "200", "TOKEN": HOSTILE}
    env.pop("NO_COLOR", None)
    code, screen = on_a_terminal(
        [str(BIN / "momento-tvm"), "inspect", "--env", "TOKEN"], env, timeout=30
    )
    assert code == 0
    assert "\x1b]0;" not in screen
    assert "\x1b[2J" not in screen
    assert "\x07" not in screen
    assert "pwned" in screen


def test_profile_descriptions_and_errors_are_escaped(
    cli: Cli, write_profiles: Callable[[str], Path]
) -> None:
    path = write_profiles(
        """
        [profiles.a]
        description = "read\\u001b[2J all"
        permissions = [{ role = "read-only", cache = "c" }]
        """
    )
    listing = cli("profiles", "list", "-c", str(path))
    assert_inert(listing.stdout.replace("\t", " "))
    assert "read\\x1b[2J all" in listing.stdout
    unknown = cli("profiles", "show", f"b{CLEAR}", "-c", str(path))
    assert unknown.exit_code == 3
    assert_inert(unknown.stderr)


def test_a_token_id_with_escapes_is_refused_without_echoing_them(
    cli: Cli, emulator_env: object, profiles_file: Path
) -> None:
    """Token ids must be printable (the one token id rule), so none can reach the summary;
    the refusal itself shows nothing raw."""
    result = cli(
        "mint", "chat-reader", "-c", str(profiles_file), "-o", "text", "--token-id", f"x{TITLE}"
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_inert(result.stderr)
