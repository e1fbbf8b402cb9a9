"""The vending server under attack and faults (issue 10): each test reproduces one attack or
injected fault against the real app under uvicorn on loopback, minting from the emulator."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

import tvmcli
from tests.serving import AUTH, serve
from tvmcli.emulator import Emulator, Faults


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


# -- Momento statuses without a mapping (item 10) ---------------------------------------------

REFUSALS = ["NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNIMPLEMENTED"]
TRANSIENT = ["UNKNOWN", "ABORTED", "DATA_LOSS", "CANCELLED"]


@pytest.mark.parametrize("status", REFUSALS + TRANSIENT)
def test_every_momento_status_is_a_json_error_never_a_500(
    status: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode[status])
    with Emulator(rate_limit=0, faults=faults) as emulator, serve(emulator, timeout=1) as server:
        response = httpx.get(server.url + "/token", headers=AUTH, timeout=10)
    if status in REFUSALS:
        assert_error(response, 502, "momento_error")
    else:
        assert_error(response, 503, "momento_unavailable")
        assert int(response.headers["retry-after"]) >= 1
    assert "Traceback" not in caplog.text
    assert "internal error" not in caplog.text


def test_an_unmapped_status_exits_5_from_the_cli_library_too() -> None:
    from tvmcli.config.profiles import Profile
    from tvmcli.credentials.decoding import Kind
    from tvmcli.credentials.sources import ApiKey
    from tvmcli.errors import ExitCode, MomentoError, TvmError
    from tvmcli.permissions.roles import Role
    from tvmcli.permissions.statements import Statement

    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode.UNIMPLEMENTED)
    with Emulator(rate_limit=0, faults=faults) as emulator:
        key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
        with pytest.raises(TvmError) as caught:
            tvmcli.mint(Profile("p", (Statement(Role.READ_ONLY, "c"),)), api_key=key, timeout=1)
    assert isinstance(caught.value, MomentoError)
    assert caught.value.exit_code is ExitCode.UNAVAILABLE
    assert "UNIMPLEMENTED" in caught.value.message


# -- token ids: one rule for ?name=, sign-ins and profiles (item 12) ----------------------------

BAD_IDS = {
    "NUL": "a\x00b",
    "newline": "alice\nbob",
    "escape sequence": "\x1b]0;title\x07",
    "bidi override": "evil\u202egpj.exe",
    "zero-width joiner": "a\u200db",
    "65 ASCII": "x" * 65,
    "emoji 80 bytes": "\U0001f600" * 20,
    "accents 66 bytes": "\u00e9" * 33,
}


@pytest.mark.parametrize("name", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_name_must_be_a_printable_token_id_of_at_most_64_bytes(
    emulator: Emulator, name: str
) -> None:
    with serve(emulator) as server:
        response = httpx.get(server.url + "/token", params={"name": name}, headers=AUTH)
    assert_error(response, 400, "bad_query")
    assert emulator.service.stats()["calls"] == 0


@pytest.mark.parametrize("name", ["x" * 64, "\u00fc" * 32, "rita@example.com", "a b"])
def test_names_within_the_rule_are_minted(emulator: Emulator, name: str) -> None:
    with serve(emulator) as server:
        response = httpx.get(server.url + "/token", params={"name": name}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["tokenId"] == name


def toml_string(text: str) -> str:
    def escape(c: str) -> str:
        if c.isascii() and c.isprintable() and c not in '"\\':
            return c
        return f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"

    return '"' + "".join(escape(c) for c in text) + '"'


@pytest.mark.parametrize("name", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_profiles_and_user_names_follow_the_same_token_id_rule(name: str) -> None:
    from tvmcli.config.file import parse_config
    from tvmcli.config.passwords import hash_password
    from tvmcli.errors import ConfigError

    escaped = toml_string(name)
    permissions = 'permissions = [{ role = "read-only", cache = "c" }]\n'
    profile = f"[profiles.p]\ntoken_id = {escaped}\n{permissions}"
    with pytest.raises(ConfigError) as caught:
        parse_config(profile, Path("p.toml"))
    assert any("'p'.token_id" in p for p in caught.value.problems)
    user = (
        '[profiles.p]\npermissions = [{ role = "read-only", cache = "c" }]\n'
        f'[server]\nauth = "basic"\n[server.users.{escaped}]\n'
        f'password_hash = "{hash_password("pw")}"\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(user, Path("p.toml"))
    assert any("the user name becomes the token id" in p for p in caught.value.problems)


# -- a secret where a variable name belongs (item 11) ------------------------------------------

SECRET_VALUES = ["s3cr3t-Bearer-Token-value-1234", "S3cr3tBearerTokenValue1234xyz"]


@pytest.mark.parametrize("secret", SECRET_VALUES, ids=["not a name", "shaped like a name"])
@pytest.mark.parametrize("field", ["tokens_env", "password_env"])
def test_a_secret_given_as_the_variable_name_is_never_echoed(
    cli: Any, emulator_env: Emulator, tmp_path: Path, secret: str, field: str
) -> None:
    from tests.serving import PROFILES

    if field == "tokens_env":
        server = f'[server]\n[server.bearer]\ntokens_env = "{secret}"\n'
    else:
        server = f'[server]\nauth = "basic"\n[server.users.walt]\npassword_env = "{secret}"\n'
    path = tmp_path / "tvm.toml"
    path.write_text(PROFILES + server)
    result = cli("serve", "-c", str(path), "--port", "0")
    assert result.exit_code == 3, result.output
    assert field in result.stderr
    assert secret not in result.stdout + result.stderr
    assert secret[:12] not in result.stdout + result.stderr


# -- every [server] number has a range (item 14) ------------------------------------------------

BAD_NUMBERS = [
    ("timeout", "0"),
    ("timeout", "-1"),
    ("timeout", '"0s"'),
    ("timeout", "nan"),
    ("mint_queue", "-1"),
    ("mint_queue", '"1h"'),
    ("min_ttl", "-5"),
    ("min_ttl", '"26h"'),
    ("mint_rate", "0"),
    ("mint_rate", "-5"),
    ("reuse_share", "0"),
    ("reuse_share", "1.5"),
    ("client_rate", "-1"),
    ("client_burst", "0"),
    ("client_burst", "2.5"),
    ("max_body_bytes", "-1"),
    ("max_header_bytes", "10"),
    ("workers", "0"),
    ("workers", "2.0"),
    ("port", "-1"),
    ("port", "true"),
    ("header_timeout", "0"),
    ("idle_timeout", "-1"),
    ("max_connections", "0"),
]


@pytest.mark.parametrize(("field", "value"), BAD_NUMBERS)
def test_every_server_number_is_range_checked_naming_the_field(field: str, value: str) -> None:
    from tests.serving import PROFILES
    from tvmcli.config.file import parse_config
    from tvmcli.errors import ConfigError, ExitCode

    with pytest.raises(ConfigError) as caught:
        parse_config(PROFILES + f"\n[server]\n{field} = {value}\n", Path("p.toml"))
    assert caught.value.exit_code is ExitCode.CONFIG
    [problem] = caught.value.problems
    assert f"[server].{field}: must be" in problem


def test_serve_exits_3_naming_a_bad_timeout(emulator_env: Emulator, tmp_path: Path) -> None:
    """As a user runs it (a subprocess: before the check, serve started and ran forever)."""
    import os
    import subprocess
    import sys

    from tests.serving import PROFILES

    path = tmp_path / "tvm.toml"
    path.write_text(PROFILES + "\n[server]\ntimeout = 0\n")
    tvm = str(Path(sys.executable).parent / "momento-tvm")
    result = subprocess.run(
        [tvm, "serve", "-c", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ),
    )
    assert result.returncode == 3
    assert "[server].timeout: must be a duration from 0.1s" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_number_in_the_range_table_reaches_the_settings() -> None:
    import dataclasses

    from tests.serving import PROFILES
    from tvmcli.config.file import parse_config
    from tvmcli.config.settings import NUMBERS, ServerSettings

    fields = {f.name for f in dataclasses.fields(ServerSettings)}
    assert set(NUMBERS) <= fields
    table = "\n".join(f"{key} = {int(limits.high)}" for key, limits in NUMBERS.items())
    settings = parse_config(PROFILES + f"\n[server]\n{table}\n", Path("p.toml")).server
    for key, limits in NUMBERS.items():
        assert getattr(settings, key) == int(limits.high), key


# -- plain http:// JWKS only to loopback (item 15) ----------------------------------------------


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://idp.example.com/.well-known/jwks.json", True),
        ("http://127.0.0.1:8080/jwks", True),
        ("http://localhost/jwks", True),
        ("http://[::1]:9/jwks", True),
        ("http://idp.example.com/jwks", False),
        ("http://10.0.0.5/jwks", False),
        ("http://127.0.0.1.evil.example/jwks", False),
        ("http://localhost.evil.example/jwks", False),
        ("https:///jwks", False),
        ("http://127.0.0.1:99999/jwks", False),
        ("ftp://idp.example.com/jwks", False),
    ],
)
def test_plain_http_jwks_urls_only_for_loopback(url: str, ok: bool) -> None:
    from tvmcli.config.file import parse_config
    from tvmcli.errors import ConfigError

    text = (
        '[profiles.p]\npermissions = [{ role = "read-only", cache = "c" }]\n'
        f'[server]\nauth = "jwt"\n[server.jwt]\nissuer = "i"\naudience = "a"\njwks_url = "{url}"\n'
    )
    if ok:
        assert parse_config(text, Path("p.toml")).server.jwt is not None
    else:
        with pytest.raises(ConfigError) as caught:
            parse_config(text, Path("p.toml"))
        assert any(".jwt.jwks_url" in p for p in caught.value.problems)


# -- a chunked body cannot bypass max_body_bytes (item 15) --------------------------------------


def test_a_chunked_body_is_refused_like_an_oversized_one(emulator: Emulator) -> None:
    def chunks() -> Any:
        for _ in range(64):
            yield b"x" * 1024  # 64 KiB, max_body_bytes is 1 KiB

    with serve(emulator) as server:
        response = httpx.request("GET", server.url + "/token", headers=AUTH, content=chunks())
        small = httpx.request("GET", server.url + "/token", headers=AUTH, content=iter([b"x"]))
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 411, "length_required")
    assert response.headers["connection"] == "close"
    assert_error(small, 411, "length_required")
    assert emulator.service.stats()["calls"] == 0


# -- 403 for a profile the caller may not use, whether it exists or not (item 15) ---------------


def test_unknown_and_forbidden_profiles_get_the_same_403(emulator: Emulator) -> None:
    from tests.serving import DEFAULT_SERVER

    limited = DEFAULT_SERVER.replace(
        "[server.bearer]", 'profiles = ["chat-reader"]\n[server.bearer]'
    )
    answers = []
    with serve(emulator, limited) as server:
        for name in ("chat-writer", "no-such-profile"):  # the first exists, the second not
            answers.append(httpx.get(server.url + "/token", params={"profile": name}, headers=AUTH))
    with serve(emulator) as server:  # a caller who may use every profile
        answers.append(httpx.get(server.url + "/token", params={"profile": "nope"}, headers=AUTH))
    for response in answers:
        assert_error(response, 403, "profile_not_allowed")
    assert len({r.json()["error"]["message"] for r in answers}) == 1
    assert "no-such-profile" not in answers[1].text


# -- X-Forwarded-For only from trusted proxies (item 2) -----------------------------------------

RATED = (
    # 2 at once, then one per 10 s: a slow machine cannot refill a bucket between requests
    'default_profile = "chat-reader"\nclient_rate = 0.1\nclient_burst = 2\n'
    '[server.bearer]\ntokens_env = "TEST_BEARER"\n'
)


def raw_request(url: str, head: bytes) -> bytes:
    """One request written byte for byte (httpx refuses some of these header values)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_forwarded_for_from_an_untrusted_peer_changes_nothing(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tvmcli.server.access")
    with serve(emulator, "[server]\n" + RATED) as server:
        statuses = [
            httpx.get(
                server.url + "/token", headers={**AUTH, "X-Forwarded-For": f"10.0.0.{i}"}
            ).status_code
            for i in range(4)
        ]
        host = server.url.removeprefix("http://")
        forged = raw_request(
            server.url,
            b"GET /healthz HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"X-Forwarded-For: \x9b2J\x9b31m6.6.6.6\r\nConnection: close\r\n\r\n",
        )
    assert statuses[:2] == [200, 200]
    assert 429 in statuses[2:]  # one bucket: the peer's, whatever the header says
    assert forged.startswith(b"HTTP/1.1 429") or forged.startswith(b"HTTP/1.1 200")
    lines = [r.getMessage() for r in caplog.records if r.name == "tvmcli.server.access"]
    text = "\n".join(lines)
    assert "10.0.0." not in text
    assert "6.6.6.6" not in text
    assert "\x9b" not in text
    assert all(line.startswith("127.0.0.1 ") for line in text.split("\n"))


def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tvmcli.server.access")
    trusting = '[server]\ntrusted_proxies = ["127.0.0.0/8", "::1"]\n' + RATED

    def via_proxy(server_url: str, chain: str) -> int:
        headers = {**AUTH, "X-Forwarded-For": chain}
        return httpx.get(server_url + "/token", headers=headers).status_code

    with serve(emulator, trusting) as server:
        own_buckets = [via_proxy(server.url, f"10.0.0.{i}") for i in range(4)]
        # The client may prepend anything; the address the proxy appended is what counts.
        spoofed = [via_proxy(server.url, f"{i}.{i}.{i}.{i}, 5.5.5.5") for i in range(1, 5)]
        through_two = via_proxy(server.url, "7.7.7.7, 127.0.0.9")
        garbage = raw_request(
            server.url,
            b"GET /healthz HTTP/1.1\r\nHost: "
            + server.url.removeprefix("http://").encode()
            + b"\r\nX-Forwarded-For: \x9b31mnot-an-address\r\nConnection: close\r\n\r\n",
        )
    assert own_buckets == [200, 200, 200, 200]
    assert spoofed[:2] == [200, 200]
    assert 429 in spoofed[2:]
    assert through_two == 200
    assert garbage.startswith(b"HTTP/1.1 ")
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "tvmcli.server.access")
    assert "10.0.0.3 GET /token 200" in text
    assert "5.5.5.5 GET /token 429" in text
    assert "7.7.7.7 GET /token 200" in text
    assert "1.1.1.1" not in text
    assert "127.0.0.1 GET /healthz" in text  # garbage: the proxy answers for it
    assert "\x9b" not in text


