"""The library inside other web apps, over real HTTP: examples/fastapi_app.py, examples/
flask_app.py, and build_app mounted in a Starlette app, all minting from the emulator."""

from __future__ import annotations

import logging
import runpy
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from werkzeug.serving import make_server

from tests.serving import BEARER, DEFAULT_SERVER, PROFILES, running
from tvmcli.config.file import parse_config
from tvmcli.emulator import Emulator
from tvmcli.server import build_app

ROOT = Path(__file__).resolve().parent.parent
ALICE = {"Authorization": "Bearer demo-session-alice"}


@pytest.fixture
def example_env(emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("MOMENTO_TVM_CONFIG", str(ROOT / "profiles.example.toml"))
    return emulator_env


def test_fastapi_example_vends_to_its_signed_in_users(example_env: Emulator) -> None:
    app = runpy.run_path(str(ROOT / "examples" / "fastapi_app.py"), run_name="example")["app"]
    with running(app) as url:
        first = httpx.get(url + "/api/momento/token", headers=ALICE, timeout=10)
        with ThreadPoolExecutor(8) as pool:
            again = list(
                pool.map(
                    lambda _: httpx.get(url + "/api/momento/token", headers=ALICE, timeout=10),
                    range(8),
                )
            )
        stranger = httpx.get(
            url + "/api/momento/token", headers={"Authorization": "Bearer nope"}, timeout=10
        )
        unknown = httpx.get(url + "/api/momento/token?profile=nope", headers=ALICE, timeout=10)
    assert first.status_code == 200
    body = first.json()
    assert (body["profile"], body["tokenId"]) == ("chat-reader", "alice")
    assert {r.json()["authToken"] for r in again} == {body["authToken"]}
    assert example_env.service.stats()["mints"] == 1
    assert stranger.status_code == 401
    assert unknown.status_code == 404


def test_flask_example_vends_from_threads(example_env: Emulator) -> None:
    app = runpy.run_path(str(ROOT / "examples" / "flask_app.py"), run_name="example")["app"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/momento/token"
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: httpx.get(url, headers=ALICE, timeout=10), range(8)))
        bob = httpx.get(url, headers={"Authorization": "Bearer demo-session-bob"}, timeout=10)
        refused = httpx.get(url, timeout=10)
        wrong = httpx.get(url + "?profile=nope", headers=ALICE, timeout=10)
    finally:
        server.shutdown()
        thread.join(10)
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["authToken"] for a in answers}) == 1
    assert answers[0].json()["tokenId"] == "alice"
    assert bob.json()["tokenId"] == "bob"
    assert example_env.service.stats()["mints"] == 2
    assert refused.status_code == 401
    assert (wrong.status_code, wrong.json()["code"]) == (404, "unknown_profile")


def test_mounted_app_closes_its_minter_and_flushes_its_log_at_shutdown(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tvmcli.server.access")
    config = parse_config(PROFILES + DEFAULT_SERVER, Path("test.toml"))
    tvm = build_app(
        config,
        api_key=emulator.issue_api_key(),
        endpoint=emulator.endpoint,
        env={"TEST_BEARER": BEARER},
    )
    outer = Starlette(routes=[Mount("/tvm", tvm)], lifespan=tvm.router.lifespan_context)
    minter = tvm.state.vendor.minter
    with running(outer) as url:
        response = httpx.get(
            url + "/tvm/token", headers={"Authorization": f"Bearer {BEARER}"}, timeout=10
        )
        assert minter.is_open
        tvm.state.access_log.DELAY = 3600  # nothing flushes on a timer: only shutdown can
    assert response.status_code == 200
    assert not minter.is_open
    lines = [r.getMessage() for r in caplog.records if r.name == "tvmcli.server.access"]
    assert any("GET /tvm/token 200" in line for line in lines)
