"""Where the API key and endpoint come from, and how to dial the token service.

Key sources, first found wins: --api-key-file (or '-' for stdin), $MOMENTO_API_KEY (or the
pre-2023 $MOMENTO_AUTH_TOKEN), then the Momento CLI's credentials file. Never a flag value: a
key on the command line lands in shell history and `ps`.
"""

from __future__ import annotations

import configparser
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tvmcli.credential_format import Credential, CredentialFormatError, Kind, mask, parse_credential
from tvmcli.errors import ConfigError, UsageError
from tvmcli.paths import user_dir

API_KEY_ENV = "MOMENTO_API_KEY"
LEGACY_API_KEY_ENV = "MOMENTO_AUTH_TOKEN"
ENDPOINT_ENV = "MOMENTO_ENDPOINT"
MOMENTO_CONFIG_DIR_ENV = "MOMENTO_CONFIG_DIR"
DEFAULT_MOMENTO_PROFILE = "default"
DEFAULT_TIMEOUT = 10.0  # seconds for one mint, retries included


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


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host_port(endpoint: str) -> tuple[str, int | None]:
    if endpoint.startswith("["):
        host, _, rest = endpoint[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    host, sep, port = endpoint.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return endpoint, None


def target_for(endpoint: str) -> Target:
    """host:port is dialled as written (plaintext only to loopback); a bare Momento endpoint
    means TLS to token.<endpoint>:443, like the SDK."""
    endpoint = endpoint.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not endpoint:
        raise ConfigError("the endpoint is empty")
    host, port = split_host_port(endpoint)
    if port is not None:
        return Target(endpoint, endpoint, secure=not is_loopback(host))
    return Target(endpoint, f"token.{endpoint}:443", secure=True)


def resolve_api_key(
    *,
    env: Mapping[str, str],
    stdin: TextIO,
    api_key_file: str | None = None,
    endpoint: str | None = None,
    momento_profile: str | None = None,
) -> ApiKey:
    """Find the key and its endpoint. Raises UsageError (unreadable) or ConfigError (missing)."""
    if api_key_file is not None:
        source = "standard input" if api_key_file == "-" else f"file {api_key_file}"
        text = _read_key_file(api_key_file, stdin)
        return _finish(text, source, endpoint or env.get(ENDPOINT_ENV) or None)
    for name in (API_KEY_ENV, LEGACY_API_KEY_ENV):
        if env.get(name, "").strip():
            return _finish(env[name], f"${name}", endpoint or env.get(ENDPOINT_ENV) or None)
    from_cli = _from_momento_cli(env, momento_profile, endpoint)
    if from_cli is not None:
        return from_cli
    raise ConfigError(
        "no Momento API key found",
        hint=(
            f"Set ${API_KEY_ENV} (and ${ENDPOINT_ENV} for v2 keys), pass --api-key-file FILE, "
            'or try it offline: eval "$(momento-tvm emulator --print-env --quiet &)".'
        ),
    )


def _read_key_file(path: str, stdin: TextIO) -> str:
    if path == "-":
        return stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"API key file {path} does not exist") from None
    except UnicodeDecodeError:
        raise UsageError(f"API key file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read API key file {path}: {exc.strerror}") from None


def _finish(text: str, source: str, endpoint_override: str | None) -> ApiKey:
    try:
        credential: Credential = parse_credential(text)
    except CredentialFormatError as exc:
        raise UsageError(f"the key from {source} is not a Momento API key: {exc}") from None
    endpoint = endpoint_override or credential.endpoint
    if not endpoint:
        raise ConfigError(
            f"the key from {source} is a {credential.kind.label} and needs an endpoint",
            hint=f"Set ${ENDPOINT_ENV} or pass --endpoint "
            "(e.g. cell-us-east-1-1.prod.a.momentohq.com).",
        )
    return ApiKey(credential.secret, endpoint.strip(), source, credential.kind)


def momento_cli_credentials_path(env: Mapping[str, str]) -> Path:
    return user_dir(env, MOMENTO_CONFIG_DIR_ENV, ".momento") / "credentials"


def _from_momento_cli(
    env: Mapping[str, str], profile: str | None, endpoint_override: str | None
) -> ApiKey | None:
    path = momento_cli_credentials_path(env)
    name = profile or DEFAULT_MOMENTO_PROFILE
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        if profile is not None:
            raise ConfigError(
                f"--momento-profile {profile}: no Momento CLI credentials at {path}"
            ) from None
        return None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
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
        endpoint = endpoint_override or env.get(ENDPOINT_ENV) or section.get("endpoint")
        return _finish(section["api_key_v2"], source, endpoint)
    if section.get("token"):
        return _finish(section["token"], source, endpoint_override or env.get(ENDPOINT_ENV))
    raise ConfigError(f"{source} has neither 'api_key_v2' nor 'token'")
