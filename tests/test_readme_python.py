"""The README's "Use it from Python" section runs as written, block after block, against the
emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tvmcli.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent


def python_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


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
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Cache calls on the emulator", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, re.S)
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
