"""Fuzzing `serve` over real HTTP: generated paths, query strings, methods and header sets
(Authorization in every mode, a CI trust among them, Host, X-Forwarded-For, Origin, ...)
sent to the real app under the production uvicorn configuration on loopback, minting from
the emulator over gRPC.

Whatever arrives: no 500, no traceback or internal error in the logs, only statuses from the
documented set, an error body of the documented shape, no secret in any answer, and no raw
control character in the access log. Each test counts the requests it really sent; together
they send at least 2,500 (docs/security.md).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ci_providers import GITHUB_ISSUER
from tests.serving import BEARER, serve
from tests.test_oidc import COGNITO_CLIENT, COGNITO_ISSUER, GROUPS, JwksServer, Key, b64
from tvmcli.config.passwords import hash_password
from tvmcli.emulator import Emulator

# The statuses docs/serve/index.md documents for the vending API (400 includes uvicorn's own
# answer to a request it cannot parse).
DOCUMENTED = {200, 400, 401, 403, 404, 405, 411, 413, 429, 431, 502, 503, 504}
COUNTS = {"bearer": 900, "jwt": 700, "trust": 300, "basic": 300, "proxied": 400}

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- what a request is made of ---------------------------------------------------------------

PATHS = ["/token", "/", "/api/momento/token", "/profiles", "/healthz", "/openapi.json"]
# Characters h11 lets through in a request target: visible ASCII. Everything else is sent
# percent-encoded, including bytes that are not UTF-8 once decoded.
TARGET_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#")
any_text = st.text(st.characters(codec="utf-8"), max_size=80) | st.text(max_size=8)


@st.composite
def encoded(draw: st.DrawFn, names: list[str]) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.sampled_from(names))
    if kind == 1:
        return urllib.parse.quote(draw(any_text), safe="")
    if kind == 2:
        return "".join(f"%{b:02x}" for b in draw(st.binary(max_size=24)))
    return draw(st.text(TARGET_CHARS, max_size=40)).replace("&", "%26")


@st.composite
def targets(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)):  # a known path four times in five
        path = draw(st.sampled_from(PATHS))
    else:
        path = "/" + draw(st.text(TARGET_CHARS))
    if "?" in path:
        path = path.replace("?", "%3f")
    pairs = draw(
        st.lists(
            st.tuples(
                encoded(["profile", "name", "profile", "name", "x"]),
                encoded(["chat-reader", "chat-writer", "bot", "fresh", "nope", "", "a" * 64]),
            ),
            max_size=4,
        )
    )
    query = "&".join(f"{k}={v}" if draw(st.booleans()) else k for k, v in pairs)
    return (path + ("?" + query if query or draw(st.booleans()) else "")).encode("ascii")


# Header values h11 accepts: visible ASCII and obs-text (0x80-0xff, where C1 controls such as
# CSI 0x9b live), with spaces and tabs inside.
VALUE_BYTES = st.sampled_from(
    [bytes([b]) for b in range(0x21, 0x7F)] + [bytes([b]) for b in range(0x80, 0x100)]
)
header_value = st.lists(VALUE_BYTES | st.sampled_from([b" ", b"\t"]), max_size=60).map(
    lambda parts: b"".join(parts).strip(b" \t") or b"x"
)
HEADER_NAMES = [
    "host",
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "origin",
    "access-control-request-method",
    "cookie",
    "accept",
    "accept-encoding",
    "user-agent",
    "range",
    "if-none-match",
    "content-type",
    "x-amz-cf-id",
]
header_name = st.sampled_from(HEADER_NAMES) | st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~"), min_size=1, max_size=20
).filter(lambda n: n not in ("content-length", "transfer-encoding", "connection", "upgrade"))
header_sets = st.lists(st.tuples(header_name, header_value), max_size=6)
METHODS = st.sampled_from(["GET"] * 30 + ["HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])


def b64_text(data: bytes) -> str:
    return base64.b64encode(data).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + b64_text(f"{user}:{password}".encode())


# -- the server, the log, and what every answer must be -----------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def captured_logs() -> Iterator[Capture]:
    capture = Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)


def assert_clean_logs(capture: Capture, secrets: list[str]) -> None:
    for record in capture.records:
        message = record.getMessage()
        assert record.exc_info is None, message
        assert "Traceback" not in message, message
        assert "internal error" not in message, message
        for secret in secrets:
            assert secret not in message
        if record.name == "tvmcli.server.access":
            for line in message.split("\n"):
                assert line.isprintable(), repr(line)


class Sender:
    """Sends one generated request and checks the answer; counts what it sent."""

    def __init__(self, url: str, secrets: list[str]) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.secrets = secrets
        self.sent = 0
        self.statuses: dict[int, int] = {}

    def send(self, method: str, target: bytes, headers: list[tuple[str, bytes]]) -> None:
        hosts = [value for name, value in headers if name == "host"][:1]  # h11 sends one
        sent_headers = [(b"host", value) for value in hosts] + [
            (name.encode("ascii"), value) for name, value in headers if name != "host"
        ]
        request = self.client.build_request(method, "/", headers=sent_headers)
        request.url = request.url.copy_with(raw_path=target)
        response = self.client.send(request)
        self.sent += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        assert response.status_code in DOCUMENTED, (response.status_code, response.text)
        for secret in self.secrets:
            assert secret not in response.text
        if response.status_code >= 400 and method != "HEAD":
            if response.headers.get("content-type", "").startswith("application/json"):
                error = response.json()["error"]
                assert set(error) == {"code", "message"}
            else:  # only uvicorn's answer to a request it cannot parse is plain text
                assert response.status_code == 400, response.text

    def close(self) -> None:
        self.client.close()


def run_fuzz(
    name: str, server_toml: str, strategy: Any, *, env: dict[str, str] | None = None
) -> None:
    """Serve `server_toml`, send COUNTS[name] requests drawn from `strategy`, check all."""
    with (
        captured_logs() as logs,
        Emulator(rate_limit=0) as emulator,
        serve(emulator, server_toml, env=env) as server,
    ):
        secrets = [BEARER, *(env or {}).values()]
        sender = Sender(server.url, secrets)

        @settings(FUZZ, max_examples=COUNTS[name])
        @given(strategy)
        def one(request: tuple[str, bytes, list[tuple[str, bytes]]]) -> None:
            sender.send(*request)

        try:
            one()
        finally:
            sender.close()
        time.sleep(0.3)  # the access log's batch reaches the logger
    assert_clean_logs(logs, secrets)
    assert sender.sent >= COUNTS[name], sender.statuses
    assert 500 not in sender.statuses
    assert sender.statuses.get(200, 0) >= 10, sender.statuses  # the good path was reached too


def requests_with(authorization: Any) -> Any:
    headers = st.tuples(header_sets, st.one_of(st.just(""), authorization)).map(
        lambda pair: (
            pair[0]
            + ([("authorization", pair[1].strip().encode("latin-1"))] if pair[1].strip() else [])
        )
    )
    return st.tuples(METHODS, targets(), headers)


# -- bearer: the default mode ------------------------------------------------------------------

BEARER_SERVER = """
[server]
auth = "bearer"
default_profile = "chat-reader"
cors_origins = ["http://localhost:5173"]
client_rate = 0
mint_rate = 1000
[server.bearer]
tokens_env = "TEST_BEARER"
"""

bearer_auth = st.one_of(
    st.just(f"Bearer {BEARER}"),
    st.just(f"bearer   {BEARER}  "),
    st.builds(lambda t: f"Bearer {t}", st.text(TARGET_CHARS, max_size=40)),
    st.builds(lambda t: f"Basic {b64_text(t)}", st.binary(max_size=30)),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60).map(str.strip),
)


def test_fuzz_bearer_server() -> None:
    run_fuzz("bearer", BEARER_SERVER, requests_with(bearer_auth))


# -- basic: user names, passwords, malformed credentials ----------------------------------------

BASIC_SERVER = f"""
[server]
auth = "basic"
client_rate = 0
mint_rate = 1000
[server.groups.readers]
profiles = ["chat-reader"]
default_profile = "chat-reader"
[server.users.rita]
password_hash = "{hash_password("rita-password")}"
groups = ["readers"]
[server.users.walt]
password_env = "WALT_PASSWORD"
groups = ["readers"]
"""

basic_auth = st.one_of(
    st.just(basic("rita", "rita-password")),
    st.just(basic("walt", "walt-password-0123")),
    st.builds(basic, st.sampled_from(["rita", "walt", "ghost", ""]), any_text),
    st.builds(lambda b: "Basic " + b64_text(b), st.binary(max_size=40)),
    st.builds(lambda t: "Basic " + t, st.text(TARGET_CHARS, max_size=40)),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40).map(str.strip),
)


def test_fuzz_basic_server() -> None:
    env = {"WALT_PASSWORD": "walt-password-0123"}
    run_fuzz("basic", BASIC_SERVER, requests_with(basic_auth), env=env)


# -- jwt: real signatures over hostile headers and claims ---------------------------------------

RSA_KEY = Key("rsa", "rsa-1")
EC_KEY = Key("ec", "ec-1")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def sign_ins(draw: st.DrawFn) -> str:
    now = int(time.time())

    def usually(*valid: Any) -> Any:  # a valid value four times in five
        return draw(st.sampled_from(valid) if draw(st.integers(0, 4)) else JSON_VALUES)

    claims: dict[str, Any] = {
        "sub": usually("user-1", "rita", "a" * 64) if draw(st.booleans()) else draw(any_text),
        "iss": usually(COGNITO_ISSUER, COGNITO_ISSUER + "/x"),
        "aud": usually(COGNITO_CLIENT, [COGNITO_CLIENT, "x"], "other"),
        "iat": usually(now, now - 60, now + 3600),
        "exp": usually(now + 600, now - 600),
        "cognito:groups": usually(["readers"], ["writers"], "writers", ["readers", 5]),
    }
    for key in draw(st.lists(st.sampled_from(list(claims)), max_size=2, unique=True)):
        del claims[key]
    claims.update(draw(st.dictionaries(any_text, JSON_VALUES, max_size=2)))
    key = draw(st.sampled_from([RSA_KEY, EC_KEY]))
    header: dict[str, Any] = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
    header.update(
        draw(
            st.dictionaries(
                st.sampled_from(["alg", "kid", "crit", "jku", "x5u", "jwk", "b64", "typ", "cty"]),
                st.sampled_from(["RS256", "ES256", "HS256", "none", "rsa-1", "ec-1"]) | JSON_VALUES,
                max_size=2,
            )
        )
    )
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mode = draw(st.integers(0, 3))
    if mode == 0:  # signed for real
        algorithm = jwt.get_algorithm_by_name(key.alg)
        signature = b64(algorithm.sign(signing_input.encode(), key.private))
    elif mode == 1:
        signature = b64(draw(st.binary(max_size=64)))
    elif mode == 2:
        signature = ""
    else:
        return draw(st.text(TARGET_CHARS, max_size=120))
    return f"Bearer {signing_input}.{signature}"


JWT_SERVER_EXTRA = "client_rate = 0\nmint_rate = 1000\n"


@contextlib.contextmanager
def fuzz_jwks() -> Iterator[JwksServer]:
    """A loopback JWKS with the fuzz's RSA and EC keys."""
    jwks = JwksServer()
    jwks.keys = [RSA_KEY.jwk, EC_KEY.jwk]
    try:
        yield jwks
    finally:
        jwks.close()


