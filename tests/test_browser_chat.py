"""examples/browser-chat as its README runs it: the emulator (with its gRPC-web listener),
`momento-tvm serve` with the example's chat.toml (basic-auth users writer and reader, in two
tiers), and the page bundled by esbuild from the example's own package.json and lock. Two
headless Chromium pages chat through them; the reader's post is refused and the page says so."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.js_tools import CHAT, need
from tvmcli.emulator import Emulator

TVM = str(Path(sys.executable).parent / "momento-tvm")

WAIT_FOR_CHAT = """new Promise((resolve) => {
  const poll = () => (window.chat ? resolve() : setTimeout(poll, 50));
  poll();
})"""


def until(condition: str, timeout_ms: int = 10000) -> str:
    """An expression resolving to chat's messages once `condition` (JS, on `m`) holds."""
    return f"""new Promise((resolve) => {{
  const started = Date.now();
  const poll = () => {{
    const m = chat.messages();
    if (({condition}) || Date.now() - started > {timeout_ms}) resolve(m);
    else setTimeout(poll, 50);
  }};
  poll();
}})"""


@contextlib.contextmanager
def static_files(folder: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def vending_server(config: Path, emulator: Emulator) -> Iterator[str]:
    """`momento-tvm serve -c chat.toml` as the README runs it, with the emulator's variables."""
    env = {
        **os.environ,
        "MOMENTO_API_KEY": emulator.issue_api_key(),
        "MOMENTO_ENDPOINT": emulator.endpoint,
        "MOMENTO_TVM_EMULATOR_WEB_ENDPOINT": emulator.web_endpoint or "",
    }
    process = subprocess.Popen(
        [TVM, "serve", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.endswith("/token"), process.stderr.read() if process.stderr else url
        yield url.removesuffix("/token")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)


@contextlib.contextmanager
def chat_room(tmp_path: Path, edit: Callable[[str], str] = str) -> Iterator[tuple[Any, str]]:
    """The README's three steps; yields the browser and the page's URL. `edit` changes the
    example's chat.toml beyond the port (a free one) and the page's origin."""
    need(node_modules=(CHAT,), chromium=True)
    from tests.chromium import chromium

    build = subprocess.run(
        ["npm", "run", "build"], cwd=CHAT, capture_output=True, text=True, timeout=120, check=False
    )
    assert build.returncode == 0, build.stdout + build.stderr
    with (
        static_files(CHAT / "public") as origin,
        Emulator(web_port=0) as emulator,
    ):
        text = (CHAT / "chat.toml").read_text(encoding="utf-8")
        text = text.replace("port = 8700", "port = 0")
        text = re.sub(r"cors_origins = \[.*\]", f'cors_origins = ["{origin}"]', text)
        config = tmp_path / "chat.toml"
        config.write_text(edit(text), encoding="utf-8")
        with vending_server(config, emulator) as tvm, chromium(tmp_path / "chromium") as browser:
            yield browser, f"{origin}/?tvm={tvm}"


def open_chat(browser: Any, url: str) -> str:
    page: str = browser.open(url)
    browser.evaluate(page, WAIT_FOR_CHAT)
    return page


def test_two_pages_chat_and_the_readers_post_is_refused(tmp_path: Path) -> None:
    with chat_room(tmp_path) as (browser, url):
        writer, reader, wrong = (open_chat(browser, url) for _ in range(3))
        signed_writer = browser.evaluate(writer, 'chat.signIn("writer", "writer-password")')
        signed_reader = browser.evaluate(reader, 'chat.signIn("reader", "reader-password")')
        refused_sign_in = browser.evaluate(wrong, 'chat.signIn("reader", "wrong")')
        posted = browser.evaluate(writer, 'chat.post("hello from the writer")')
        reader_sees = browser.evaluate(reader, until("m.length >= 1"))
        reader_post = browser.evaluate(reader, 'chat.post("a reader trying to post")')
        reader_status = browser.evaluate(reader, "chat.status()")
        browser.evaluate(writer, 'chat.post("second")')
        writer_sees = browser.evaluate(writer, until("m.length >= 2"))
    assert signed_writer == {"ok": True, "profile": "chat-writer", "tokenId": "writer"}
    assert signed_reader == {"ok": True, "profile": "chat-reader", "tokenId": "reader"}
    assert refused_sign_in == {
        "ok": False,
        "code": "bad_credentials",
        "message": "wrong user name or password",
    }
    assert posted == {"ok": True}
    assert reader_sees == ["writerhello from the writer"]  # the publisher's token id, then text
    assert reader_post["ok"] is False
    assert reader_post["code"] == "PERMISSION_ERROR"
    assert reader_status["kind"] == "refused"
    assert reader_status["text"].startswith("Not posted: Insufficient permissions")
    assert writer_sees == ["writerhello from the writer", "writersecond"]  # never the reader's


def test_the_page_resubscribes_with_each_fresh_token_and_shows_nothing_twice(
    tmp_path: Path,
) -> None:
    """Tokens of 6 s: the helper fetches the next one halfway; the page subscribes with it and
    drops the old subscription. Messages before and after still arrive once each."""

    def short_tokens(text: str) -> str:
        text = text.replace('expires_in = "15m"', 'expires_in = "6s"')
        return text.replace("[server]\n", '[server]\nmin_ttl = "1s"\n', 1)

    with chat_room(tmp_path, short_tokens) as (browser, url):
        writer, reader = open_chat(browser, url), open_chat(browser, url)
        browser.evaluate(writer, 'chat.signIn("writer", "writer-password")')
        browser.evaluate(reader, 'chat.signIn("reader", "reader-password")')
        browser.evaluate(writer, 'chat.post("before")')
        browser.evaluate(reader, until("m.length >= 1"))
        refreshed = browser.evaluate(
            reader,
            """new Promise((resolve) => {
  const started = Date.now();
  const poll = () => (chat.connections() >= 2 || Date.now() - started > 15000
    ? resolve(chat.connections()) : setTimeout(poll, 100));
  poll();
})""",
            timeout=30,
        )
        browser.evaluate(writer, 'chat.post("after")')
        reader_sees = browser.evaluate(reader, until("m.length >= 2"))
        time.sleep(0.5)  # a duplicate from the old subscription would have arrived by now
        finally_seen = browser.evaluate(reader, "chat.messages()")
    assert refreshed >= 2
    assert reader_sees == ["writerbefore", "writerafter"]
    assert finally_seen == ["writerbefore", "writerafter"]
