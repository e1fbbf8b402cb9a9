"""Defects a new user hit in the first hour (issue 23): each through the real CLI, against the
real emulator, with real files, devices, FIFOs and signals."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from tvmcli.credentials.decoding import parse_credential
from tvmcli.emulator import Emulator
from tvmcli.emulator.service import Faults

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).parent.parent / "profiles.example.toml"


def tvm(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """The installed script, as a user runs it."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(BIN / "momento-tvm"), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else dict(os.environ),
        check=False,
        **kwargs,
    )


@pytest.fixture
def key_env(emulator: Emulator) -> dict[str, str]:
    return {
        **os.environ,
        "MOMENTO_API_KEY": emulator.issue_api_key(),
        "MOMENTO_ENDPOINT": emulator.endpoint,
    }


# 1. --out writes through devices and FIFOs instead of replacing them


def test_out_character_device_as_root_keeps_the_node(
    key_env: dict[str, str], tmp_path: Path
) -> None:
    """A real device node (/dev/null's numbers, made in a private folder, since the CI here
    runs as root and the walk-through lost the machine's own /dev/null this way)."""
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    before = os.lstat(null)
    result = tvm("mint", "chat-reader", "-c", str(EXAMPLE), "--out", str(null), env=key_env)
    after = os.lstat(null)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_rdev, after.st_ino) == (before.st_rdev, before.st_ino)
    assert null.read_bytes() == b""  # still /dev/null: what was written went nowhere


def test_out_dev_stdout_writes_to_stdout(key_env: dict[str, str], tmp_path: Path) -> None:
    """/dev/stdout is a symlink to /proc/self/fd/1; a private one stands in for it, so that a
    regression cannot replace the machine's own (as root, it did once)."""
    stdout = tmp_path / "stdout"
    stdout.symlink_to("/proc/self/fd/1")
    result = tvm("mint", "chat-reader", "-c", str(EXAMPLE), "--out", str(stdout), env=key_env)
    assert result.returncode == 0, result.stderr
    assert os.readlink(stdout) == "/proc/self/fd/1"
    assert parse_credential(result.stdout.strip()).kind.name == "DISPOSABLE_TOKEN"


