"""Prometheus metrics, counted in the log writer thread from each committed batch.

`GatewayMetrics.observe` is a `LogSink` observer: the request path does nothing for
metrics. A batch is summed per label set first, then added to the totals under one lock.
The log pipeline's own numbers (`LogSink.stats`) are read when Prometheus scrapes.

One process keeps its totals in plain dicts and builds the exposition with
prometheus-client's metric families at scrape time, so prometheus-client is imported at
the first scrape and not at start (1.3 MB of modules a gateway nobody scrapes would carry).

With several worker processes (`server.workers > 1`) each process counts for itself and
a scrape reaches one of them. `lockgate serve` then points `PROMETHEUS_MULTIPROC_DIR` at
a directory under the data dir, emptied at start, and the totals go to prometheus-client
metrics in multiprocess mode, whose files every worker sums at scrape time. The pipeline
numbers, kept per process by each sink, are copied into those files once a second
(`sync_forever`) since a collector in one worker cannot see the others.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lockgate import __version__
from lockgate.observe.record import LogRecord
from lockgate.observe.sink import SinkStats

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics_core import Metric

__all__ = ["COUNTERS", "HISTOGRAMS", "MULTIPROC_ENV", "GatewayMetrics"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# LLM calls take from milliseconds (errors, embeddings, cache hits) to many minutes (long
# reasoning or agent turns); 17 buckets keep both ends readable for histogram_quantile.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
                   300.0, 600.0)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)
_MODEL = ("model", "provider")
_ROUTE = ("api", "model", "provider")
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {  # name (without _total) → help, labels
    "lockgate_requests": ("Requests handled, by the status returned to the client",
                          (*_ROUTE, "status", "status_class")),
    "lockgate_request_errors": ("Requests that failed (status >= 400), by error type", (*_ROUTE, "error_type")),
    "lockgate_tokens": ("Tokens reported by providers; input includes cached_input and cache_write, output "
                        "includes reasoning", (*_MODEL, "type")),
    "lockgate_cost_usd": ("Cost in US dollars of requests with a known price", _MODEL),
    "lockgate_requests_unpriced": ("Requests with token usage but no known price", _MODEL),
}
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "lockgate_request_duration_seconds": ("Time from request received to last byte sent",
                                          (*_ROUTE, "status_class"), LATENCY_BUCKETS),
    "lockgate_time_to_first_token_seconds": ("Streamed requests: time from request received to the first "
                                             "output token", _ROUTE, TTFT_BUCKETS),
}
TOKEN_TYPES = (("input", "input_tokens"), ("cached_input", "cached_input_tokens"),
               ("cache_write", "cache_write_tokens"), ("output", "output_tokens"),
               ("reasoning", "reasoning_tokens"))
# Label values beyond these many distinct ones are counted as "other": a model pattern
# such as "gpt-*" lets a caller invent model names, and each one would be a new series.
LABEL_LIMITS = {"model": 200, "api": 50, "provider": 100, "error_type": 100}
_OTHER = "other"
_YIELD_EVERY = 64  # records between GIL hand-offs (about 100 µs of work, as the sink's pacer)
_PIPELINE = (("submitted", "Log records handed to the log sink"),
             ("written", "Log records written to the database (replays not included)"),
             ("spooled", "Log records sent to the spool file (queue full or database unavailable)"),
             ("replayed", "Spooled log records written to the database later"),
             ("lost", "Log records neither written nor spooled"),
             ("write_errors", "Failed attempts to write a batch to the database"))
_QUEUE_HELP = "Log records waiting for the writer thread"

Labels = tuple[str, ...]
Sums = dict[str, dict[Labels, float]]  # counter name → label values → amount
Observations = dict[str, dict[Labels, list[float]]]  # histogram name → label values → values


def _le(bound: float) -> str:
    """A bucket bound as Prometheus' clients write it ("0.005", "1.0", "600.0")."""
    return repr(float(bound))


def _pipeline_name(field: str) -> str:
    return "lockgate_log_write_errors" if field == "write_errors" else f"lockgate_log_records_{field}"


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


class _Totals(Protocol):
    def add(self, sums: Sums, observations: Observations) -> None: ...

    def registry(self) -> CollectorRegistry: ...


