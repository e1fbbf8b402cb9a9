"""The CLI at the interpreter's floor (issue 25): every ratio of its table in one run.

- a reuse hit: `mint chat-reader --reuse`, the token cached, vs `python -c` (target <= 3x);
- a mint against the emulator vs the floor script, grpc + wire types only (<= 1.1);
- a mint against a plain grpcio server (`PlainTokenServer`) vs the floor script (<= 1.1);
- a mint vs a minimal script on Momento's Python SDK (<= 1.2);
- `--help` (<= 0.06 s; `--version` beside it);
- `inspect TOKEN` vs `python -c` (keep: 2.2x when issue 25 was filed).

Two token services: the in-process emulator (rate limit off) and a plain grpcio server that
answers every GenerateDisposableToken at once (real Momento is neither). All commands run as
fresh subprocesses, interleaved in pairs so that machine noise hits both alike; the package is
compiled first (benchkit.compile_package).

    .venv/bin/python benchmarks/mint_latency.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

import grpc
from momento_wire_types import token_pb2, token_pb2_grpc

import tvmcli
from benchkit import compile_package, interleaved_medians
from tvmcli.config.file import load_config
from tvmcli.credentials.jwtcodec import sign_hs256
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

BASELINE = [sys.executable, "-c", "print(0)"]  # `python -c pass`, plus the line timed() wants


class PlainTokenServer(token_pb2_grpc.TokenServicer):
    """A token service in plain grpcio: no checks, no emulator, one answer for every call."""

    def __init__(self) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        token_pb2_grpc.add_TokenServicer_to_server(self, self.server)  # type: ignore[no-untyped-call]
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def GenerateDisposableToken(
        self, request: token_pb2._GenerateDisposableTokenRequest, context: object
    ) -> token_pb2._GenerateDisposableTokenResponse:
        valid_until = int(time.time()) + request.expires.valid_for_seconds
        inner = sign_hs256({"exp": valid_until, "t": "d"}, b"plain-server-secret-0123456789ab")
        return token_pb2._GenerateDisposableTokenResponse(api_key=inner, valid_until=valid_until)

    def __enter__(self) -> PlainTokenServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    runs = args.runs

    compile_package()
    tvm = str(BIN / "momento-tvm")
    config = ["--config", str(ROOT / "profiles.example.toml")]
    mint_cmd = [tvm, "mint", "chat-reader", *config, "--output", "raw"]
    floor_cmd = [sys.executable, "-c", FLOOR_SCRIPT]
    rows = []
    with (
        tempfile.TemporaryDirectory() as cache,
        Emulator(rate_limit=0) as emulator,
        PlainTokenServer() as plain,
    ):
        env = {
            **os.environ,
            "MOMENTO_API_KEY": emulator.issue_api_key(),
            "MOMENTO_ENDPOINT": emulator.endpoint,
            "XDG_CACHE_HOME": cache,
        }
        hit, floor = interleaved_medians([*mint_cmd, "--reuse"], BASELINE, runs, env)
        rows.append(("mint --reuse, a hit", hit, "python -c", floor, "<= 3x"))
        ours, floor = interleaved_medians(mint_cmd, floor_cmd, runs, env)
        rows.append(("mint, emulator", ours, "floor script", floor, "<= 1.1"))
        plain_env = {**env, "MOMENTO_ENDPOINT": f"127.0.0.1:{plain.port}"}
        ours, floor = interleaved_medians(mint_cmd, floor_cmd, runs, plain_env)
        rows.append(("mint, plain grpcio", ours, "floor script", floor, "<= 1.1"))
        ours, sdk = interleaved_medians(mint_cmd, [sys.executable, "-c", SDK_SCRIPT], runs, env)
        rows.append(("mint, emulator", ours, "SDK script", sdk, "<= 1.2"))
        example = load_config(ROOT / "profiles.example.toml")
        key = env["MOMENTO_API_KEY"]
        token = tvmcli.mint("chat-reader", config=example, api_key=key, endpoint=emulator.endpoint)
        help_time, version = interleaved_medians([tvm, "--help"], [tvm, "--version"], runs, env)
        rows.append(("--help", help_time, "--version", version, "<= 0.06 s"))
        ours, floor = interleaved_medians([tvm, "inspect", token.auth_token], BASELINE, runs, env)
        rows.append(("inspect", ours, "python -c", floor, "keep (2.2x)"))

    print(f"runs: {runs} of each, interleaved in pairs; medians")
    print(f"{'command':22} {'ours':>7}  {'baseline':14} {'':>7}  {'ratio':>6}  target")
    for name, ours, baseline, theirs, target in rows:
        ratio = f"{ours / theirs:.2f}x" if not target.endswith(" s") else f"{ours:.3f}s"
        print(f"{name:22} {ms(ours):>7}  {baseline:14} {ms(theirs):>7}  {ratio:>6}  {target}")


if __name__ == "__main__":
    main()
