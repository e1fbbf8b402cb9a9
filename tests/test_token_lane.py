"""The token lane: GET /token goes from the Guard straight to its handler, not through
Starlette's router, unless CORS is on. Both ways must give the same answers, so the same
requests are sent to a server of each kind and their answers compared."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.serving import AUTH, BEARER, DEFAULT_SERVER, serve
from tvmcli.emulator import Emulator
from tvmcli.server.auth import Authenticator, Principal

CORS = DEFAULT_SERVER.replace(
    "[server.bearer]", 'cors_origins = ["http://localhost:5173"]\n[server.bearer]'
)

# (method, path, headers, status): every way a /token request is answered, good or bad.
REQUESTS = [
    ("GET", "/token", AUTH, 200),
    ("GET", "/", AUTH, 200),
    ("GET", "/api/momento/token", AUTH, 200),
    ("GET", "/token?name=alice", AUTH, 200),
    ("GET", "/token?profile=chat-writer&name=bob", AUTH, 200),
    ("GET", "/token?profile=bot", AUTH, 200),
    ("GET", "/token?profile=nope", AUTH, 403),
    ("GET", "/token?name=a&name=b", AUTH, 400),
    ("GET", "/token?name=", AUTH, 400),
    ("GET", "/token?name=has%20space", AUTH, 200),
    ("GET", "/token?name=line%0Abreak", AUTH, 400),
    ("GET", "/token?name=" + "x" * 300, AUTH, 400),
    ("GET", "/token", {}, 401),
    ("GET", "/token", {"Authorization": "Bearer wrong"}, 401),
    ("GET", "/token", {"Authorization": "Basic Zm9vOmJhcg=="}, 401),
    ("HEAD", "/token", AUTH, 200),
    ("POST", "/token", AUTH, 405),
    ("GET", "/token/", AUTH, 307),
    ("GET", "/token", {**AUTH, "Host": "rebound.example"}, 400),
]
VARYING = {"date", "x-request-id", "vary", "content-length"}  # the token itself differs


def answers(url: str) -> list[tuple[int, dict[str, str], object]]:
    seen = []
    with httpx.Client(base_url=url, follow_redirects=False) as client:
        for method, path, headers, _ in REQUESTS:
            response = client.request(method, path, headers=headers)
            body: object = response.content
            if response.content and response.headers.get("content-type") == "application/json":
                body = json.loads(response.content)
                if isinstance(body, dict) and "authToken" in body:
                    assert body["authToken"]
                    assert body["expiresAt"] > body["now"]
                    body = sorted(body)  # two servers mint two tokens: compare the shape
            kept = {
                k: v.replace(url, "URL") for k, v in response.headers.items() if k not in VARYING
            }
            seen.append((response.status_code, kept, body))
    return seen


def test_the_lane_and_the_router_answer_alike(emulator: Emulator) -> None:
    with serve(emulator) as lane:
        through_lane = answers(lane.url)
    with serve(emulator, CORS) as router:
        through_router = answers(router.url)
    assert [status for status, _, _ in through_lane] == [status for *_, status in REQUESTS]
    for request, one, other in zip(REQUESTS, through_lane, through_router, strict=True):
        assert one == other, request


class Broken(Authenticator):
    """An authenticator with a bug: its error's message must reach neither caller nor log."""

    def at_once(self, authorization: str | None) -> Principal | None:
        raise RuntimeError(f"bug holding {authorization}")

    async def authenticate(self, authorization: str | None) -> Principal:
        raise AssertionError("never reached: at_once raised")


@pytest.mark.parametrize("server_toml", [DEFAULT_SERVER, CORS], ids=["lane", "router"])
def test_a_bug_is_a_500_that_leaks_nothing(
    emulator: Emulator, server_toml: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with serve(emulator, server_toml, authenticator=Broken()) as server:
        response = httpx.get(server.url + "/token", headers=AUTH)
        healthy = httpx.get(server.url + "/healthz")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal", "message": "internal error"}}
    assert healthy.status_code == 200  # the server goes on
    assert "internal error: RuntimeError at" in caplog.text
    assert BEARER not in caplog.text
    assert "bug holding" not in caplog.text
    assert "GET /token 500" in caplog.text  # the access line has the status sent
