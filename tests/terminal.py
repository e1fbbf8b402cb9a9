"""Running the real command on a real pseudo-terminal, as a person would see it."""

from __future__ import annotations

import os
import subprocess


def on_a_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal; return the exit code and the screen."""
    import pty

    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=env
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=timeout)
    os.close(primary)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")
