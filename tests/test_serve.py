"""The vending server over real HTTP on loopback, minting from the emulator over gRPC."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import httpx
import pytest

from tests.serving import AUTH, BEARER, DEFAULT_SERVER, serve
from tvmcli.config.passwords import hash_password
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator, Faults


def get(
    url: str, path: str = "/token", headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    return httpx.get(
        url + path, params=params, headers=AUTH if headers is None else headers, timeout=10
    )


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert set(response.json()["error"]) == {"code", "message"}


def test_token_follows_the_vending_machine_contract(emulator: Emulator) -> None:
    with serve(emulator) as server:
        before = int(time.time())
        response = get(server.url, profile="chat-reader")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"authToken", "expiresAt", "endpoint", "profile", "tokenId", "now"}
    assert before <= body["now"] <= time.time()
    assert (body["profile"], body["tokenId"], body["endpoint"]) == (
        "chat-reader",
        None,
        emulator.endpoint,
    )
    assert before + 3600 <= body["expiresAt"] <= int(time.time()) + 3600
    token = parse_credential(body["authToken"])
    assert token.kind is Kind.DISPOSABLE_TOKEN
    assert token.claims["exp"] == body["expiresAt"]
    assert (
        token.claims["p"]["explicit"]["permissions"][0]["topic_permissions"]["role"]
        == "TopicReadOnly"
    )


@pytest.mark.parametrize("path", ["/", "/token", "/api/momento/token"])
def test_all_three_paths_vend(emulator: Emulator, path: str) -> None:
    with serve(emulator) as server:
        assert get(server.url, path).json()["profile"] == "chat-reader"  # the default


def test_name_becomes_the_token_id_unless_the_profile_fixes_one(emulator: Emulator) -> None:
    with serve(emulator) as server:
        assert get(server.url, name="alice").json()["tokenId"] == "alice"
        assert (
            parse_credential(get(server.url, name="alice").json()["authToken"]).claims["id"]
            == "alice"
        )
        assert get(server.url, profile="bot", name="alice").json()["tokenId"] == "the-bot"
        assert_error(get(server.url, name="x" * 65), 400, "bad_query")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"profile": "nope"}, 403, "profile_not_allowed"),
        ({"profile": ""}, 400, "bad_query"),
        ({"name": ""}, 400, "bad_query"),
    ],
)
def test_bad_queries(emulator: Emulator, params: dict[str, str], status: int, code: str) -> None:
    with serve(emulator) as server:
        assert_error(get(server.url, **params), status, code)


def test_a_repeated_query_parameter_is_refused(emulator: Emulator) -> None:
    with serve(emulator) as server:
        response = httpx.get(server.url + "/token?profile=a&profile=b", headers=AUTH)
        assert_error(response, 400, "bad_query")


def test_no_default_profile_asks_for_one(emulator: Emulator) -> None:
    server_toml = DEFAULT_SERVER.replace('default_profile = "chat-reader"\n', "")
    with serve(emulator, server_toml) as server:
        assert_error(get(server.url), 400, "profile_required")


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_credentials"),
        ({"Authorization": "Bearer wrong-token-value"}, "bad_credentials"),
        ({"Authorization": f"Basic {BEARER}"}, "bad_credentials"),
    ],
)
def test_bearer_refusals_are_401_with_a_challenge(
    emulator: Emulator, headers: dict[str, str], code: str
) -> None:
    with serve(emulator) as server:
        response = get(server.url, headers=headers)
        assert_error(response, 401, code)
        assert response.headers["www-authenticate"] == 'Bearer realm="momento-tvm"'
        assert emulator.service.stats()["calls"] == 0


def test_profiles_outside_the_allowed_list_are_403(emulator: Emulator) -> None:
    server_toml = DEFAULT_SERVER.replace(
        "[server.bearer]", 'profiles = ["chat-reader"]\n[server.bearer]'
    )
    with serve(emulator, server_toml) as server:
        assert_error(get(server.url, profile="chat-writer"), 403, "profile_not_allowed")
        listed = get(server.url, "/profiles").json()["profiles"]
        assert listed == [
            {
                "name": "chat-reader",
                "description": "read the chat",
                "expiresIn": 3600,
                "default": True,
            }
        ]


TIERS = f"""
[server]
auth = "basic"
client_rate = 0
[server.groups.readers]
profiles = ["chat-reader"]
default_profile = "chat-reader"
[server.groups.writers]
profiles = ["chat-reader", "chat-writer"]
default_profile = "chat-writer"
[server.users.rita]
password_hash = "{hash_password("rita-password")}"
groups = ["readers"]
[server.users.walt]
password_env = "WALT_PASSWORD"
groups = ["writers"]
[server.users.both]
password_hash = "{hash_password("both-password")}"
groups = ["readers", "writers"]
[server.users.nobody]
password_hash = "{hash_password("nobody-password")}"
"""


def test_basic_auth_tiers_like_the_seed_vending_machine(emulator: Emulator) -> None:
    with serve(emulator, TIERS, env={"WALT_PASSWORD": "walt-password"}) as server:
        reader = httpx.get(server.url + "/token", auth=("rita", "rita-password"))
        writer = httpx.get(server.url + "/token", auth=("walt", "walt-password"))
        assert (reader.json()["profile"], reader.json()["tokenId"]) == ("chat-reader", "rita")
        assert (writer.json()["profile"], writer.json()["tokenId"]) == ("chat-writer", "walt")
        denied = httpx.get(
            server.url + "/token?profile=chat-writer", auth=("rita", "rita-password")
        )
        assert_error(denied, 403, "profile_not_allowed")
        both = httpx.get(server.url + "/profiles", auth=("both", "both-password")).json()[
            "profiles"
        ]
        assert [p["name"] for p in both] == ["chat-reader", "chat-writer"]
        nobody = ("nobody", "nobody-password")  # in no group: no profile at all
        assert_error(httpx.get(server.url + "/token", auth=nobody), 403, "no_profiles")
        with_profile = httpx.get(server.url + "/token?profile=chat-reader", auth=nobody)
        assert_error(with_profile, 403, "no_profiles")
        wrong = httpx.get(server.url + "/token", auth=("rita", "walt-password"))
        assert_error(wrong, 401, "bad_credentials")
        assert wrong.headers["www-authenticate"].startswith('Basic realm="momento-tvm"')
        assert_error(httpx.get(server.url + "/token", auth=("ghost", "x")), 401, "bad_credentials")
        spoof = httpx.get(server.url + "/token?name=walt", auth=("rita", "rita-password"))
        assert_error(spoof, 403, "name_not_allowed")


# -- caching and the account limit ------------------------------------------------------------


def test_a_token_is_reused_per_profile_and_token_id(emulator: Emulator) -> None:
    with serve(emulator) as server:
        first = get(server.url, name="a").json()
        assert get(server.url, name="a").json()["authToken"] == first["authToken"]
        get(server.url, name="b")
        get(server.url, profile="chat-writer", name="a")
    assert emulator.service.stats()["mints"] == 3


def test_cache_false_mints_per_request(emulator: Emulator) -> None:
    with serve(emulator) as server:
        tokens = {get(server.url, profile="fresh").json()["authToken"] for _ in range(3)}
    assert len(tokens) == 3


def test_a_token_past_its_reuse_share_is_answered_at_once_and_replaced_in_the_background(
    emulator: Emulator,
) -> None:
    profiles = (
        '[profiles.short]\nexpires_in = 4\npermissions = [{ role = "read-only", cache = "c" }]\n'
    )
    server_toml = '[server]\nauth = "open"\nreuse_share = 0.5\nmin_ttl = 0\nclient_rate = 0\n'
    with serve(emulator, server_toml, profiles) as server:
        first = get(server.url, headers={}).json()["authToken"]
        assert get(server.url, headers={}).json()["authToken"] == first
        time.sleep(2.1)
        # Past half its life: handed out at once (no wait for a mint), its successor minted
        # behind the answer; the next request gets the successor.
        started = time.monotonic()
        assert get(server.url, headers={}).json()["authToken"] == first
        answered_in = time.monotonic() - started
        deadline = time.monotonic() + 5
        while (successor := get(server.url, headers={}).json()["authToken"]) == first:
            assert time.monotonic() < deadline, "no successor was minted"
            time.sleep(0.05)
    assert successor != first
    assert emulator.service.stats()["mints"] == 2  # one successor, however many requests
    assert server.vendor.refreshes == 1
    assert answered_in < 2  # it did not wait out the old token


def test_a_token_with_less_than_min_ttl_left_is_never_handed_out(emulator: Emulator) -> None:
    profiles = (
        '[profiles.short]\nexpires_in = 3\npermissions = [{ role = "read-only", cache = "c" }]\n'
    )
    server_toml = '[server]\nauth = "open"\nreuse_share = 1.0\nmin_ttl = "4s"\nclient_rate = 0\n'
    with serve(emulator, server_toml, profiles) as server:
        tokens = {get(server.url, headers={}).json()["authToken"] for _ in range(3)}
    assert len(tokens) == 3


def test_concurrent_requests_for_one_key_share_one_mint() -> None:
    with Emulator(rate_limit=0, faults=Faults(latency=0.3)) as emulator, serve(emulator) as server:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(headers=AUTH, timeout=10) as client:
                return await asyncio.gather(*(client.get(server.url + "/token") for _ in range(20)))

        responses = asyncio.run(burst())
        assert {r.status_code for r in responses} == {200}
        assert len({r.json()["authToken"] for r in responses}) == 1
        assert emulator.service.stats()["mints"] == 1


def test_the_account_limit_queues_then_sheds_with_retry_after() -> None:
    server_toml = '[server]\nauth = "open"\nclient_rate = 0\nmint_rate = 5\nmint_queue = 1.5\n'
    with Emulator(rate_limit=5) as emulator, serve(emulator, server_toml) as server:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=20) as client:
                return await asyncio.gather(
                    *(
                        client.get(server.url + "/token", params={"profile": "fresh"})
                        for _ in range(25)
                    )
                )

        responses = asyncio.run(burst())
        statuses = sorted(r.status_code for r in responses)
        ok = statuses.count(200)
        # 5 at once, 5 more after one window (1.05 s) in the queue; the next would wait 2.1 s
        # but the queue holds a request 1.5 s at most, so those are shed. (On a loaded machine a
        # late arrival may still fit in the queue: up to 5 more.)
        assert 10 <= ok <= 15
        shed = [r for r in responses if r.status_code == 503]
        assert len(shed) == 25 - ok
        assert all(r.json()["error"]["code"] == "mint_limit" for r in shed)
        assert all(int(r.headers["retry-after"]) >= 1 for r in shed)
        # The emulator enforces Momento's 5 per second on arrival: it never had to refuse one.
        assert emulator.service.stats()["refusals"] == {}
        assert emulator.service.stats()["mints"] == ok


# -- Momento's failures -----------------------------------------------------------------------


def test_momento_down_is_503_with_retry_after(emulator: Emulator) -> None:
    with Emulator() as gone:
        key, endpoint = gone.issue_api_key(), gone.endpoint
    with serve(emulator, key=key, endpoint=endpoint, timeout=0.5) as server:
        response = get(server.url)
        assert_error(response, 503, "momento_unavailable")
        assert response.headers["retry-after"] == "1"


def test_momento_refusing_the_servers_key_is_502() -> None:
    with Emulator() as other:
        foreign = other.issue_api_key()
    with Emulator(rate_limit=0) as emulator, serve(emulator, key=foreign) as server:
        response = get(server.url)
        assert_error(response, 502, "momento_refused_key")
        assert foreign not in response.text


def test_momento_timing_out_is_504() -> None:
    with (
        Emulator(rate_limit=0, faults=Faults(latency=2.0)) as emulator,
        serve(emulator, timeout=0.3) as server,
    ):
        assert_error(get(server.url), 504, "momento_timeout")
        health = get(server.url, "/healthz", headers={})
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"


def test_momento_unavailable_is_503() -> None:
    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode.UNAVAILABLE)
    with Emulator(rate_limit=0, faults=faults) as emulator, serve(emulator, timeout=0.5) as server:
        response = get(server.url)
        assert_error(response, 503, "momento_unavailable")
        assert response.headers["retry-after"] == "1"


# -- the other endpoints ----------------------------------------------------------------------


def test_healthz_says_whether_momento_answered_recently(emulator: Emulator) -> None:
    with serve(emulator) as server:
        idle = get(server.url, "/healthz", headers={})
        assert (idle.status_code, idle.json()["status"]) == (200, "idle")
        get(server.url)
        body = get(server.url, "/healthz", headers={}).json()
        assert body["status"] == "ok"
        assert body["tokenService"]["answeredRecently"] is True
        assert body["mints"] == 1
        assert BEARER not in str(body)


def test_openapi_describes_the_endpoints(emulator: Emulator) -> None:
    with serve(emulator) as server:
        spec = get(server.url, "/openapi.json", headers={}).json()
    assert spec["openapi"].startswith("3.")
    assert {"/token", "/", "/api/momento/token", "/profiles", "/healthz"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["Token"]["required"] == ["authToken", "expiresAt"]


# -- hardening --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:80", "127.0.0.1:1"])
def test_foreign_host_headers_are_refused_on_loopback(emulator: Emulator, host: str) -> None:
    with serve(emulator) as server:
        assert_error(get(server.url, headers={**AUTH, "Host": host}), 400, "bad_host")
        port = server.url.rsplit(":", 1)[1]
        assert get(server.url, headers={**AUTH, "Host": f"localhost:{port}"}).status_code == 200


def test_oversized_headers_and_bodies_are_refused(emulator: Emulator) -> None:
    with serve(emulator) as server:
        assert_error(
            get(server.url, headers={**AUTH, "X-Padding": "x" * 9000}), 431, "headers_too_large"
        )
        response = httpx.request("GET", server.url + "/token", headers=AUTH, content=b"x" * 2048)
        assert_error(response, 413, "too_large")
        assert_error(httpx.post(server.url + "/token", headers=AUTH), 405, "method_not_allowed")
        assert_error(get(server.url, "/nope"), 404, "not_found")


def test_per_client_rate_limit_is_429_with_retry_after(emulator: Emulator) -> None:
    server_toml = DEFAULT_SERVER.replace("client_rate = 0", "client_rate = 1\nclient_burst = 3")
    with serve(emulator, server_toml) as server:
        statuses = [get(server.url).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200]
        limited = get(server.url)
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1


def test_access_log_has_no_secrets(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tvmcli.server.access")
    with serve(emulator) as server:
        token = get(server.url, name="alice").json()["authToken"]
        get(server.url, headers={"Authorization": "Bearer wrong-secret-value-123"})
    lines = [r.getMessage() for r in caplog.records if r.name == "tvmcli.server.access"]
    assert any(
        "GET /token 200" in line and "principal=bearer profile=chat-reader token_id=alice" in line
        for line in lines
    )
    assert any("GET /token 401" in line for line in lines)
    assert BEARER not in caplog.text
    assert "wrong-secret-value-123" not in caplog.text
    assert token not in caplog.text


@pytest.mark.parametrize(("rate", "most"), [(5.0, 5), (2.5, 2), (1.0, 1), (0.5, 1)])
def test_the_mint_limiter_never_allows_more_than_the_rate_in_any_second(
    rate: float, most: int
) -> None:
    """Driven by a fake clock: grants are recorded and every one-second window is counted."""
    from tvmcli.errors import MintLimitError
    from tvmcli.vending.limiter import MintLimiter

    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = MintLimiter(rate, queue=30.0, clock=lambda: now[0], sleep=sleep)
    grants: list[float] = []

    async def run() -> None:
        for _ in range(40):
            try:
                await limiter.acquire()
            except MintLimitError:
                break
            grants.append(now[0])
            now[0] += 0.01

    asyncio.run(run())
    assert len(grants) >= 10
    for i, start in enumerate(grants):
        assert sum(1 for t in grants[i:] if t - start < 1.0) <= most
    assert max(sum(1 for t in grants[i:] if t - s < 1.0) for i, s in enumerate(grants)) == most


def test_the_access_log_cannot_be_given_forged_lines(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tvmcli.server.access")
    with serve(emulator) as server:
        httpx.get(server.url + "/token%0Afake-line", headers=AUTH)
        httpx.get(server.url + "/token?name=a%0Db", headers=AUTH)
    [batch] = [r.getMessage() for r in caplog.records if r.name == "tvmcli.server.access"]
    lines = batch.split("\n")
    assert len(lines) == 2
    assert "GET /token\\nfake-line 404" in lines[0]
    assert "GET /token 400" in lines[1]  # no control characters in a token id at all
    assert "\r" not in batch


def test_refresh_ahead_yields_the_mint_budget_to_callers_without_a_token() -> None:
    """One mint a second: a refresh-ahead waits while a caller that has no token at all is
    queued, even when it asked first."""
    from tvmcli.vending.limiter import MintLimiter

    async def scenario() -> list[str]:
        limiter = MintLimiter(rate=1, queue=5)
        order: list[str] = []
        await limiter.acquire()  # the budget of this window is spent

        async def take(name: str, low: bool) -> None:
            await limiter.acquire(low=low)
            order.append(name)

        background = asyncio.create_task(take("refresh", True))
        await asyncio.sleep(0.1)
        urgent = asyncio.create_task(take("urgent", False))
        await asyncio.gather(background, urgent)
        return order

    assert asyncio.run(scenario()) == ["urgent", "refresh"]


def test_a_token_with_too_little_life_left_waits_for_the_refresh_already_running(
    emulator: Emulator,
) -> None:
    profiles = (
        '[profiles.short]\nexpires_in = 12\npermissions = [{ role = "read-only", cache = "c" }]\n'
    )
    server_toml = '[server]\nauth = "open"\nreuse_share = 0.3\nmin_ttl = 6\nclient_rate = 0\n'
    with Emulator(rate_limit=0, faults=Faults(latency=0.5)) as slow:
        with serve(slow, server_toml, profiles) as server:
            first = get(server.url, headers={}).json()["authToken"]
            time.sleep(4.5)  # past 30 % of 12 s, with ~7 s (> min_ttl) left: refresh ahead
            assert get(server.url, headers={}).json()["authToken"] == first
            time.sleep(2.5)  # under 6 s left now: never the old token again
            later = get(server.url, headers={}).json()["authToken"]
        assert later != first
        assert slow.service.stats()["mints"] == 2
