"""Median wall time of `momento-tvm inspect TOKEN` against a `python -c` script that only
base64- and JWT-decodes the same token. Interleaved runs; prints the ratio (target: 1.5 or less).

    .venv/bin/python benchmarks/inspect_latency.py [--runs 31]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tvmcli
from benchkit import compile_package, interleaved_medians
from tvmcli.config.file import load_config
from tvmcli.credentials.decoding import Kind
from tvmcli.credentials.sources import ApiKey
from tvmcli.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

BARE_DECODER = """
import base64, json, sys
envelope = json.loads(base64.b64decode(sys.argv[1]))
payload = envelope["api_key"].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
print(envelope["endpoint"], claims["exp"], claims.get("id"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()

    compile_package()
    profile = load_config(ROOT / "profiles.example.toml").profile("chat-writer")
    with Emulator(rate_limit=0) as emulator:
        key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "benchmark", Kind.V2_API_KEY)
        token = tvmcli.mint(profile, api_key=key).auth_token

    ours_cmd = [str(BIN / "momento-tvm"), "inspect", token]
    bare_cmd = [sys.executable, "-c", BARE_DECODER, token]
    ours_median, bare_median = interleaved_medians(ours_cmd, bare_cmd, args.runs)
    print(f"runs: {args.runs} each, interleaved")
    print(f"momento-tvm inspect median: {ours_median * 1000:.1f} ms")
    print(f"bare python -c decoder:     {bare_median * 1000:.1f} ms")
    print(f"ratio (momento-tvm / bare): {ours_median / bare_median:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
