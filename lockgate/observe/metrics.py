"""Prometheus metrics, counted in the log writer thread from each committed batch.

`GatewayMetrics.observe` is a `LogSink` observer: the request path does nothing for
metrics. Counters are summed per batch and incremented once per label set; the
histograms take one observation per record. The log pipeline's own numbers
(`LogSink.stats`) are read when Prometheus scrapes, by a custom collector.

With several worker processes (`server.workers > 1`) each process counts for itself,
and a scrape reaches one of them. `lockgate serve` then points
`PROMETHEUS_MULTIPROC_DIR` at a directory under the data dir, emptied at start, and
prometheus-client's multiprocess mode sums every worker's files at scrape time. The
pipeline numbers, kept per process by each sink, are copied into those files once a
second (`sync_forever`) since a collector in one worker cannot see the others.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lockgate import __version__
from lockgate.observe.record import LogRecord
from lockgate.observe.sink import SinkStats

__all__ = ["LATENCY_BUCKETS", "MULTIPROC_ENV", "TTFT_BUCKETS", "GatewayMetrics"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# LLM calls take from milliseconds (errors, embeddings, cache hits) to many minutes (long
# reasoning or agent turns); 17 buckets keep both ends readable for histogram_quantile.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
                   300.0, 600.0)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)
TOKEN_TYPES = (("input", "input_tokens"), ("cached_input", "cached_input_tokens"),
               ("cache_write", "cache_write_tokens"), ("output", "output_tokens"),
               ("reasoning", "reasoning_tokens"))
# Label values beyond these many distinct ones are counted as "other": a model pattern
# such as "gpt-*" lets a caller invent model names, and each one would be a new series.
LABEL_LIMITS = {"model": 200, "api": 50, "provider": 100, "error_type": 100}
_OTHER = "other"
_YIELD_EVERY = 32  # records between GIL hand-offs (about 100 µs of work, as the sink's pacer)
_PIPELINE = (("submitted", "Log records handed to the log sink"),
             ("written", "Log records written to the database (replays not included)"),
             ("spooled", "Log records sent to the spool file (queue full or database unavailable)"),
             ("replayed", "Spooled log records written to the database later"),
             ("lost", "Log records neither written nor spooled"),
             ("write_errors", "Failed attempts to write a batch to the database"))


class _Capped:
    """Keeps a label's values bounded: the first `limit` distinct values, then "other"."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return _OTHER
        self._seen.add(value)
        return value


