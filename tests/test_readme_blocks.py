"""The README's shell blocks, then those of every docs page in the order of mkdocs.yml's nav,
run in order, as written, in one shell: what a new user does reading the README top to bottom
and then the reference, against the built-in emulator the First steps start, in a fresh home
folder.

Every ```sh, ```fish and ```python block runs, unless the line before it says
`<!-- not run in order: REASON -->` (a Momento account, a second terminal, a section with its
own test). fish blocks run in fish and python blocks in this venv's Python, both with the
shell's environment at that point.
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

from tests.docs import ROOT, pages

BIN = Path(sys.executable).parent
RUN = ("sh", "fish", "python")
FENCE = re.compile(r"(?:<!-- (not run in order: [^>]*?) -->\n)?```(\w+)\n(.*?)```", re.S)


Block = tuple[str, str, str, "str | None"]  # page, language, body, reason not to run


def doc_blocks(page: Path) -> list[Block]:
    """(page, language, body, reason not to run) for every fenced block of those languages."""
    name = str(page.relative_to(ROOT))
    return [
        (name, language, body, reason)
        for reason, language, body in FENCE.findall(page.read_text(encoding="utf-8"))
        if language in RUN
    ]


def readme_blocks() -> list[Block]:
    """The blocks of the README, then of every docs page in nav order."""
    return [block for page in pages() for block in doc_blocks(page)]


def shell_script(blocks: list[Block]) -> str:
    lines = ["set -e"]
    for number, (page, language, body, reason) in enumerate(blocks):
        if reason:
            continue
        lines.append(f"echo '### block {number} ({page}, {language})' >&2")
        if language == "sh":
            lines.append(body)
        elif language == "fish":
            lines.append(f"fish --no-config -c {shlex.quote(body)}")
        else:
            lines.append(f"python -c {shlex.quote(body)}")
    return "\n".join(lines)


def test_every_block_runs_or_says_why_not() -> None:
    blocks = readme_blocks()
    skipped = [reason for *_, reason in blocks if reason]
    assert all(len(reason) > len("not run in order: ") + 10 for reason in skipped)
    assert len(blocks) - len(skipped) >= 10
    assert len(skipped) <= 8


def test_the_readme_and_most_pages_have_blocks_that_run() -> None:
    """The README's First steps start the emulator the pages' blocks use; a page that stops
    having runnable blocks is a page whose examples nothing checks any more."""
    running = {page for page, *_, reason in readme_blocks() if not reason}
    assert {"README.md", "docs/minting.md", "docs/ci.md", "docs/emulator.md"} <= running
    first = next(body for page, _, body, reason in readme_blocks() if not reason)
    assert "momento-tvm emulator --print-env" in first


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
