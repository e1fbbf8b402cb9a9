"""A real browser (headless Chromium) fetching a token from `serve` across origins."""

from __future__ import annotations

import contextlib
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.chromium import chromium_command
from tests.serving import BEARER, DEFAULT_SERVER, serve
from tvmcli.emulator import Emulator

PAGE = """<!doctype html>
<html><body><pre id="result">pending</pre>
<script>
fetch("{url}/token?profile=chat-reader", {{headers: {{"Authorization": "Bearer {bearer}"}}}})
  .then(r => r.json())
  .then(j => {{ document.getElementById("result").textContent =
      "token:" + j.profile + ":" + (j.authToken.length > 100) + ":" + (j.expiresAt > 0); }})
  .catch(e => {{ document.getElementById("result").textContent = "blocked:" + e.name; }});
</script></body></html>
"""


@contextlib.contextmanager
def page_server(page: list[str]) -> Iterator[str]:
    """A second local origin serving one page; page[0] is read at request time, so the page
    can name a server that starts after this origin is known."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def browser_result(url: str, profile_dir: Path) -> str:
    result = subprocess.run(
        [*chromium_command(profile_dir), "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    start = result.stdout.find('<pre id="result">')
    assert start >= 0, result.stderr[-2000:]
    return result.stdout[start + len('<pre id="result">') :].split("</pre>", 1)[0]


def test_a_page_from_an_allowed_origin_gets_a_token_and_others_are_blocked(
    emulator: Emulator, tmp_path: Path
) -> None:
    page = [""]
    with page_server(page) as allowed, page_server(page) as other:
        server_toml = DEFAULT_SERVER.replace(
            "[server.bearer]", f'cors_origins = ["{allowed}"]\n[server.bearer]'
        )
        with serve(emulator, server_toml) as server:
            page[0] = PAGE.format(url=server.url, bearer=BEARER)
            assert browser_result(allowed + "/", tmp_path / "a") == "token:chat-reader:true:true"
            assert browser_result(other + "/", tmp_path / "b") == "blocked:TypeError"
    assert emulator.service.stats()["mints"] == 1  # the blocked page never reached a mint