class _LocalTotals:
    """One process: plain dicts, exposed through metric families built at scrape time."""

    def __init__(self, stats: Callable[[], SinkStats] | None) -> None:
        self._stats = stats
        self._lock = threading.Lock()  # one batch is added whole: a scrape never sees half of one
        self._counters: Sums = {name: {} for name in COUNTERS}
        # Per label set: counts per bucket (the last one is +Inf, not cumulative), then the sum.
        self._hists: dict[str, dict[Labels, list[float]]] = {name: {} for name in HISTOGRAMS}
        self._registry: CollectorRegistry | None = None
        self._registry_lock = threading.Lock()

    def add(self, sums: Sums, observations: Observations) -> None:
        with self._lock:
            for name, by_labels in sums.items():
                totals = self._counters[name]
                for labels, value in by_labels.items():
                    totals[labels] = totals.get(labels, 0) + value
            for name, by_labels_v in observations.items():
                bounds = HISTOGRAMS[name][2]
                hists = self._hists[name]
                for labels, values in by_labels_v.items():
                    h = hists.get(labels)
                    if h is None:
                        h = hists[labels] = [0.0] * (len(bounds) + 2)
                    for v in values:
                        h[bisect.bisect_left(bounds, v)] += 1  # le is inclusive
                    h[-1] += sum(values)

    def registry(self) -> CollectorRegistry:
        with self._registry_lock:
            if self._registry is None:
                from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

                reg = CollectorRegistry()
                ProcessCollector(registry=reg)
                PlatformCollector(registry=reg)
                reg.register(self)
                if self._stats is not None:
                    reg.register(_PipelineCollector(self._stats))
                reg.register(_InfoCollector())
                self._registry = reg
            return self._registry

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily

        with self._lock:
            counters = {name: dict(values) for name, values in self._counters.items()}
            hists = {name: {labels: list(h) for labels, h in values.items()} for name, values in self._hists.items()}
        for name, (doc, labelnames) in COUNTERS.items():
            fam = CounterMetricFamily(name, doc, labels=labelnames)
            for labels, value in counters[name].items():
                fam.add_metric(labels, value)
            yield fam
        for name, (doc, labelnames, bounds) in HISTOGRAMS.items():
            hfam = HistogramMetricFamily(name, doc, labels=labelnames)
            les = [_le(b) for b in bounds] + ["+Inf"]
            for labels, h in hists[name].items():
                cumulative, running = [], 0.0
                for le, count in zip(les, h[:-1], strict=True):
                    running += count
                    cumulative.append((le, running))
                hfam.add_metric(labels, cumulative, sum_value=h[-1])
            yield hfam


class _MultiprocessTotals:
    """Several workers: prometheus-client metrics in multiprocess mode (mmap files in `path`)."""

    def __init__(self, path: str, stats: Callable[[], SinkStats] | None) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
            multiprocess,
        )

        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.path = path
        self._stats = stats
        self._clean_dead_processes()
        self._counters = {name: Counter(name, doc, labelnames, registry=None)
                          for name, (doc, labelnames) in COUNTERS.items()}
        self._hists = {name: Histogram(name, doc, labelnames, buckets=bounds, registry=None)
                       for name, (doc, labelnames, bounds) in HISTOGRAMS.items()}
        self._counter_children: dict[tuple[str, Labels], Counter] = {}
        self._hist_children: dict[tuple[str, Labels], Histogram] = {}
        self._depth: Gauge = Gauge("lockgate_log_queue_depth", _QUEUE_HELP, multiprocess_mode="livesum",
                                   registry=None)
        self._pipeline = {f: Counter(_pipeline_name(f), doc, registry=None) for f, doc in _PIPELINE}
        self._synced = dict.fromkeys(self._pipeline, 0)
        self._registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(self._registry, path=path)  # type: ignore[no-untyped-call]
        self._registry.register(_InfoCollector())

    def add(self, sums: Sums, observations: Observations) -> None:
        # .labels() validates and locks on every call; a dict hit costs a fraction of that.
        for name, by_labels in sums.items():
            for labels, value in by_labels.items():
                child = self._counter_children.get((name, labels))
                if child is None:
                    child = self._counter_children[(name, labels)] = self._counters[name].labels(*labels)
                child.inc(value)
        for name, by_labels_v in observations.items():
            for labels, values in by_labels_v.items():
                hchild = self._hist_children.get((name, labels))
                if hchild is None:
                    hchild = self._hist_children[(name, labels)] = self._hists[name].labels(*labels)
                for v in values:
                    hchild.observe(v)

    def registry(self) -> CollectorRegistry:
        return self._registry

    def sync(self) -> None:
        """Copy this process' log pipeline counters into the shared files."""
        if self._stats is None:
            return
        s = self._stats()
        self._depth.set(s.queue_depth)
        for field, counter in self._pipeline.items():
            value = getattr(s, field)
            if value > self._synced[field]:
                counter.inc(value - self._synced[field])
                self._synced[field] = value

    def close(self) -> None:
        from prometheus_client import multiprocess

        self.sync()
        multiprocess.mark_process_dead(os.getpid(), self.path)  # type: ignore[no-untyped-call]

    def _clean_dead_processes(self) -> None:
        """Live gauges of workers that died without close() would be summed forever."""
        from prometheus_client import multiprocess

        for path in Path(self.path).glob("gauge_live*_*.db"):
            m = re.search(r"_(\d+)\.db$", path.name)
            if m and not _alive(int(m.group(1))):
                multiprocess.mark_process_dead(int(m.group(1)), self.path)  # type: ignore[no-untyped-call]


