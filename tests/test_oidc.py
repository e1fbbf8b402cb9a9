"""auth = "jwt" against locally generated keys, a local JWKS server and provider-shaped tokens
(Cognito, Auth0, Keycloak). No real identity provider is involved."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.serving import PROFILES, serve
from tvmcli.config.file import parse_config
from tvmcli.emulator import Emulator
from tvmcli.server.oidc import JwksCache, JwtAuth

COGNITO_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TESTPOOL"
COGNITO_CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
AUTH0_ISSUER = "https://tenant.example.auth0.com/"
AUTH0_API = "https://api.example.com"
AUTH0_ROLES = "https://example.com/roles"
KEYCLOAK_ISSUER = "http://127.0.0.1:8080/realms/demo"

GROUPS = """
[server.groups.readers]
profiles = ["chat-reader"]
default_profile = "chat-reader"
[server.groups.writers]
profiles = ["chat-reader", "chat-writer"]
default_profile = "chat-writer"
"""


class Key:
    def __init__(self, kind: str, kid: str) -> None:
        self.kid = kid
        if kind == "rsa":
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk = {**jwk, "kid": kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **header}
        )

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class JwksServer:
    """Serves {"keys": [...]} on loopback and counts fetches; `down` makes it answer 500,
    `cache_control` adds that header, `drip` sends the body one byte per that many seconds,
    `raw` replaces the body."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.down = False
        self.cache_control: str | None = None
        self.drip: float | None = None
        self.raw: bytes | None = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                if outer.down:
                    self.send_response(500)
                    self.end_headers()
                    return
                body = json.dumps({"keys": outer.keys}).encode() if outer.raw is None else outer.raw
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if outer.cache_control is not None:
                    self.send_header("Cache-Control", outer.cache_control)
                self.end_headers()
                if outer.drip is None:
                    self.wfile.write(body)
                    return
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(outer.drip)
                except OSError:
                    pass  # the fetcher gave up

            def log_message(self, *args: object) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module")
