"""What each process of `serve --workers N` runs: the app, rebuilt from a spec in the env.

The parent resolves everything that may prompt or fail (settings, the API key, a generated
bearer token) and passes it in $MOMENTO_TVM_WORKER, readable only by the same user, as every
process environment is. Each worker gets 1/N of the account's mint rate, so together they
stay under it; each keeps its own token cache, so a token id may be minted once per worker.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from starlette.applications import Starlette

from tvmcli.credential_format import Kind
from tvmcli.credentials import ApiKey
from tvmcli.profiles import load_profiles
from tvmcli.server.app import create_app
from tvmcli.server.auth import Authenticator, BearerAuth, bearer_tokens
from tvmcli.server.running import authenticator_for, configure_logging, settings_for
from tvmcli.settings import ServerSettings

WORKER_ENV = "MOMENTO_TVM_WORKER"


def worker_spec(
    config: Path,
    settings: ServerSettings,
    key: ApiKey,
    generated_bearer: str | None,
) -> str:
    return json.dumps(
        {
            "config": str(config),
            "host": settings.host,
            "port": settings.port,
            "workers": settings.workers,
            "allow_open": settings.allow_open,
            "key": {
                "secret": key.secret,
                "endpoint": key.endpoint,
                "source": key.source,
                "kind": key.kind.value,
            },
            "bearer": generated_bearer,
        }
    )


def app_from_environment() -> Starlette:
    configure_logging()  # a spawned process starts with Python's defaults
    spec = json.loads(os.environ.pop(WORKER_ENV))
    profile_set = load_profiles(Path(spec["config"]))
    settings = settings_for(
        profile_set,
        host=spec["host"],
        port=spec["port"],
        workers=spec["workers"],
        allow_open=spec["allow_open"],
    )
    settings = dataclasses.replace(settings, mint_rate=settings.mint_rate / settings.workers)
    authenticator: Authenticator
    if spec["bearer"] is not None:
        authenticator = BearerAuth([*bearer_tokens(settings, os.environ), spec["bearer"]])
    else:
        authenticator, _ = authenticator_for(settings, os.environ, Path("."))
    key = spec["key"]
    api_key = ApiKey(key["secret"], key["endpoint"], key["source"], Kind(key["kind"]))
    from tvmcli.minting import Minter

    return create_app(
        settings,
        Minter(api_key, timeout=settings.timeout),
        profiles=profile_set,
        authenticator=authenticator,
    )