class _PipelineCollector:
    """The log pipeline's counters, read from the sink at scrape time (one process)."""

    def __init__(self, stats: Callable[[], SinkStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily

        s = self._stats()
        yield GaugeMetricFamily("lockgate_log_queue_depth", _QUEUE_HELP, value=s.queue_depth)
        for field, doc in _PIPELINE:
            yield CounterMetricFamily(_pipeline_name(field), doc, value=getattr(s, field))


class _InfoCollector:
    def collect(self) -> Iterator[Metric]:
        from prometheus_client.metrics_core import GaugeMetricFamily

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
        self._caps = {name: _Capped(limit) for name, limit in LABEL_LIMITS.items()}
        self._mp: _MultiprocessTotals | None = None
        self._totals: _Totals
        if self.multiprocess_dir is not None:
            self._mp = _MultiprocessTotals(self.multiprocess_dir, stats)
            self._totals = self._mp
        else:
            self._totals = _LocalTotals(stats)

    @property
    def multiprocess(self) -> bool:
        return self._mp is not None

    def observe(self, batch: Sequence[LogRecord]) -> None:
        """Count a committed batch (runs in the log writer thread)."""
        caps = self._caps
        cap_api, cap_model, cap_provider, cap_error = caps["api"], caps["model"], caps["provider"], caps["error_type"]
        requests: dict[Labels, float] = {}
        errors: dict[Labels, float] = {}
        tokens: dict[Labels, float] = {}
        cost: dict[Labels, float] = {}
        unpriced: dict[Labels, float] = {}
        latency: dict[Labels, list[float]] = {}
        ttft: dict[Labels, list[float]] = {}
        for n, rec in enumerate(batch, 1):
            api, model = cap_api(rec.api), cap_model(rec.model_resolved or "")
            provider = cap_provider(rec.provider or "")
            status = rec.status
            status_class = f"{status // 100}xx" if status >= 100 else "none"
            key = (api, model, provider, str(status), status_class)
            requests[key] = requests.get(key, 0) + 1
            if status >= 400:
                ekey = (api, model, provider, cap_error(rec.error_type or "http_error"))
                errors[ekey] = errors.get(ekey, 0) + 1
            mkey = (model, provider)
            has_usage = False
            for label, field in TOKEN_TYPES:
                count = getattr(rec, field)
                if count:
                    has_usage = True
                    tkey = (model, provider, label)
                    tokens[tkey] = tokens.get(tkey, 0) + count
            if rec.cost_usd is not None:
                cost[mkey] = cost.get(mkey, 0.0) + rec.cost_usd
            elif has_usage:
                unpriced[mkey] = unpriced.get(mkey, 0) + 1
            if rec.latency_ms is not None:
                latency.setdefault((api, model, provider, status_class), []).append(rec.latency_ms / 1000)
            if rec.ttft_ms is not None:
                ttft.setdefault((api, model, provider), []).append(rec.ttft_ms / 1000)
            if n % _YIELD_EVERY == 0:
                time.sleep(0)  # let a waiting event loop take the GIL now (see sink._GilPacer)
        self._totals.add(
            {"lockgate_requests": requests, "lockgate_request_errors": errors, "lockgate_tokens": tokens,
             "lockgate_cost_usd": cost, "lockgate_requests_unpriced": unpriced},
            {"lockgate_request_duration_seconds": latency, "lockgate_time_to_first_token_seconds": ttft})

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (OpenMetrics when the scraper asks for it) and its content type."""
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._totals.registry()), content_type

    def sync(self) -> None:
        """Multiprocess mode: copy this process' log pipeline counters into the shared files."""
        if self._mp is not None:
            self._mp.sync()

    async def sync_forever(self, interval: float = 1.0) -> None:
        while True:
            self.sync()
            await asyncio.sleep(interval)

    def close(self) -> None:
        """At shutdown: drop this process' live gauges from the shared files."""
        if self._mp is not None:
            self._mp.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