def rsa_key() -> Key:
    return Key("rsa", "rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> Key:
    return Key("ec", "ec-1")


@pytest.fixture
def jwks(rsa_key: Key, ec_key: Key) -> Iterator[JwksServer]:
    server = JwksServer()
    server.keys = [rsa_key.jwk, ec_key.jwk]
    yield server
    server.close()


def jwt_server(issuer: str, audience: str | list[str], source: str, extra: str = "") -> str:
    audience_toml = json.dumps(audience)
    return (
        f'[server]\nauth = "jwt"\nclient_rate = 0\n[server.jwt]\nissuer = "{issuer}"\n'
        f"audience = {audience_toml}\n{source}\n{extra}\n{GROUPS}"
    )


def cognito(key: Key, groups: list[str], **override: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "4b5c1d2e-0000-4000-8000-00000000abcd",
        "iss": COGNITO_ISSUER,
        "aud": COGNITO_CLIENT,
        "token_use": "id",
        "cognito:username": "rita",
        "cognito:groups": groups,
        "email": "r@example.com",
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
    }
    claims.update(override)
    return key.sign({k: v for k, v in claims.items() if v is not None})


@contextlib.contextmanager
def cognito_server(emulator: Emulator, jwks: JwksServer, **settings_extra: str) -> Iterator[str]:
    extra = "\n".join(f"{k} = {v}" for k, v in settings_extra.items())
    config = jwt_server(COGNITO_ISSUER, COGNITO_CLIENT, f'jwks_url = "{jwks.url}"', extra)
    with serve(emulator, config) as server:
        yield server.url


def token_with(url: str, sign_in: str, **params: str) -> httpx.Response:
    return httpx.get(
        url + "/token", params=params, headers={"Authorization": f"Bearer {sign_in}"}, timeout=10
    )


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"].startswith('Bearer realm="momento-tvm"')


def test_cognito_groups_pick_the_tier_and_the_subject_is_the_token_id(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    with cognito_server(emulator, jwks) as url:
        reader = token_with(url, cognito(rsa_key, ["readers"])).json()
        writer = token_with(url, cognito(rsa_key, ["writers"], sub="walt-sub")).json()
        denied = token_with(url, cognito(rsa_key, ["readers"]), profile="chat-writer")
        nobody = token_with(url, cognito(rsa_key, []))
        spoof = token_with(url, cognito(rsa_key, ["readers"]), name="someone-else")
    assert (reader["profile"], reader["tokenId"]) == (
        "chat-reader",
        "4b5c1d2e-0000-4000-8000-00000000abcd",
    )
    assert (writer["profile"], writer["tokenId"]) == ("chat-writer", "walt-sub")
    assert denied.status_code == 403
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (403, "no_profiles")
    assert spoof.status_code == 403


def test_a_user_in_several_groups_may_use_the_union(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    with cognito_server(emulator, jwks) as url:
        listed = httpx.get(
            url + "/profiles",
            headers={"Authorization": f"Bearer {cognito(rsa_key, ['readers', 'writers'])}"},
        )
    assert [p["name"] for p in listed.json()["profiles"]] == ["chat-reader", "chat-writer"]


def test_auth0_access_token_with_a_namespaced_roles_claim(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    now = int(time.time())
    claims = {
        "iss": AUTH0_ISSUER,
        "sub": "auth0|64f0c0ffee",
        "aud": [AUTH0_API, AUTH0_ISSUER + "userinfo"],
        "iat": now,
        "exp": now + 600,
        "azp": "spa-client",
        "scope": "openid profile",
        AUTH0_ROLES: ["writers"],
    }
    config = jwt_server(
        AUTH0_ISSUER, AUTH0_API, f'jwks_url = "{jwks.url}"', f'groups_claim = "{AUTH0_ROLES}"'
    )
    with serve(emulator, config) as server:
        body = token_with(server.url, rsa_key.sign(claims)).json()
    assert (body["profile"], body["tokenId"]) == ("chat-writer", "auth0|64f0c0ffee")


def test_keycloak_realm_roles_by_dotted_path_with_es256_from_a_jwks_file(
    emulator: Emulator, jwks: JwksServer, ec_key: Key, tmp_path: Path
) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [ec_key.jwk]}))
    now = int(time.time())
    claims = {
        "iss": KEYCLOAK_ISSUER,
        "sub": "f:0c0ffee:kc-user",
        "aud": "account",
        "iat": now,
        "exp": now + 300,
        "typ": "Bearer",
        "preferred_username": "kate",
        "realm_access": {"roles": ["offline_access", "readers"]},
    }
    config = jwt_server(
        KEYCLOAK_ISSUER,
        ["account", "tvm"],
        f'jwks_file = "{jwks_file}"',
        'groups_claim = "realm_access.roles"\ntoken_id_claim = "preferred_username"',
    )
    with serve(emulator, config) as server:
        body = token_with(server.url, ec_key.sign(claims)).json()
    assert (body["profile"], body["tokenId"]) == ("chat-reader", "kate")
    assert jwks.fetches == 0


@pytest.mark.parametrize(
    ("override", "code"),
    [
        # Times as offsets from the moment the test runs: values computed when the module is
        # collected go stale in a long run (+300 s is "now" eight minutes later).
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OTHER"}, "wrong_issuer"),
        ({"aud": "another-client"}, "wrong_audience"),
        ({"exp": -120}, "token_expired"),
        ({"nbf": +300}, "token_not_yet_valid"),
        ({"iat": +300}, "token_not_yet_valid"),
        ({"exp": None}, "invalid_token"),
    ],
    ids=[
        "wrong issuer",
        "wrong audience",
        "expired",
        "not yet valid",
        "issued in the future",
        "no exp",
    ],
)
def test_bad_claims_are_401_with_a_reason_code(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key, override: dict[str, Any], code: str
) -> None:
    now = int(time.time())
    override = {
        k: now + v if k in ("exp", "nbf", "iat") and isinstance(v, int) else v
        for k, v in override.items()
    }
    with cognito_server(emulator, jwks) as url:
        response = token_with(url, cognito(rsa_key, ["readers"], **override))
    assert_refused(response, code)
    assert emulator.service.stats()["calls"] == 0


def test_leeway_accepts_a_token_just_expired(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    with cognito_server(emulator, jwks) as url:
        assert (
            token_with(url, cognito(rsa_key, ["readers"], exp=int(time.time()) - 30)).status_code
            == 200
        )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_alg_none_is_refused(emulator: Emulator, jwks: JwksServer, rsa_key: Key) -> None:
    payload = json.loads(
        base64.urlsafe_b64decode(cognito(rsa_key, ["writers"]).split(".")[1] + "==")
    )
    header = b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    unsigned = f"{header}.{b64(json.dumps(payload).encode())}."
    with cognito_server(emulator, jwks) as url:
        assert_refused(token_with(url, unsigned), "invalid_token")


def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload_part = cognito(rsa_key, ["writers"]).split(".")[1]
    signing_input = f"{header}.{payload_part}".encode()
    for secret in (rsa_key.public_pem(), json.dumps(rsa_key.jwk).encode()):
        signature = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        forged = f"{header}.{payload_part}.{signature}"
        with cognito_server(emulator, jwks, **{"algorithms": '["RS256", "ES256"]'}) as url:
            assert_refused(token_with(url, forged), "invalid_token")


def test_a_tampered_payload_is_refused(emulator: Emulator, jwks: JwksServer, rsa_key: Key) -> None:
    header, _, signature = cognito(rsa_key, ["readers"]).split(".")
    now = int(time.time())
    forged_claims = {
        "sub": "x",
        "iss": COGNITO_ISSUER,
        "aud": COGNITO_CLIENT,
        "iat": now,
        "exp": now + 3600,
        "cognito:groups": ["writers"],
    }
    forged = f"{header}.{b64(json.dumps(forged_claims).encode())}.{signature}"
    with cognito_server(emulator, jwks) as url:
        assert_refused(token_with(url, forged), "invalid_token")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.contextmanager
def clocked_server(
    emulator: Emulator, jwks: JwksServer, *, fetch_deadline: float = 5.0
) -> Iterator[tuple[str, Clock, JwksCache]]:
    """A jwt server whose JWKS cache runs on a clock the test moves."""
    clock = Clock()
    text = jwt_server(COGNITO_ISSUER, COGNITO_CLIENT, f'jwks_url = "{jwks.url}"')
    settings = parse_config(PROFILES + text, Path("t.toml")).server
    assert settings.jwt is not None
    cache = JwksCache(settings.jwt, clock=clock, fetch_deadline=fetch_deadline)
    with serve(emulator, text, authenticator=JwtAuth(settings.jwt, cache)) as server:
        yield server.url, clock, cache


def test_a_rotated_key_is_fetched_within_seconds_not_a_minute(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    rotated = Key("rsa", "rsa-2")
    with clocked_server(emulator, jwks) as (url, clock, _):
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        assert jwks.fetches == 1
        jwks.keys = [*jwks.keys, rotated.jwk]  # the provider publishes a new key
        clock.now += 2  # within the cooldown: an unknown kid fetches nothing
        assert_refused(token_with(url, cognito(rotated, ["readers"])), "invalid_token")
        assert jwks.fetches == 1
        clock.now += 4  # 6 s after the last fetch (it was 60 s)
        assert token_with(url, cognito(rotated, ["readers"])).status_code == 200
        assert jwks.fetches == 2
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        assert jwks.fetches == 2


def test_a_crowd_of_unknown_kids_fetches_at_most_twice(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    strangers = [Key("rsa", f"stranger-{i}") for i in range(3)]
    with clocked_server(emulator, jwks) as (url, clock, _):
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        clock.now += 10

        async def crowd() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=10) as client:
                return await asyncio.gather(
                    *(
                        client.get(
                            url + "/token",
                            headers={
                                "Authorization": "Bearer "
                                + strangers[i % 3].sign(
                                    {"sub": "x", "iss": COGNITO_ISSUER},
                                    kid=f"unknown-{i}",
                                )
                            },
                        )
                        for i in range(30)
                    )
                )

        answers = asyncio.run(crowd())
    assert {r.status_code for r in answers} == {401}
    assert jwks.fetches <= 3  # the first fetch, then at most two for the crowd


def test_a_key_the_provider_removes_is_dropped_on_the_max_age_schedule(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key, ec_key: Key
) -> None:
    jwks.cache_control = "public, max-age=120"
    with clocked_server(emulator, jwks) as (url, clock, _):
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        jwks.keys = [ec_key.jwk]  # rsa-1 is withdrawn (say, after a compromise)
        clock.now += 60
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200  # not yet due
        assert jwks.fetches == 1
        clock.now += 61
        assert_refused(token_with(url, cognito(rsa_key, ["readers"])), "invalid_token")
        assert jwks.fetches == 2
        assert token_with(url, cognito(ec_key, ["readers"])).status_code == 200


@pytest.mark.parametrize(
    ("cache_control", "quiet", "due"),
    [
        ("max-age=1", 25, 31),  # too short: at least 30 s
        ("max-age=999999", 3000, 3601),  # too long: at most an hour
        (None, 250, 301),  # none: 5 minutes
        ("no-cache", 250, 301),
    ],
)
def test_the_refresh_schedule_is_bounded(
    emulator: Emulator,
    jwks: JwksServer,
    rsa_key: Key,
    cache_control: str | None,
    quiet: int,
    due: int,
) -> None:
    jwks.cache_control = cache_control
    with clocked_server(emulator, jwks) as (url, clock, _):
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        clock.now += quiet
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        assert jwks.fetches == 1
        clock.now += due - quiet
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        assert jwks.fetches == 2


def test_a_jwks_server_that_is_down_is_a_clear_503(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    jwks.down = True
    with cognito_server(emulator, jwks) as url:
        response = token_with(url, cognito(rsa_key, ["readers"]))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "identity_provider_unavailable"
        assert response.headers["retry-after"] == "1"
        assert httpx.get(url + "/healthz").status_code == 200  # the server itself is fine


@pytest.mark.parametrize(
    "raw",
    [b"[" * 5000 + b"]" * 5000, b'{"keys": ' + b"[" * 100 + b"]" * 100 + b"}", b"\xff{"],
    ids=["nested-past-the-parser", "nested-past-the-limit", "not-utf-8"],
)
def test_a_hostile_jwks_is_a_clear_503_with_backoff(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key, raw: bytes
) -> None:
    jwks.raw = raw
    with clocked_server(emulator, jwks) as (url, clock, _):
        first = token_with(url, cognito(rsa_key, ["readers"]))
        clock.now += 0.5
        second = token_with(url, cognito(rsa_key, ["readers"]))
    assert (first.status_code, first.headers["retry-after"]) == (503, "1")
    assert first.json()["error"]["code"] == "identity_provider_unavailable"
    assert second.status_code == 503
    assert jwks.fetches == 1  # the failure was recorded: no fetch before the retry time


def test_after_an_outage_the_jwks_is_fetched_again_within_seconds(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    jwks.down = True
    with clocked_server(emulator, jwks) as (url, clock, _):
        first = token_with(url, cognito(rsa_key, ["readers"]))
        assert (first.status_code, first.headers["retry-after"]) == (503, "1")
        clock.now += 0.5  # before the retry time: no new fetch, still 503
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 503
        assert jwks.fetches == 1
        clock.now += 1
        second = token_with(url, cognito(rsa_key, ["readers"]))  # fails again: wait doubles
        assert (second.status_code, second.headers["retry-after"]) == (503, "2")
        assert jwks.fetches == 2
        jwks.down = False  # the provider recovers
        clock.now += 2
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        assert jwks.fetches == 3


def test_a_jwks_sent_a_byte_a_second_meets_one_deadline(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    """urllib's timeout was per read: a byte a second held every request for as long as the
    JWKS lasted (about 1,900 bytes: half an hour). One deadline ends the fetch."""
    jwks.drip = 1.0
    with clocked_server(emulator, jwks, fetch_deadline=1.5) as (url, _, _):
        response = token_with(url, cognito(rsa_key, ["readers"]))  # the client waits 10 s
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "identity_provider_unavailable"


def test_a_stuck_scheduled_refresh_does_not_hold_other_requests(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    with clocked_server(emulator, jwks, fetch_deadline=4.0) as (url, clock, _):
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200
        jwks.drip = 1.0
        clock.now += 301  # the refresh is due; the provider now sends a byte a second
        finished: list[str] = []

        def timed(label: str) -> int:
            status = token_with(url, cognito(rsa_key, ["readers"])).status_code
            finished.append(label)
            return status

        with ThreadPoolExecutor(2) as pool:
            refreshing = pool.submit(timed, "refreshing")
            for _ in range(100):  # until the first request's fetch has reached the provider
                if jwks.fetches == 2:
                    break
                time.sleep(0.05)
            other = pool.submit(timed, "other")  # arrives while that fetch drips (up to 4 s)
            assert other.result() == 200
            assert refreshing.result() == 200  # the fetch failed: the known keys stay
    assert finished == ["other", "refreshing"]


def test_a_missing_authorization_header_is_401(emulator: Emulator, jwks: JwksServer) -> None:
    with cognito_server(emulator, jwks) as url:
        response = httpx.get(url + "/token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_credentials"


@pytest.mark.parametrize(
    ("jwt_table", "message"),
    [
        ('issuer = "x"\naudience = "a"', "needs exactly one of jwks_url or jwks_file"),
        ('issuer = "x"\naudience = "a"\njwks_url = "file:///etc/passwd"', "must be an https://"),
        (
            'issuer = "x"\naudience = "a"\njwks_file = "j"\nalgorithms = ["HS256"]',
            "never none, never HS*",
        ),
        (
            'issuer = "x"\naudience = "a"\njwks_file = "j"\nalgorithms = ["none"]',
            "never none, never HS*",
        ),
        ('audience = "a"\njwks_file = "j"', "needs 'issuer'"),
        ('issuer = "x"\njwks_file = "j"', "needs the client id"),
    ],
)
def test_jwt_settings_are_checked(jwt_table: str, message: str) -> None:
    from tvmcli.errors import ConfigError

    text = (
        '[profiles.p]\npermissions = [{ role = "read-only", cache = "c" }]\n'
        f'[server]\nauth = "jwt"\n[server.jwt]\n{jwt_table}\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("t.toml"))
    assert any(message in p for p in caught.value.problems)


# -- hostile sign-in tokens (issue 10, item 3) ------------------------------------------------


def signed_with_header(key: Key, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token whose header is exactly `header` (PyJWT would refuse to write some of these),
    signed with `key` the way its `alg` says when the key can, else with the key's own alg."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    algorithm = jwt.get_algorithm_by_name(key.alg)
    signature = algorithm.sign(signing_input.encode(), key.private)
    return f"{signing_input}.{b64(signature)}"


def cognito_claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": "hostile",
        "iss": COGNITO_ISSUER,
        "aud": COGNITO_CLIENT,
        "cognito:groups": ["readers"],
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(override)
    return claims


HOSTILE_HEADERS = [
    pytest.param({"alg": "RS256", "kid": 5}, "rsa", id="kid is a number"),
    pytest.param({"alg": "RS256", "kid": ["rsa-1"]}, "rsa", id="kid is a list"),
    pytest.param({"alg": "RS256", "kid": {"$ne": 1}}, "rsa", id="kid is an object"),
    pytest.param(
        {"alg": "RS256", "kid": "rsa-1", "crit": ["x\n1.2.3.4 GET /token 200 forged"]},
        "rsa",
        id="crit with a newline",
    ),
    pytest.param({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}, "rsa", id="crit naming exp"),
    pytest.param({"alg": "RS256", "kid": "rsa-1", "crit": "b64"}, "rsa", id="crit not a list"),
    pytest.param({"alg": "RS256", "kid": "rsa-1", "crit": []}, "rsa", id="crit empty"),
    pytest.param({"alg": "RS256", "kid": "ec-1"}, "rsa", id="RS256 naming the EC key"),
    pytest.param({"alg": "ES256", "kid": "rsa-1"}, "ec", id="ES256 naming the RSA key"),
    pytest.param({"alg": "RS256", "kid": "rsa-1", "b64": False}, "rsa", id="b64 false"),
    pytest.param({"alg": "RS256", "kid": "\x1b]0;pwned\x07"}, "rsa", id="kid with escapes"),
    pytest.param({"alg": ["RS256"], "kid": "rsa-1"}, "rsa", id="alg is a list"),
    pytest.param({"alg": "RS256", "kid": "rsa-1", "jku": "http://evil/"}, "rsa", id="jku"),
]


@pytest.mark.parametrize(("header", "signer"), HOSTILE_HEADERS)
def test_hostile_token_headers_are_401_invalid_token_with_nothing_logged_raw(
    emulator: Emulator,
    jwks: JwksServer,
    rsa_key: Key,
    ec_key: Key,
    caplog: pytest.LogCaptureFixture,
    header: dict[str, Any],
    signer: str,
) -> None:
    caplog.set_level(logging.INFO)
    key = rsa_key if signer == "rsa" else ec_key
    hostile = signed_with_header(key, {"typ": "JWT", **header}, cognito_claims())
    with cognito_server(emulator, jwks) as url:
        response = token_with(url, hostile)
        assert token_with(url, cognito(rsa_key, ["readers"])).status_code == 200  # still fine
    if "jku" in header or "b64" in header:  # harmless extra fields: the signature is valid
        assert response.status_code in (200, 401), response.text
    else:
        assert_refused(response, "invalid_token")
    assert "Traceback" not in caplog.text
    assert "forged" not in caplog.text
    assert "\x1b" not in caplog.text
    assert emulator.service.stats()["calls"] <= 2


@pytest.mark.parametrize("sub", ["a\nforged 200", "\x00", "\U0001f600" * 17, "x" * 65])
def test_a_sign_in_identity_that_cannot_be_a_token_id_is_403(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key, sub: str
) -> None:
    with cognito_server(emulator, jwks) as url:
        response = token_with(url, cognito(rsa_key, ["readers"], sub=sub))
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "bad_identity"
    assert emulator.service.stats()["calls"] == 0


# -- the JWKS fetch itself ----------------------------------------------------------------------


class OneAnswer:
    """A loopback HTTP(S) server answering every GET with `status`, `headers` and `body`."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes, tls: Any = None):
        outer = self
        self.hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.http.socket = tls.wrap_socket(self.http.socket, server_side=True)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def fetch_now(url: str) -> Any:
    from tvmcli.system.httpfetch import fetch
    from tvmcli.system.netaddr import http_url_problem

    return asyncio.run(
        fetch(url, deadline=5, max_bytes=1 << 20, allowed=lambda u: http_url_problem(u) is None)
    )


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) files of a self-signed certificate for localhost."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


def test_the_jwks_fetch_verifies_tls_certificates(tmp_path: Path) -> None:
    import ssl

    from tvmcli.system.httpfetch import FetchError

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_certificate(tmp_path))
    server = OneAnswer(200, {}, b'{"keys": []}', tls=context)
    try:
        with pytest.raises(FetchError, match="cannot connect"):
            fetch_now(f"https://localhost:{server.port}/jwks")  # self-signed: not trusted
    finally:
        server.close()


def test_the_jwks_fetch_follows_redirects_only_where_a_jwks_url_may_point() -> None:
    from tvmcli.system.httpfetch import FetchError

    target = OneAnswer(200, {"Cache-Control": "max-age=60"}, b'{"keys": []}')
    near = OneAnswer(302, {"Location": f"http://127.0.0.1:{target.port}/jwks"}, b"")
    away = OneAnswer(302, {"Location": "http://idp.example.com/jwks"}, b"")
    try:
        fetched = fetch_now(f"http://127.0.0.1:{near.port}/old")
        assert fetched.body == b'{"keys": []}'
        assert fetched.headers["cache-control"] == "max-age=60"
        with pytest.raises(FetchError, match="redirect"):
            fetch_now(f"http://127.0.0.1:{away.port}/old")
    finally:
        for server in (target, near, away):
            server.close()


def test_a_jwt_group_with_only_a_default_profile_grants_nothing(
    emulator: Emulator, jwks: JwksServer, rsa_key: Key
) -> None:
    """Issue 22, 1: a [server.groups.NAME] with default_profile but no profiles used to grant
    every profile to whoever the identity provider put in it."""
    extra = '[server.groups.ops]\ndefault_profile = "chat-writer"'
    config = jwt_server(COGNITO_ISSUER, COGNITO_CLIENT, f'jwks_url = "{jwks.url}"', extra)
    with serve(emulator, config) as server:
        ops = cognito(rsa_key, ["ops"])
        asked = token_with(server.url, ops, profile="chat-writer")
        default = token_with(server.url, ops)
        mixed = token_with(server.url, cognito(rsa_key, ["ops", "readers"]), profile="bot")
    for answer in (asked, default):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "no_profiles"
    assert mixed.status_code == 403
    assert mixed.json()["error"]["code"] == "profile_not_allowed"
