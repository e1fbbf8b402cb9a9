"""AWS Lambda: `tvmcli.aws_lambda.handler`, the same ASGI app as `serve` (`build_app`) through
Mangum, for API Gateway REST (payload v1), HTTP API (v2) and Lambda Function URL events.

Everything is built once per container, when Lambda imports this module (its init phase), not
per invocation: the config from `$MOMENTO_TVM_CONFIG` (a file packaged with the function), the
API key from `$MOMENTO_API_KEY` (+ `$MOMENTO_ENDPOINT`) or, when `$MOMENTO_API_KEY_SECRET_ARN`
is set, from AWS Secrets Manager (a secret holding the key, or JSON
`{"apiKey": ..., "endpoint": ...}`), the app, and its gRPC channel. Mangum's lifespan is off:
it would run start-up and shut-down on every invocation.

A function is not bound to loopback: `[server] auth = "open"` needs `allow_open = true`, and
bearer tokens must be configured, as for `serve` on a public address. With `[server.state]
backend = "momento"` every concurrent container shares one token cache and one mint budget.
`deploy/aws-lambda/` has a SAM template and a README.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from tvmcli.config.file import load_config
from tvmcli.credentials.sources import ApiKey, key_from
from tvmcli.errors import ConfigError
from tvmcli.system import envvars

LAMBDA_HOST = "0.0.0.0"  # noqa: S104 - not a bind: marks the app as off loopback (no Host check)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def build_handler(env: Mapping[str, str] | None = None) -> Handler:
    """The Lambda handler for `env` (default: the process environment)."""
    try:
        from mangum import Mangum
    except ImportError:
        raise _needs_aws("mangum") from None

    from tvmcli.server.app import build_app

    environment = os.environ if env is None else env
    path = environment.get(envvars.CONFIG)
    if not path:
        raise ConfigError(
            f"${envvars.CONFIG} is not set",
            hint="Package momento-tvm.toml with the function and point the variable at it.",
        )
    config = load_config(path, env=environment).with_server(host=LAMBDA_HOST)
    for warning in config.server.warnings:
        logging.getLogger("tvmcli.server").warning("%s", warning)
    app = build_app(config, api_key=lambda_api_key(environment), env=environment)
    if config.server.canary:
        from tvmcli.server.canary import run_check

        run_check(app)  # a refused key fails the cold start with Momento's reason
    mangum: Handler = Mangum(app, lifespan="off")
    return mangum


def _needs_aws(package: str) -> ConfigError:
    return ConfigError(
        f"the AWS Lambda handler needs {package}, which is not installed",
        hint="pip install 'momento-tvm[aws]'",
    )


def lambda_api_key(env: Mapping[str, str]) -> ApiKey:
    """From Secrets Manager when $MOMENTO_API_KEY_SECRET_ARN is set, else as the CLI finds it."""
    arn = env.get(envvars.API_KEY_SECRET_ARN)
    if not arn:
        return key_from(None, env.get(envvars.ENDPOINT), env=env)
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise _needs_aws("boto3") from None

    try:
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
    except (BotoCoreError, ClientError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ConfigError(f"cannot read the API key from Secrets Manager ({code})") from None
    text = secret.get("SecretString") or ""
    endpoint = env.get(envvars.ENDPOINT)
    if text.lstrip().startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            raise ConfigError("the Secrets Manager secret is not valid JSON") from None
        if not isinstance(fields, dict):
            raise ConfigError("the Secrets Manager secret must be a JSON object or the key")
        text = str(fields.get("apiKey") or fields.get(envvars.API_KEY) or "")
        endpoint = fields.get("endpoint") or fields.get(envvars.ENDPOINT) or endpoint
    if not text.strip():
        raise ConfigError("the Secrets Manager secret holds no API key")
    return key_from(text.strip(), endpoint, env=env, source="the Secrets Manager secret")


def _handler_at_import() -> Handler | None:
    # Built in Lambda's init phase, once per container. Outside Lambda (an import to read the
    # docs, a test) nothing is built until `handler` is first called.
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return build_handler()
    return None


_built = _handler_at_import()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function's entry point: `Handler: tvmcli.aws_lambda.handler`."""
    global _built
    if _built is None:
        _built = build_handler()
    return _built(event, context)
