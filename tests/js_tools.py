"""What the JavaScript consumer tests need: node, chromium and the npm packages of the project's
own package.json + package-lock.json files, installed by scripts/npm-deps (scripts/test runs
it). Outside CI a test without them skips and says why; in CI (CI=true) it fails instead, so
these tests never skip silently there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
JS_TESTS = ROOT / "tests" / "js"
CHAT = ROOT / "examples" / "browser-chat"


def need(*, node_modules: tuple[Path, ...] = (JS_TESTS,), chromium: bool = False) -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if chromium and shutil.which("chromium") is None:
        missing.append("chromium (scripts/system-deps)")
    missing += [
        f"{folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder}/node_modules"
        " (run scripts/npm-deps)"
        for folder in node_modules
        if not (folder / "node_modules" / ".package-lock.json").is_file()
    ]
    if not missing:
        return
    reason = "needs " + ", ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI runs the JavaScript SDK tests, install them", pytrace=False)
    pytest.skip(reason)
