"""Median wall time of `momento-tvm mint` against a minimal SDK script doing the same mint.

Both run as fresh subprocesses against one in-process emulator (rate limit off), interleaved so
that machine noise hits both alike. Prints both medians and the ratio (target: 1.2 or less).

    .venv/bin/python benchmarks/mint_latency.py [--runs 21]
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
from tvmcli.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The same grant as profiles.example.toml's chat-reader: subscribe to every topic of "chat", 1h.
SDK_SCRIPT = """
import os
from momento import AuthClient, CredentialProvider
from momento.auth.access_control.disposable_token_scopes import DisposableTokenScopes
from momento.config.auth_configurations import AuthConfigurations
from momento.responses.auth.generate_disposable_token import GenerateDisposableToken
from momento.utilities import ExpiresIn

host, port = os.environ["MOMENTO_ENDPOINT"].split(":")
credentials = CredentialProvider(os.environ["MOMENTO_API_KEY"], host, host, host, int(port))
client = AuthClient(AuthConfigurations.Laptop.latest(), credentials)
response = client.generate_disposable_token(
    DisposableTokenScopes.topic_subscribe_only("chat", "*"), ExpiresIn.hours(1)
)
assert isinstance(response, GenerateDisposableToken.Success), response
print(response.auth_token)
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or not result.stdout.strip():
        sys.exit(
            f"benchmark command failed ({result.returncode}): {' '.join(command[:3])}\n"
            + result.stderr
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    # An installed package ships bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE
    # would recompile every module on every run and measure the compiler instead.
    compileall.compile_dir(Path(tvmcli.__file__).parent, quiet=1)
    with Emulator(rate_limit=0) as emulator:
        env = {
            **os.environ,
            "MOMENTO_API_KEY": emulator.issue_api_key(),
            "MOMENTO_ENDPOINT": emulator.endpoint,
        }
        ours_cmd = [
            str(BIN / "momento-tvm"),
            "mint",
            "chat-reader",
            "--config",
            str(ROOT / "profiles.example.toml"),
            "--output",
            "raw",
        ]
        sdk_cmd = [sys.executable, "-c", SDK_SCRIPT]
        timed(ours_cmd, env), timed(sdk_cmd, env)  # warm the page cache for both
        ours, sdk = [], []
        for _ in range(args.runs):
            ours.append(timed(ours_cmd, env))
            sdk.append(timed(sdk_cmd, env))

    ours_median, sdk_median = statistics.median(ours), statistics.median(sdk)
    print(f"runs: {args.runs} each, interleaved")
    print(f"momento-tvm mint median: {ours_median * 1000:.0f} ms")
    print(f"SDK script median:       {sdk_median * 1000:.0f} ms")
    print(f"ratio (momento-tvm / SDK): {ours_median / sdk_median:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
