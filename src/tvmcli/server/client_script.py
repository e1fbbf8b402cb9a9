"""GET /client.js: the browser helper (`static/client.js`, an ES module), as served by `serve`.

It holds no secret and is the same file for everyone (the package ships it for vendoring), so
it needs no sign-in. The Guard (Host check, sizes, per-client rate) applies as to any route,
and so does CORS: a cross-origin `<script type="module">` is fetched in CORS mode, so pages on
the origins in `cors_origins` can import it, as they can fetch tokens. A strong ETag (the
file's hash) with `Cache-Control: no-cache` lets browsers revalidate and get 304 until the
package changes.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

CLIENT_JS_PATH = "/client.js"
_ENTITY_TAG = re.compile(r'(?:W/)?("[^"]*")|\*')


def client_js() -> bytes:
    """The helper's bytes, as the package ships them."""
    return resources.files("tvmcli.server").joinpath("static/client.js").read_bytes()


class ClientScript:
    def __init__(self) -> None:
        self.body = client_js()
        self.etag = f'"{hashlib.sha256(self.body).hexdigest()[:32]}"'
        self._headers = {
            "ETag": self.etag,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }

    async def respond(self, request: Request) -> Response:
        if self.matches(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=self._headers)
        return Response(self.body, media_type="text/javascript", headers=self._headers)

    def matches(self, if_none_match: str | None) -> bool:
        """If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x"; * matches."""
        if not if_none_match:
            return False
        for tag in _ENTITY_TAG.finditer(if_none_match):
            if tag.group(0) == "*" or tag.group(1) == self.etag:
                return True
        return False
