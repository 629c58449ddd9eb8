"""GET /metrics through a real gateway after real requests through the fake upstream."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from lockgate.observe.metrics import LABEL_LIMITS, GatewayMetrics
from lockgate.observe.record import LogRecord
from tests.gateway_proc import GatewayProcess

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana" / "lockgate-dashboard.json"
TOKEN_FIELDS = {"input": "input_tokens", "cached_input": "cached_input_tokens",
                "cache_write": "cache_write_tokens", "output": "output_tokens", "reasoning": "reasoning_tokens"}


def scrape_text(gw: GatewayProcess, key: str | None = None, **headers: str) -> str:
    auth = {"authorization": f"Bearer {key if key is not None else gw.key}"}
    r = httpx.get(f"{gw.root}/metrics", headers={**auth, **headers}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def samples(text: str) -> list[Sample]:
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples]


def total(found: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in found if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def wait_for(gw: GatewayProcess, name: str, expected: float, timeout: float = 15.0, **labels: str) -> list[Sample]:
    """Scrape until `name` (summed over `labels`) reaches `expected`: the writer counts after its commit."""
    deadline = time.monotonic() + timeout
    while True:
        found = samples(scrape_text(gw))
        if total(found, name, **labels) >= expected or time.monotonic() > deadline:
            assert total(found, name, **labels) == expected, (name, labels, total(found, name, **labels))
            return found
        time.sleep(0.1)


def traffic(gw: GatewayProcess) -> list[str]:
    """A mix of APIs, streamed and not, with reasoning and cached tokens and errors; returns the ids."""
    client = openai.OpenAI(base_url=gw.url, api_key=gw.key, max_retries=0)
    ids: list[str] = []
    for i in range(3):
        raw = client.responses.with_raw_response.create(
            model="gpt-5", input=f"metrics {i}", reasoning={"effort": "low"}, prompt_cache_key="k")
        ids.append(raw.headers["lockgate-request-id"])
    with client.responses.with_streaming_response.create(model="gpt-5", input="streamed", stream=True) as s:
        list(s.iter_lines())
        ids.append(s.headers["lockgate-request-id"])
    for i in range(2):
        with client.chat.completions.with_streaming_response.create(
                model="fast", messages=[{"role": "user", "content": f"chat {i}"}], stream=True) as s:
            list(s.iter_lines())
            ids.append(s.headers["lockgate-request-id"])
    raw_e = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="embed me")
    ids.append(raw_e.headers["lockgate-request-id"])
    with httpx.Client(timeout=10, headers={"authorization": f"Bearer {gw.key}"}) as c:
        for model in ("fake-error-429", "fake-error-500", "no-such-model"):
            r = c.post(f"{gw.url}/responses", content=orjson.dumps({"model": model, "input": "x"}))
            assert r.status_code == {"fake-error-429": 429, "fake-error-500": 500, "no-such-model": 404}[model]
            ids.append(r.headers["lockgate-request-id"])
    client.close()
    return ids


@pytest.fixture(scope="module")
def busy(gateway_factory: Callable[..., GatewayProcess]) -> Iterator[tuple[GatewayProcess, list[str]]]:
    gw = gateway_factory()
    ids = traffic(gw)
    gw.wait_rows(len(ids))
    yield gw, ids


def test_requests_tokens_and_histograms(busy: tuple[GatewayProcess, list[str]]) -> None:
    gw, ids = busy
    found = wait_for(gw, "lockgate_requests_total", len(ids))
    rows = gw.rows()
    assert {r["id"] for r in rows} == set(ids)

    req = "lockgate_requests_total"
    assert total(found, req, api="responses", model="gpt-5", provider="openai", status="200",
                 status_class="2xx") == 4
    # The alias "fast" is counted under the model it resolved to.
    assert total(found, req, api="chat", model="gpt-5-mini", provider="openai", status="200") == 2
    assert total(found, req, api="embeddings", model="text-embedding-3-small", status_class="2xx") == 1
    assert total(found, req, model="fake-error-429", status="429", status_class="4xx") == 1
    assert total(found, req, model="fake-error-500", status="500", status_class="5xx") == 1
    # An unroutable model is never a label value (callers choose it): it counts with model "".
    assert total(found, req, model="", status="404") == 1
    assert not any("no-such-model" in s.labels.values() for s in found)

    err = "lockgate_request_errors_total"
    assert total(found, err, model="fake-error-429", error_type="upstream_status") == 1
    assert total(found, err, model="fake-error-500", error_type="upstream_status") == 1
    assert total(found, err, model="", provider="") == 1
    assert total(found, err) == 3

    # Tokens by type match the log rows exactly.
    for label, field in TOKEN_FIELDS.items():
        expected = sum(r[field] or 0 for r in rows)
        assert total(found, "lockgate_tokens_total", type=label) == expected, label
    assert total(found, "lockgate_tokens_total", type="reasoning") == 3 * 7  # the fake's reasoning count
    assert total(found, "lockgate_tokens_total", type="cached_input") > 0
    assert total(found, "lockgate_tokens_total", model="gpt-5", type="output") > 0

    # Cost: only known prices are summed; requests with usage but no price are counted apart.
    priced = [r for r in rows if r["cost_usd"] is not None]
    assert total(found, "lockgate_cost_usd_total") == pytest.approx(sum(r["cost_usd"] for r in priced))
    with_usage = [r for r in rows if r["cost_usd"] is None and any(r[f] for f in TOKEN_FIELDS.values())]
    assert total(found, "lockgate_requests_unpriced_total") == len(with_usage)

    # Latency histogram: one observation per request, cumulative buckets ending in +Inf == count.
    hist = "lockgate_request_duration_seconds"
    assert total(found, f"{hist}_count") == len(ids)
    assert total(found, f"{hist}_count", api="chat", status_class="2xx") == 2
    latency_sum = sum(r["latency_ms"] for r in rows) / 1000
    assert total(found, f"{hist}_sum") == pytest.approx(latency_sum, rel=1e-6)
    buckets = sorted(((float(s.labels["le"]), s.value) for s in found if s.name == f"{hist}_bucket"
                      and s.labels["api"] == "responses" and s.labels["model"] == "gpt-5"),
                     key=lambda b: b[0])
    assert buckets[-1] == (float("inf"), 4)
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))
    assert [b[0] for b in buckets][:3] == [0.005, 0.01, 0.025] and 600.0 in [b[0] for b in buckets]

    # TTFT: the streamed requests only.
    ttft = "lockgate_time_to_first_token_seconds"
    assert total(found, f"{ttft}_count") == 3
    assert total(found, f"{ttft}_count", api="chat", model="gpt-5-mini") == 2
    assert total(found, f"{ttft}_sum") == pytest.approx(
        sum(r["ttft_ms"] for r in rows if r["ttft_ms"] is not None) / 1000, rel=1e-6)


def test_log_pipeline_gauges(busy: tuple[GatewayProcess, list[str]]) -> None:
    gw, ids = busy
    found = wait_for(gw, "lockgate_log_records_written_total", len(ids))
    assert total(found, "lockgate_log_records_submitted_total") == len(ids)
    assert total(found, "lockgate_log_queue_depth") == 0
    for name in ("spooled", "replayed", "lost"):
        assert total(found, f"lockgate_log_records_{name}_total") == 0, name
    assert total(found, "lockgate_log_write_errors_total") == 0
    assert total(found, "lockgate_build_info") == 1
    assert total(found, "process_resident_memory_bytes") > 0


def test_openmetrics_when_asked(busy: tuple[GatewayProcess, list[str]]) -> None:
    gw, _ = busy
    r = httpx.get(f"{gw.root}/metrics", headers={"authorization": f"Bearer {gw.key}",
                                                 "accept": "application/openmetrics-text; version=1.0.0"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")


def test_spooled_records_are_counted_and_replayed(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory(env={"LOCKGATE_LOG_BATCH_ROWS": "2"})
    lock = sqlite3.connect(gw.data_dir / "lockgate.db", timeout=1)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        with httpx.Client(timeout=10, headers={"authorization": f"Bearer {gw.key}"}) as c:
            for i in range(6):
                r = c.post(f"{gw.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": f"spool {i}"}))
                assert r.status_code == 200
        deadline = time.monotonic() + 15
        while True:
            found = samples(scrape_text(gw))
            spooled = total(found, "lockgate_log_records_spooled_total")
            if spooled >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert spooled == 6
        assert total(found, "lockgate_log_write_errors_total") >= 1
        assert total(found, "lockgate_log_records_written_total") == 0
        # Not committed yet, so not counted as requests yet.
        assert total(found, "lockgate_requests_total") == 0
    finally:
        lock.rollback()
        lock.close()
    found = wait_for(gw, "lockgate_log_records_replayed_total", 6, timeout=30)
    assert total(found, "lockgate_requests_total", status="200") == 6
    assert total(found, "lockgate_log_records_lost_total") == 0


def test_metrics_need_a_key_by_default(busy: tuple[GatewayProcess, list[str]]) -> None:
    gw, _ = busy
    r = httpx.get(f"{gw.root}/metrics")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key" and "Missing gateway key" in r.json()["error"]["message"]
    r = httpx.get(f"{gw.root}/metrics", headers={"authorization": "Bearer lg-not-a-real-key"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert "lockgate_requests_total" in scrape_text(gw)
    r = httpx.get(f"{gw.root}/metrics", headers={"x-api-key": gw.key})
    assert r.status_code == 200
    assert httpx.post(f"{gw.root}/metrics", headers={"authorization": f"Bearer {gw.key}"}).status_code == 405


def test_public_metrics_and_metrics_off(gateway_factory: Callable[..., GatewayProcess]) -> None:
    public = gateway_factory("[telemetry]\nmetrics_public = true\n")
    r = httpx.get(f"{public.root}/metrics")
    assert r.status_code == 200 and "lockgate_build_info" in r.text
    # Only /metrics is public: the proxy still wants a key.
    assert httpx.post(f"{public.url}/responses", json={"model": "gpt-5", "input": "x"}).status_code == 401

    off = gateway_factory("[telemetry]\nmetrics = false\n")
    assert httpx.get(f"{off.root}/metrics", headers={"authorization": f"Bearer {off.key}"}).status_code == 404


def test_logging_off(gateway_factory: Callable[..., GatewayProcess]) -> None:
    """Metrics come from the log writer: with logging off there are no pipeline numbers and no counts."""
    gw = gateway_factory(env={"LOCKGATE_LOG_ENABLED": "false"})
    r = httpx.post(f"{gw.url}/responses", json={"model": "gpt-5", "input": "x"},
                   headers={"authorization": f"Bearer {gw.key}"})
    assert r.status_code == 200
    text = scrape_text(gw)
    found = samples(text)
    assert total(found, "lockgate_build_info") == 1
    assert "lockgate_log_queue_depth" not in text and total(found, "lockgate_requests_total") == 0
    assert "# TYPE lockgate_requests_total counter" in text


def test_model_labels_are_bounded() -> None:
    """Past the limit, new model names are counted as "other" (callers can invent names under a pattern)."""
    metrics = GatewayMetrics(None)
    limit = LABEL_LIMITS["model"]
    batch = [LogRecord(id=str(i), ts=0.0, method="POST", path="/v1/responses", api="responses",
                       model_resolved=f"gpt-x{i}", provider="openai", status=200, latency_ms=5.0)
             for i in range(limit + 50)]
    metrics.observe(batch)
    metrics.observe(batch[:1])
    found = samples(metrics.render()[0].decode())
    models = {s.labels["model"] for s in found if s.name == "lockgate_requests_total"}
    assert len(models) == limit + 1 and "other" in models
    assert total(found, "lockgate_requests_total", model="other") == 50
    assert total(found, "lockgate_requests_total", model="gpt-x0") == 2
    assert total(found, "lockgate_request_duration_seconds_count") == limit + 51


def test_workers_share_one_view(gateway_factory: Callable[..., GatewayProcess]) -> None:
    """With two workers, every scrape (whichever worker answers) shows the counts of both."""
    gw = gateway_factory(env={"LOCKGATE_SERVER_WORKERS": "2"})
    n = 24
    for i in range(n):
        # A new connection each time, so that both workers take some.
        r = httpx.post(f"{gw.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": f"w {i}"}),
                       headers={"authorization": f"Bearer {gw.key}"}, timeout=10)
        assert r.status_code == 200
    rows = gw.wait_rows(n)
    assert len(rows) == n
    wait_for(gw, "lockgate_log_records_written_total", n)
    for _ in range(8):
        found = samples(scrape_text(gw))  # new connection: either worker
        assert total(found, "lockgate_requests_total", status="200") == n
        assert total(found, "lockgate_request_duration_seconds_count") == n
        assert total(found, "lockgate_tokens_total", type="output") == sum(r["output_tokens"] for r in rows)
        assert total(found, "lockgate_log_records_written_total") == n
        assert total(found, "lockgate_log_queue_depth") == 0
    assert list((gw.data_dir / "prometheus").glob("*.db"))


# -- the Grafana dashboard -------------------------------------------------------------

GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "6h", "$model": ".*", "$provider": ".*"}


def _queries(node: Any) -> Iterator[str]:
    """Every PromQL text in the dashboard: panel targets and template variable queries."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "definition") and isinstance(v, str):
                yield v
            else:
                yield from _queries(v)
    elif isinstance(node, list):
        for v in node:
            yield from _queries(v)


