"""What the benchmarks share: bytecode first, timed subprocesses, interleaved medians, and
the processes of the load benchmarks (emulator, `serve`) with the log they are judged by."""

from __future__ import annotations

import compileall
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import tvmcli

BIN = Path(sys.executable).parent
BEARER = "benchmark-bearer-token-0123456789"  # [server.bearer] tokens_env = "BENCH_BEARER"


def compile_package() -> None:
    """An installed package ships bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE
    would recompile every module on every run and measure the compiler instead."""
    compileall.compile_dir(Path(tvmcli.__file__).parent, quiet=1)


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        command, env=env or dict(os.environ), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or not result.stdout.strip():
        sys.exit(f"benchmark command failed ({result.returncode}): {command[:3]}\n{result.stderr}")
    return elapsed


def interleaved_medians(
    ours: list[str], theirs: list[str], runs: int, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Median wall time of each command, run alternately so machine noise hits both alike."""
    timed(ours, env), timed(theirs, env)  # warm the page cache for both
    ours_times, their_times = [], []
    for _ in range(runs):
        ours_times.append(timed(ours, env))
        their_times.append(timed(theirs, env))
    return statistics.median(ours_times), statistics.median(their_times)


def start_emulator(log: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`momento-tvm emulator` in the background, logging to `log`; its MOMENTO_* exports go
    into `env` (it prints them, then closes its stdout)."""
    emulator = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "momento-tvm"),
            "emulator",
            "--print-env",
            "--quiet",
            "--log-file",
            str(log),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert emulator.stdout is not None
    for line in emulator.stdout:
        name, _, value = line.strip().removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    return emulator


def start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def max_mints_in_any_second(log: str) -> tuple[int, int]:
    """(total mints, the most inside any window of one second) from the emulator's log."""
    times = []
    for line in log.splitlines():
        match = re.match(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) emulator: minted", line)
        if match:
            h, m, s, ms = (int(g) for g in match.groups())
            times.append(h * 3600 + m * 60 + s + ms / 1000)
    most = 0
    for i, start_time in enumerate(times):
        most = max(most, sum(1 for t in times[i:] if t - start_time < 1.0))
    return len(times), most


def port_of(url: str) -> int:
    """The port of the URL `serve` prints (http://127.0.0.1:PORT/token)."""
    return int(url.rsplit(":", 1)[1].split("/")[0])