# -- connection limits: header deadline, idle, count (item 13) ----------------------------------

LIMITED = (
    "[server]\nheader_timeout = 1\nidle_timeout = 1\nmax_connections = 3\n"
    '[server.bearer]\ntokens_env = "TEST_BEARER"\n'
)


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=20)


def closed_by_server(conn: socket.socket) -> bool:
    """True once the server closed the connection (EOF or reset) within the socket's timeout;
    False if it was still open when the timeout passed."""
    try:
        while conn.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_a_connection_that_never_sends_its_request_head_is_closed(emulator: Emulator) -> None:
    with serve(emulator, LIMITED) as server:
        silent = connect(server.url)
        partial = connect(server.url)
        partial.sendall(b"GET /token HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert closed_by_server(silent)
        assert closed_by_server(partial)
        silent.close()
        partial.close()


def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(emulator: Emulator) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with serve(emulator, LIMITED) as server:
        conn = connect(server.url)
        answer = b""
        try:
            for byte in head:  # one every 0.05 s: the whole head would take ~12 s
                conn.sendall(bytes([byte]))
                time.sleep(0.05)
            conn.settimeout(5)
            while chunk := conn.recv(65536):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        conn.close()
    assert not answer.startswith(b"HTTP/1.1")  # the head never got through: no answer


def test_a_keep_alive_connection_that_sends_a_byte_after_its_answer_is_closed(
    emulator: Emulator,
) -> None:
    with serve(emulator, LIMITED) as server:
        conn = connect(server.url)
        host = server.url.removeprefix("http://").encode()
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        conn.sendall(b"G")  # cancels uvicorn's keep-alive timer; the head deadline remains
        assert closed_by_server(conn)
        conn.close()


def test_connections_beyond_max_connections_get_503_and_are_closed(emulator: Emulator) -> None:
    with serve(emulator, LIMITED.replace("header_timeout = 1", "header_timeout = 30")) as server:
        held = [connect(server.url) for _ in range(3)]
        time.sleep(0.2)  # let the server take them in
        extra = connect(server.url)
        answer = b""
        while chunk := extra.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 503")
        assert b'"busy"' in answer
        for conn in held:
            conn.close()
        statuses = []
        for _ in range(50):  # room again once the server has seen them close
            statuses.append(httpx.get(server.url + "/healthz").status_code)
            if statuses[-1] == 200:
                break
            time.sleep(0.2)
        assert statuses[-1] == 200, statuses


# -- basic auth: unknown users cost the same scrypt run as known ones (item 6) -------------------


PROFILES_FOR_TIERS = """
[profiles.chat-reader]
permissions = [{ role = "subscribe-only", cache = "chat", topic = "*" }]
[profiles.chat-writer]
permissions = [{ role = "publish-subscribe", cache = "chat", topic = "*" }]
"""


def test_basic_auth_runs_scrypt_for_unknown_users_too(emulator: Emulator) -> None:
    import statistics

    from tests.test_serve import TIERS
    from tvmcli.config.file import parse_config
    from tvmcli.server.auth import BasicAuth

    settings = parse_config(PROFILES_FOR_TIERS + TIERS, Path("t.toml")).server
    auth = BasicAuth(settings, {"WALT_PASSWORD": "walt-password"})
    attempts = {
        "unknown user": ("ghost", "guess"),
        "known user, wrong password": ("rita", "guess"),
        "password_env user, wrong password": ("walt", "guess"),
        "no colon": ("rita-without-colon", None),
    }
    times: dict[str, list[float]] = {label: [] for label in attempts}
    with (
        serve(emulator, TIERS, authenticator=auth) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        for _ in range(5):
            for label, (user, password) in attempts.items():
                raw = user if password is None else f"{user}:{password}"
                header = "Basic " + base64.b64encode(raw.encode()).decode()
                before = auth.scrypt_runs
                started = time.perf_counter()
                response = client.get("/token", headers={"Authorization": header})
                times[label].append(time.perf_counter() - started)
                assert_error(response, 401, "bad_credentials")
                assert auth.scrypt_runs == before + 1, label  # the same work, every time
    # The deterministic signal is the counter above; the clocks only confirm it loosely, as a
    # ratio (not a speed): an unknown user is not answered in a small fraction of a known
    # user's time (before, it took about 1/50 of it).
    known = statistics.median(times["known user, wrong password"])
    for label in ("unknown user", "no colon", "password_env user, wrong password"):
        assert statistics.median(times[label]) > known / 10, (label, times)


# -- every call to the token service takes mint budget, retries too (item 1) --------------------

FRESH = '[server]\nauth = "open"\nclient_rate = 0\nmint_rate = 5\n'


def fresh_burst(url: str, count: int) -> list[httpx.Response]:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(client.get(url + "/token", params={"profile": "fresh"}) for _ in range(count))
            )

    return asyncio.run(burst())


def test_retries_take_mint_budget_so_a_failing_service_sees_at_most_the_rate() -> None:
    """Momento failing every call: 5 mints at once, each retrying for its 2 s deadline. With
    every call admitted by the limiter (5 per 1.05 s window) the service sees 10 calls, 15
    if the requests arrive spread out (a third window within the last deadline); before,
    each mint retried on its own and it saw about 30."""
    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode.UNAVAILABLE)
    with (
        Emulator(rate_limit=0, faults=faults) as emulator,
        serve(emulator, FRESH, timeout=2.0) as server,
    ):
        responses = fresh_burst(server.url, 5)
    assert {r.status_code for r in responses} == {503}
    calls = emulator.service.stats()["calls"]
    assert 5 <= calls <= 15, calls