def test_out_fifo_is_written_through_and_stays_a_fifo(
    key_env: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "token.pipe"
    os.mkfifo(fifo, 0o644)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = tvm("mint", "chat-reader", "-c", str(EXAMPLE), "--out", str(fifo), env=key_env)
    reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert parse_credential(received[0].decode().strip()).kind.name == "DISPOSABLE_TOKEN"


def test_out_symlink_replaces_its_target_and_keeps_the_link(
    emulator_env: Emulator, cli: Callable[..., Result], tmp_path: Path
) -> None:
    target = tmp_path / "real.token"
    target.write_text("old\n")
    link = tmp_path / "link.token"
    link.symlink_to(target)
    result = cli("mint", "chat-reader", "-c", str(EXAMPLE), "--out", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert parse_credential(target.read_text().strip()).kind.name == "DISPOSABLE_TOKEN"


def test_out_regular_file_is_still_replaced_0600(
    emulator_env: Emulator, cli: Callable[..., Result], tmp_path: Path
) -> None:
    target = tmp_path / "plain.token"
    target.write_text("old\n")
    target.chmod(0o644)
    result = cli("mint", "chat-reader", "-c", str(EXAMPLE), "--out", str(target))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert target.read_text() != "old\n"


# 3. Ctrl-C during a mint exits 130, every time


@pytest.fixture
def slow_emulator() -> Iterator[Emulator]:
    """Every mint takes 5 s: long enough to press Ctrl-C while it is in flight."""
    with Emulator(rate_limit=0, faults=Faults(latency=5.0)) as running:
        yield running


@pytest.mark.parametrize(
    "command",
    [
        ["mint", "chat-reader", "-c", str(EXAMPLE)],  # the fast path
        ["mint", "chat-reader", "-c", str(EXAMPLE), "-o", "text"],  # Typer
        ["exec", "chat-reader", "-c", str(EXAMPLE), "--", "true"],
    ],
    ids=["mint-fast", "mint-typer", "exec"],
)
def test_ctrl_c_during_a_mint_exits_130_every_time(
    slow_emulator: Emulator, command: list[str]
) -> None:
    env = {
        **os.environ,
        "MOMENTO_API_KEY": slow_emulator.issue_api_key(),
        "MOMENTO_ENDPOINT": slow_emulator.endpoint,
    }
    codes = []
    for _ in range(5):
        calls = slow_emulator.service.calls
        process = subprocess.Popen(
            [str(BIN / "momento-tvm"), *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        deadline = time.monotonic() + 20
        while slow_emulator.service.calls == calls and time.monotonic() < deadline:
            time.sleep(0.02)  # the mint is in flight once the emulator has the call
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        codes.append(process.returncode)
        assert b"Traceback" not in stderr
    assert codes == [130] * 5


# 5. A full or closed stdout is a clear error (exit 2), never a traceback

FULL_STDOUT = "error: cannot write to standard output: No space left on device"


def into_dev_full(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [str(BIN / "momento-tvm"), *args],
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],  # the fast path
        ["--help"],  # Click's own write, through Typer
        ["mint", "--help"],
        ["cache", "path"],
        ["inspect", "--env", "MOMENTO_API_KEY"],  # the fast path
        ["inspect", "--env", "MOMENTO_API_KEY", "--output", "json"],
        ["inspect", "--env", "MOMENTO_API_KEY", "--debug"],  # Typer
        ["mint", "chat-reader", "-c", str(EXAMPLE)],  # the fast path
        ["mint", "chat-reader", "-c", str(EXAMPLE), "-o", "json", "--debug"],  # Typer
        ["profiles", "list", "-c", str(EXAMPLE)],
        ["doctor", "-c", str(EXAMPLE)],  # the report, after its checks
        ["doctor", "-c", str(EXAMPLE), "-o", "json"],
    ],
    ids=lambda args: " ".join(a for a in args if "/" not in a),
)
def test_a_full_stdout_is_exit_2_with_one_clear_line(
    key_env: dict[str, str], args: list[str]
) -> None:
    result = into_dev_full(*args, env=key_env)
    assert (result.returncode, result.stderr.strip()) == (2, FULL_STDOUT)


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["mint", "chat-reader", "-c", str(EXAMPLE)],
        ["mint", "chat-reader", "-c", str(EXAMPLE), "-o", "env", "--debug"],
        ["profiles", "list", "-c", str(EXAMPLE)],
        ["doctor", "-c", str(EXAMPLE)],
    ],
    ids=lambda args: " ".join(a for a in args if "/" not in a),
)
def test_a_closed_stdout_is_exit_2_with_one_clear_line(
    key_env: dict[str, str], args: list[str]
) -> None:
    command = " ".join(f"'{a}'" for a in [str(BIN / "momento-tvm"), *args])
    result = subprocess.run(
        ["bash", "-c", f"{command} >&-"],
        capture_output=True,
        text=True,
        timeout=60,
        env=key_env,
        check=False,
    )
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "error: cannot write to standard output: Bad file descriptor",
    )


def test_with_stdout_closed_a_minted_file_still_works(
    key_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "token"
    command = f"'{BIN}/momento-tvm' mint chat-reader -c '{EXAMPLE}' --out '{out}' >&-"
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, env=key_env
    )
    assert result.returncode == 0, result.stderr
    assert parse_credential(out.read_text().strip()).kind.name == "DISPOSABLE_TOKEN"


# 4. An optional extra that is not installed is exit 3 naming the pip command

WITHOUT = (
    "import sys; sys.modules[{module!r}] = None; sys.argv = ['momento-tvm', *sys.argv[1:]]; "
    "from tvmcli.cli import main; main()"
)


def without_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a Python where `module` cannot be imported, as when the extra that brings it
    was never installed (None in sys.modules makes every import of it fail)."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT.format(module=module), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


PROFILES_ONE = METRICS_ON = """\
[profiles.p]
permissions = [{ role = "read-only", cache = "c" }]

[server]
metrics = true
"""


