"""`momento-tvm serve` and `hash-password` as a user runs them, and the [server] settings."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

from tests.serving import PROFILES
from tvmcli.config.file import load_config, parse_config
from tvmcli.config.passwords import verify_password
from tvmcli.config.server_table import check_startup
from tvmcli.emulator import Emulator, Faults
from tvmcli.errors import ConfigError

Cli = Callable[..., Result]
TVM = str(Path(sys.executable).parent / "momento-tvm")


def settings_of(server_toml: str):  # type: ignore[no-untyped-def]
    return parse_config(PROFILES + server_toml, Path("p.toml")).server


def problems(server_toml: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_of(server_toml)
    return caught.value.problems


def test_defaults_are_safe() -> None:
    settings = settings_of("")
    assert (settings.host, settings.port, settings.auth) == ("127.0.0.1", 8700, "bearer")
    assert settings.cors_origins == ()
    assert settings.mint_rate == 5


def test_every_server_problem_is_reported() -> None:
    found = problems(
        """
        [server]
        auth = "kerberos"
        port = 70000
        cors_origin = ["x"]
        cors_origins = ["localhost:5173", "http://ok.example/"]
        profiles = ["chat-raeder"]
        [server.users.u]
        groups = ["ghosts"]
        """.replace("        ", "")
    )
    text = "\n".join(found)
    assert "auth: must be one of open, bearer, basic" in text
    assert "port: must be a whole number from 0 to 65535" in text
    assert "unknown field 'cors_origin'. Did you mean 'cors_origins'?" in text
    assert "'localhost:5173' is not an origin" in text
    assert "'http://ok.example/' is not an origin" in text
    assert "no profile named 'chat-raeder'; did you mean 'chat-reader'?" in text
    assert "needs exactly one of password_hash" in text
    assert "no group named 'ghosts'" in text


def test_open_auth_off_loopback_is_refused_unless_allowed() -> None:
    settings = settings_of('[server]\nauth = "open"\nhost = "0.0.0.0"\n')
    with pytest.raises(ConfigError, match="would hand tokens to anyone"):
        check_startup(settings)
    check_startup(settings_of('[server]\nauth = "open"\nhost = "0.0.0.0"\nallow_open = true\n'))


def test_star_cors_only_with_open_auth() -> None:
    with pytest.raises(ConfigError, match="only allowed with auth"):
        check_startup(settings_of('[server]\ncors_origins = ["*"]\n'))
    check_startup(settings_of('[server]\nauth = "open"\ncors_origins = ["*"]\n'))


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [TVM, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    return process, url


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "momento-tvm.toml"
    path.write_text(PROFILES + '\n[server]\ndefault_profile = "chat-reader"\n')
    return path


def test_serve_prints_its_url_writes_a_0600_bearer_file_and_stops_gracefully(
    emulator_env: Emulator, config: Path, isolated_user_state: Path
) -> None:
    process, url = start(["-c", str(config), "--port", "0"], dict(os.environ))
    try:
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/token")
        token_file = isolated_user_state / ".cache" / "momento-tvm" / "serve-bearer-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        bearer = token_file.read_text().strip()
        response = httpx.get(url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGTERM  # uvicorn re-raises the signal once shut down
    assert "Application shutdown complete" in stderr
    assert f"in {token_file}" in stderr
    assert bearer not in stderr
    assert response.json()["authToken"] not in stderr
    assert "GET /token 200" in stderr
    assert "Traceback" not in stderr


def test_sigterm_lets_a_request_in_flight_finish(config: Path) -> None:
    with Emulator(rate_limit=0, faults=Faults(latency=1.0)) as slow:
        env = {
            **os.environ,
            "MOMENTO_API_KEY": slow.issue_api_key(),
            "MOMENTO_ENDPOINT": slow.endpoint,
            "TVM_TOKENS": "a-bearer-token-for-tests",
        }
        config.write_text(config.read_text() + '[server.bearer]\ntokens_env = "TVM_TOKENS"\n')
        process, url = start(["-c", str(config), "--port", "0"], env)
        try:
            _wait_for(url.replace("/token", "/healthz"), {})  # uvicorn is serving, not starting
            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(
                    httpx.get,
                    url,
                    timeout=10,
                    headers={"Authorization": "Bearer a-bearer-token-for-tests"},
                )
                time.sleep(0.4)  # the request is waiting on the slow mint
                process.send_signal(signal.SIGTERM)
                response = pending.result()
            process.communicate(timeout=15)
        finally:
            process.kill()
    assert response.status_code == 200
    assert process.returncode == -signal.SIGTERM


def test_serve_stops_on_ctrl_c(emulator_env: Emulator, config: Path) -> None:
    process, _ = start(["-c", str(config), "--port", "0"], dict(os.environ))
    try:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr


def test_serve_on_a_taken_port_exits_2(emulator_env: Emulator, config: Path) -> None:
    process, url = start(["-c", str(config), "--port", "0"], dict(os.environ))
    try:
        port = url.rsplit(":", 1)[1].split("/")[0]
        taken = subprocess.run(
            [TVM, "serve", "-c", str(config), "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        process.kill()
        process.communicate()
    assert taken.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in taken.stderr


def test_serve_without_credentials_exits_3(cli: Cli, config: Path) -> None:
    result = cli("serve", "-c", str(config))
    assert result.exit_code == 3
    assert "no Momento API key found" in result.stderr


def test_serve_open_on_a_public_address_exits_3(
    cli: Cli, emulator_env: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "open.toml"
    path.write_text(PROFILES + '\n[server]\nauth = "open"\n')
    result = cli("serve", "-c", str(path), "--host", "0.0.0.0")
    assert result.exit_code == 3
    assert "--allow-open" in result.stderr


def test_serve_bad_server_table_exits_3(cli: Cli, emulator_env: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(PROFILES + '\n[server]\nauth = "basic"\n')
    result = cli("serve", "-c", str(path))
    assert result.exit_code == 3
    assert "needs at least one [server.users.NAME]" in result.stderr


def test_bearer_off_loopback_needs_configured_tokens(
    cli: Cli, emulator_env: Emulator, config: Path
) -> None:
    result = cli("serve", "-c", str(config), "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 3
    assert "needs [server.bearer] tokens_env or tokens_file" in result.stderr


def test_hash_password_from_stdin(cli: Cli) -> None:
    result = cli("hash-password", input="correct horse battery\n")
    assert result.exit_code == 0
    encoded = result.stdout.strip()
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert "correct horse" not in result.stdout + result.stderr


def test_hash_password_refuses_short_passwords(cli: Cli) -> None:
    result = cli("hash-password", input="short\n")
    assert result.exit_code == 2


def test_two_hashes_of_one_password_differ_by_salt(cli: Cli) -> None:
    first = cli("hash-password", input="same-password\n").stdout
    second = cli("hash-password", input="same-password\n").stdout
    assert first != second


def test_workers_share_the_socket_and_stop_together(emulator_env: Emulator, config: Path) -> None:
    process, url = start(["-c", str(config), "--port", "0", "--workers", "2"], dict(os.environ))
    try:
        token_file = Path(os.environ["HOME"]) / ".cache" / "momento-tvm" / "serve-bearer-token"
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        deadline = time.monotonic() + 20
        while True:  # the workers import and start after the parent prints the URL
            try:
                statuses = [
                    httpx.get(
                        url, params={"name": f"u{i}"}, headers=headers, timeout=10
                    ).status_code
                    for i in range(6)
                ]
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert statuses == [200] * 6
    assert stderr.count("Terminated child process") == 2
    assert "token_id=u0" in stderr  # the workers log too
    assert headers["Authorization"].split()[1] not in stderr


def test_the_listening_socket_says_it_is_tcp() -> None:
    """asyncio switches Nagle off (TCP_NODELAY) only on sockets whose proto is IPPROTO_TCP; with
    proto 0 every response waited ~40 ms for a delayed ACK (found by benchmarks/serve_load.py)."""
    import socket

    from tvmcli.server.running import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_the_example_files_server_table_is_valid() -> None:
    settings = load_config(Path(__file__).parent.parent / "profiles.example.toml").server
    check_startup(settings)
    assert (settings.auth, settings.port, settings.access.default) == (
        "bearer",
        8700,
        "chat-reader",
    )
    assert set(settings.groups) == {"readers", "writers"}


def _wait_for(url: str, headers: dict[str, str]) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:  # workers import and start after the parent prints the URL
        try:
            return httpx.get(url, headers=headers, timeout=10)
        except httpx.ConnectError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_workers_get_the_built_config_and_key_not_through_the_environment(
    emulator: Emulator, config: Path, tmp_path: Path
) -> None:
    key = emulator.issue_api_key()
    key_file = tmp_path / "key"
    key_file.write_text(key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOMENTO_")}
    args = ["-c", str(config), "--port", "0", "--workers", "2"]
    args += ["--api-key-file", str(key_file), "--endpoint", emulator.endpoint]
    process, url = start(args, env)
    try:
        token_file = Path(env["HOME"]) / ".cache" / "momento-tvm" / "serve-bearer-token"
        bearer = token_file.read_text().strip()
        config.unlink()  # nothing re-reads the file: the workers were handed the config
        key_file.unlink()
        response = _wait_for(url, {"Authorization": f"Bearer {bearer}"})
        environments = [
            Path(f"/proc/{child}/environ").read_bytes() for child in _children(process.pid)
        ]
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    finally:
        process.kill()
    assert response.status_code == 200
    assert len(environments) >= 2  # the workers (and multiprocessing's resource tracker)
    for environment in environments:
        assert key.encode() not in environment
        assert bearer.encode() not in environment


def test_serve_on_another_loopback_address_answers(emulator_env: Emulator, config: Path) -> None:
    process, url = start(
        ["-c", str(config), "--host", "127.0.0.2", "--port", "0"], dict(os.environ)
    )
    try:
        assert url.startswith("http://127.0.0.2:")
        token_file = Path(os.environ["HOME"]) / ".cache" / "momento-tvm" / "serve-bearer-token"
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        response = _wait_for(url, headers)
        spoofed = httpx.get(url, headers={**headers, "Host": "evil.example:80"}, timeout=10)
    finally:
        process.kill()
        process.communicate(timeout=20)
    assert response.status_code == 200
    assert response.json()["profile"] == "chat-reader"
    assert spoofed.status_code == 400  # the DNS-rebinding guard still holds


def test_a_refused_key_stops_serve_at_start_with_exit_4(emulator: Emulator, config: Path) -> None:
    env = {
        **os.environ,
        "MOMENTO_API_KEY": emulator.issue_api_key(can_mint=False),
        "MOMENTO_ENDPOINT": emulator.endpoint,
    }
    result = subprocess.run(
        [TVM, "serve", "-c", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 4
    assert result.stdout == ""  # never listened: no URL
    assert "Insufficient permissions" in result.stderr
    assert env["MOMENTO_API_KEY"] not in result.stderr


def test_the_start_up_check_is_one_narrow_one_second_mint(
    emulator_env: Emulator, config: Path
) -> None:
    process, _ = start(["-c", str(config), "--port", "0"], dict(os.environ))
    process.kill()
    process.communicate(timeout=20)
    [canary] = emulator_env.service.received
    assert canary.valid_for_seconds == 1
    [statement] = canary.permissions.explicit.permissions
    assert statement.cache_permissions.item_selector.key == b"canary"
    assert statement.cache_permissions.role == 2  # CacheReadOnly
    skipped, _ = start(["-c", str(config), "--port", "0", "--no-canary"], dict(os.environ))
    skipped.kill()
    skipped.communicate(timeout=20)
    assert emulator_env.service.stats()["calls"] == 1


def test_an_unreachable_endpoint_warns_and_serves_with_healthz_at_503(
    emulator_env: Emulator, config: Path
) -> None:
    config.write_text(config.read_text().replace("[server]\n", '[server]\ntimeout = "1s"\n'))
    env = {**os.environ, "MOMENTO_ENDPOINT": "127.0.0.1:1"}  # nothing listens there
    process, url = start(["-c", str(config), "--port", "0"], env)
    try:
        health = _wait_for(url.replace("/token", "/healthz"), {})
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert url.startswith("http://127.0.0.1:")
    assert health.status_code == 503
    assert "start-up check: cannot mint yet" in stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)])
def test_workers_exit_by_the_signal_that_stopped_them(
    emulator_env: Emulator, config: Path, sig: signal.Signals, code: int
) -> None:
    """As one worker does (uvicorn re-raises the signal): 143 or 130 in a shell, not 0."""
    process, url = start(["-c", str(config), "--port", "0", "--workers", "2"], dict(os.environ))
    try:
        token_file = Path(os.environ["HOME"]) / ".cache" / "momento-tvm" / "serve-bearer-token"
        _wait_for(url, {"Authorization": f"Bearer {token_file.read_text().strip()}"})
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == code
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("password_hash", "reason"),
    [
        ("scrypt$16384$8$1$...", "6 parts"),  # the README's placeholder, copied as it is
        ("scrypt$16384$8$1$c2FsdA==", "6 parts"),
        ("scrypt$16384$8$1$!!!$c2FsdHNhbHRzYWx0c2FsdA==", "salt is not base64"),
        ("scrypt$1000$8$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "power of 2"),
        ("scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "memory"),
        ("scrypt$16384$0$1$c2FsdHNhbHRzYWx0c2FsdA==$c2FsdHNhbHRzYWx0c2FsdA==", "r and p"),
        ("scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$c2hvcnQ=", "hash is too short"),
    ],
)
def test_a_malformed_password_hash_is_refused_at_start_up(password_hash: str, reason: str) -> None:
    """It used to be accepted, and every sign-in was then a 401 nobody could explain."""
    found = problems(
        f'[server]\nauth = "basic"\n[server.users.rita]\npassword_hash = "{password_hash}"\n'
    )
    text = "\n".join(found)
    assert "[server].users.rita.password_hash" in text
    assert "momento-tvm hash-password" in text
    assert reason in text
    assert password_hash not in text  # a hash is a secret of sorts: never echoed


def test_a_real_password_hash_passes(cli: Cli) -> None:
    encoded = cli("hash-password", input="correct horse battery\n").stdout.strip()
    settings = settings_of(
        f'[server]\nauth = "basic"\n[server.users.rita]\npassword_hash = "{encoded}"\n'
    )
    assert settings.users["rita"].password_hash == encoded


def test_start_up_says_which_profiles_callers_may_use_and_every_log_line_is_stamped(
    emulator_env: Emulator, config: Path
) -> None:
    """The example's [server] lets bearer callers use 2 of its 5 profiles; uvicorn's lines are
    labelled uvicorn, not uvicorn.error; each line of an access-log batch has its time."""
    example = Path(__file__).parent.parent / "profiles.example.toml"
    process, url = start(["-c", str(example), "--port", "0"], dict(os.environ))
    try:
        token_file = Path(os.environ["HOME"]) / ".cache" / "momento-tvm" / "serve-bearer-token"
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        _wait_for(url, headers)
        with ThreadPoolExecutor(4) as pool:  # several requests inside one 0.25 s batch
            list(
                pool.map(
                    lambda i: httpx.get(url, params={"name": f"u{i}"}, headers=headers), range(4)
                )
            )
        time.sleep(0.6)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert "Serving 2 of 5 profiles (chat-reader, chat-writer)" in stderr
    assert "profile(s)" not in stderr
    assert "uvicorn.error" not in stderr
    assert re.search(r"^\d\d:\d\d:\d\d uvicorn: Application startup complete", stderr, re.M)
    access = [line for line in stderr.splitlines() if "GET /token" in line]
    assert len(access) == 5
    assert all(re.match(r"\d\d:\d\d:\d\d tvmcli\.server\.access: ", line) for line in access)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_server_times_are_problems_not_crashes(value: str) -> None:
    """Found by tests/test_fuzz_cli.py: min_ttl = inf raised OverflowError (exit 1)."""
    for key in ("min_ttl", "mint_queue", "timeout"):
        assert any(
            f"[server].{key}: must be a duration" in p
            for p in problems(f"[server]\n{key} = {value}\n")
        )