def test_retries_under_half_failures_never_make_momento_throttle_us() -> None:
    """The attack of issue 10: 50 % of calls fail and are retried. Momento (the emulator's 5
    per second) must never have to refuse one of this server's calls as over the limit."""
    faults = Faults(fail_rate=0.5, fail_status=grpc.StatusCode.UNAVAILABLE)
    with (
        Emulator(rate_limit=5, faults=faults) as emulator,
        serve(
            emulator, FRESH.replace("mint_rate = 5", "mint_rate = 5\nmint_queue = 6"), timeout=8
        ) as server,
    ):
        responses = fresh_burst(server.url, 15)
    assert "RESOURCE_EXHAUSTED" not in emulator.service.stats()["refusals"]
    assert all(r.status_code in (200, 503) for r in responses)


def test_resource_exhausted_backs_off_a_full_window() -> None:
    from tvmcli.credentials.decoding import Kind
    from tvmcli.credentials.sources import ApiKey
    from tvmcli.minting.client import Minter
    from tvmcli.permissions.roles import Role
    from tvmcli.permissions.statements import Statement

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(seconds)

    faults = Faults(fail_first=1, fail_status=grpc.StatusCode.RESOURCE_EXHAUSTED)
    with Emulator(rate_limit=0, faults=faults) as emulator:
        key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)

        async def mint() -> None:
            async with Minter(key, timeout=10, sleep=sleep) as minter:
                await minter.mint((Statement(Role.READ_ONLY, "c"),), 60)

        asyncio.run(mint())
    assert emulator.service.stats()["refusals"] == {"RESOURCE_EXHAUSTED": 1}
    assert slept
    assert slept[0] >= 1.0


