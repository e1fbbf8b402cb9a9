"""Debian's headless Chromium, for tests: its command line, and a small driver over the
DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages ending in NUL, commands
on fd 3, answers on fd 4), enough to open a page and await a promise it exposes. No WebDriver,
no websockets, nothing to install but chromium (scripts/system-deps)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_command(profile_dir: Path) -> list[str]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed; scripts/system-deps installs it"
    return [chromium, *FLAGS, f"--user-data-dir={profile_dir}"]


class Chromium:
    """One headless browser. `page_result(url)` opens `url` and returns what the page's
    `window.__scenario` promise resolves to (JSON values only)."""

    def __init__(self, profile_dir: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()
        self._log = (profile_dir.parent / f"{profile_dir.name}-stderr.log").open("wb")
        # bash puts the pipe ends on fds 3 and 4, where Chromium looks for them (dash, the
        # usual /bin/sh, cannot name an fd above 9).
        self.process = subprocess.Popen(
            [
                "/bin/bash",
                "-c",
                f'exec "$0" "$@" 3<&{commands_read} 4>&{answers_write}',
                *chromium_command(profile_dir),
                "--remote-debugging-pipe",
                "about:blank",
            ],
            pass_fds=(commands_read, answers_write),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._ids = itertools.count(1)
        self._waiting: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._answers, 65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                with self._lock:
                    waiter = self._waiting.pop(message.get("id", -1), None)
                if waiter is not None:
                    waiter.put(message)
        with self._lock:  # the browser is gone: wake everyone waiting
            for waiter in self._waiting.values():
                waiter.put({"error": {"message": "chromium exited"}})
            self._waiting.clear()

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        number = next(self._ids)
        answer: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._waiting[number] = answer
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        try:
            reply = answer.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"chromium did not answer {method} within {timeout} s") from None
        if "error" in reply:
            raise ChromiumError(reply["error"].get("message", str(reply["error"])))
        result: dict[str, Any] = reply.get("result", {})
        return result

    def page_result(self, url: str, timeout: float = 90) -> Any:
        """Open `url`; what its window.__scenario promise resolves to."""
        return self.evaluate(self.open(url), AWAIT_SCENARIO, timeout)

    def open(self, url: str) -> str:
        """A new tab showing `url`; returns the session to evaluate in."""
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        session: str = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        return session

    def evaluate(self, session: str, expression: str, timeout: float = 90) -> Any:
        """The JSON value of `expression` in the page, awaited if it is a promise."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"the page did not finish within {timeout} s"
            try:
                answer = self.send(
                    "Runtime.evaluate",
                    {"expression": expression, "awaitPromise": True, "returnByValue": True},
                    session=session,
                    timeout=left,
                )
            except ChromiumError:  # evaluated in about:blank, destroyed by the navigation
                time.sleep(0.1)
                continue
            if "exceptionDetails" in answer:
                raise AssertionError(answer["exceptionDetails"].get("text", "page error"))
            return answer["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=10)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        os.close(self._commands)
        self._reader.join(10)
        os.close(self._answers)
        self._log.close()


class ChromiumError(Exception):
    pass


# Waits for the page's scripts to have made window.__scenario, then for that promise.
AWAIT_SCENARIO = """
new Promise((resolve) => {
  const poll = () => (window.__scenario ? resolve(window.__scenario) : setTimeout(poll, 50));
  poll();
})
"""


@contextlib.contextmanager
def chromium(profile_dir: Path) -> Iterator[Chromium]:
    browser = Chromium(profile_dir)
    try:
        yield browser
    finally:
        browser.close()