def jwt_fuzz_server(jwks_url: str) -> str:
    """auth = "jwt" with the sign-in provider's [server.jwt] and its groups."""
    return (
        '[server]\nauth = "jwt"\n'
        + JWT_SERVER_EXTRA
        + f'[server.jwt]\nissuer = "{COGNITO_ISSUER}"\naudience = "{COGNITO_CLIENT}"\n'
        + f'jwks_url = "{jwks_url}"\n'
        + GROUPS
    )


def test_fuzz_jwt_server() -> None:
    with fuzz_jwks() as jwks:
        run_fuzz("jwt", jwt_fuzz_server(jwks.url), requests_with(sign_ins()))


# -- CI trust: GitHub-shaped identity tokens routed by issuer beside a sign-in provider --------


@st.composite
def ci_identities(draw: st.DrawFn) -> str:
    """GitHub Actions ID tokens, mostly well signed, with claims a rule matches or nearly does
    (ids as numbers, hostile repository names for the token id template)."""
    now = int(time.time())

    def usually(*valid: Any) -> Any:  # a valid value four times in five
        return draw(st.sampled_from(valid) if draw(st.integers(0, 4)) else JSON_VALUES)

    claims: dict[str, Any] = {
        "iss": usually(GITHUB_ISSUER, COGNITO_ISSUER),
        "aud": usually("momento-tvm", ["momento-tvm", "x"], "other"),
        "sub": usually("repo:acme/web:ref:refs/heads/main", "a" * 200),
        "iat": usually(now, now - 60),
        "exp": usually(now + 600, now - 600),
        "repository_id": usually("42", 42, "43"),
        "ref": usually("refs/heads/main", "refs/heads/dev"),
        "repository": usually("acme/web", "acme/" + "w" * 100)
        if draw(st.booleans())
        else draw(any_text),
        "run_id": usually("1234", 1234),
    }
    for key in draw(st.lists(st.sampled_from(list(claims)), max_size=2, unique=True)):
        del claims[key]
    claims.update(draw(st.dictionaries(any_text, JSON_VALUES, max_size=2)))
    key = draw(st.sampled_from([RSA_KEY, EC_KEY]))
    header = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if draw(st.integers(0, 4)):
        algorithm = jwt.get_algorithm_by_name(key.alg)
        signature = b64(algorithm.sign(signing_input.encode(), key.private))
    else:
        signature = b64(draw(st.binary(max_size=64)))
    return f"Bearer {signing_input}.{signature}"


