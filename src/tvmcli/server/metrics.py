"""`GET /metrics` in Prometheus text format (`[server] metrics = true`), with the
prometheus-client library; with `serve --workers N`, its multiprocess mode.

What is counted (all names start with `momento_tvm_`):
- `vends_total{profile, outcome}`: answers to /token; outcome `hit` (a cached token), `shared`
  (from a fleet's shared cache, minted by another instance), `mint` (minted for this request),
  or the error code (`mint_limit`, `momento_unavailable`, ...).
- `mints_total{outcome}` and `mint_seconds` (histogram): calls to Momento's token service.
- `cache_hits_total`; `limiter_waits_total` and `limiter_sheds_total` (the mint budget).
- `auth_failures_total{reason}`: refused callers, by reason code.
- `momento_errors_total{status}`: failed mints, by the error's code.
"""

from __future__ import annotations

import os
from typing import Any

from tvmcli.vending.limiter import NoEvents

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_PATH = "/metrics"


class Metrics:
    """The counters of one app. Pass `multiprocess=True` in `--workers` processes: values go
    to files in $PROMETHEUS_MULTIPROC_DIR and /metrics adds up every worker's."""

    def __init__(self, *, multiprocess: bool = False) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = multiprocess and bool(os.environ.get(MULTIPROCESS_ENV))
        # Our own registry: embedding apps keep theirs clean; one app's metrics per registry.
        self.registry = CollectorRegistry(auto_describe=True)
        register = None if self.multiprocess else self.registry

        def counter(name: str, text: str, labels: tuple[str, ...] = ()) -> Any:
            return Counter(f"momento_tvm_{name}", text, labels, registry=register)

        self.vends = counter(
            "vends", "Answers to /token by profile and outcome", ("profile", "outcome")
        )
        self.mints = counter("mints", "Calls to Momento's token service by outcome", ("outcome",))
        self.mint_seconds = Histogram(
            "momento_tvm_mint_seconds",
            "Time of one mint, retries included",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=register,
        )
        self.cache_hits = counter("cache_hits", "Tokens handed out from a cache")
        self.limiter_waits = counter("limiter_waits", "Mints that waited for the mint budget")
        self.limiter_sheds = counter("limiter_sheds", "Requests shed for lack of mint budget")
        self.auth_failures = counter("auth_failures", "Refused callers by reason", ("reason",))
        self.momento_errors = counter("momento_errors", "Failed mints by error", ("status",))

    # -- the events the vendor and the routes report ------------------------------------------

    def vend(self, profile: str, outcome: str) -> None:
        self.vends.labels(profile, outcome).inc()

    def minted(self, seconds: float) -> None:
        self.mints.labels("ok").inc()
        self.mint_seconds.observe(seconds)

    def mint_failed(self, seconds: float, status: str) -> None:
        self.mints.labels("error").inc()
        self.mint_seconds.observe(seconds)
        self.momento_errors.labels(status).inc()

    def cache_hit(self) -> None:
        self.cache_hits.inc()

    def limiter_waited(self) -> None:
        self.limiter_waits.inc()

    def limiter_shed(self) -> None:
        self.limiter_sheds.inc()

    def auth_failed(self, reason: str) -> None:
        self.auth_failures.labels(reason).inc()

    # -- the page -------------------------------------------------------------------------------

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        if self.multiprocess:
            from prometheus_client import CollectorRegistry
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        page: bytes = generate_latest(registry)
        return page


class NoMetrics(NoEvents):
    """The same events, counted nowhere (`metrics = false`, the default)."""

    def vend(self, profile: str, outcome: str) -> None: ...
    def auth_failed(self, reason: str) -> None: ...
