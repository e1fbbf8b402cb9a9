"""Where the API key and endpoint come from, and how to dial the token service.

Key sources, first found wins: --api-key-file (or '-' for stdin), $MOMENTO_API_KEY (or the
pre-2023 $MOMENTO_AUTH_TOKEN), then the Momento CLI's credentials file. Never a flag value: a
key on the command line lands in shell history and `ps`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tvmcli.credentials.decoding import (
    Credential,
    CredentialFormatError,
    Kind,
    mask,
    parse_credential,
)
from tvmcli.errors import ConfigError, UsageError
from tvmcli.system import envvars, text_files
from tvmcli.system.netaddr import is_loopback, split_host_port
from tvmcli.system.paths import momento_cli_credentials

DEFAULT_MOMENTO_PROFILE = "default"
DEFAULT_TIMEOUT = 10.0  # seconds for one mint, retries included
# A host name or IPv4 address, or a bracketed IPv6 one, then an optional :port (digits).
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]+)?")


@dataclass(frozen=True)
class Target:
    """How to reach a token service: `address` is host:port, `secure` means TLS."""

    endpoint: str
    address: str
    secure: bool


@dataclass(frozen=True)
class ApiKey:
    """The key to mint with. `source` names where it came from, for messages; never the key."""

    secret: str = field(repr=False)
    endpoint: str
    source: str
    kind: Kind

    def __repr__(self) -> str:
        return (
            f"ApiKey(source={self.source!r}, endpoint={self.endpoint!r}, "
            f"secret={mask(self.secret)!r})"
        )

    @property
    def target(self) -> Target:
        return target_for(self.endpoint)


def target_for(endpoint: str, service: str = "token") -> Target:
    """host:port is dialled as written (plaintext only to loopback: a local emulator serves
    every service on one port); a bare Momento endpoint means TLS to <service>.<endpoint>:443,
    like the SDK (service "token" or "cache")."""
    endpoint = endpoint.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not endpoint:
        raise ConfigError("the endpoint is empty")
    host, port = split_host_port(endpoint)
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"endpoint {endpoint}: port {port} is outside 1 to 65535")
    if port is not None:
        return Target(endpoint, endpoint, secure=not is_loopback(host))
    return Target(endpoint, f"{service}.{endpoint}:443", secure=True)


def check_endpoint(endpoint: str, origin: str) -> None:
    """Refuse an endpoint that cannot be dialled, before any retry: an empty one (it used to
    fall back silently to the key's), one that is no host[:port] (a port of -1, a space, a
    control character: ten seconds of retries, then exit 5) or a port outside 1 to 65535 (gRPC
    took 99999 modulo 65536 and dialled another port). UsageError (exit 2) names where it came
    from."""
    text = endpoint.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not text:
        raise UsageError(
            f"{origin} is empty",
            hint="Give a Momento endpoint (cell-us-east-1-1.prod.a.momentohq.com) or host:port.",
        )
    if not _HOST_PORT.fullmatch(text):
        raise UsageError(
            f"{origin} {endpoint.strip()!r} is not a host or host:port",
            hint="Give a Momento endpoint (cell-us-east-1-1.prod.a.momentohq.com) or host:port.",
        )
    _, port = split_host_port(text)
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"{origin} {endpoint.strip()}: port {port} is outside 1 to 65535")


def resolve_api_key(
    *,
    env: Mapping[str, str],
    stdin: TextIO,
    api_key_file: str | None = None,
    endpoint: str | None = None,
    momento_profile: str | None = None,
) -> ApiKey:
    """Find the key and its endpoint. Raises UsageError (unreadable) or ConfigError (missing)."""
    if endpoint is not None:
        check_endpoint(endpoint, "--endpoint")
    if env.get(envvars.ENDPOINT):
        check_endpoint(env[envvars.ENDPOINT], f"${envvars.ENDPOINT}")
    if api_key_file is not None:
        source = "standard input" if api_key_file == "-" else f"file {api_key_file}"
        text = _read_key_file(api_key_file, stdin)
        return _finish(text, source, endpoint or env.get(envvars.ENDPOINT) or None)
    for name in envvars.KEY_VARIABLES:
        if env.get(name, "").strip():
            return _finish(env[name], f"${name}", endpoint or env.get(envvars.ENDPOINT) or None)
    from_cli = _from_momento_cli(env, momento_profile, endpoint)
    if from_cli is not None:
        return from_cli
    raise ConfigError(
        "no Momento API key found",
        hint=(
            f"Set ${envvars.API_KEY} (and ${envvars.ENDPOINT} for v2 keys), "
            "pass --api-key-file FILE, "
            'or try it offline: eval "$(momento-tvm emulator --print-env --quiet &)".'
        ),
    )


def _read_key_file(path: str, stdin: TextIO) -> str:
    if path == "-":
        return text_files.read_stream(stdin, what="standard input", error=UsageError)
    return text_files.read_text(path, what="API key file", error=UsageError)


def _finish(text: str, source: str, endpoint_override: str | None) -> ApiKey:
    try:
        credential: Credential = parse_credential(text)
    except CredentialFormatError as exc:
        raise UsageError(
            f"the key from {source} is not a Momento API key: {exc}",
            hint="Copy the whole key from the Momento console, without quotes or line breaks; "
            "`momento-tvm inspect` shows what a credential is.",
        ) from None
    endpoint = endpoint_override or credential.endpoint
    if not endpoint:
        raise ConfigError(
            f"the key from {source} is a {credential.kind.label} and needs an endpoint",
            hint=f"Set ${envvars.ENDPOINT} or pass --endpoint "
            "(e.g. cell-us-east-1-1.prod.a.momentohq.com).",
        )
    return ApiKey(credential.secret, endpoint.strip(), source, credential.kind)


def momento_cli_credentials_path(env: Mapping[str, str]) -> Path:
    return Path(momento_cli_credentials(env))


def _from_momento_cli(
    env: Mapping[str, str], profile: str | None, endpoint_override: str | None
) -> ApiKey | None:
    path = momento_cli_credentials_path(env)
    name = profile or DEFAULT_MOMENTO_PROFILE
    import configparser  # only for the Momento CLI's file; most keys come from the env

    absent = ConfigError(f"--momento-profile {profile}: no Momento CLI credentials at {path}")
    try:
        text = text_files.read_text(
            str(path), what="Momento CLI credentials", error=ConfigError, missing=absent
        )
    except ConfigError as exc:
        if exc is absent and profile is None:
            return None  # no Momento CLI here: look no further
        raise
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:  # its message would quote the file: the key
        raise ConfigError(
            f"cannot read Momento CLI credentials {path}: {type(exc).__name__}"
        ) from None
    if not parser.has_section(name):
        if profile is not None:
            raise ConfigError(f"{path} has no profile [{name}]")
        return None
    section = parser[name]
    source = f"Momento CLI profile [{name}] in {path}"
    if section.get("api_key_v2"):
        endpoint = endpoint_override or env.get(envvars.ENDPOINT) or section.get("endpoint")
        return _finish(section["api_key_v2"], source, endpoint)
    if section.get("token"):
        return _finish(section["token"], source, endpoint_override or env.get(envvars.ENDPOINT))
    raise ConfigError(f"{source} has neither 'api_key_v2' nor 'token'")


def key_from(
    api_key: str | ApiKey | None,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    source: str = "the api_key argument",
) -> ApiKey:
    """The library's rule: an ApiKey as given; a key string (with `endpoint`, else the one
    inside it, else $MOMENTO_ENDPOINT); or, with None, the CLI's sources in its order.
    `source` names where a given string came from, for messages."""
    import os
    import sys

    environment = os.environ if env is None else env
    if isinstance(api_key, ApiKey):
        return api_key
    if api_key is not None:
        return _finish(api_key, source, endpoint or environment.get(envvars.ENDPOINT))
    return resolve_api_key(env=environment, stdin=sys.stdin, endpoint=endpoint)