def test_the_limiter_refusing_a_retry_ends_the_mint_with_mint_limit() -> None:
    from tvmcli.credentials.decoding import Kind
    from tvmcli.credentials.sources import ApiKey
    from tvmcli.errors import MintLimitError
    from tvmcli.minting.client import Minter
    from tvmcli.permissions.roles import Role
    from tvmcli.permissions.statements import Statement
    from tvmcli.vending.limiter import MintLimiter

    faults = Faults(fail_first=1, fail_status=grpc.StatusCode.UNAVAILABLE)
    with Emulator(rate_limit=0, faults=faults) as emulator:
        key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)

        async def mint() -> None:
            limiter = MintLimiter(rate=1, queue=0.5)  # a retry would wait ~1 s: over the queue
            async with Minter(key, timeout=10) as minter:
                await minter.mint((Statement(Role.READ_ONLY, "c"),), 60, admit=limiter.acquire)

        with pytest.raises(MintLimitError):
            asyncio.run(mint())
    assert emulator.service.stats()["calls"] == 1


def test_serve_runs_httptools_with_the_same_bounds_and_a_head_size_cap(emulator: Emulator) -> None:
    """uvloop and httptools (issue 13's fast stack) with the limits of the h11 protocol: a
    head that keeps growing is cut off at twice max_header_bytes, whatever its pace."""
    import socket as sockets

    from tvmcli.server.connections import bounded_protocol

    assert bounded_protocol().__name__ == "BoundedHttpToolsProtocol"
    with serve(emulator) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with sockets.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"GET /token HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\n")
            answer = b""
            try:
                for i in range(400):  # 400 x 100 bytes: far past 2 x 8 KiB
                    raw.sendall(f"X-Pad-{i}: {'a' * 90}\r\n".encode())
                answer = raw.recv(4096)
            except (BrokenPipeError, ConnectionResetError):
                pass
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
        assert httpx.get(server.url + "/healthz").status_code in (200, 503)  # still serving


