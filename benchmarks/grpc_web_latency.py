"""What the emulator's gRPC-web listener adds to a call, against the same call on its gRPC port,
with a `momento-tvm emulator` process as users start it.

Unary: `--calls` Publish calls one after another over gRPC-web text (keep-alive HTTP/1.1, as a
browser sends them) and over gRPC, interleaved; p50 and p99 in milliseconds of each.
Streaming: one Subscribe over gRPC-web text and one over gRPC on the same topic; `--messages`
messages published over gRPC (about 500 a second), each carrying its send time; publish-to-
delivery p50 and p99 for each subscriber, and messages lost.

    .venv/bin/python benchmarks/grpc_web_latency.py [--calls 1000] [--messages 1000]

Client and emulator share this machine's cores; say so when quoting.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import struct
import tempfile
import threading
import time
from pathlib import Path

import grpc
import httpx
from momento_wire_types import cachepubsub_pb2 as pb
from momento_wire_types import cachepubsub_pb2_grpc

from benchkit import compile_package, start_emulator
from tvmcli.emulator.grpc_web import decode_text

CACHE, TOPIC = "bench", "web"
TEXT = "application/grpc-web-text"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):6.2f} ms   p99 {p99:6.2f} ms"


def framed(message: bytes) -> bytes:
    return base64.b64encode(struct.pack(">BI", 0, len(message)) + message)


def publish_request(text: str) -> pb._PublishRequest:
    return pb._PublishRequest(cache_name=CACHE, topic=TOPIC, value=pb._TopicValue(text=text))


def unary(web: str, stub: cachepubsub_pb2_grpc.PubsubStub, key: str, calls: int) -> None:
    headers = {"content-type": TEXT, "x-grpc-web": "1", "authorization": key}
    url = f"{web}/cache_client.pubsub.Pubsub/Publish"
    body = framed(publish_request("x").SerializeToString())
    web_ms: list[float] = []
    grpc_ms: list[float] = []
    with httpx.Client(timeout=10) as client:
        for _ in range(20):  # warm both paths
            client.post(url, content=body, headers=headers)
            stub.Publish(publish_request("x"), metadata=[("authorization", key)])
        for _ in range(calls):
            started = time.perf_counter()
            answer = client.post(url, content=body, headers=headers)
            web_ms.append((time.perf_counter() - started) * 1000)
            if b"grpc-status:0" not in decode_text(answer.content):
                raise SystemExit(f"gRPC-web publish failed: {decode_text(answer.content)!r}")
            started = time.perf_counter()
            stub.Publish(publish_request("x"), metadata=[("authorization", key)])
            grpc_ms.append((time.perf_counter() - started) * 1000)
    print(f"unary Publish, gRPC-web   {percentiles(web_ms)}")
    print(f"unary Publish, gRPC       {percentiles(grpc_ms)}")


class WebSubscriber(threading.Thread):
    """A Subscribe over gRPC-web text, its frames parsed as they arrive."""

    def __init__(self, web: str, key: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{web}/cache_client.pubsub.Pubsub/Subscribe"
        self.key = key
        self.arrivals: dict[int, float] = {}
        self.ready = threading.Event()
        self.stop = False

    def run(self) -> None:
        request = pb._SubscriptionRequest(cache_name=CACHE, topic=TOPIC).SerializeToString()
        headers = {"content-type": TEXT, "x-grpc-web": "1", "authorization": self.key}
        text, data = b"", b""
        with httpx.stream(
            "POST",
            self.url,
            content=framed(request),
            headers=headers,
            timeout=httpx.Timeout(10, read=60),
        ) as response:
            for chunk in response.iter_raw():
                now = time.perf_counter()
                text += chunk
                whole = len(text) // 4 * 4  # base64 decodes in groups of four
                data += decode_text(text[:whole])
                text = text[whole:]
                while len(data) >= 5:
                    flag, length = struct.unpack_from(">BI", data)
                    if len(data) < 5 + length:
                        break
                    message, data = data[5 : 5 + length], data[5 + length :]
                    if flag & 0x80:
                        return
                    self.ready.set()
                    item = pb._SubscriptionItem.FromString(message)
                    if item.WhichOneof("kind") == "item":
                        self.arrivals[int(item.item.value.text.split()[0])] = now
                if self.stop:
                    return


class GrpcSubscriber(threading.Thread):
    def __init__(self, stub: cachepubsub_pb2_grpc.PubsubStub, key: str) -> None:
        super().__init__(daemon=True)
        self.stream = stub.Subscribe(
            pb._SubscriptionRequest(cache_name=CACHE, topic=TOPIC),
            metadata=[("authorization", key)],
        )
        self.arrivals: dict[int, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            for item in self.stream:
                now = time.perf_counter()
                self.ready.set()
                if item.WhichOneof("kind") == "item":
                    self.arrivals[int(item.item.value.text.split()[0])] = now
        except grpc.RpcError:
            return


def streaming(web: str, stub: cachepubsub_pb2_grpc.PubsubStub, key: str, messages: int) -> None:
    web_sub, grpc_sub = WebSubscriber(web, key), GrpcSubscriber(stub, key)
    for subscriber in (web_sub, grpc_sub):
        subscriber.start()
        if not subscriber.ready.wait(10):
            raise SystemExit("a subscriber got no first message")
    sent: dict[int, float] = {}
    base = 10**6  # message numbers above the unary phase's "x" values
    for n in range(base, base + messages):
        sent[n] = time.perf_counter()
        stub.Publish(publish_request(f"{n} {'.' * 64}"), metadata=[("authorization", key)])
        time.sleep(0.002)
    time.sleep(1)
    web_sub.stop = True
    grpc_sub.stream.cancel()
    for name, subscriber in (("gRPC-web", web_sub), ("gRPC    ", grpc_sub)):
        got = subscriber.arrivals
        delays = [(got[n] - sent[n]) * 1000 for n in sent if n in got]
        lost = sum(1 for n in sent if n not in got)
        print(f"delivery, {name}       {percentiles(delays)}   lost {lost}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    compile_package()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        emulator = start_emulator(Path(folder) / "emulator.log", env)
        try:
            key = env["MOMENTO_API_KEY"]
            web = env["MOMENTO_TVM_EMULATOR_WEB_ENDPOINT"]
            with grpc.insecure_channel(env["MOMENTO_ENDPOINT"]) as channel:
                stub = cachepubsub_pb2_grpc.PubsubStub(channel)  # type: ignore[no-untyped-call]
                unary(web, stub, key, args.calls)
                streaming(web, stub, key, args.messages)
        finally:
            emulator.terminate()
            emulator.wait(10)


if __name__ == "__main__":
    main()