def test_fuzz_server_trusting_a_ci_issuer() -> None:
    with fuzz_jwks() as jwks:
        server = (
            jwt_fuzz_server(jwks.url)
            + f'[server.trust.github]\nissuer = "{GITHUB_ISSUER}"\naudience = "momento-tvm"\n'
            + f'jwks_url = "{jwks.url}"\n'
            + "[[server.trust.github.rules]]\n"
            + 'claims = { repository_id = "42", ref = "refs/heads/main" }\n'
            + 'profiles = ["chat-writer"]\n'
            + 'token_id = "{repository}#{run_id}"\n'
        )
        run_fuzz("trust", server, requests_with(ci_identities()))


# -- behind a trusted proxy: X-Forwarded-For chains, per-client rate ----------------------------

PROXIED_SERVER = """
[server]
auth = "open"
default_profile = "chat-reader"
trusted_proxies = ["127.0.0.0/8", "::1/128", "10.0.0.0/8"]
client_rate = 5
client_burst = 5
mint_rate = 1000
"""

forwarded_for = st.lists(
    st.one_of(
        st.ip_addresses().map(str),
        st.sampled_from(["127.0.0.1", "10.1.2.3", "unknown", "[::1]:80", "1.2.3.4:5678", ""]),
        header_value.map(lambda v: v.decode("latin-1")),
    ),
    min_size=1,
    max_size=5,
).map(lambda hops: ", ".join(hops).strip() or "x")


def proxied_requests() -> Any:
    headers = st.tuples(header_sets, forwarded_for).map(
        lambda pair: [*pair[0], ("x-forwarded-for", pair[1].encode("latin-1"))]
    )
    return st.tuples(METHODS, targets(), headers)


def test_fuzz_server_behind_a_trusted_proxy() -> None:
    run_fuzz("proxied", PROXIED_SERVER, proxied_requests())


def test_the_fuzz_sends_at_least_2500_requests() -> None:
    assert sum(COUNTS.values()) >= 2500