# -- round two (issue 22) -------------------------------------------------------------------------


def escalation_server() -> str:
    from tvmcli.config.passwords import hash_password

    return f"""
[server]
auth = "basic"
client_rate = 0
[server.groups.readers]
profiles = ["chat-reader"]
[server.groups.ops]
default_profile = "bot"
[server.users.rita]
password_hash = "{hash_password("rita-password")}"
groups = ["readers"]
default_profile = "chat-reader"
[server.users.wanda]
password_hash = "{hash_password("wanda-password")}"
groups = ["readers"]
profiles = ["chat-reader", "chat-writer"]
[server.users.otto]
password_hash = "{hash_password("otto-password")}"
groups = ["ops"]
[server.users.solo]
password_hash = "{hash_password("solo-password")}"
profiles = ["fresh"]
"""


def test_a_users_default_profile_never_widens_what_its_groups_allow(emulator: Emulator) -> None:
    """Issue 22, 1: rita (group readers: chat-reader) sets only a default_profile; wanda lists
    a profile her group does not grant; otto's group names only a default. None of them may
    get more than their groups grant."""
    with serve(emulator, escalation_server()) as server:
        rita = ("rita", "rita-password")
        for profile in ("chat-writer", "bot", "fresh"):
            answer = httpx.get(server.url + f"/token?profile={profile}", auth=rita)
            assert_error(answer, 403, "profile_not_allowed")
        listed = httpx.get(server.url + "/profiles", auth=rita).json()["profiles"]
        assert [p["name"] for p in listed] == ["chat-reader"]
        assert httpx.get(server.url + "/token", auth=rita).json()["profile"] == "chat-reader"
        wanda = ("wanda", "wanda-password")
        widened = httpx.get(server.url + "/token?profile=chat-writer", auth=wanda)
        assert_error(widened, 403, "profile_not_allowed")
        otto = ("otto", "otto-password")  # a group with only default_profile grants nothing
        assert_error(httpx.get(server.url + "/token?profile=bot", auth=otto), 403, "no_profiles")
        assert httpx.get(server.url + "/profiles", auth=otto).json()["profiles"] == []
        solo = ("solo", "solo-password")  # in no group: its own profiles are its grant
        assert httpx.get(server.url + "/token", auth=solo).json()["profile"] == "fresh"


