"""The README's shell blocks run in order, as written, in one shell: what a new user does
reading it top to bottom, against the built-in emulator, in a fresh home folder.

Every ```sh, ```fish and ```python block outside a section with its own test runs, unless the
line before it says `<!-- not run in order: REASON -->`. fish blocks run in fish and python
blocks in this venv's Python, both with the shell's environment at that point.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUN = ("sh", "fish", "python")
FENCE = re.compile(r"(?:<!-- (not run in order: [^>]*?) -->\n)?```(\w+)\n(.*?)```", re.S)


def readme_blocks() -> list[tuple[str, str, str | None]]:
    """(language, body, reason not to run) for every fenced block of those languages."""
    text = (ROOT / "README.md").read_text()
    return [
        (language, body, reason)
        for reason, language, body in FENCE.findall(text)
        if language in RUN
    ]


def shell_script(blocks: list[tuple[str, str, str | None]]) -> str:
    lines = ["set -e"]
    for number, (language, body, reason) in enumerate(blocks):
        if reason:
            continue
        lines.append(f"echo '### block {number} ({language})' >&2")
        if language == "sh":
            lines.append(body)
        elif language == "fish":
            lines.append(f"fish --no-config -c {shlex.quote(body)}")
        else:
            lines.append(f"python -c {shlex.quote(body)}")
    return "\n".join(lines)


def test_every_block_runs_or_says_why_not() -> None:
    blocks = readme_blocks()
    skipped = [reason for _, _, reason in blocks if reason]
    assert all(len(reason) > len("not run in order: ") + 10 for reason in skipped)
    assert len(blocks) - len(skipped) >= 10
    assert len(skipped) <= 8


def test_the_readme_runs_in_order_as_written(tmp_path: Path) -> None:
    home = tmp_path / "new-user"
    work = tmp_path / "new-user-project"
    home.mkdir()
    work.mkdir()
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOMENTO_", "XDG_", "GITHUB_", "TVM_", "_"))
    }
    env = {**keep, "HOME": str(home), "PATH": f"{BIN}:{keep['PATH']}", "NO_COLOR": "1"}
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-c", shell_script(readme_blocks())],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its background emulators share this process group
    )
    try:
        stdout, stderr = process.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # any emulator a failed run left behind
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    # First steps: profiles init, the emulator, a mint found the file without --config
    assert (home / ".config" / "momento-tvm" / "profiles.toml").exists()
    assert "chat-reader" in stdout
    # scripts and CI: the dotenv file, 0600
    dotenv = work / ".env.momento"
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    assert "token valid until " in stdout
    # inspect, and the emulator's call log in the cache folder, not on the terminal
    assert "disposable token" in stdout
    log = (home / ".cache" / "momento-tvm" / "emulator.log").read_text()
    assert "minted token_id=build-42" in log
    assert "minted" not in stderr
    # the Python SDK reached the emulator with the documented form
    assert "Success" in stdout
    assert (home / ".momento-tvm-complete.bash").exists()
    # Why was my call refused?: allowed, denied (exit 4) for a profile and for a minted token,
    # the emulator's key may do everything, and the matrix
    assert "statement 1 allows subscribe-only on cache chat, every topic" in stdout
    assert stdout.count("\nexit 4\n") == 2
    assert "Grant    the token on stdin" in stdout
    assert "super-user permissions (an API key) allow every call" in stdout
    assert "What profile chat-writer may do" in stdout