def _selected_metrics(node: Any) -> Iterator[str]:
    """The metric names a parsed PromQL expression selects."""
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            yield node.name
        return
    for attr in dir(node):
        if attr.startswith("_") or attr in ("parse", "prettify"):
            continue
        value = getattr(node, attr)
        for child in value if isinstance(value, list) else [value]:
            if hasattr(child, "prettify"):  # an AST node
                yield from _selected_metrics(child)


def exported_names(text: str) -> set[str]:
    """Every series name /metrics can show, including families with no sample yet."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names: set[str] = set()
    for fam in text_string_to_metric_families(text):
        names.update(s.name for s in fam.samples)
        names.update(fam.name + sfx for sfx in suffixes.get(fam.type, ("",)))
    return names


def test_dashboard_uses_only_exported_metrics(busy: tuple[GatewayProcess, list[str]]) -> None:
    gw, _ = busy
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["title"] and dashboard["panels"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    names = exported_names(scrape_text(gw))
    used: set[str] = set()
    queries = list(_queries(dashboard))
    assert len(queries) >= 20
    for query in queries:
        m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", query)
        if m:  # a Grafana template function, not PromQL
            used.add(m.group(1))
            continue
        for var, value in GRAFANA_VARS.items():
            query = query.replace(var, value)
        assert "$" not in query, query
        used.update(_selected_metrics(promql_parser.parse(query)))  # raises on invalid PromQL
    missing = used - names
    assert not missing, f"dashboard uses metrics /metrics does not export: {sorted(missing)}"
    for wanted in ("lockgate_requests_total", "lockgate_request_duration_seconds_bucket",
                   "lockgate_time_to_first_token_seconds_bucket", "lockgate_tokens_total", "lockgate_cost_usd_total",
                   "lockgate_log_queue_depth", "lockgate_log_records_spooled_total",
                   "lockgate_log_records_lost_total", "lockgate_request_errors_total"):
        assert wanted in used, wanted
