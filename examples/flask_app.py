"""A Flask app (synchronous, threaded) that vends Momento tokens to its signed-in users.

    MOMENTO_TVM_CONFIG=profiles.example.toml MOMENTO_API_KEY=... MOMENTO_ENDPOINT=... \
        python examples/flask_app.py              # serves http://127.0.0.1:5000

    curl -H "Authorization: Bearer demo-session-alice" http://127.0.0.1:5000/api/momento/token

`tvmcli.Vendor.token()` is thread-safe: every request thread shares one token cache and one
mint budget. Replace `current_user` with your own authentication.
"""

from __future__ import annotations

import atexit
import os

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

import tvmcli

SESSIONS = {"demo-session-alice": "alice", "demo-session-bob": "bob"}

config = tvmcli.load_config()
vendor = tvmcli.Vendor(config)
atexit.register(vendor.close)

app = Flask(__name__)


def current_user() -> str | None:
    scheme, _, session = request.headers.get("Authorization", "").partition(" ")
    return SESSIONS.get(session) if scheme.lower() == "bearer" else None


@app.get("/api/momento/token")
def momento_token() -> ResponseReturnValue:
    user = current_user()
    if user is None:
        return jsonify(error="not signed in"), 401
    try:
        token = vendor.token(request.args.get("profile", "chat-reader"), token_id=user)
    except tvmcli.TvmError as error:  # every library error knows its HTTP status
        return jsonify(error=error.public_message, code=error.code), error.http_status
    return jsonify(token.to_tvm_json())


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
