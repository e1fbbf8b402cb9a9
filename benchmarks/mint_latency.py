"""Median wall time of `momento-tvm mint` against a minimal SDK script doing the same mint.

Both run as fresh subprocesses against one in-process emulator (rate limit off), interleaved so
that machine noise hits both alike. Prints both medians and the ratio (target: 1.2 or less).

    .venv/bin/python benchmarks/mint_latency.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchkit import compile_package, interleaved_medians
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    compile_package()
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
        ours_median, sdk_median = interleaved_medians(ours_cmd, sdk_cmd, args.runs, env)

    print(f"runs: {args.runs} each, interleaved")
    print(f"momento-tvm mint median: {ours_median * 1000:.0f} ms")
    print(f"SDK script median:       {sdk_median * 1000:.0f} ms")
    print(f"ratio (momento-tvm / SDK): {ours_median / sdk_median:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
