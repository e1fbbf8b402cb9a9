"""GET /client.js: the browser helper as the server hands it out (the browser runs it in
tests/test_browser_client.py)."""

from __future__ import annotations

import hashlib

import httpx

from tests.serving import DEFAULT_SERVER, serve
from tvmcli.emulator import Emulator
from tvmcli.server.client_script import client_js

ALLOWED = "http://localhost:5173"
SERVER = DEFAULT_SERVER.replace("[server.bearer]", f'cors_origins = ["{ALLOWED}"]\n[server.bearer]')


def test_client_js_is_a_javascript_module_that_needs_no_sign_in(emulator: Emulator) -> None:
    with serve(emulator) as server:
        response = httpx.get(server.url + "/client.js")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "text/javascript"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == client_js()
    assert b"export class TvmTokenSource" in response.content
    assert emulator.service.stats()["calls"] == 0


def test_client_js_has_a_strong_etag_and_answers_304_when_it_matches(emulator: Emulator) -> None:
    with serve(emulator) as server:
        first = httpx.get(server.url + "/client.js")
        etag = first.headers["etag"]
        again = httpx.get(server.url + "/client.js", headers={"If-None-Match": etag})
        weak = httpx.get(server.url + "/client.js", headers={"If-None-Match": f'"x", W/{etag}'})
        other = httpx.get(server.url + "/client.js", headers={"If-None-Match": '"other"'})
    assert not etag.startswith("W/")
    assert etag == f'"{hashlib.sha256(client_js()).hexdigest()[:32]}"'
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert weak.status_code == 304
    assert (other.status_code, other.content) == (200, client_js())


def test_client_js_is_importable_from_allowed_origins_only(emulator: Emulator) -> None:
    """A cross-origin <script type="module"> is fetched in CORS mode: the allow header decides."""
    with serve(emulator, SERVER) as server:
        allowed = httpx.get(server.url + "/client.js", headers={"Origin": ALLOWED})
        other = httpx.get(server.url + "/client.js", headers={"Origin": "http://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in allowed.headers["vary"]
    assert "access-control-allow-origin" not in other.headers


def test_client_js_passes_the_guard_like_every_route(emulator: Emulator) -> None:
    with serve(emulator) as server:
        response = httpx.get(server.url + "/client.js", headers={"Host": "evil.example.com"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_host")


def test_retry_after_is_exposed_to_pages_so_the_helper_can_honour_it(
    emulator: Emulator,
) -> None:
    with serve(emulator, SERVER) as server:
        response = httpx.get(server.url + "/token", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


def test_openapi_lists_client_js_without_security(emulator: Emulator) -> None:
    with serve(emulator) as server:
        spec = httpx.get(server.url + "/openapi.json").json()
    operation = spec["paths"]["/client.js"]["get"]
    assert operation["security"] == []
    assert "text/javascript" in operation["responses"]["200"]["content"]
    assert "now" in spec["components"]["schemas"]["Token"]["properties"]
