"""What an operator sees: /metrics after a run shows what the run caused, the audit trail has a
line per vend and no secret, and a Momento failure logs Momento's reason on the server side."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serving import AUTH, BEARER, PROFILES, serve
from tvmcli.config.file import parse_config
from tvmcli.emulator import Emulator, Faults
from tvmcli.errors import ConfigError


def server_toml(extra: str = "") -> str:
    return f"""
[server]
auth = "bearer"
default_profile = "chat-reader"
client_rate = 0
cors_origins = ["http://app.example"]
metrics = true
{extra}
[server.bearer]
tokens_env = "TEST_BEARER"
"""


def sample(page: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text page (0 if absent), labels in any order."""
    for line in page.splitlines():
        found = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if found is None or found.group(1) != name:
            continue
        given = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
        if given == labels:
            return float(found.group(3))
    return 0.0


def test_metrics_count_what_a_run_caused(emulator: Emulator) -> None:
    with serve(emulator, server_toml()) as server:
        for _ in range(3):
            assert httpx.get(server.url + "/token?name=a", headers=AUTH).status_code == 200
        httpx.get(server.url + "/token?name=b", headers=AUTH)
        httpx.get(server.url + "/token?profile=fresh", headers=AUTH)
        httpx.get(server.url + "/token")  # no credentials
        httpx.get(server.url + "/token", headers={"Authorization": "Bearer wrong-bearer-token"})
        page = httpx.get(server.url + "/metrics", headers=AUTH)
        refused = httpx.get(server.url + "/metrics")
        cors = httpx.get(server.url + "/metrics", headers={**AUTH, "Origin": "http://app.example"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert sample(text, "momento_tvm_vends_total", profile="chat-reader", outcome="mint") == 2
    assert sample(text, "momento_tvm_vends_total", profile="chat-reader", outcome="hit") == 2
    assert sample(text, "momento_tvm_vends_total", profile="fresh", outcome="mint") == 1
    assert sample(text, "momento_tvm_mints_total", outcome="ok") == 3
    assert sample(text, "momento_tvm_mint_seconds_count") == 3
    assert sample(text, "momento_tvm_cache_hits_total") == 2
    assert sample(text, "momento_tvm_auth_failures_total", reason="missing_credentials") == 1
    assert sample(text, "momento_tvm_auth_failures_total", reason="bad_credentials") == 1
    assert emulator.service.stats()["mints"] == 3
    assert refused.status_code == 401  # the server's auth, unless metrics_auth = "none"
    assert "access-control-allow-origin" not in cors.headers  # never under CORS
    assert BEARER not in text


def test_momento_errors_and_sheds_are_counted_and_logged_with_momentos_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="tvmcli.server")
    with (
        Emulator(rate_limit=0, faults=Faults(fail_rate=1.0)) as failing,
        serve(failing, server_toml(), timeout=0.5) as server,
    ):
        answer = httpx.get(server.url + "/token", headers=AUTH)
        page = httpx.get(server.url + "/metrics", headers=AUTH).text
        key = server.vendor.minter.api_key.secret  # the key the server mints with
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == "Momento is unavailable or throttling"
    assert sample(page, "momento_tvm_momento_errors_total", status="momento_unavailable") == 1
    assert (
        sample(
            page, "momento_tvm_vends_total", profile="chat-reader", outcome="momento_unavailable"
        )
        == 1
    )
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("vend ")]
    assert "UNAVAILABLE" in line  # Momento's status, for the operator
    assert key not in line


def test_metrics_auth_none_only_on_loopback() -> None:
    with pytest.raises(ConfigError, match="metrics_auth"):
        parse_config(
            PROFILES + server_toml('metrics_auth = "none"\nhost = "0.0.0.0"'), Path("p.toml")
        ).with_server()
    parse_config(PROFILES + server_toml('metrics_auth = "none"'), Path("p.toml")).with_server()


def test_metrics_are_off_by_default(emulator: Emulator) -> None:
    with serve(emulator) as server:
        assert httpx.get(server.url + "/metrics", headers=AUTH).status_code == 404


def test_the_audit_trail_has_a_line_per_vend_and_no_secret(
    emulator: Emulator, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    key = emulator.issue_api_key()
    with serve(emulator, server_toml(f'audit_log = "{audit}"'), key=key) as server:
        first = httpx.get(server.url + "/token?name=alice", headers=AUTH)
        second = httpx.get(server.url + "/token?name=alice", headers=AUTH)
        httpx.get(server.url + "/token?name=bob%0Aforged", headers=AUTH)
        httpx.get(server.url + "/token")  # refused: no line
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    text = audit.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 2  # "bob\nforged" is not a valid token id: refused, not vended
    assert [line["source"] for line in lines] == ["mint", "hit"]
    assert lines[0]["tokenId"] == "alice"
    assert lines[0]["principal"] == "bearer"
    assert lines[0]["auth"] == "bearer"
    assert lines[0]["profile"] == "chat-reader"
    assert lines[0]["client"] == "127.0.0.1"
    assert lines[0]["expiresAt"] == first.json()["expiresAt"]
    assert lines[0]["requestId"] == first.headers["x-request-id"]
    assert lines[0]["requestId"] != lines[1]["requestId"]
    for secret in (first.json()["authToken"], second.json()["authToken"], key, BEARER):
        assert secret not in text


def test_the_audit_trail_names_the_client_behind_a_trusted_proxy(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The address the access log and client_rate use: the nearest untrusted X-Forwarded-For
    hop, not the proxy's."""
    audit = tmp_path / "audit.jsonl"
    extra = f'audit_log = "{audit}"\ntrusted_proxies = ["127.0.0.0/8"]'
    with serve(emulator, server_toml(extra)) as server:
        forwarded = {**AUTH, "X-Forwarded-For": "203.0.113.9"}
        assert httpx.get(server.url + "/token?name=alice", headers=forwarded).status_code == 200
    [line] = [json.loads(line) for line in audit.read_text().splitlines()]
    assert line["client"] == "203.0.113.9"


def test_serve_with_workers_adds_up_every_workers_metrics(
    emulator_env: Emulator, tmp_path: Path
) -> None:
    config = tmp_path / "tvm.toml"
    config.write_text(PROFILES + server_toml().replace("TEST_BEARER", "TVM_TOKENS"))
    env = {**os.environ, "TVM_TOKENS": BEARER}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "momento-tvm"),
            "serve",
            "-c",
            str(config),
            "--port",
            "0",
            "--workers",
            "2",
            "--no-canary",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        deadline = time.monotonic() + 30
        answered = 0
        while answered < 8:
            try:
                response = httpx.get(url, params={"name": f"u{answered}"}, headers=AUTH)
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
                continue
            assert response.status_code == 200
            answered += 1
        pages = [httpx.get(url.replace("/token", "/metrics"), headers=AUTH).text for _ in range(4)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    # Whichever worker answers /metrics, it reports the whole server's count.
    for page in pages:
        assert sample(page, "momento_tvm_vends_total", profile="chat-reader", outcome="mint") == 8