@pytest.mark.parametrize("command", [["profiles", "validate"], ["serve", "--port", "0"]])
def test_metrics_without_the_extra_is_exit_3_naming_pip(tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "p.toml"
    config.write_text(METRICS_ON)
    result = without_module("prometheus_client", *command, "-c", str(config))
    assert result.returncode == 3, result.stderr
    assert "pip install 'momento-tvm[metrics]'" in result.stderr
    assert "internal error" not in result.stderr


def test_the_lambda_handler_without_the_aws_extra_names_pip(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['mangum'] = None\n"
        "from tvmcli.aws_lambda import build_handler\n"
        "from tvmcli.errors import ConfigError\n"
        "try:\n"
        "    build_handler({'MOMENTO_TVM_CONFIG': 'x.toml'})\n"
        "except ConfigError as err:\n"
        "    print(err.exit_code, err.hint)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "3 pip install 'momento-tvm[aws]'", result.stderr


# 8. Endpoint ports are range-checked; an empty --endpoint is a usage error


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("127.0.0.1:99999", "--endpoint 127.0.0.1:99999: port 99999 is outside 1 to 65535"),
        ("127.0.0.1:0", "--endpoint 127.0.0.1:0: port 0 is outside 1 to 65535"),
        ("", "--endpoint is empty"),
        ("  ", "--endpoint is empty"),
    ],
)
def test_a_bad_endpoint_is_exit_2_at_once(
    emulator_env: Emulator, cli: Callable[..., Result], endpoint: str, message: str
) -> None:
    calls = emulator_env.service.calls
    started = time.monotonic()
    result = cli("mint", "chat-reader", "-c", str(EXAMPLE), "--endpoint", endpoint)
    assert result.exit_code == 2
    assert f"error: {message}" in result.stderr
    assert time.monotonic() - started < 2  # no retries
    assert emulator_env.service.calls == calls


