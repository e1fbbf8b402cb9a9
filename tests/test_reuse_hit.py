"""A `--reuse` hit by the shortcut the last run left (`vending/cache_files.py`): the token found
without reading the profiles file, and never a token that another input would not lead to.

Each run is the installed script in a fresh process, against the real emulator; a child
variant reports which modules the run loaded, which is what the shortcut is for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tvmcli.credentials.decoding import parse_credential
from tvmcli.emulator import Emulator

TVM = str(Path(sys.executable).parent / "momento-tvm")

# Runs the CLI's main in this interpreter and then says on stderr what it loaded.
LOADED = """
import json, sys
from tvmcli.cli import main
sys.argv = ["momento-tvm", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = ("grpc", "typer", "rich", "tomllib", "tvmcli.config.file", "tvmcli.minting.tokens")
sys.stderr.write(json.dumps({"loaded": [m for m in heavy if m in sys.modules]}) + "\\n")
sys.exit(code)
"""


def tvm(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TVM, *args], capture_output=True, text=True, check=False, input=stdin, timeout=60
    )


def loaded(*args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    run = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, timeout=60
    )
    *said, last = run.stderr.splitlines()
    run.stderr = "\n".join(said)
    return run, json.loads(last)["loaded"]


def cache_folder() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "momento-tvm"


def mint(profiles_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return tvm("mint", "chat-reader", "-c", str(profiles_file), "--reuse", "-o", "raw", *extra)


def test_a_second_run_is_a_hit_without_the_profiles_file_or_grpc(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    first = mint(profiles_file)
    assert first.returncode == 0, first.stderr
    assert len(list(cache_folder().glob("*.hit"))) == 1
    run, modules = loaded("mint", "chat-reader", "-c", str(profiles_file), "--reuse", "-o", "raw")
    assert run.returncode == 0, run.stderr
    assert run.stdout == first.stdout
    assert run.stderr.startswith("Reusing the chat-reader token minted earlier (expires in ")
    assert modules == []
    assert emulator_env.service.stats()["mints"] == 1
    for path in cache_folder().iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
        assert os.environ["MOMENTO_API_KEY"] not in path.read_text()
    assert first.stdout.strip() not in next(cache_folder().glob("*.hit")).read_text()


def test_every_shell_form_and_exec_take_the_shortcut(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    token = mint(profiles_file).stdout.strip()
    expires = str(parse_credential(token).claims["exp"])
    for form, line in [
        ("env", f"export CHAT='{token}'"),
        ("dotenv", f"CHAT={token}"),
        ("fish", f"set -gx CHAT '{token}'"),
    ]:
        run, modules = loaded(
            "mint", "chat-reader", "-c", str(profiles_file), "--reuse", "-o", form,
            "--env-var", "CHAT",
        )  # fmt: skip
        assert (run.returncode, modules) == (0, []), run.stderr
        assert run.stdout.splitlines()[0] == line
        assert expires in run.stdout.splitlines()[1]
    child = "import os, sys; print(os.environ['CHAT'], 'MOMENTO_API_KEY' in os.environ)"
    run = tvm(
        "exec", "chat-reader", "-c", str(profiles_file), "--reuse", "--env-var", "CHAT",
        "--", sys.executable, "-c", child,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr.startswith("Reusing the chat-reader token")
    assert run.stdout == f"{token} False\n"
    assert emulator_env.service.stats()["mints"] == 1


def test_a_changed_profiles_file_is_a_miss_and_a_token_of_the_new_scope(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    before = mint(profiles_file).stdout.strip()
    text = profiles_file.read_text().replace('topic = "*"', 'topic = "lobby"', 1)
    profiles_file.write_text(text)
    after = mint(profiles_file)
    assert after.returncode == 0, after.stderr
    assert "Reusing" not in after.stderr
    assert after.stdout.strip() != before
    grant = json.dumps(parse_credential(after.stdout.strip()).claims["p"])
    assert "lobby" in grant
    assert emulator_env.service.stats()["mints"] == 2


def test_another_key_or_lifetime_is_a_miss(
    emulator_env: Emulator, profiles_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = mint(profiles_file).stdout
    assert mint(profiles_file, "--expires-in", "30m").stdout != first
    monkeypatch.setenv("MOMENTO_API_KEY", emulator_env.issue_api_key())
    assert mint(profiles_file).stdout != first
    assert emulator_env.service.stats()["mints"] == 3
    monkeypatch.setenv("MOMENTO_API_KEY", emulator_env.issue_api_key())
    key_file = profiles_file.parent / "key"
    key_file.write_text(emulator_env.issue_api_key())
    by_file = mint(profiles_file, "--api-key-file", str(key_file))
    assert by_file.stdout not in (first, "")
    key_file.write_text(emulator_env.issue_api_key())  # the same path, another key
    assert mint(profiles_file, "--api-key-file", str(key_file)).stdout != by_file.stdout
    assert emulator_env.service.stats()["mints"] == 5


def test_a_token_with_less_than_min_ttl_left_is_not_reused(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    """As time passes: the entry says 4 minutes are left, under the default 5."""
    first = mint(profiles_file).stdout
    (entry,) = cache_folder().glob("*.json")
    record = json.loads(entry.read_text())
    entry.write_text(json.dumps({**record, "expiresAt": int(time.time()) + 240}))
    again = mint(profiles_file)
    assert (again.returncode, "Reusing" in again.stderr) == (0, False)
    assert again.stdout != first
    assert mint(profiles_file, "--min-ttl", "3m").stdout == again.stdout
    assert emulator_env.service.stats()["mints"] == 2


def test_an_entry_others_may_read_is_never_followed(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    first = mint(profiles_file).stdout
    (entry,) = cache_folder().glob("*.json")
    entry.chmod(0o644)
    again = mint(profiles_file)
    assert (again.returncode, "Reusing" in again.stderr) == (0, False)
    assert again.stdout != first
    assert entry.stat().st_mode & 0o777 == 0o600  # replaced by the fresh mint's entry


def test_a_shortcut_others_may_write_is_ignored(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    mint(profiles_file)
    (shortcut,) = cache_folder().glob("*.hit")
    shortcut.chmod(0o666)
    run, modules = loaded("mint", "chat-reader", "-c", str(profiles_file), "--reuse", "-o", "raw")
    assert run.returncode == 0, run.stderr
    assert "tvmcli.config.file" in modules  # the full path, which still reuses the entry
    assert "Reusing" in run.stderr
    assert emulator_env.service.stats()["mints"] == 1


def test_a_token_id_the_profile_overrides_still_warns(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    args = ["mint", "chat-writer", "-c", str(profiles_file), "--reuse", "--token-id", "other"]
    assert tvm(*args).returncode == 0
    again = tvm(*args)
    assert again.returncode == 0
    assert "fixes its token id (ci-bot); --token-id is ignored" in again.stderr
    assert "Reusing" in again.stderr


def test_a_key_file_that_is_a_pipe_is_read_only_by_the_full_path(
    emulator_env: Emulator, profiles_file: Path, tmp_path: Path
) -> None:
    """`--api-key-file <(...)`: a FIFO is never opened for reading by the hit, so the full
    path still finds the key in it; the token is reused from its entry."""
    fifo = tmp_path / "key.fifo"
    key = os.environ["MOMENTO_API_KEY"]
    outputs = []
    for _ in range(2):
        os.mkfifo(fifo)
        writer = threading.Thread(target=fifo.write_text, args=(key,))
        writer.start()
        run = mint(profiles_file, "--api-key-file", str(fifo))
        writer.join(timeout=10)
        fifo.unlink()
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    assert emulator_env.service.stats()["mints"] == 1


def test_cache_clear_removes_the_shortcuts_too(emulator_env: Emulator, profiles_file: Path) -> None:
    mint(profiles_file)
    cleared = tvm("cache", "clear")
    assert cleared.returncode == 0, cleared.stderr
    assert "1" in cleared.stdout + cleared.stderr
    assert list(cache_folder().iterdir()) == []


def test_from_a_vending_server_the_bearer_is_the_input(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--from --reuse: the second ask is a hit by shortcut; exec's command sees neither the
    bearer nor the key; another bearer is a miss (and this server refuses it)."""
    from tests.serving import BEARER, serve

    monkeypatch.setenv("MOMENTO_TVM_BEARER", BEARER)
    with serve(emulator) as server:
        args = ["mint", "chat-reader", "--from", server.url, "--reuse", "-o", "raw"]
        first = tvm(*args)
        assert first.returncode == 0, first.stderr
        run, modules = loaded(*args)
        assert (run.returncode, modules, run.stdout) == (0, [], first.stdout), run.stderr
        assert run.stderr.startswith("Reusing the chat-reader token fetched earlier")
        child = (
            "import os; print(os.environ['MOMENTO_API_KEY'], 'MOMENTO_TVM_BEARER' in os.environ)"
        )
        ran = tvm("exec", *args[1:5], "--", sys.executable, "-c", child)
        assert (ran.returncode, ran.stdout) == (0, f"{first.stdout.strip()} False\n"), ran.stderr
        assert ran.stderr.startswith("Reusing the chat-reader token fetched earlier")
        monkeypatch.setenv("MOMENTO_TVM_BEARER", "another-bearer-0123456789")
        refused = tvm(*args)
        assert (refused.returncode, refused.stdout) == (4, "")
    assert emulator.service.stats()["mints"] == 1


def test_a_credentials_file_that_is_not_a_file_leaves_no_shortcut(
    emulator_env: Emulator, profiles_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Momento CLI credentials file that is there but not a regular file is not "no file":
    the hit must not stand for a run whose key the full path might read from it."""
    config_dir = tmp_path / "momento-config"
    (config_dir / "credentials").mkdir(parents=True)
    monkeypatch.setenv("MOMENTO_CONFIG_DIR", str(config_dir))
    assert mint(profiles_file).returncode == 0
    assert list(cache_folder().glob("*.hit")) == []
    (config_dir / "credentials").rmdir()
    assert mint(profiles_file).returncode == 0
    assert len(list(cache_folder().glob("*.hit"))) == 1


def test_a_profiles_path_through_a_link_is_hashed_where_it_leads(
    emulator_env: Emulator, profiles_file: Path, tmp_path: Path
) -> None:
    """`link/../profiles.toml` names the file beside the link's target, not beside the link
    (as normpath would have it): its own bytes go into the digest."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    text = profiles_file.read_text().replace('topic = "*"', 'topic = "lobby"', 1)
    (elsewhere / "profiles.toml").write_text(text)
    (tmp_path / "link").symlink_to(elsewhere / "sub")
    first = mint(profiles_file)
    assert first.returncode == 0, first.stderr
    through = mint(tmp_path / "link" / ".." / "profiles.toml")
    assert through.returncode == 0, through.stderr
    assert "Reusing" not in through.stderr
    assert "lobby" in json.dumps(parse_credential(through.stdout.strip()).claims["p"])
    assert emulator_env.service.stats()["mints"] == 2


def test_a_cache_folder_others_may_write_to_is_not_followed(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    mint(profiles_file)
    cache_folder().chmod(0o777)
    run, modules = loaded("mint", "chat-reader", "-c", str(profiles_file), "--reuse", "-o", "raw")
    assert run.returncode == 0, run.stderr
    assert "tvmcli.config.file" in modules  # the full path, which makes the folder private again
    assert cache_folder().stat().st_mode & 0o777 == 0o700
    assert emulator_env.service.stats()["mints"] == 1


def test_a_short_option_written_with_equals_is_read_as_click_reads_it(
    emulator_env: Emulator, profiles_file: Path
) -> None:
    """Click takes `-c=FILE` as the value "=FILE"; the hit must not read it as FILE."""
    mint(profiles_file)
    run, modules = loaded("mint", "chat-reader", f"-c={profiles_file}", "--reuse", "-o", "raw")
    assert "typer" in modules
    assert run.returncode != 0
    assert run.stdout == ""


def test_a_file_changed_while_the_run_reads_it_leaves_no_shortcut(
    profiles_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest is taken before the inputs are read and again when the shortcut is left:
    the token may come from either version of the file, so no shortcut may name it."""
    from tvmcli.cli.mint_body import MintArgs, shortcut_of

    monkeypatch.setenv("MOMENTO_API_KEY", "not-read-here")
    args = MintArgs(profile="chat-reader", config=profiles_file, reuse=True)
    steady = shortcut_of(args)
    assert steady is not None
    assert steady() is not None
    changing = shortcut_of(args)
    assert changing is not None
    profiles_file.write_text(profiles_file.read_text() + "\n# changed\n")
    assert changing() is None
    assert shortcut_of(MintArgs(profile="chat-reader", config=profiles_file)) is None
