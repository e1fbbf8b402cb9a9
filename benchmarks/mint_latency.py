"""Median wall time of `momento-tvm mint` against two baselines doing the same mint:

- the floor: a script that imports only grpc and the wire types and makes the same
  GenerateDisposableToken call (target: momento-tvm / floor <= 1.3);
- the SDK: a minimal script using Momento's Python SDK (target: <= 1.2).

All run as fresh subprocesses against one in-process emulator (rate limit off), interleaved so
that machine noise hits them alike.

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


# The same grant, straight on the wire: what any Python mint must at least do.
FLOOR_SCRIPT = """
import os
import grpc
from momento_wire_types import permissionmessages_pb2 as pb, token_pb2, token_pb2_grpc

key = os.environ["MOMENTO_API_KEY"]
topic = pb.PermissionsType.TopicPermissions(role=pb.TopicReadOnly)
topic.cache_selector.cache_name = "chat"
topic.all_topics.SetInParent()
request = token_pb2._GenerateDisposableTokenRequest(
    expires=token_pb2._GenerateDisposableTokenRequest.Expires(valid_for_seconds=3600),
    auth_token=key,
    permissions=pb.Permissions(
        explicit=pb.ExplicitPermissions(permissions=[pb.PermissionsType(topic_permissions=topic)])
    ),
)
with grpc.insecure_channel(os.environ["MOMENTO_ENDPOINT"]) as channel:
    response = token_pb2_grpc.TokenStub(channel).GenerateDisposableToken(
        request, timeout=10, metadata=(("authorization", key),)
    )
print(response.api_key)
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
        floor_cmd = [sys.executable, "-c", FLOOR_SCRIPT]
        ours_median, floor_median = interleaved_medians(ours_cmd, floor_cmd, args.runs, env)
        ours_again, sdk_median = interleaved_medians(ours_cmd, sdk_cmd, args.runs, env)

    print(f"runs: {args.runs} each, interleaved in pairs")
    print(f"momento-tvm mint median: {ours_median * 1000:.0f} ms (and {ours_again * 1000:.0f} ms)")
    print(f"floor script median:     {floor_median * 1000:.0f} ms (grpc + wire types only)")
    print(f"SDK script median:       {sdk_median * 1000:.0f} ms")
    print(f"ratio (momento-tvm / floor): {ours_median / floor_median:.2f}  (target <= 1.3)")
    print(f"ratio (momento-tvm / SDK):   {ours_again / sdk_median:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
