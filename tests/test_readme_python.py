"""The docs' Python library page (docs/python.md) runs as written, block after block, against
the emulator, and so does the emulator page's cache example."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.docs import ROOT, page, section
from tvmcli.emulator import Emulator


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", page("python.md"), re.S)


def test_the_python_section_runs_as_written(emulator: Emulator) -> None:
    blocks = python_blocks()
    assert len(blocks) >= 2
    env = {
        **os.environ,
        "MOMENTO_API_KEY": emulator.issue_api_key(),
        "MOMENTO_ENDPOINT": emulator.endpoint,
        "MOMENTO_TVM_CONFIG": str(ROOT / "profiles.example.toml"),
        "TVM_BEARER_TOKEN": "a-bearer-token-for-the-readme",
    }
    result = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "['chat-reader', 'chat-writer', 'ci-warmup', 'dashboard', 'media-functions'] 8700"
    )
    assert lines[1].startswith("Token(profile='chat-reader', endpoint=")
    assert env["MOMENTO_API_KEY"] not in result.stdout
    assert lines[2] == (
        "False statement 1 allows subscribe-only here; "
        "publishing needs publish-subscribe or publish-only"
    )
    assert lines[3] == '{ role = "publish-subscribe", cache = "chat", topic = "*" }'
    assert lines[4].endswith(" 3 404")
    assert emulator.service.stats()["mints"] == 2  # mint(), then the Vendor's one for alice


def test_the_emulator_cache_example_reaches_the_emulator(emulator: Emulator) -> None:
    part = section(page("emulator.md"), "## Cache calls on the emulator")
    [block] = re.findall(r"```python\n(.*?)```", part, re.S)
    check = 'cache.set("c", "k", "v")\nprint(cache.get("c", "k").value_string)\n'
    env = {
        **os.environ,
        "MOMENTO_API_KEY": emulator.issue_api_key(),
        "MOMENTO_ENDPOINT": emulator.endpoint,
    }
    result = subprocess.run(
        [sys.executable, "-c", block + check],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "v"
