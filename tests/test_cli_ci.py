"""Tokens for scripts and CI: shell forms end to end, --out files, GitHub Actions, exec, reuse."""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.test_token_env import parse_github_file
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator

Cli = Callable[..., Result]
BIN = Path(sys.executable).parent
TVM = str(BIN / "momento-tvm")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


# -- shell forms, end to end ------------------------------------------------------------------


def test_bash_eval_of_env_output_exports_the_exact_token(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    script = (
        f'eval "$("{TVM}" mint chat-writer -c "{profiles_file}" --output env)"\n'
        'printf "%s\\n%s" "$MOMENTO_API_KEY" "$MOMENTO_TOKEN_EXPIRES_AT"'
    )
    result = run("bash", "-c", script)
    assert result.returncode == 0, result.stderr
    token, expires_at = result.stdout.split("\n")
    decoded = parse_credential(token)
    assert decoded.kind is Kind.DISPOSABLE_TOKEN
    assert decoded.claims["exp"] == int(expires_at)
    assert decoded.claims["id"] == "ci-bot"


def test_env_var_picks_the_variable(cli: Cli, emulator_env: Emulator, profiles_file: Path) -> None:
    result = cli(
        "mint", "chat-reader", "-c", str(profiles_file), "-o", "env", "--env-var", "CHAT_TOKEN"
    )
    assert result.stdout.startswith("export CHAT_TOKEN='")
    assert "export MOMENTO_TOKEN_EXPIRES_AT='" in result.stdout


def test_bad_env_var_name_is_a_usage_error_before_minting(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "-o", "env", "--env-var", "A;B")
    assert result.exit_code == 2
    assert emulator_env.service.stats()["calls"] == 0


def test_dotenv_output_is_read_by_python_dotenv(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    from dotenv import dotenv_values

    Path(".env").write_text(
        cli("mint", "chat-reader", "-c", str(profiles_file), "-o", "dotenv").stdout
    )
    values = dotenv_values(".env")
    assert parse_credential(values["MOMENTO_API_KEY"] or "").kind is Kind.DISPOSABLE_TOKEN
    assert int(values["MOMENTO_TOKEN_EXPIRES_AT"] or 0) > time.time()


# -- files ------------------------------------------------------------------------------------


def test_out_writes_the_form_to_a_0600_file_replacing_the_old_one(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    target = Path("token.env")
    target.write_text("old\n")
    target.chmod(0o644)
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "-o", "env", "--out", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"to {target}" in result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().startswith("export MOMENTO_API_KEY='")
    assert sorted(p.name for p in Path().iterdir()) == ["token.env"]


def test_out_keeps_the_old_file_when_minting_fails(
    cli: Cli, profiles_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator() as gone:
        monkeypatch.setenv("MOMENTO_API_KEY", gone.issue_api_key())
        monkeypatch.setenv("MOMENTO_ENDPOINT", gone.endpoint)
    target = Path("token.txt")
    target.write_text("old\n")
    result = cli(
        "mint", "chat-reader", "-c", str(profiles_file), "--out", str(target), "--timeout", "0.3"
    )
    assert result.exit_code == 5
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in Path().iterdir()) == ["token.txt"]


def test_out_leaves_no_partial_file_when_the_write_fails(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    """A real write failure: the process may not write files over 100 bytes (RLIMIT_FSIZE)."""
    target = Path("token.txt")
    target.write_text("old\n")

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    result = subprocess.run(
        [TVM, "mint", "chat-reader", "-c", str(profiles_file), "--out", str(target)],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=small_files,
    )
    assert result.returncode == 2, result.stderr
    assert "cannot write token.txt: File too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in Path().iterdir()) == ["token.txt"]


def test_out_into_a_missing_folder_is_a_usage_error(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--out", "no/such/dir/t")
    assert result.exit_code == 2
    assert "cannot write no/such/dir/t: folder no/such/dir does not exist" in result.stderr
    assert emulator_env.service.stats()["calls"] == 0  # checked before spending a mint


def test_github_output_into_a_missing_folder_is_refused_before_minting(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", "/no/such/dir/github_output")
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "-o", "github")
    assert result.exit_code == 2
    assert "folder /no/such/dir does not exist" in result.stderr
    assert emulator_env.service.stats()["calls"] == 0


@pytest.mark.parametrize("fmt", ["raw", "env", "json"])
def test_out_dash_means_standard_output(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, fmt: str
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--out", "-", "-o", fmt)
    assert result.exit_code == 0, result.stderr
    if fmt == "raw":
        token = result.stdout.strip()
    elif fmt == "env":
        token = result.stdout.split("MOMENTO_API_KEY=")[1].split()[0].strip("'")
    else:
        token = json.loads(result.stdout)["authToken"]
    assert parse_credential(token).kind is Kind.DISPOSABLE_TOKEN
    assert not Path("-").exists()
    assert "Wrote" not in result.stderr


# -- GitHub Actions ---------------------------------------------------------------------------


def test_github_output_masks_then_appends_to_github_output(
    cli: Cli,
    emulator_env: Emulator,
    profiles_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    github_output = tmp_path / "github_output"
    github_output.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "-o", "github")
    assert result.exit_code == 0, result.stderr
    values = parse_github_file(github_output.read_text())
    assert result.stdout == f"::add-mask::{values['MOMENTO_API_KEY']}\n"
    assert values["earlier"] == "1"
    assert parse_credential(values["MOMENTO_API_KEY"]).claims["exp"] == int(
        values["MOMENTO_TOKEN_EXPIRES_AT"]
    )


def test_github_env_appends_to_github_env(
    cli: Cli,
    emulator_env: Emulator,
    profiles_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("GITHUB_ENV", str(tmp_path / "github_env"))
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "-o", "github", "--github-env")
    assert result.exit_code == 0, result.stderr
    assert "MOMENTO_API_KEY" in parse_github_file((tmp_path / "github_env").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "github"], "needs $GITHUB_OUTPUT"),
        (["-o", "github", "--github-env"], "needs $GITHUB_ENV"),
        (["-o", "github", "--out", "x"], "not --out"),
        (["--github-env"], "--github-env goes with --output github"),
    ],
)
def test_github_misuse_is_exit_2_before_minting(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, args: list[str], message: str
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert emulator_env.service.stats()["calls"] == 0


# -- exec -------------------------------------------------------------------------------------


def test_exec_runs_the_command_with_only_the_token(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    admin_key = os.environ["MOMENTO_API_KEY"]
    child = (
        "import json, os, sys; json.dump({k: os.environ.get(k) for k in ("
        "'MOMENTO_API_KEY', 'MOMENTO_TOKEN_EXPIRES_AT', 'MOMENTO_AUTH_TOKEN', 'CHAT')}, sys.stdout)"
    )
    result = run(
        TVM, "exec", "chat-writer", "-c", str(profiles_file), "--", sys.executable, "-c", child
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["MOMENTO_API_KEY"] != admin_key
    assert parse_credential(seen["MOMENTO_API_KEY"]).claims["exp"] == int(
        seen["MOMENTO_TOKEN_EXPIRES_AT"]
    )
    result = run(
        TVM,
        "exec",
        "chat-writer",
        "-c",
        str(profiles_file),
        "--env-var",
        "CHAT",
        "--",
        sys.executable,
        "-c",
        child,
    )
    seen = json.loads(result.stdout)
    assert seen["MOMENTO_API_KEY"] is None  # the minting key does not reach the command
    assert parse_credential(seen["CHAT"]).kind is Kind.DISPOSABLE_TOKEN


def test_exec_exit_status_is_the_commands(emulator_env: Emulator, profiles_file: Path) -> None:
    result = run(TVM, "exec", "chat-reader", "-c", str(profiles_file), "--", "sh", "-c", "exit 7")
    assert result.returncode == 7
    assert result.stdout == ""


def test_exec_passes_the_commands_own_options_through(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    result = run(
        TVM, "exec", "chat-reader", "-c", str(profiles_file), "--", "echo", "--help", "-o", "x"
    )
    assert (result.returncode, result.stdout) == (0, "--help -o x\n")


def test_exec_signals_reach_the_command_and_the_token_is_not_on_its_command_line(
    emulator_env: Emulator, profiles_file: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    script = f'trap "exit 42" TERM; touch "{ready}"; while true; do sleep 0.05; done'
    process = subprocess.Popen(
        [TVM, "exec", "chat-reader", "-c", str(profiles_file), "--", "bash", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().decode()
        token = next(
            v.split("=", 1)[1] for v in environ.split("\0") if v.startswith("MOMENTO_API_KEY=")
        )
        assert token not in cmdline
        assert "trap" in cmdline
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 42
    finally:
        process.kill()


def test_exec_command_that_cannot_start_exits_127(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    result = run(TVM, "exec", "chat-reader", "-c", str(profiles_file), "--", "./no-such-program")
    assert result.returncode == 127
    assert "cannot run './no-such-program': No such file or directory" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing '--'"),
        (["echo", "hi"], "missing '--'"),
        (["--"], "no COMMAND after '--'"),
    ],
)
def test_exec_without_separator_or_command_is_a_usage_error(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, args: list[str], message: str
) -> None:
    result = cli("exec", "chat-reader", "-c", str(profiles_file), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert emulator_env.service.stats()["calls"] == 0


# -- reuse ------------------------------------------------------------------------------------


def cache_files(home: Path) -> list[Path]:
    return sorted((home / ".cache" / "momento-tvm").glob("*.json"))


def test_reuse_returns_the_earlier_token_without_minting(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, isolated_user_state: Path
) -> None:
    first = cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse")
    second = cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse")
    assert first.stdout == second.stdout
    assert emulator_env.service.stats()["mints"] == 1
    assert "Reusing the chat-reader token" in second.stderr
    folder = isolated_user_state / ".cache" / "momento-tvm"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    [entry] = cache_files(isolated_user_state)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert os.environ["MOMENTO_API_KEY"] not in entry.read_text()


def test_reuse_mints_again_when_too_little_life_is_left(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse", "-e", "10m")
    cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse", "-e", "10m", "--min-ttl", "9m")
    assert emulator_env.service.stats()["mints"] == 1
    cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse", "-e", "10m", "--min-ttl", "11m")
    assert emulator_env.service.stats()["mints"] == 2


def test_reuse_is_per_profile_token_id_and_key(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse")
    cli("mint", "chat-writer", "-c", str(profiles_file), "--reuse")
    cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse", "--token-id", "other")
    monkeypatch.setenv("MOMENTO_API_KEY", emulator_env.issue_api_key())
    cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse")
    assert emulator_env.service.stats()["mints"] == 4


@pytest.mark.parametrize("damage", ["corrupt", "foreign-mode", "other-endpoint", "symlink"])
def test_untrustworthy_cache_files_are_ignored_and_replaced(
    cli: Cli,
    emulator_env: Emulator,
    profiles_file: Path,
    isolated_user_state: Path,
    damage: str,
    tmp_path: Path,
) -> None:
    cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse")
    [entry] = cache_files(isolated_user_state)
    record = json.loads(entry.read_text())
    if damage == "corrupt":
        entry.write_text("{not json")
    elif damage == "foreign-mode":
        entry.chmod(0o644)
    elif damage == "other-endpoint":
        record["forEndpoint"] = "elsewhere:1"
        entry.write_text(json.dumps(record))
    else:
        elsewhere = tmp_path / "planted.json"
        elsewhere.write_text(json.dumps(record))
        entry.unlink()
        entry.symlink_to(elsewhere)
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse")
    assert result.exit_code == 0
    assert emulator_env.service.stats()["mints"] == 2
    assert not entry.is_symlink()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert json.loads(entry.read_text())["token"] == result.stdout.strip()


def test_exec_reuses_too(emulator_env: Emulator, profiles_file: Path) -> None:
    for _ in range(2):
        result = run(TVM, "exec", "chat-reader", "-c", str(profiles_file), "--reuse", "--", "true")
        assert result.returncode == 0, result.stderr
    assert emulator_env.service.stats()["mints"] == 1


def test_cache_clear_empties_it(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, isolated_user_state: Path
) -> None:
    cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse")
    cli("mint", "chat-writer", "-c", str(profiles_file), "--reuse")
    result = cli("cache", "clear")
    assert "Removed 2 cached tokens" in result.stderr
    assert cache_files(isolated_user_state) == []
    assert cli("cache", "path").stdout.strip() == str(
        isolated_user_state / ".cache" / "momento-tvm"
    )


def test_min_ttl_without_reuse_is_a_usage_error(
    cli: Cli, emulator_env: Emulator, profiles_file: Path
) -> None:
    result = cli("mint", "chat-reader", "-c", str(profiles_file), "--min-ttl", "5m")
    assert result.exit_code == 2
    assert "--min-ttl goes with --reuse" in result.stderr


def test_cache_clear_refuses_a_symlinked_cache_folder_as_reuse_does(
    cli: Cli, emulator_env: Emulator, profiles_file: Path, isolated_user_state: Path, tmp_path: Path
) -> None:
    """A planted symlink must not turn `cache clear` into 'delete *.json over there'."""
    elsewhere = tmp_path / "precious"
    elsewhere.mkdir()
    (elsewhere / "data.json").write_text("{}")
    folder = isolated_user_state / ".cache" / "momento-tvm"
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(elsewhere)
    result = cli("cache", "clear")
    assert result.exit_code == 2
    assert f"cache folder {folder} is not a folder owned by you" in result.stderr
    assert (elsewhere / "data.json").exists()
    reuse = cli("mint", "chat-reader", "-c", str(profiles_file), "--reuse")
    assert reuse.exit_code == 2
    assert f"cache folder {folder} is not a folder owned by you" in reuse.stderr


def test_cache_clear_of_a_folder_that_is_not_there_removes_nothing(cli: Cli) -> None:
    result = cli("cache", "clear")
    assert result.exit_code == 0
    assert "Removed 0 cached tokens" in result.stderr