class _PipelineCollector(Collector):
    """The log pipeline's counters, read from the sink at scrape time (one process)."""

    def __init__(self, stats: Callable[[], SinkStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        yield GaugeMetricFamily("lockgate_log_queue_depth", "Log records waiting for the writer thread",
                                value=s.queue_depth)
        for field, doc in _PIPELINE:
            yield CounterMetricFamily(f"lockgate_log_records_{field}" if field != "write_errors"
                                      else "lockgate_log_write_errors", doc, value=getattr(s, field))


class _InfoCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("lockgate_build_info", "lockgate version (always 1)", labels=["version"])
        info.add_metric([__version__], 1)
        yield info


class GatewayMetrics:
    """The gateway's Prometheus metrics; `observe` is the LogSink observer, `render` the scrape."""

    def __init__(self, stats: Callable[[], SinkStats] | None = None, *,
                 multiprocess_dir: str | None = None) -> None:
        """`stats` reads the log sink's counters (None when logging is off). Multiprocess mode
        follows $PROMETHEUS_MULTIPROC_DIR unless `multiprocess_dir` is given."""
        self.multiprocess_dir = multiprocess_dir or os.environ.get(MULTIPROC_ENV) or None
        self._stats = stats
        mp = self.multiprocess_dir is not None
        # Own registries, never the global one: several gateways in one process (tests)
        # must not collide, and multiprocess mode collects from the files instead.
        registry: CollectorRegistry | None = None if mp else CollectorRegistry()
        self._caps = {name: _Capped(limit) for name, limit in LABEL_LIMITS.items()}
        self.requests = Counter(
            "lockgate_requests", "Requests handled, by the status returned to the client",
            ["api", "model", "provider", "status", "status_class"], registry=registry)
        self.errors = Counter(
            "lockgate_request_errors", "Requests that failed (status >= 400), by error type",
            ["api", "model", "provider", "error_type"], registry=registry)
        self.tokens = Counter(
            "lockgate_tokens", "Tokens reported by providers; input includes cached_input and cache_write, "
            "output includes reasoning", ["model", "provider", "type"], registry=registry)
        self.cost = Counter(
            "lockgate_cost_usd", "Cost in US dollars of requests with a known price", ["model", "provider"],
            registry=registry)
        self.unpriced = Counter(
            "lockgate_requests_unpriced", "Requests with token usage but no known price",
            ["model", "provider"], registry=registry)
        self.latency = Histogram(
            "lockgate_request_duration_seconds", "Time from request received to last byte sent",
            ["api", "model", "provider", "status_class"], buckets=LATENCY_BUCKETS, registry=registry)
        self.ttft = Histogram(
            "lockgate_time_to_first_token_seconds", "Streamed requests: time from request received to the "
            "first output token", ["api", "model", "provider"], buckets=TTFT_BUCKETS, registry=registry)
        self._counters: dict[tuple[object, ...], Counter] = {}
        self._histograms: dict[tuple[object, ...], Histogram] = {}
        if mp:
            self._registry = CollectorRegistry()
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self._registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            self._clean_dead_processes()
            self._mp_depth = Gauge("lockgate_log_queue_depth", "Log records waiting for the writer thread",
                                   multiprocess_mode="livesum", registry=None)
            self._mp_counts = {f: Counter(f"lockgate_log_records_{f}" if f != "write_errors"
                                          else "lockgate_log_write_errors", doc, registry=None)
                               for f, doc in _PIPELINE}
            self._synced = dict.fromkeys(self._mp_counts, 0)
        else:
            assert registry is not None
            self._registry = registry
            from prometheus_client import PlatformCollector, ProcessCollector

            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            if stats is not None:
                registry.register(_PipelineCollector(stats))
        self._registry.register(_InfoCollector())

    @property
    def multiprocess(self) -> bool:
        return self.multiprocess_dir is not None

    # -- writer thread ------------------------------------------------------------------

    def observe(self, batch: Sequence[LogRecord]) -> None:
        """Count a committed batch (runs in the log writer thread)."""
        caps = self._caps
        requests: dict[tuple[str, ...], int] = {}
        errors: dict[tuple[str, ...], int] = {}
        tokens: dict[tuple[str, ...], int] = {}
        cost: dict[tuple[str, ...], float] = {}
        unpriced: dict[tuple[str, ...], int] = {}
        for n, rec in enumerate(batch, 1):
            api = caps["api"](rec.api)
            model = caps["model"](rec.model_resolved or "")
            provider = caps["provider"](rec.provider or "")
            status = rec.status
            status_class = f"{status // 100}xx" if status >= 100 else "none"
            key = (api, model, provider, str(status), status_class)
            requests[key] = requests.get(key, 0) + 1
            if status >= 400:
                ekey = (api, model, provider, caps["error_type"](rec.error_type or "http_error"))
                errors[ekey] = errors.get(ekey, 0) + 1
            mp = (model, provider)
            has_usage = False
            for label, field in TOKEN_TYPES:
                count = getattr(rec, field)
                if count:
                    has_usage = True
                    tkey = (model, provider, label)
                    tokens[tkey] = tokens.get(tkey, 0) + count
            if rec.cost_usd is not None:
                cost[mp] = cost.get(mp, 0.0) + rec.cost_usd
            elif has_usage:
                unpriced[mp] = unpriced.get(mp, 0) + 1
            if rec.latency_ms is not None:
                self._histogram(self.latency, (api, model, provider, status_class)).observe(rec.latency_ms / 1000)
            if rec.ttft_ms is not None:
                self._histogram(self.ttft, (api, model, provider)).observe(rec.ttft_ms / 1000)
            if n % _YIELD_EVERY == 0:
                time.sleep(0)  # let a waiting event loop take the GIL now (see sink._GilPacer)
        for counter, sums in ((self.requests, requests), (self.errors, errors), (self.tokens, tokens),
                              (self.cost, cost), (self.unpriced, unpriced)):
            for labels, value in sums.items():
                self._counter(counter, labels).inc(value)

    # .labels() validates and locks on every call; a dict hit costs a fraction of that.
    def _counter(self, metric: Counter, labels: tuple[str, ...]) -> Counter:
        key = (id(metric), *labels)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = metric.labels(*labels)
        return child

    def _histogram(self, metric: Histogram, labels: tuple[str, ...]) -> Histogram:
        key = (id(metric), *labels)
        child = self._histograms.get(key)
        if child is None:
            child = self._histograms[key] = metric.labels(*labels)
        return child

    # -- scrape ---------------------------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (OpenMetrics when the scraper asks for it) and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._registry), content_type

    # -- multiprocess mode ----------------------------------------------------------------

    def sync(self) -> None:
        """Copy this process' log pipeline counters into the shared files (multiprocess mode)."""
        if not self.multiprocess or self._stats is None:
            return
        s = self._stats()
        self._mp_depth.set(s.queue_depth)
        for field, counter in self._mp_counts.items():
            value = getattr(s, field)
            if value > self._synced[field]:
                counter.inc(value - self._synced[field])
                self._synced[field] = value

    async def sync_forever(self, interval: float = 1.0) -> None:
        while True:
            self.sync()
            await asyncio.sleep(interval)

    def close(self) -> None:
        """At shutdown: drop this process' live gauges from the shared files."""
        if self.multiprocess:
            self.sync()
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]

    def _clean_dead_processes(self) -> None:
        """Live gauges of workers that died without close() would be summed forever."""
        assert self.multiprocess_dir is not None
        from prometheus_client import multiprocess

        for path in Path(self.multiprocess_dir).glob("gauge_live*_*.db"):
            m = re.search(r"_(\d+)\.db$", path.name)
            if m and not _alive(int(m.group(1))):
                multiprocess.mark_process_dead(int(m.group(1)), self.multiprocess_dir)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
