"""A FastAPI app that vends Momento tokens to its own signed-in users, the way Momento's
Next.js example embeds its token route, with momento-tvm's cache, single flight and mint
budget underneath.

    MOMENTO_TVM_CONFIG=profiles.example.toml MOMENTO_API_KEY=... MOMENTO_ENDPOINT=... \
        python examples/fastapi_app.py            # serves http://127.0.0.1:8000

    curl -H "Authorization: Bearer demo-session-alice" http://127.0.0.1:8000/api/momento/token

Replace `current_user` with your own authentication; the token id is the user's id, so topic
subscribers see who published.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

import tvmcli

# Your app's own sessions. A demo table here; in a real app, your session store or IdP.
SESSIONS = {"demo-session-alice": "alice", "demo-session-bob": "bob"}

config = tvmcli.load_config()  # $MOMENTO_TVM_CONFIG, ./momento-tvm.toml, or the XDG file
vendor = tvmcli.Vendor(config)  # the key from $MOMENTO_API_KEY (+ $MOMENTO_ENDPOINT)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await vendor.aclose()  # closes the gRPC channel


app = FastAPI(lifespan=lifespan)
bearer = HTTPBearer()


def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
) -> str:
    user = SESSIONS.get(credentials.credentials)
    if user is None:
        raise HTTPException(401, "not signed in")
    return user


@app.get("/api/momento/token")
async def momento_token(
    user: Annotated[str, Depends(current_user)], profile: str = "chat-reader"
) -> dict[str, Any]:
    try:
        token = await vendor.token_async(profile, token_id=user)
    except tvmcli.TvmError as error:  # every library error knows its HTTP status
        wait = error.retry_after
        headers = {"Retry-After": str(math.ceil(wait))} if wait is not None else None
        raise HTTPException(error.http_status, error.public_message, headers=headers) from None
    return token.to_tvm_json()  # {authToken, expiresAt, endpoint, profile, tokenId}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