def test_every_profile_is_written_as_a_lone_star(emulator: Emulator) -> None:
    from tvmcli.config.passwords import hash_password

    server_toml = f"""
[server]
auth = "basic"
client_rate = 0
[server.users.root]
password_hash = "{hash_password("root-password")}"
profiles = ["*"]
"""
    with serve(emulator, server_toml) as server:
        listed = httpx.get(server.url + "/profiles", auth=("root", "root-password")).json()
    assert [p["name"] for p in listed["profiles"]] == ["chat-reader", "chat-writer", "bot", "fresh"]


def test_profiles_validate_warns_about_grants_that_no_longer_grant(
    cli: Any, tmp_path: Path
) -> None:
    from tests.serving import PROFILES

    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES + escalation_server())
    result = cli("profiles", "validate", "-c", str(path))
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stderr.split())
    assert (
        "[server.groups.ops] grants no profile: a group without profiles grants none (its "
        "default_profile 'bot' included); add profiles = [...], or profiles = [\"*\"] for every "
        "profile" in text
    )
    assert (
        "[server.users.wanda] profiles names 'chat-writer', which none of its groups grant" in text
    )
    assert "[server.users.otto] may use no profile: give it groups = [...]" in text
    assert "[server.users.rita]" not in text  # her default is among her group's profiles
    assert "4 profiles, all valid" in text
    path.write_text(
        PROFILES
        + escalation_server().replace('default_profile = "chat-reader"', 'default_profile = "bot"')
    )
    moved = " ".join(cli("profiles", "validate", "-c", str(path)).stderr.split())
    assert "[server.users.rita] default_profile 'bot' is not among the profiles it may use" in moved


