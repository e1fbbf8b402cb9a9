"""Topics fan-out on the emulator: one publisher and `--subscribers` subscribers (Momento's
Python async SDK, `TopicClientAsync`) on one topic of a `momento-tvm emulator` process.

Phase 1, burst: `--messages` messages published one after another as fast as the publisher's
awaits allow. Phase 2, steady: `--rate` messages a second for `--duration` seconds, while the
emulator's resident memory is sampled every second. Each phase prints publish-to-delivery p50
and p99 (milliseconds; the value carries the publisher's clock, the subscribers share it),
delivered messages per second (all subscribers together) and lost messages (expected
deliveries that never arrived), and the CPU seconds the emulator and this process spent. The
steady phase also prints the emulator's RSS at its start,
its peak and its end. Targets (issue 20): p99 <= 20 ms on loopback while subscribers keep up,
0 lost, memory flat.

    .venv/bin/python benchmarks/topics_fanout.py [--subscribers 100] [--messages 2000]
        [--rate 50] [--duration 60]

Publisher, subscribers and the emulator share this machine's cores; say so when quoting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from momento import CredentialProvider, TopicClientAsync, TopicConfigurations
from momento.responses import TopicPublish, TopicSubscribe, TopicSubscriptionItem

from benchkit import compile_package, start_emulator

CACHE, TOPIC = "bench", "fanout"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Phase:
    """Arrivals per subscriber of the messages tagged with this phase's name."""

    def __init__(self, name: str, subscribers: int) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.seen: list[set[int]] = [set() for _ in range(subscribers)]
        self.sent = 0
        self.first = 0.0
        self.last = 0.0
        self.cpu: tuple[float, float] = (0.0, 0.0)  # the emulator's, this process's

    def arrived(self, subscriber: int, index: int, sent_ns: int) -> None:
        now = time.perf_counter_ns()
        if index not in self.seen[subscriber]:
            self.seen[subscriber].add(index)
            self.latencies.append((now - sent_ns) / 1e6)
            self.last = time.perf_counter()

    def delivered(self) -> int:
        return sum(len(s) for s in self.seen)

    def start(self, pid: int) -> None:
        self.first = time.perf_counter()
        self.cpu = (cpu_seconds(pid), time.process_time())

    def report(self, pid: int) -> None:
        emulator_cpu = cpu_seconds(pid) - self.cpu[0]
        our_cpu = time.process_time() - self.cpu[1]
        expected = self.sent * len(self.seen)
        got = self.delivered()
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) if ordered else float("nan")
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
        span = max(self.last - self.first, 1e-9)
        print(
            f"{self.name}: {self.sent} messages x {len(self.seen)} subscribers: "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {got / span:,.0f} delivered messages/s, "
            f"lost {expected - got}; CPU: emulator {emulator_cpu:.1f} s, "
            f"publisher and subscribers {our_cpu:.1f} s, over {span:.1f} s"
        )


async def run(args: argparse.Namespace, env: dict[str, str], pid: int) -> None:
    host, port = env["MOMENTO_ENDPOINT"].split(":")
    provider = CredentialProvider(env["MOMENTO_API_KEY"], host, host, host, int(port))
    config = (
        TopicConfigurations.Default.v1()
        .with_client_timeout(timedelta(seconds=args.duration + 120))  # the stream's deadline
        .with_max_subscriptions(args.subscribers)
    )
    phases: dict[str, Phase] = {}
    async with (
        TopicClientAsync(config, provider) as subscribers_client,
        TopicClientAsync(config, provider) as publisher,
    ):
        subscriptions = []
        for _ in range(args.subscribers):
            subscription = await subscribers_client.subscribe(CACHE, TOPIC)
            if not isinstance(subscription, TopicSubscribe.SubscriptionAsync):
                raise SystemExit(f"subscribe failed: {subscription}")
            subscriptions.append(subscription)

        async def listen(number: int, subscription: TopicSubscribe.SubscriptionAsync) -> None:
            async for item in subscription:
                if not isinstance(item, TopicSubscriptionItem.Text):
                    return
                phase, index, sent_ns = item.value.split(" ")
                phases[phase].arrived(number, int(index), int(sent_ns))

        listeners = [asyncio.create_task(listen(n, s)) for n, s in enumerate(subscriptions)]

        async def publish(phase: Phase, index: int) -> None:
            value = f"{phase.name} {index} {time.perf_counter_ns()}"
            response = await publisher.publish(CACHE, TOPIC, value)
            if not isinstance(response, TopicPublish.Success):
                raise SystemExit(f"publish failed: {response}")
            phase.sent += 1

        async def settle(phase: Phase) -> None:
            expected = phase.sent * args.subscribers
            quiet_until = time.perf_counter() + 10
            while phase.delivered() < expected and time.perf_counter() < quiet_until:
                before = phase.delivered()
                await asyncio.sleep(0.2)
                if phase.delivered() > before:
                    quiet_until = time.perf_counter() + 10

        burst = phases["burst"] = Phase("burst", args.subscribers)
        burst.start(pid)
        for index in range(args.messages):
            await publish(burst, index)
        await settle(burst)
        burst.report(pid)

        steady = phases["steady"] = Phase("steady", args.subscribers)
        memory = [rss_kib(pid)]
        steady.start(pid)
        start = steady.first
        index = 0
        next_sample = start + 1
        while (now := time.perf_counter()) < start + args.duration:
            await publish(steady, index)
            index += 1
            if now >= next_sample:
                memory.append(rss_kib(pid))
                next_sample += 1
            await asyncio.sleep(max(0.0, start + index / args.rate - time.perf_counter()))
        await settle(steady)
        memory.append(rss_kib(pid))
        steady.report(pid)
        print(
            f"emulator memory over {args.duration:.0f} s: start {memory[0] / 1024:.1f} MiB, "
            f"peak {max(memory) / 1024:.1f} MiB, end {memory[-1] / 1024:.1f} MiB "
            f"({len(memory)} samples)"
        )
        for subscription in subscriptions:
            subscription.unsubscribe()
        for listener in listeners:
            listener.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    compile_package()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        env["MOMENTO_TVM_CACHE_DIR"] = folder
        emulator = start_emulator(Path(folder) / "emulator.log", env)
        try:
            asyncio.run(run(args, env, int(env["MOMENTO_TVM_EMULATOR_PID"])))
        finally:
            emulator.terminate()
            emulator.wait(10)


if __name__ == "__main__":
    main()
