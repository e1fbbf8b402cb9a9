"""CORS: allowed origins echoed, preflight answered, others get nothing they can use."""

from __future__ import annotations

import httpx

from tests.serving import AUTH, DEFAULT_SERVER, serve
from tvmcli.emulator import Emulator

ALLOWED = "http://localhost:5173"
SERVER = DEFAULT_SERVER.replace("[server.bearer]", f'cors_origins = ["{ALLOWED}"]\n[server.bearer]')


def test_an_allowed_origin_is_echoed(emulator: Emulator) -> None:
    with serve(emulator, SERVER) as server:
        response = httpx.get(server.url + "/token", headers={**AUTH, "Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in response.headers["vary"]


def test_errors_carry_cors_headers_so_the_page_can_read_them(emulator: Emulator) -> None:
    with serve(emulator, SERVER) as server:
        response = httpx.get(server.url + "/token", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ALLOWED


def test_another_origin_gets_no_allow_header(emulator: Emulator) -> None:
    with serve(emulator, SERVER) as server:
        response = httpx.get(
            server.url + "/token", headers={**AUTH, "Origin": "http://evil.example"}
        )
    assert "access-control-allow-origin" not in response.headers


def test_preflight_is_answered_for_allowed_origins_only(emulator: Emulator) -> None:
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    with serve(emulator, SERVER) as server:
        ok = httpx.options(server.url + "/token", headers={**preflight, "Origin": ALLOWED})
        bad = httpx.options(
            server.url + "/token", headers={**preflight, "Origin": "http://evil.example"}
        )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    assert "GET" in ok.headers["access-control-allow-methods"]
    assert bad.status_code == 400
    assert "access-control-allow-origin" not in bad.headers
    assert emulator.service.stats()["calls"] == 0


def test_star_is_sent_only_when_configured_with_open_auth(emulator: Emulator) -> None:
    server_toml = (
        '[server]\nauth = "open"\ncors_origins = ["*"]\nclient_rate = 0\n'
        'default_profile = "chat-reader"\n'
    )
    with serve(emulator, server_toml) as server:
        response = httpx.get(server.url + "/token", headers={"Origin": "http://anything.example"})
    assert response.headers["access-control-allow-origin"] == "*"


def test_no_origins_configured_means_no_cors_at_all(emulator: Emulator) -> None:
    with serve(emulator) as server:
        response = httpx.get(server.url + "/token", headers={**AUTH, "Origin": ALLOWED})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