def test_serve_prints_the_same_grant_warnings_before_anything_else(tmp_path: Path) -> None:
    from tests.serving import PROFILES

    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES + escalation_server())
    result = run_tvm("serve", "-c", str(path), "--port", "0")  # no key: it stops at exit 3
    assert result.returncode == 3, result.stderr
    text = " ".join(result.stderr.split())
    assert "warning: [server.groups.ops] grants no profile" in text
    assert "warning: [server.users.otto] may use no profile" in text
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('profiles = ["*", "bot"]', '"*" (every profile) stands alone'),
        ('profiles = ["chat-reader"]\ndefault_profile = "bot"', "'bot' is not among the profiles"),
    ],
)
def test_a_star_stands_alone_and_a_default_must_be_granted(
    table: str, message: str, cli: Any, tmp_path: Path
) -> None:
    from tests.serving import PROFILES

    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES + f'[server]\nauth = "basic"\n[server.groups.g]\n{table}\n')
    result = cli("profiles", "validate", "-c", str(path))
    assert result.exit_code == 3
    assert message in result.stderr


# Issue 22, 4: a token service or a fleet cache answering bytes that are no answer at all.


def test_mint_from_a_token_service_answering_garbage_exits_5(
    cli: Any, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.garbage_grpc import TOKEN_METHOD, garbage_server
    from tests.serving import PROFILES

    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES)
    with garbage_server({TOKEN_METHOD}) as garbage:
        monkeypatch.setenv("MOMENTO_API_KEY", emulator.issue_api_key())
        monkeypatch.setenv("MOMENTO_ENDPOINT", garbage.endpoint)
        result = cli("mint", "chat-reader", "-c", str(path))
    assert result.exit_code == 5, result.stderr
    assert "answered something that is not a token" in result.stderr
    assert "internal error" not in result.stderr
    assert result.stdout == ""
    assert garbage.answered == [TOKEN_METHOD]


