"""AWS Lambda: the handler in-process with real API Gateway REST (v1), HTTP API (v2) and
Function URL event shapes, minting from the emulator, the key read from Secrets Manager served
by moto on loopback (a real HTTP endpoint); the SAM template checked by cfn-lint."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tvmcli.aws_lambda import build_handler
from tvmcli.credentials.decoding import Kind, parse_credential
from tvmcli.emulator import Emulator
from tvmcli.errors import AuthError, ConfigError

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).parent / "events"
BEARER = "lambda-bearer-token-0123456789"
ORIGIN = "https://app.example.com"
KINDS = ["apigateway_rest_v1", "apigateway_http_v2", "lambda_function_url"]

CONFIG = f"""
[profiles.chat-reader]
expires_in = "1h"
permissions = [{{ role = "subscribe-only", cache = "chat", topic = "*" }}]

[server]
auth = "bearer"
cors_origins = ["{ORIGIN}"]
default_profile = "chat-reader"
[server.bearer]
tokens_env = "TVM_BEARER_TOKENS"
"""


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                yield found.group(1)
                break
        else:
            raise AssertionError("moto_server did not start")
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """boto3 pointed at moto: what the function's SDK does, against a local endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("secretsmanager")


@pytest.fixture
def function_env(aws: Any, emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    """The function's environment, as the SAM template sets it, with the key in a secret."""
    config = tmp_path / "momento-tvm.toml"
    config.write_text(CONFIG)
    key = emulator.issue_api_key()
    name = f"momento-key-{uuid.uuid4().hex}"  # moto lives for the module: one secret a test
    secret = aws.create_secret(Name=name, SecretString=key)
    return {
        "MOMENTO_TVM_CONFIG": str(config),
        "MOMENTO_API_KEY_SECRET_ARN": secret["ARN"],
        "MOMENTO_ENDPOINT": emulator.endpoint,
        "TVM_BEARER_TOKENS": BEARER,
    }


def event(
    kind: str,
    *,
    method: str = "GET",
    path: str = "/token",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A fixture event of `kind`, changed the way API Gateway would shape that request."""
    base: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / f"{kind}.json").read_text()))
    query = query or {}
    headers = headers or {}
    if kind == "apigateway_rest_v1":
        base["httpMethod"] = base["requestContext"]["httpMethod"] = method
        base["path"] = path
        base["queryStringParameters"] = query or None
        base["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
        base["headers"].update(headers)
        base["multiValueHeaders"].update({k: [v] for k, v in headers.items()})
    else:
        base["requestContext"]["http"]["method"] = method
        base["rawPath"] = base["requestContext"]["http"]["path"] = path
        base["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        if query:
            base["queryStringParameters"] = query
        base["headers"].update({k.lower(): v for k, v in headers.items()})
    return base


def header(response: dict[str, Any], name: str) -> str | None:
    merged = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for k, values in (response.get("multiValueHeaders") or {}).items():
        merged.setdefault(k.lower(), values[0])
    return merged.get(name)


@pytest.mark.parametrize("kind", KINDS)
def test_the_handler_vends_through_every_event_kind(
    kind: str, function_env: dict[str, str], emulator: Emulator
) -> None:
    handler = build_handler(function_env)
    answer = handler(
        event(
            kind,
            query={"profile": "chat-reader"},
            headers={"Authorization": f"Bearer {BEARER}", "Origin": ORIGIN},
        ),
        None,
    )
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert body["profile"] == "chat-reader"
    assert parse_credential(body["authToken"]).kind is Kind.DISPOSABLE_TOKEN
    assert header(answer, "access-control-allow-origin") == ORIGIN
    assert header(answer, "cache-control") == "no-store"
    again = handler(event(kind, headers={"Authorization": f"Bearer {BEARER}"}), None)
    assert json.loads(again["body"])["authToken"] == body["authToken"]  # cached in the container
    canary, vended = emulator.service.received  # the cold start's check, then one mint
    assert canary.valid_for_seconds == 1
    assert vended.valid_for_seconds == 3600


@pytest.mark.parametrize("kind", KINDS)
def test_refusals_and_errors_are_the_servers(kind: str, function_env: dict[str, str]) -> None:
    handler = build_handler(function_env)
    missing = handler(event(kind), None)
    wrong = handler(event(kind, headers={"Authorization": "Bearer not-the-token-at-all"}), None)
    bad_query = handler(
        event(kind, query={"profile": ""}, headers={"Authorization": f"Bearer {BEARER}"}), None
    )
    assert missing["statusCode"] == 401
    assert (
        header(
            missing,
            "www-authenticate",
        )
        == 'Bearer realm="momento-tvm"'
    )
    assert json.loads(missing["body"])["error"]["code"] == "missing_credentials"
    assert wrong["statusCode"] == 401
    assert bad_query["statusCode"] == 400
    for answer in (missing, wrong, bad_query):
        assert BEARER not in json.dumps(answer)


@pytest.mark.parametrize("kind", KINDS)
def test_cors_preflight(kind: str, function_env: dict[str, str]) -> None:
    handler = build_handler(function_env)
    allowed = handler(
        event(
            kind,
            method="OPTIONS",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        ),
        None,
    )
    foreign = handler(
        event(
            kind,
            method="OPTIONS",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        ),
        None,
    )
    assert allowed["statusCode"] == 200
    assert header(allowed, "access-control-allow-origin") == ORIGIN
    assert "authorization" in (header(allowed, "access-control-allow-headers") or "").lower()
    assert foreign["statusCode"] == 400
    assert header(foreign, "access-control-allow-origin") is None


def test_the_secret_may_be_json_with_the_endpoint(
    aws: Any, emulator: Emulator, function_env: dict[str, str]
) -> None:
    secret = aws.create_secret(
        Name=f"momento-key-json-{uuid.uuid4().hex}",
        SecretString=json.dumps(
            {"apiKey": emulator.issue_api_key(), "endpoint": emulator.endpoint}
        ),
    )
    env = {**function_env, "MOMENTO_API_KEY_SECRET_ARN": secret["ARN"]}
    del env["MOMENTO_ENDPOINT"]
    answer = build_handler(env)(
        event("apigateway_http_v2", headers={"Authorization": f"Bearer {BEARER}"}), None
    )
    assert answer["statusCode"] == 200


def test_an_unreadable_secret_fails_at_start_naming_no_secret(
    aws: Any, function_env: dict[str, str]
) -> None:
    arn = function_env["MOMENTO_API_KEY_SECRET_ARN"].replace("momento-key-", "no-such-secret-")
    with pytest.raises(ConfigError, match=r"Secrets Manager \(ResourceNotFoundException\)"):
        build_handler({**function_env, "MOMENTO_API_KEY_SECRET_ARN": arn})
    with pytest.raises(ConfigError, match="MOMENTO_TVM_CONFIG"):
        build_handler({k: v for k, v in function_env.items() if k != "MOMENTO_TVM_CONFIG"})


def test_everything_is_built_once_per_container_at_import(
    function_env: dict[str, str], emulator: Emulator
) -> None:
    """In Lambda (AWS_LAMBDA_FUNCTION_NAME set) the module builds the app when imported, in
    the init phase; invocations reuse it."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        import tvmcli.aws_lambda as module
        built = module._built
        assert built is not None, "not built at import"
        event = json.loads(Path({str(EVENTS / "apigateway_http_v2.json")!r}).read_text())
        event["headers"]["authorization"] = "Bearer {BEARER}"
        for _ in range(3):
            answer = module.handler(event, None)
            assert answer["statusCode"] == 200, answer
        assert module._built is built
        print("ok")
        """
    )
    env = {**os.environ, **function_env, "AWS_LAMBDA_FUNCTION_NAME": "momento-tvm"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert emulator.service.stats()["mints"] == 2  # the start-up check, then one token


def test_the_sam_template_passes_cfn_lint() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            str(ROOT / "deploy/aws-lambda/template.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_packaged_config_is_valid() -> None:
    from tvmcli.config.file import load_config

    config = load_config(ROOT / "deploy/aws-lambda/momento-tvm.toml")
    assert config.server.state.backend == "momento"
    assert config.server.cors_origins == (ORIGIN,)


def test_a_refused_key_fails_the_cold_start_with_the_reason(
    aws: Any, emulator: Emulator, function_env: dict[str, str]
) -> None:
    refused = aws.create_secret(
        Name=f"momento-key-{uuid.uuid4().hex}",
        SecretString=emulator.issue_api_key(can_mint=False),
    )
    env = {**function_env, "MOMENTO_API_KEY_SECRET_ARN": refused["ARN"]}
    with pytest.raises(AuthError, match="Insufficient permissions") as caught:
        build_handler(env)
    assert caught.value.exit_code == 4
