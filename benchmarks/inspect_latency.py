"""Median wall time of `momento-tvm inspect TOKEN` against a `python -c` script that only
base64- and JWT-decodes the same token. Interleaved runs; prints the ratio (target: 1.5 or less).

    .venv/bin/python benchmarks/inspect_latency.py [--runs 31]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import tvmcli
from tvmcli.credentials import ApiKey
from tvmcli.emulator import Emulator
from tvmcli.minting import mint_once
from tvmcli.profiles import load_profiles
from tvmcli.tokens import Kind

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

BARE_DECODER = """
import base64, json, sys
envelope = json.loads(base64.b64decode(sys.argv[1]))
payload = envelope["api_key"].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
print(envelope["endpoint"], claims["exp"], claims.get("id"))
"""


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark command failed ({result.returncode}): {command[:2]}\\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()

    # An installed package ships bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE
    # would recompile every module on every run and measure the compiler instead.
    compileall.compile_dir(Path(tvmcli.__file__).parent, quiet=1)
    profile = load_profiles(ROOT / "profiles.example.toml").get("chat-writer")
    with Emulator(rate_limit=0) as emulator:
        key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "benchmark", Kind.V2_API_KEY)
        token = mint_once(key, profile.statements, profile.expires_in, profile.token_id).token

    ours_cmd = [str(BIN / "momento-tvm"), "inspect", token]
    bare_cmd = [sys.executable, "-c", BARE_DECODER, token]
    timed(ours_cmd), timed(bare_cmd)  # warm the page cache for both
    ours, bare = [], []
    for _ in range(args.runs):
        ours.append(timed(ours_cmd))
        bare.append(timed(bare_cmd))

    ours_median, bare_median = statistics.median(ours), statistics.median(bare)
    print(f"runs: {args.runs} each, interleaved")
    print(f"momento-tvm inspect median: {ours_median * 1000:.1f} ms")
    print(f"bare python -c decoder:     {bare_median * 1000:.1f} ms")
    print(f"ratio (momento-tvm / bare): {ours_median / bare_median:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