def test_serve_answers_502_when_the_token_service_answers_garbage(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.garbage_grpc import TOKEN_METHOD, garbage_server

    caplog.set_level(logging.INFO)
    with (
        garbage_server({TOKEN_METHOD}) as garbage,
        serve(emulator, endpoint=garbage.endpoint) as server,
    ):
        response = httpx.get(server.url + "/token", headers=AUTH, timeout=10)
    assert_error(response, 502, "momento_bad_answer")
    assert response.json()["error"]["message"] == "Momento answered something that is not a token"
    ours = [r for r in caplog.records if r.name.startswith("tvmcli")]
    assert not [r for r in ours if r.exc_info or "internal" in r.getMessage()]
    assert any("answered something that is not a token" in r.getMessage() for r in ours)


def test_a_fleet_cache_answering_garbage_degrades_like_any_cache_failure(
    emulator: Emulator,
) -> None:
    from tests.garbage_grpc import garbage_server
    from tests.test_fleet import FLEET

    spoiled = {
        f"/cache_client.Scs/{m}" for m in ("Get", "Set", "SetIfNotExists", "Delete", "Increment")
    }
    key = emulator.issue_api_key()
    # Tokens pass through to the emulator; every cache call is answered with garbage.
    with (
        garbage_server(spoiled, upstream=emulator.endpoint) as garbage,
        serve(emulator, FLEET, key=key, endpoint=garbage.endpoint) as server,
    ):
        response = httpx.get(server.url + "/token?name=garbage", headers=AUTH, timeout=10)
        health = httpx.get(server.url + "/healthz").json()["state"]
    assert response.status_code == 200, response.text
    assert (health["degraded"], health["reason"]) == (True, "UNDECODABLE_ANSWER")
    assert garbage.answered  # the cache's answers were garbage indeed


@pytest.mark.parametrize("path", ["/token/", "/token", "/profiles"])
def test_two_host_headers_are_refused_not_used_for_a_redirect(
    emulator: Emulator, path: str
) -> None:
    """Issue 22, 5: the Guard checked the last Host, Starlette built redirects from the first,
    so GET /token/ with `Host: evil.example` first redirected there."""
    with serve(emulator) as server:
        port = server.url.rsplit(":", 1)[1]
        for hosts in ([b"evil.example", b"127.0.0.1:" + port.encode()],
                      [b"127.0.0.1:" + port.encode(), b"evil.example"]):  # fmt: skip
            head = b"GET " + path.encode() + b" HTTP/1.1\r\n"
            head += b"".join(b"Host: " + h + b"\r\n" for h in hosts)
            head += b"Authorization: " + AUTH["Authorization"].encode() + b"\r\n"
            head += b"Connection: close\r\n\r\n"
            answer = raw_request(server.url, head)
            status_line = answer.split(b"\r\n", 1)[0]
            assert status_line.startswith(b"HTTP/1.1 400"), answer[:300]
            assert b"evil.example" not in answer
            assert b'"bad_host"' in answer


@pytest.mark.parametrize(
    "value",
    ["[" * 500 + "]" * 500, "{a = " * 500 + "1" + "}" * 500, "[" * 40 + "]" * 40],
    ids=["arrays-500", "tables-500", "arrays-40"],
)
@pytest.mark.parametrize("command", [("profiles", "validate"), ("profiles", "list"), ("mint", "p")])
def test_a_profiles_file_nested_too_deeply_is_exit_3(
    cli: Any, tmp_path: Path, value: str, command: tuple[str, ...]
) -> None:
    """Issue 22, 7: 1.5 KB nested 500 levels made these exit 1 with RecursionError."""
    path = tmp_path / "profiles.toml"
    path.write_text(f"[profiles.p]\npermissions = {value}\n")
    result = cli(*command, "-c", str(path))
    assert result.exit_code == 3, result.stderr
    assert "nested too deeply" in result.stderr
    assert "internal error" not in result.stderr


# Issue 22, 9: every file written into the cache or config folders gets the --reuse check.


def run_tvm(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it (a server that starts would not return: the
    timeout fails the test instead of hanging it)."""
    command = [str(Path(sys.executable).parent / "momento-tvm"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def shared_folder_planted_at(link: Path, tmp_path: Path) -> Path:
    """`link` made a symlink to a world-writable folder (another user could swap files there)."""
    shared = tmp_path / "world-writable"
    shared.mkdir()
    shared.chmod(0o777)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(shared)
    return shared


def test_serve_never_writes_its_bearer_token_through_a_symlinked_cache_folder(
    emulator_env: Emulator, tmp_path: Path
) -> None:
    from tests.serving import PROFILES

    folder = tmp_path / "home" / ".cache" / "momento-tvm"
    shared = shared_folder_planted_at(folder, tmp_path)
    config = tmp_path / "profiles.toml"
    config.write_text(PROFILES + '\n[server]\ndefault_profile = "chat-reader"\n')
    result = run_tvm("serve", "-c", str(config), "--port", "0", "--no-canary")
    assert result.returncode == 2, result.stderr
    assert f"cache folder {folder} is not a folder owned by you" in result.stderr
    assert list(shared.iterdir()) == []


def test_the_emulators_call_log_is_never_written_through_a_symlinked_cache_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "home" / ".cache" / "momento-tvm"
    shared = shared_folder_planted_at(folder, tmp_path)
    result = run_tvm("emulator", "--print-env", "--port", "0")
    assert result.returncode == 2, result.stderr
    assert "unset MOMENTO_API_KEY" in result.stdout  # the eval fails safely
    assert f"cache folder {folder} is not a folder owned by you" in result.stderr
    assert list(shared.iterdir()) == []


def test_profiles_init_never_writes_through_a_symlinked_config_folder(
    cli: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "home" / ".config" / "momento-tvm"
    shared = shared_folder_planted_at(folder, tmp_path)
    result = cli("profiles", "init")
    assert result.exit_code == 2, result.stderr
    assert f"config folder {folder} is not a folder owned by you" in result.stderr
    assert list(shared.iterdir()) == []
