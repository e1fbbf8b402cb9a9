"""A fleet under load: two `momento-tvm serve` instances with `[server.state] backend =
"momento"` on one emulator (its 5-mints-per-second limit on), clients spread over both.

Phase 1, cold cache: `--clients` keep-alive clients ask for `--ids` token ids for `--duration`
seconds; a 503 with Retry-After is a shed, and the client waits as told. Prints errors (anything
but 200 and shed 503s), sheds, mints, the most mints in any one-second window (fleet-wide, from
the emulator's log) and the most mints of any one token id.
Phase 2: 100 concurrent requests for one new id, 50 on each instance: how many mints.

    .venv/bin/python benchmarks/fleet_load.py [--duration 30] [--clients 64] [--ids 200]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import tempfile
import time
from pathlib import Path

from benchkit import (
    BEARER,
    BIN,
    compile_package,
    max_mints_in_any_second,
    port_of,
    start,
    start_emulator,
)

CONFIG = """
[profiles.chat-reader]
expires_in = "1h"
permissions = [{ role = "subscribe-only", cache = "chat", topic = "*" }]

[server]
auth = "bearer"
default_profile = "chat-reader"
client_rate = 0          # all load comes from one address
mint_queue = "5s"
[server.bearer]
tokens_env = "BENCH_BEARER"
[server.state]
backend = "momento"
cache = "momento-tvm-state"
"""


class Tally:
    def __init__(self) -> None:
        self.ok = 0
        self.shed = 0
        self.errors: collections.Counter[int] = collections.Counter()
        self.latencies: list[float] = []


async def client(ports: list[int], ids: int, deadline: float, tally: Tally) -> None:
    """One keep-alive connection to a random instance; reconnects when the server closes an
    idle connection (uvicorn's keep-alive timeout, e.g. during a long Retry-After)."""
    while time.monotonic() < deadline:
        try:
            await _connection(random.choice(ports), ids, deadline, tally)
        except (asyncio.IncompleteReadError, ConnectionError):
            continue


async def _connection(port: int, ids: int, deadline: float, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            path = f"/token?name=id-{random.randrange(ids)}"
            started = time.perf_counter()
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {BEARER}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if status == 200:
                tally.ok += 1
                tally.latencies.append(time.perf_counter() - started)
                continue
            retry = re.search(rb"(?i)retry-after: *(\d+)", head)
            if status == 503 and retry:
                tally.shed += 1
                await asyncio.sleep(max(0, min(float(retry.group(1)), deadline - time.monotonic())))
            else:
                tally.errors[status] += 1
    finally:
        writer.close()


async def burst(ports: list[int], name: str) -> list[int]:
    async def one(port: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /token?name={name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {BEARER}\r\nConnection: close\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return int(head.split(b" ", 2)[1])

    return await asyncio.gather(*(one(ports[i % 2]) for i in range(100)))


def minted_ids(log: str) -> collections.Counter[str]:
    """Mints per token id; the start-up checks (one per instance, no token id: "-") apart."""
    return collections.Counter(
        found for found in re.findall(r"minted token_id=(\S+)", log) if found != "-"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--ids", type=int, default=200)
    args = parser.parse_args()
    compile_package()

    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "emulator.log"
        config = Path(folder) / "fleet.toml"
        config.write_text(CONFIG)
        env = {**os.environ, "BENCH_BEARER": BEARER, "HOME": folder}
        emulator = start_emulator(log, env)
        servers = [
            start([str(BIN / "momento-tvm"), "serve", "-c", str(config), "--port", "0"], env)
            for _ in range(2)
        ]
        ports = [port_of(url) for _, url in servers]
        try:
            time.sleep(0.5)
            tally = Tally()
            deadline = time.monotonic() + args.duration

            async def load() -> None:
                await asyncio.gather(
                    *(client(ports, args.ids, deadline, tally) for _ in range(args.clients))
                )

            asyncio.run(load())
            before_burst = minted_ids(log.read_text())
            statuses = asyncio.run(burst(ports, "one-hot-id"))
            time.sleep(0.3)  # the emulator's log is written line by line
            text = log.read_text()
        finally:
            for process, _ in servers:
                process.terminate()
                process.wait(10)
            emulator.terminate()
            emulator.wait(10)

    total, most = max_mints_in_any_second(text)
    per_id = minted_ids(text)
    burst_mints = per_id["one-hot-id"] - before_burst["one-hot-id"]
    latencies = sorted(tally.latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else 0.0
    print(f"fleet: 2 instances, backend momento, {args.clients} clients, {args.ids} ids, ")
    print(f"  {args.duration:.0f} s from a cold cache; emulator limit 5 mints/s")
    print(f"  200s: {tally.ok}   shed (503 + Retry-After): {tally.shed}   p99: {p99:.1f} ms")
    print(f"  errors (anything else): {sum(tally.errors.values())} {dict(tally.errors)}")
    print(f"  mints: {total} (2 of them the instances' start-up checks)   most mints in any 1 s ")
    print(f"  window: {most} (limit 5)")
    print(f"  most mints of one token id: {max(per_id.values(), default=0)} (target 1)")
    print(
        f"burst: 100 concurrent requests for one id over both instances: statuses "
        f"{dict(collections.Counter(statuses))}, mints {burst_mints} (target 1)"
    )


if __name__ == "__main__":
    main()