def test_a_bad_port_in_momento_endpoint_is_exit_2(
    emulator_env: Emulator, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOMENTO_ENDPOINT", "127.0.0.1:70000")
    result = cli("mint", "chat-reader", "-c", str(EXAMPLE))
    assert result.exit_code == 2
    assert "$MOMENTO_ENDPOINT 127.0.0.1:70000: port 70000 is outside 1 to 65535" in result.stderr


# 9. A profiles file without profiles is exit 3


@pytest.mark.parametrize(
    "text", ["", "# nothing yet\n", '[defaults]\nexpires_in = "1h"\n', "[profiles]\n"]
)
@pytest.mark.parametrize("command", [["profiles", "validate"], ["serve", "--port", "0"]])
def test_a_file_without_profiles_is_exit_3_with_the_init_hint(
    cli: Callable[..., Result], tmp_path: Path, text: str, command: list[str]
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text(text)
    result = cli(*command, "-c", str(config))
    assert result.exit_code == 3
    assert f"error: no profiles in {config}" in result.stderr
    assert "momento-tvm profiles init" in result.stderr
    assert "Serving" not in result.stderr


# 12. str() of a ConfigError lists every problem


def test_str_of_a_config_error_lists_every_problem(tmp_path: Path) -> None:
    import tvmcli

    config = tmp_path / "p.toml"
    config.write_text(PROFILES_ONE.replace("metrics = true", 'port = 0\nhost = 7\nauth = "x"'))
    with pytest.raises(tvmcli.ConfigError) as caught:
        tvmcli.load_config(config)
    text = str(caught.value)
    assert text.splitlines()[0] == caught.value.message
    assert len(caught.value.problems) >= 2
    for problem in caught.value.problems:
        assert f"  - {problem}" in text.splitlines()


# Expected commands: -V and a bare momento-tvm


@pytest.mark.parametrize("args", [["-V"], ["--debug", "-V"], ["--version"]])
def test_dash_v_is_the_version(args: list[str]) -> None:
    from tvmcli import __version__

    result = tvm(*args)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"momento-tvm {__version__}\n",
        "",
    )


def test_a_bare_momento_tvm_prints_usage_with_exit_0() -> None:
    result = tvm()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: momento-tvm [OPTIONS] COMMAND [ARGS]...")
    assert "-V, --version" in result.stdout
    assert "Commands:" in result.stdout


# 2. A serve that fails to start leaves the running server's bearer file alone

SERVE_PROFILES = """\
[profiles.chat-reader]
permissions = [{ role = "subscribe-only", cache = "chat", topic = "*" }]
"""


def test_a_serve_that_fails_to_start_keeps_the_running_servers_bearer_file(
    emulator: Emulator, tmp_path: Path, isolated_user_state: Path
) -> None:
    import httpx

    config = tmp_path / "serve.toml"
    config.write_text(SERVE_PROFILES)
    env = {
        **os.environ,
        "MOMENTO_API_KEY": emulator.issue_api_key(),
        "MOMENTO_ENDPOINT": emulator.endpoint,
    }
    first = subprocess.Popen(
        [str(BIN / "momento-tvm"), "serve", "-c", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert first.stdout is not None
        url = first.stdout.readline().strip()
        port = url.split(":")[2].split("/")[0]
        token_file = isolated_user_state / ".cache" / "momento-tvm" / "serve-bearer-token"
        bearer = token_file.read_text()
        taken = tvm("serve", "-c", str(config), "--port", port, env=env)
        assert taken.returncode == 2, taken.stderr
        refused_env = {**env, "MOMENTO_API_KEY": emulator.issue_api_key(can_mint=False)}
        refused = tvm("serve", "-c", str(config), "--port", "0", env=refused_env)
        assert refused.returncode == 4, refused.stderr
        assert token_file.read_text() == bearer
        answer = httpx.get(
            url + "?profile=chat-reader",
            headers={"Authorization": f"Bearer {bearer.strip()}"},
            timeout=10,
        )
        assert answer.status_code == 200
    finally:
        first.terminate()
        first.communicate(timeout=15)


# 7. --show-completion SHELL prints that shell's script; an unknown shell is exit 2

SCRIPT_OF = {
    "bash": "complete -o default -F _momento_tvm_completion momento-tvm",
    "zsh": "#compdef momento-tvm",
    "fish": "complete --command momento-tvm",
    "powershell": "Register-ArgumentCompleter",
}


@pytest.mark.parametrize("parent", ["bash", "fish"])
@pytest.mark.parametrize("shell", sorted(SCRIPT_OF))
def test_show_completion_prints_the_named_shells_script(parent: str, shell: str) -> None:
    """Run from a real bash and a real fish: the shell Typer detects must not win."""
    for form in (f"--show-completion {shell}", f"--show-completion={shell}"):
        result = subprocess.run(
            [parent, "-c", f"'{BIN}/momento-tvm' {form}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert SCRIPT_OF[shell] in result.stdout
        others = [script for name, script in SCRIPT_OF.items() if name != shell]
        assert not any(script in result.stdout for script in others)


@pytest.mark.parametrize("flag", ["--show-completion", "--install-completion"])
def test_an_unknown_shell_is_exit_2(flag: str, tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    home.mkdir()
    result = tvm(flag, "tcsh", env={**os.environ, "HOME": str(home)})
    assert result.returncode == 2
    assert f"{flag}: unknown shell 'tcsh'; choose one of bash, zsh, fish" in result.stderr
    assert result.stdout == ""
    assert list(home.iterdir()) == []


def test_install_completion_installs_the_named_shells(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", "-c", f"'{BIN}/momento-tvm' --install-completion zsh"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("zsh completion installed in ")
    assert "compinit" in (tmp_path / ".zshrc").read_text()
    assert not (tmp_path / ".bashrc").exists()


# 6. A fleet's shared-cache hit is its own outcome: audit, metrics and /healthz


def test_a_shared_cache_hit_is_shared_in_audit_metrics_and_healthz(
    emulator: Emulator, tmp_path: Path
) -> None:
    import json

    import httpx

    from tests.serving import AUTH, serve

    key = emulator.issue_api_key()
    tables = []
    for name in ("a", "b"):
        tables.append(
            f"""
[server]
auth = "bearer"
default_profile = "chat-reader"
client_rate = 0
metrics = true
audit_log = "{tmp_path / f"audit-{name}.log"}"
[server.bearer]
tokens_env = "TEST_BEARER"
[server.state]
backend = "momento"
cache = "fleet-state"
"""
        )
    with serve(emulator, tables[0], key=key) as a, serve(emulator, tables[1], key=key) as b:
        first = httpx.get(f"{a.url}/token?name=one", headers=AUTH, timeout=30)
        second = httpx.get(f"{b.url}/token?name=one", headers=AUTH, timeout=30)
        third = httpx.get(f"{b.url}/token?name=one", headers=AUTH, timeout=30)
        health = httpx.get(f"{b.url}/healthz", timeout=30).json()
        page = httpx.get(f"{b.url}/metrics", headers=AUTH, timeout=30).text
    assert first.json()["authToken"] == second.json()["authToken"] == third.json()["authToken"]
    assert emulator.service.stats()["mints"] == 1
    assert (health["mints"], health["sharedHits"], health["cacheHits"]) == (0, 1, 1)
    vends = dict(
        re.findall(
            r'^momento_tvm_vends_total\{outcome="(\w+)",profile="[^"]+"\} (\S+)$', page, re.M
        )
    )
    assert vends == {"shared": "1.0", "hit": "1.0"}
    lines = (tmp_path / "audit-b.log").read_text().splitlines()
    assert [json.loads(line)["source"] for line in lines] == ["shared", "hit"]
    first_lines = (tmp_path / "audit-a.log").read_text().splitlines()
    assert [json.loads(line)["source"] for line in first_lines] == ["mint"]


# 10. Docs errors

ROOT = Path(__file__).parent.parent


def test_the_lambda_readme_saves_the_bearer_it_uses() -> None:
    text = (ROOT / "deploy" / "aws-lambda" / "README.md").read_text()
    assert "BEARER=" in text
    assert text.index("BEARER=") < text.index("$BEARER")
    assert "$(openssl rand" not in text.split("BEARER=", 1)[0]


def test_cache_calls_on_the_emulator_are_in_the_emulators_page_not_under_completion() -> None:
    emulator = (ROOT / "docs" / "emulator.md").read_text()
    minting = (ROOT / "docs" / "minting.md").read_text()
    assert "## Cache calls on the emulator" in emulator
    completion = minting.split("## Shell completion", 1)[1]
    assert "Cache calls" not in completion
    assert "serves only the token service" not in emulator
    assert "The `&` inside the `$(...)` matters" in emulator


def test_emulator_help_says_where_the_log_goes_and_to_use_ampersand() -> None:
    text = "".join(tvm("emulator", "--help").stdout.split())  # as wrapped, at any width
    assert "with--print-env~/.cache/momento-tvm/emulator.log" in text
    assert 'eval"$(momento-tvmemulator--print-env&)";withoutittheshellwaits' in text


# 11. Inconsistencies


def test_exec_of_a_file_that_is_not_executable_is_126_and_a_missing_one_127(
    key_env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\necho deployed\n")
    script.chmod(0o644)
    base = ["exec", "chat-reader", "-c", str(EXAMPLE), "--"]
    not_executable = tvm(*base, str(script), env=key_env)
    missing = tvm(*base, str(tmp_path / "no-such-command"), env=key_env)
    assert (not_executable.returncode, missing.returncode) == (126, 127)
    assert "Permission denied" in not_executable.stderr
    assert "No such file or directory" in missing.stderr


def test_a_refused_cors_origin_gets_no_cors_header_at_all(emulator: Emulator) -> None:
    import httpx

    from tests.serving import AUTH, DEFAULT_SERVER, serve

    allowed = "http://localhost:5173"
    server_toml = DEFAULT_SERVER.replace(
        "[server.bearer]", f'cors_origins = ["{allowed}"]\n[server.bearer]'
    )
    with serve(emulator, server_toml) as server:
        refused = httpx.get(
            server.url + "/token", headers={**AUTH, "Origin": "http://evil.example"}
        )
        ok = httpx.get(server.url + "/token", headers={**AUTH, "Origin": allowed})
    assert refused.status_code == 200
    assert not [name for name in refused.headers if name.lower().startswith("access-control-")]
    assert ok.headers["access-control-expose-headers"] == "Retry-After"
    assert ok.headers["access-control-allow-origin"] == allowed


COMMANDS_WITH_OPTIONS = [
    ["mint"],
    ["exec"],
    ["inspect"],
    ["emulator"],
    ["serve"],
    ["doctor"],
    ["hash-password"],
    ["profiles", "list"],
    ["profiles", "show"],
    ["profiles", "validate"],
    ["profiles", "path"],
    ["profiles", "init"],
    ["cache", "clear"],
]


@pytest.mark.parametrize("command", COMMANDS_WITH_OPTIONS, ids=" ".join)
def test_help_shows_words_not_type_placeholders(
    cli: Callable[..., Result], command: list[str]
) -> None:
    text = cli(*command, "--help").stdout
    assert not re.findall(r"<(?:str|file|path|int|float|integer)[a-z ]*>", text)
    assert "64 characters" not in text


def test_help_says_token_ids_count_bytes_and_expires_at_rounds_down(
    cli: Callable[..., Result],
) -> None:
    text = " ".join(cli("mint", "--help").stdout.split())
    assert "--token-id ID Id baked into the token (at most 64 bytes of UTF-8" in text
    assert "so the token may expire up to a second before TIME" in text


def test_durations_take_fractions_and_refuse_repeated_units(
    emulator_env: Emulator, cli: Callable[..., Result]
) -> None:
    import json

    fraction = cli("mint", "chat-reader", "-c", str(EXAMPLE), "-e", "1.5h", "-o", "json")
    assert fraction.exit_code == 0, fraction.stderr
    assert emulator_env.service.received[-1].valid_for_seconds == 5400
    assert json.loads(fraction.stdout)["authToken"]
    repeated = cli("mint", "chat-reader", "-c", str(EXAMPLE), "-e", "1m1m")
    assert repeated.exit_code == 2
    assert "each unit once, largest first" in repeated.stderr


@pytest.mark.parametrize("typer_path", [False, True], ids=["fast", "typer"])
def test_inspect_min_ttl_without_check_is_a_usage_error_like_mint(
    key_env: dict[str, str], typer_path: bool
) -> None:
    args = ["inspect", "--env", "MOMENTO_API_KEY", "--min-ttl", "5m"]
    result = tvm(*args, *(["--debug"] if typer_path else []), env=key_env)
    assert (result.returncode, result.stdout) == (2, "")
    assert "error: --min-ttl goes with --check" in result.stderr
    checked = tvm(*args, "--check", env=key_env)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("typer_path", [False, True], ids=["fast", "typer"])
@pytest.mark.parametrize("form", ["json", "raw", "text", None])
def test_env_var_with_a_form_that_names_no_variable_is_exit_2_before_minting(
    key_env: dict[str, str], emulator: Emulator, typer_path: bool, form: str | None
) -> None:
    calls = emulator.service.calls
    args = ["mint", "chat-reader", "-c", str(EXAMPLE), "--env-var", "FOO"]
    args += ["-o", form] if form else []
    result = tvm(*args, *(["--debug"] if typer_path else []), env=key_env)
    assert (result.returncode, result.stdout) == (2, "")
    assert "error: --env-var goes with --output env, fish, powershell, dotenv or github" in (
        result.stderr
    )
    assert emulator.service.calls == calls
    named = tvm(*args[:4], "--env-var", "FOO", "-o", "env", env=key_env)
    assert named.returncode == 0, named.stderr
    assert named.stdout.startswith("export FOO=")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)])
def test_the_foreground_emulator_ends_by_its_signal_like_serve(sig: int, code: int) -> None:
    process = subprocess.Popen(
        [str(BIN / "momento-tvm"), "emulator", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("Endpoint")
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == code, stderr
    assert "stopped: 0 calls" in stderr
    assert "Traceback" not in stderr
