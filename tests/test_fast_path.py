"""`cli/fast.py` answers common commands without Typer; it must behave as the Typer app does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tvmcli import __version__
from tvmcli.cli import fast
from tvmcli.credentials.decoding import parse_credential
from tvmcli.emulator import Emulator


def run_fast(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | None, str, str]:
    code = fast.run(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version_and_cache_path(
    capsys: pytest.CaptureFixture[str], cli: Callable[..., Result]
) -> None:
    assert run_fast(["--version"], capsys) == (0, f"momento-tvm {__version__}\n", "")
    code, out, _ = run_fast(["cache", "path"], capsys)
    assert (code, out) == (0, cli("cache", "path").stdout)


@pytest.mark.parametrize(
    "extra",
    [
        ["-o", "json"],
        ["--output=json", "--expires-in", "90s", "--token-id", "job-1"],
        ["-o", "json", "-e", "2m", "--timeout", "5"],
        ["-o", "json", "--expires-at", str(int(time.time()) + 3600), "--timeout=5s"],
        ["--output", "json", "--reuse", "--min-ttl", "1m"],
        ["--out", "-", "-o", "json"],
    ],
)
def test_mint_fast_path_and_typer_command_agree(
    extra: list[str],
    emulator_env: Emulator,
    profiles_file: Path,
    cli: Callable[..., Result],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["mint", "chat-reader", "-c", str(profiles_file), *extra]
    code, out, _ = run_fast(args, capsys)
    typer = cli(*args)
    assert (code, typer.exit_code) == (0, 0)
    ours, theirs = json.loads(out), json.loads(typer.stdout)
    assert ours.keys() == theirs.keys()
    for key in ("profile", "tokenId", "endpoint"):
        assert ours[key] == theirs[key]
    assert abs(ours["expiresAt"] - theirs["expiresAt"]) <= 2
    grants = [parse_credential(body["authToken"]).claims["p"] for body in (ours, theirs)]
    assert grants[0] == grants[1]


@pytest.mark.parametrize(
    ("extra", "exit_code"),
    [
        (["--expires-in", "26h"], 2),
        (["--expires-in", "soon"], 2),
        (["--env-var", "1BAD"], 2),
        (["--min-ttl", "5m"], 2),  # --min-ttl without --reuse
        (["--github-env"], 2),
        (["--expires-in", "0"], 2),
        (["--expires-in", "0s", "--expires-at", "2999999999"], 2),
        (["--expires-at", "2020-01-01T00:00:00Z"], 2),
        (["--timeout", "0"], 2),
        (["--timeout", "nan"], 2),
        (["--timeout", "2h"], 2),
    ],
)
def test_mint_errors_are_the_same_either_way(
    extra: list[str],
    exit_code: int,
    emulator_env: Emulator,
    profiles_file: Path,
    cli: Callable[..., Result],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["mint", "chat-reader", "-c", str(profiles_file), *extra]
    code, out, err = run_fast(args, capsys)
    typer = cli(*args)
    assert code == typer.exit_code == exit_code
    assert out == typer.stdout == ""
    assert err == typer.stderr
    assert emulator_env.service.stats()["calls"] == 0


def test_unknown_profile_is_the_same_either_way(
    profiles_file: Path, cli: Callable[..., Result], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["mint", "chat-raeder", "-c", str(profiles_file)]
    code, _, err = run_fast(args, capsys)
    typer = cli(*args)
    assert code == typer.exit_code == 3
    assert err == typer.stderr


def test_mint_from_agrees_either_way(
    emulator: Emulator,
    cli: Callable[..., Result],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """--from and its identity options are parsed by the fast path too, with the same result."""
    from tests.ci_providers import (
        CI_PROFILES,
        Provider,
        github_claims,
        gitlab_claims,
        keyless_server_toml,
    )
    from tests.serving import serve

    github, gitlab = Provider(), Provider()
    github.job = github_claims(audience=None)
    for name, value in github.actions_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITLAB_TOKEN", gitlab.sign(gitlab_claims()))
    (tmp_path / "bearer").write_text("x" * 20)
    try:
        with serve(emulator, keyless_server_toml(github, gitlab), CI_PROFILES) as server:
            cases = [
                (["--from", server.url, "-o", "json", "--audience=momento-tvm"], 0),
                (["--from=" + server.url, "-o", "json", "--id-token-env", "GITLAB_TOKEN"], 0),
                (["--from", server.url, "--audience", "other"], 4),
                (["--from", server.url, "--bearer-file", str(tmp_path / "bearer")], 4),
                (["--from", "http://tvm.example.com"], 2),
                (["--id-token-env", "GITLAB_TOKEN"], 2),
            ]
            for extra, exit_code in cases:
                args = ["mint", "ci-deploy", *extra]
                code, out, err = run_fast(args, capsys)
                typer = cli(*args)
                assert code == typer.exit_code == exit_code, (extra, err, typer.stderr)
                assert err == typer.stderr
                if exit_code:
                    assert out == typer.stdout == ""
                else:
                    ours, theirs = json.loads(out), json.loads(typer.stdout)
                    assert ours.keys() == theirs.keys()
                    assert (ours["profile"], ours["tokenId"]) == (
                        theirs["profile"],
                        theirs["tokenId"],
                    )
    finally:
        github.close()
        gitlab.close()


@pytest.mark.parametrize(
    "args",
    [
        ["mint"],
        ["mint", "a", "b"],
        ["mint", "a", "--help"],
        ["mint", "a", "--debug"],
        ["mint", "a", "-o", "bogus"],
        ["mint", "a", "--out", "."],
        ["mint", "a", "--reuse", "--reuse"],
        ["mint", "a", "--reuse=yes"],
        ["mint", "a", "--token-id"],
        ["mint", "a", "--token-id", "--reuse"],
        ["mint", "a", "--unknown"],
        ["mint", "a", "--from"],
        ["mint", "a", "--from", "u", "--from", "v"],
        ["mint", "a", "--bearer-file", "."],
        ["cache", "path", "--help"],
        ["--version", "x"],
    ],
)
def test_anything_unusual_goes_to_typer(args: list[str]) -> None:
    assert fast.run(args) is None


CHILD = (
    "import json, os, sys; json.dump({name: os.environ.get(name) is not None for name in "
    "('MOMENTO_API_KEY', 'MOMENTO_TOKEN_EXPIRES_AT', 'CHAT')}, sys.stdout); sys.exit(3)"
)


@pytest.mark.parametrize("reuse", [[], ["--reuse"]])
def test_exec_fast_path_and_typer_command_agree(
    reuse: list[str], emulator_env: Emulator, profiles_file: Path
) -> None:
    """Plain `exec` arguments take the fast path; `--debug` sends the same call through Typer.
    Both run the command with the same environment and exit status."""
    import subprocess
    import sys

    tvm = str(Path(sys.executable).parent / "momento-tvm")
    head = [tvm, "exec", "chat-reader", "-c", str(profiles_file), "--env-var", "CHAT", *reuse]
    tail = ["--", sys.executable, "-c", CHILD]
    fast_run = subprocess.run([*head, *tail], capture_output=True, text=True, check=False)
    typer_run = subprocess.run(
        [*head, "--debug", *tail], capture_output=True, text=True, check=False
    )
    assert fast_run.returncode == typer_run.returncode == 3
    assert json.loads(fast_run.stdout) == json.loads(typer_run.stdout)
    assert json.loads(fast_run.stdout) == {
        "MOMENTO_API_KEY": False,  # the minting key does not reach the command
        "MOMENTO_TOKEN_EXPIRES_AT": True,
        "CHAT": True,
    }
    assert emulator_env.service.stats()["mints"] == (1 if reuse else 2)


@pytest.mark.parametrize(
    "argv",
    [
        ["exec", "chat-reader"],  # no '--': Typer explains
        ["exec", "chat-reader", "--help", "--", "true"],
        ["exec", "chat-reader", "-o", "json", "--", "true"],  # a mint-only option
        ["exec", "--", "true"],  # no profile
    ],
)
def test_unusual_exec_arguments_go_to_typer(argv: list[str]) -> None:
    assert fast.run(argv) is None


@pytest.mark.parametrize("prog", ["momento-tvm", "tvm"])
def test_top_level_help_is_typers(prog: str) -> None:
    """The fast path's `--help` is Typer's text, for both program names. When a command or an
    app option changes, this fails and prints Typer's text for `cli/help_text.py`."""
    from typer.testing import CliRunner

    from tvmcli.cli import help_text
    from tvmcli.cli.app import app

    typer = CliRunner().invoke(app, ["--help"], prog_name=prog, env={"COLUMNS": "80"})
    assert typer.exit_code == 0
    assert help_text.TEXT.format(prog=prog) == typer.stdout, (
        "cli/help_text.py is stale; Typer prints:\n" + typer.stdout
    )


def test_help_takes_the_fast_path_only_where_click_would_wrap_it_alike(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tvmcli.cli import help_text

    monkeypatch.setenv("COLUMNS", "120")
    assert run_fast(["--help"], capsys) == (0, help_text.TEXT.format(prog="momento-tvm"), "")
    assert run_fast(["-h"], capsys)[0] == 0
    monkeypatch.setenv("COLUMNS", "79")
    assert fast.run(["--help"]) is None  # Typer wraps it for the narrow terminal
    assert fast.run(["--help", "--debug"]) is None


def test_help_from_the_installed_script_is_the_same_either_way() -> None:
    import subprocess
    import sys

    tvm = str(Path(sys.executable).parent / "momento-tvm")
    fast_help = subprocess.run([tvm, "--help"], capture_output=True, text=True, check=True)
    typer_help = subprocess.run(
        [tvm, "--debug", "--help"], capture_output=True, text=True, check=True
    )
    assert fast_help.stdout == typer_help.stdout
    assert fast_help.stdout.startswith("Usage: momento-tvm [OPTIONS] COMMAND [ARGS]...")
