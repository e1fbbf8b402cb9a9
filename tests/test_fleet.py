"""A fleet: two vending servers with `[server.state] backend = "momento"` on one emulator,
sharing tokens, single flight and one mint budget through the emulator's cache over gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving import AUTH, PROFILES, Running, serve
from tvmcli.config.file import parse_config
from tvmcli.emulator import Emulator
from tvmcli.errors import ConfigError
from tvmcli.state.shared import RETRY_AFTER_FAILURE

FLEET = """
[server]
auth = "bearer"
default_profile = "chat-reader"
client_rate = 0
mint_queue = "30s"
[server.bearer]
tokens_env = "TEST_BEARER"
[server.state]
backend = "momento"
cache = "fleet-state"
"""


@contextlib.contextmanager
def fleet(emulator: Emulator, key: str, server_toml: str = FLEET) -> Iterator[list[Running]]:
    with serve(emulator, server_toml, key=key) as a, serve(emulator, server_toml, key=key) as b:
        yield [a, b]


async def fetch_all(urls: list[str]) -> list[httpx.Response]:
    """Every URL at once; a 503 is retried after its Retry-After, as clients are told."""
    async with httpx.AsyncClient(timeout=60, headers=AUTH) as client:

        async def one(url: str) -> httpx.Response:
            while True:
                response = await client.get(url)
                if response.status_code != 503:
                    return response
                assert "Retry-After" in response.headers
                await asyncio.sleep(float(response.headers["Retry-After"]))

        return await asyncio.gather(*(one(u) for u in urls))


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times)), default=0
    )


def test_two_instances_share_tokens_and_one_mint_budget() -> None:
    with Emulator(rate_limit=5) as emulator:  # Momento's account limit, enforced
        key = emulator.issue_api_key()
        with fleet(emulator, key) as (a, b):
            urls = [
                f"{server.url}/token?name=user-{i}"
                for i in range(20)
                for server in (a, b)
                for _ in range(2)
            ]
            answers = asyncio.run(fetch_all(urls))
        stats = emulator.service.stats()
        mint_times = list(emulator.service.mint_times)
    assert {r.status_code for r in answers} == {200}
    by_id: dict[str, set[str]] = {}
    for response in answers:
        body = response.json()
        by_id.setdefault(body["tokenId"], set()).add(body["authToken"])
    assert len(by_id) == 20
    assert all(len(tokens) == 1 for tokens in by_id.values())  # one token per id, fleet-wide
    assert stats["mints"] == 20
    assert stats["refusals"] == {}  # never over Momento's limit: no RESOURCE_EXHAUSTED
    assert most_in_one_second(mint_times) <= 5


def test_a_hundred_requests_for_one_id_across_both_instances_mint_once(
    emulator: Emulator, api_key: str
) -> None:
    with fleet(emulator, api_key) as (a, b):
        urls = [f"{server.url}/token?name=hot" for server in (a, b) for _ in range(50)]
        answers = asyncio.run(fetch_all(urls))
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["authToken"] for r in answers}) == 1
    assert emulator.service.stats()["mints"] == 1


def test_a_reader_of_the_shared_cache_learns_nothing(emulator: Emulator, api_key: str) -> None:
    with fleet(emulator, api_key) as (a, _):
        body = httpx.get(a.url + "/token?name=alice-secret-id", headers=AUTH).json()
    items = dict(emulator.cache._items)  # what a reader of the cache would see
    assert items
    for (cache, key), (value, _) in items.items():
        assert cache == "fleet-state"
        for secret in (body["authToken"], "alice-secret-id", "chat-reader", api_key):
            assert secret.encode() not in key
            assert secret.encode() not in value


def test_a_tampered_entry_is_ignored_and_minted_again(emulator: Emulator, api_key: str) -> None:
    with fleet(emulator, api_key) as (a, b):
        first = httpx.get(a.url + "/token?name=tampered", headers=AUTH).json()
        [token_key] = [k for (_, k) in emulator.cache._items if k.startswith(b"token:")]
        value, expires = emulator.cache._items[("fleet-state", token_key)]
        flipped = value[:-1] + bytes([value[-1] ^ 1])
        emulator.cache._items[("fleet-state", token_key)] = (flipped, expires)
        second = httpx.get(b.url + "/token?name=tampered", headers=AUTH)
    assert second.status_code == 200
    assert second.json()["authToken"] != first["authToken"]
    assert emulator.service.stats()["mints"] == 2


def test_the_state_cache_going_away_and_coming_back(emulator: Emulator, api_key: str) -> None:
    with fleet(emulator, api_key) as (a, b):
        emulator.cache.available = False
        during = [httpx.get(s.url + "/token?name=outage", headers=AUTH) for s in (a, b)]
        health = httpx.get(a.url + "/healthz").json()
        emulator.cache.available = True
        deadline = time.monotonic() + 15
        probes = 0
        while httpx.get(a.url + "/healthz").json()["state"]["degraded"]:
            assert time.monotonic() < deadline, "the shared state did not recover"
            probes += 1  # a new id misses this process's memory and tries the cache
            httpx.get(a.url + f"/token?name=probe-{probes}", headers=AUTH)
            time.sleep(0.5)
        after = httpx.get(a.url + "/token?name=after", headers=AUTH)
        again = httpx.get(b.url + "/token?name=after", headers=AUTH)
    assert [r.status_code for r in during] == [200, 200]  # served from each process's memory
    assert health["state"] == {
        "backend": "momento",
        "cache": "fleet-state",
        "degraded": True,
        "reason": "UNAVAILABLE",
    }
    assert after.status_code == 200
    assert again.json()["authToken"] == after.json()["authToken"]  # shared again


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ('backend = "redis"', "[server].state.backend"),
        ('cache = "has space"', "[server].state.cache"),
        ("cache = 7", "[server].state.cache"),
        ('bakend = "momento"', "[server].state: unknown field 'bakend'"),
    ],
)
def test_bad_state_values_are_refused_naming_the_field(table: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(PROFILES + f"[server]\n[server.state]\n{table}\n", Path("p.toml"))
    assert caught.value.exit_code == 3
    assert any(field in problem for problem in caught.value.problems), caught.value.problems


def test_losing_and_regaining_the_state_cache_is_logged_once_each(
    emulator: Emulator, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tvmcli.server")
    with serve(emulator, FLEET, key=api_key) as server:
        emulator.cache.available = False
        during = []
        outage_ends = time.monotonic() + RETRY_AFTER_FAILURE + 1.5  # a probe fails again in it
        while time.monotonic() < outage_ends:
            name = f"outage-{len(during)}"  # a new id: this process's memory misses
            during.append(httpx.get(server.url + f"/token?name={name}", headers=AUTH))
            time.sleep(0.25)
        emulator.cache.available = True
        deadline = time.monotonic() + 15
        probes = 0
        while httpx.get(server.url + "/healthz").json()["state"]["degraded"]:
            assert time.monotonic() < deadline, "the shared state did not recover"
            probes += 1
            httpx.get(server.url + f"/token?name=probe-{probes}", headers=AUTH)
            time.sleep(0.5)
        for i in range(3):
            httpx.get(server.url + f"/token?name=after-{i}", headers=AUTH)
    assert {r.status_code for r in during} == {200}
    lines = [r.getMessage() for r in caplog.records if r.name == "tvmcli.server"]
    lost = [line for line in lines if "serving from this process's memory" in line]
    regained = [line for line in lines if line == "shared state: cache 'fleet-state' answers again"]
    assert len(lost) == 1, lines
    assert "'fleet-state' is unavailable (UNAVAILABLE)" in lost[0]
    assert len(regained) == 1, lines


def test_the_fleet_budget_reports_its_waits_and_sheds_to_metrics(
    emulator: Emulator, api_key: str
) -> None:
    toml = FLEET.replace('mint_queue = "30s"', 'mint_queue = "1s"\nmetrics = true')
    with serve(emulator, toml, key=api_key) as server:

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=30, headers=AUTH) as client:
                answers = await asyncio.gather(
                    *(client.get(f"{server.url}/token?name=burst-{i}") for i in range(20))
                )
            return [answer.status_code for answer in answers]

        statuses = asyncio.run(burst())
        page = httpx.get(server.url + "/metrics", headers=AUTH).text
    shed = statuses.count(503)
    assert shed > 0, statuses  # 20 mints at 5 a second do not fit in a 1 s queue
    counts = dict(re.findall(r"^momento_tvm_(limiter_\w+)_total (\S+)$", page, re.M))
    assert float(counts["limiter_sheds"]) == shed
    assert float(counts["limiter_waits"]) > 0


# -- round two (issue 22, 3) ----------------------------------------------------------------------


def write_items(emulator: Emulator, key: str, items: dict[bytes, bytes]) -> None:
    """Write the state cache as any token that may write it can (real gRPC, not the fleet)."""
    from tvmcli.credentials.decoding import Kind
    from tvmcli.credentials.sources import ApiKey
    from tvmcli.state.cache_client import CacheClient

    async def write() -> None:
        client = CacheClient(ApiKey(key, emulator.endpoint, "test", Kind.V2_API_KEY), "fleet-state")
        try:
            for name, value in items.items():
                await client.set(name, value, 120)
        finally:
            await client.close()

    asyncio.run(write())


@pytest.mark.parametrize("value", [b"99", b"not a number"])
def test_a_token_that_may_write_the_state_cache_cannot_spend_or_break_the_fleets_budget(
    emulator: Emulator, api_key: str, value: bytes
) -> None:
    """Issue 22, 3: the slot items were named slot:<n>; filling the next 90 s of them made
    both instances shed every new token (503 mint_limit), and a non-integer made them degrade
    to per-process limiters (the fleet's limit gone)."""
    spacing = 1.1 / 5
    first = math.ceil(time.time() / spacing)
    planted = {b"slot:%d" % n: value for n in range(first, first + 410)}  # the next 90 s
    write_items(emulator, emulator.issue_api_key(), planted)  # any credential that may write
    server_toml = FLEET.replace('mint_queue = "30s"', 'mint_queue = "2s"')
    with fleet(emulator, api_key, server_toml) as (a, b):
        answers = [
            httpx.get(f"{s.url}/token?name=after-{i}", headers=AUTH) for i, s in enumerate((a, b))
        ]
        health = [httpx.get(s.url + "/healthz").json()["state"]["degraded"] for s in (a, b)]
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert health == [False, False]
    slots = [key for (_, key) in emulator.cache._items if key.startswith(b"slot:")]
    assert set(slots) - set(planted)  # the fleet's own slots, under names nobody can guess
    assert all(emulator.cache._items[("fleet-state", k)][0] == value for k in planted)


def test_a_slot_value_that_is_not_a_count_is_a_slot_taken_not_a_degraded_fleet(
    emulator: Emulator, api_key: str
) -> None:
    from tvmcli.state.sealed import Sealer

    sealer = Sealer(api_key)
    spacing = 1.1 / 5
    first = math.ceil(time.time() / spacing)
    spoiled = {b"slot:" + sealer.name("slot", str(n)): b"x" for n in range(first, first + 10)}
    write_items(emulator, emulator.issue_api_key(), spoiled)
    with fleet(emulator, api_key) as (a, _):
        answer = httpx.get(a.url + "/token?name=spoiled", headers=AUTH)
        health = httpx.get(a.url + "/healthz").json()["state"]
    assert answer.status_code == 200, answer.text
    assert health["degraded"] is False
    for name in spoiled:  # never counted over: still what was written
        assert emulator.cache._items[("fleet-state", name)][0] == b"x"


def test_an_instance_that_degrades_while_holding_a_lock_still_lets_go_of_it(
    emulator: Emulator, api_key: str
) -> None:
    """Issue 22, 3: the lock's holder degraded before storing (here: its slot claim failed),
    skipped store and release, and the other instance waited out the lock, then 503."""
    emulator.cache.failing = {"Increment"}

    async def both(urls: list[str]) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30, headers=AUTH) as client:
            return await asyncio.gather(*(client.get(u) for u in urls))

    with fleet(emulator, api_key) as (a, b):
        started = time.monotonic()
        answers = asyncio.run(both([a.url + "/token?name=held", b.url + "/token?name=held"]))
        took = time.monotonic() - started
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert took < 6, took
    assert not [key for (_, key) in emulator.cache._items if key.startswith(b"lock:")]
