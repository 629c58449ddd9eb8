"""Cost: the pricing step against genai-prices' own numbers, overrides, statuses, the
Model-Override header, no network, and streamed = non-streamed cost for every provider."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from genai_prices import Usage, calc_price, extract_usage

from lockgate.config import PricingSettings, ProviderSettings, check_config
from lockgate.observe.cost import Pricer
from lockgate.observe.record import LogRecord
from lockgate.observe.sink import LogSink, SinkOptions
from lockgate.observe.usage import apply_usage
from lockgate.server.headers import read_meta
from lockgate.store.db import database_url_for, migrate, open_engine
from lockgate.store.requests import get_request
from tests.gateway_proc import GatewayProcess

PROVIDERS = {
    "openai": ProviderSettings(base_url="https://api.openai.com/v1"),
    "anthropic": ProviderSettings(type="anthropic", base_url="https://api.anthropic.com"),
    "gemini": ProviderSettings(base_url="https://generativelanguage.googleapis.com/v1beta/openai"),
    "corp": ProviderSettings(type="anthropic", base_url="https://api.anthropic.com"),  # a name of our own
    "local": ProviderSettings(base_url="http://127.0.0.1:9/v1"),
    "proxy": ProviderSettings(base_url="https://llm.corp.example/v1"),  # some remote host
    "pplx": ProviderSettings(base_url="https://api.perplexity.ai"),  # has a per-request price
    "xai": ProviderSettings(base_url="https://api.x.ai/v1"),
}
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
                 "cache_write_1h_tokens", "reasoning_tokens", "total_tokens")


def pricer(models: dict[str, Any] | None = None) -> Pricer:
    return Pricer(PricingSettings.model_validate({"models": models or {}}), PROVIDERS)


def record(i: int = 1, **kw: Any) -> LogRecord:
    rec = LogRecord(id=f"req-{i:05d}", ts=time.time(), method="POST", path="/v1/chat/completions", api="chat",
                    status=200)
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


def priced(**kw: Any) -> LogRecord:
    rec = record(**kw)
    apply_usage(rec)
    pricer()(rec)
    return rec


# -- wire shapes (non-stream bodies) ------------------------------------------------------

OPENAI_CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1763000000, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12000, "completion_tokens": 900, "total_tokens": 12900,
              "prompt_tokens_details": {"cached_tokens": 8064, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
}
OPENAI_RESPONSES = {
    "id": "resp_1", "object": "response", "created_at": 1763000000, "status": "completed", "model": "gpt-5",
    "output": [],
    "usage": {"input_tokens": 20000, "input_tokens_details": {"cached_tokens": 15000}, "output_tokens": 3000,
              "output_tokens_details": {"reasoning_tokens": 2200}, "total_tokens": 23000},
}
ANTHROPIC_USAGE = {"input_tokens": 150, "cache_creation_input_tokens": 4000, "cache_read_input_tokens": 30000,
                   "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 2500},
                   "output_tokens": 800, "service_tier": "standard"}
ANTHROPIC = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
             "content": [{"type": "text", "text": "Hello"}], "stop_reason": "end_turn", "stop_sequence": None,
             "usage": ANTHROPIC_USAGE}
GEMINI_USAGE = {"promptTokenCount": 50000, "candidatesTokenCount": 1200, "totalTokenCount": 52000,
                "cachedContentTokenCount": 32000, "thoughtsTokenCount": 800,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 50000}],
                "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 32000}]}
GEMINI = {"candidates": [{"content": {"parts": [{"text": "Hello"}], "role": "model"}, "finishReason": "STOP",
                          "index": 0}],
          "usageMetadata": GEMINI_USAGE, "modelVersion": "gemini-2.5-flash", "responseId": "gem-1"}

XAI_CHAT = {"id": "x-1", "object": "chat.completion", "model": "grok-3-mini",
            "usage": {"prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 1240,
                      "prompt_tokens_details": {"cached_tokens": 512},
                      "completion_tokens_details": {"reasoning_tokens": 300}}}

# (body, configured provider, genai-prices provider id, API flavor, model)
WIRE_CASES = {
    "openai-chat-gpt-4o": (OPENAI_CHAT, "openai", "openai", "chat", "gpt-4o-2024-08-06"),
    "openai-responses-gpt-5": (OPENAI_RESPONSES, "openai", "openai", "responses", "gpt-5"),
    "anthropic-sonnet-5m-1h": (ANTHROPIC, "anthropic", "anthropic", "default", "claude-sonnet-4-5-20250929"),
    "gemini-flash-cached": (GEMINI, "gemini", "google", "default", "gemini-2.5-flash"),
    # xAI's chat usage leaves reasoning out of completion_tokens (its total counts it).
    "xai-chat-reasoning": (XAI_CHAT, "xai", "x-ai", "chat", "grok-3-mini"),
}


def genai_cost(body: dict[str, Any], provider_id: str, flavor: str) -> float:
    """What genai-prices itself charges for a wire body, from its own usage extraction."""
    return float(extract_usage(body, provider_id=provider_id, api_flavor=flavor).calc_price().total_price)


@pytest.mark.parametrize("case", list(WIRE_CASES))
def test_cost_of_a_wire_body_matches_genai_prices(case: str) -> None:
    body, provider, provider_id, flavor, model = WIRE_CASES[case]
    rec = priced(provider=provider, model_resolved=model, usage_source=[orjson.dumps(body)])
    assert rec.cost_status == "priced" and rec.priced_model == model
    assert rec.cost_usd == pytest.approx(genai_cost(body, provider_id, flavor), rel=1e-9, abs=1e-12)
    assert rec.cost_usd is not None and rec.cost_usd > 0


def test_cost_arithmetic_by_hand() -> None:
    # The published rates (USD per million tokens) times the parts that do not overlap.
    gpt5 = priced(provider="openai", model_resolved="gpt-5", usage_source=[orjson.dumps(OPENAI_RESPONSES)])
    # gpt-5: input 1.25, cached 0.125, output 10 (reasoning is output, counted once)
    assert gpt5.cost_usd == pytest.approx((5000 * 1.25 + 15000 * 0.125 + 3000 * 10) / 1e6)
    sonnet = priced(provider="anthropic", model_resolved="claude-sonnet-4-5", usage_source=[orjson.dumps(ANTHROPIC)])
    assert (sonnet.input_tokens, sonnet.cached_input_tokens, sonnet.cache_write_tokens,
            sonnet.cache_write_1h_tokens) == (34150, 30000, 4000, 2500)
    # sonnet 4.5: input 3, cache read 0.3, 5 min write 3.75, 1 h write 6, output 15
    assert sonnet.cost_usd == pytest.approx((150 * 3 + 30000 * 0.3 + 1500 * 3.75 + 2500 * 6 + 800 * 15) / 1e6)
    flash = priced(provider="gemini", model_resolved="gemini-2.5-flash", usage_source=[orjson.dumps(GEMINI)])
    assert (flash.input_tokens, flash.cached_input_tokens, flash.output_tokens, flash.reasoning_tokens) == (
        50000, 32000, 2000, 800)
    # gemini 2.5 flash: input 0.3, cached 0.03, output 2.5 (thoughts included)
    assert flash.cost_usd == pytest.approx((18000 * 0.3 + 32000 * 0.03 + 2000 * 2.5) / 1e6)


def test_fast_rates_equal_genai_prices_engine_across_tiers_and_dates() -> None:
    """The pricer reads per-token rates off genai-prices once per price table and tier band;
    random usages over tiered (200k) and date-dependent models must cost what calc_price says."""
    rng = random.Random(5)
    models = [("openai", "gpt-5"), ("openai", "gpt-4o-mini"), ("openai", "o3"), ("openai", "text-embedding-3-small"),
              ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-1"), ("gemini", "gemini-2.5-pro"),
              ("gemini", "gemini-2.5-flash"), ("pplx", "sonar-pro"), ("pplx", "sonar-deep-research")]
    p = pricer()
    for i in range(400):
        provider, model = rng.choice(models)
        inputs = rng.choice([0, 1, 999, 150_000, 199_999, 200_000, 200_001, 250_000, 300_000])
        read = rng.randint(0, inputs)
        write = rng.randint(0, inputs - read) if provider == "anthropic" else 0
        write_1h = rng.randint(0, write)
        output = rng.randint(0, 40_000)
        reasoning = rng.randint(0, output)
        ts = rng.choice([datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)])
        rec = record(i, provider=provider, model_resolved=model, ts=ts.timestamp(), input_tokens=inputs,
                     cached_input_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=write_1h,
                     output_tokens=output, reasoning_tokens=reasoning)
        p(rec)
        usage = Usage(input_tokens=inputs, cache_read_tokens=read, cache_write_tokens=write,
                      cache_write_1h_tokens=write_1h, cache_write_5m_tokens=write - write_1h, output_tokens=output,
                      output_reasoning_tokens=reasoning)
        pid = {"gemini": "google", "pplx": "perplexity"}.get(provider, provider)
        want = calc_price(usage, model, provider_id=pid, genai_request_timestamp=ts).total_price
        assert rec.cost_usd == pytest.approx(float(want), rel=1e-9, abs=1e-12), (model, inputs, rec)


def test_tiers_apply_above_the_threshold() -> None:
    small = record(input_tokens=200_000, output_tokens=1000, provider="anthropic", model_resolved="claude-sonnet-4-5")
    big = record(input_tokens=200_001, output_tokens=1000, provider="anthropic", model_resolved="claude-sonnet-4-5")
    p = pricer()
    p(small)
    p(big)
    assert small.cost_usd == pytest.approx((200_000 * 3 + 1000 * 15) / 1e6)
    assert big.cost_usd == pytest.approx((200_001 * 6 + 1000 * 22.5) / 1e6)


def test_usage_details_pricing_needs() -> None:
    chat = {"usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
                      "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 30}}}
    rec = priced(usage_source=[orjson.dumps(chat)])
    assert (rec.input_tokens, rec.cached_input_tokens, rec.cache_write_tokens) == (100, 20, 30)
    # cache_creation without the total: the total is its sum; thinking tokens are output's reasoning part.
    split = {"type": "message", "usage": {"input_tokens": 5, "cache_read_input_tokens": 0, "output_tokens": 50,
                                          "cache_creation": {"ephemeral_5m_input_tokens": 7,
                                                             "ephemeral_1h_input_tokens": 11},
                                          "output_tokens_details": {"thinking_tokens": 40}}}
    rec = priced(usage_source=[orjson.dumps(split)])
    assert (rec.input_tokens, rec.cache_write_tokens, rec.cache_write_1h_tokens, rec.reasoning_tokens,
            rec.total_tokens) == (23, 18, 11, 40, 73)
    # Gemini tool-use prompts are input; an odd shape takes the generic path and still parses.
    gemini = {"response": 1, "usageMetadata": {"promptTokenCount": 100, "toolUsePromptTokenCount": 25,
                                               "candidatesTokenCount": 10, "totalTokenCount": 135}}
    rec = priced(usage_source=[orjson.dumps(gemini)])
    assert (rec.input_tokens, rec.output_tokens, rec.reasoning_tokens, rec.total_tokens) == (125, 10, None, 135)


# -- overrides and statuses ---------------------------------------------------------------


def test_config_override_wins_and_defaults_fill_in() -> None:
    p = pricer({
        "gpt-5": {"input": 2.0, "output": 20.0},
        "my-*": {"input": 1.0, "output": 4.0, "cached_input": 0.1, "cache_write": 1.25, "cache_write_1h": 2.0,
                 "reasoning": 8.0},
        "my-exact": {"input": 9.0, "output": 9.0},
        "local/*": {"input": 0.5, "output": 0.5},
        "free-*": {"input": 0, "output": 0},
    })
    gpt5 = record(provider="openai", model_resolved="gpt-5", input_tokens=1000, cached_input_tokens=400,
                  output_tokens=100, reasoning_tokens=60)
    p(gpt5)
    # No cached_input/reasoning rate: cached input at the input rate, reasoning at the output rate.
    assert (gpt5.cost_status, gpt5.cost_usd) == ("override", pytest.approx((1000 * 2 + 100 * 20) / 1e6))
    mine = record(provider="openai", model_resolved="my-model", input_tokens=10_000, cached_input_tokens=5000,
                  cache_write_tokens=3000, cache_write_1h_tokens=1000, output_tokens=500, reasoning_tokens=200)
    p(mine)
    assert mine.cost_usd == pytest.approx((2000 * 1 + 5000 * 0.1 + 2000 * 1.25 + 1000 * 2 + 300 * 4 + 200 * 8) / 1e6)
    exact = record(provider="openai", model_resolved="my-exact", input_tokens=1_000_000, output_tokens=0)
    p(exact)
    assert exact.cost_usd == pytest.approx(9.0)  # the exact name beats the earlier glob
    local = record(provider="local", model_resolved="llama-3.1-8b", input_tokens=2_000_000, output_tokens=2_000_000)
    p(local)
    assert (local.cost_status, local.cost_usd) == ("override", pytest.approx(2.0))  # "provider/model" pattern
    first = record(provider="local", model_resolved="free-llm", input_tokens=1_000_000, output_tokens=0)
    p(first)
    assert first.cost_usd == pytest.approx(0.5)  # globs are tried in file order: "local/*" came first
    free = record(provider="openai", model_resolved="free-llm", input_tokens=10, output_tokens=10)
    p(free)
    assert (free.cost_status, free.cost_usd) == ("free", 0.0)


def test_unknown_model_is_none_not_zero() -> None:
    rec = priced(provider="local", model_resolved="my-own-finetune", input_tokens=100, output_tokens=10)
    assert (rec.cost_usd, rec.cost_status, rec.priced_model) == (None, "unknown_model", "my-own-finetune")


def test_no_usage_invalid_usage_and_not_a_model_call() -> None:
    failed = priced(provider="openai", model_resolved="gpt-5", status=502)
    assert (failed.cost_usd, failed.cost_status, failed.priced_model) == (None, "no_usage", "gpt-5")
    bad = priced(provider="openai", model_resolved="gpt-5", input_tokens=10, cached_input_tokens=20, output_tokens=1)
    assert (bad.cost_usd, bad.cost_status) == (None, "invalid_usage")
    listing = priced(method="GET", path="/v1/models", api="models")
    assert (listing.cost_usd, listing.cost_status, listing.priced_model) == (None, None, None)
    # A retrieved response repeats the usage of the request that made it: priced once, there.
    again = priced(method="GET", path="/v1/responses/resp_1", api="responses.retrieve", provider="openai",
                   usage_source=[orjson.dumps(OPENAI_RESPONSES)])
    assert again.input_tokens == 20000 and (again.cost_usd, again.cost_status) == (None, None)
    zero = priced(provider="openai", model_resolved="gpt-5", input_tokens=0, output_tokens=0)
    assert (zero.cost_usd, zero.cost_status) == (0.0, "priced")


def test_provider_is_found_by_name_host_or_model() -> None:
    # "corp" is our own name for an Anthropic host; "proxy" is a host the list does not know,
    # so the model name decides; "anthropic/claude-..." names the maker in the model.
    want = priced(provider="anthropic", model_resolved="claude-sonnet-4-5", input_tokens=1000, output_tokens=100)
    for provider, model in [("corp", "claude-sonnet-4-5"), ("proxy", "claude-sonnet-4-5"),
                            ("local", "anthropic/claude-sonnet-4-5"), (None, "claude-sonnet-4-5")]:
        rec = priced(provider=provider, model_resolved=model, input_tokens=1000, output_tokens=100)
        assert (rec.cost_status, rec.cost_usd) == ("priced", want.cost_usd), (provider, model)
    assert want.cost_usd == pytest.approx((1000 * 3 + 100 * 15) / 1e6)


def test_models_on_a_local_host_are_not_priced_by_their_name() -> None:
    # deepseek-r1:14b on Ollama is not DeepSeek's API; on a remote host of unknown kind the name decides.
    local = priced(provider="local", model_resolved="deepseek-r1:14b", input_tokens=1000, output_tokens=100)
    remote = priced(provider="proxy", model_resolved="deepseek-r1:14b", input_tokens=1000, output_tokens=100)
    assert (local.cost_status, local.cost_usd) == ("unknown_model", None)
    assert remote.cost_status == "priced" and remote.cost_usd is not None and remote.cost_usd > 0


def test_model_override_header_sets_the_priced_model() -> None:
    for name in (b"helicone-model-override", b"lockgate-model-override"):
        meta = read_meta([(name, b"gpt-4o-mini")])
        assert meta.model_override == "gpt-4o-mini"
        rec = priced(provider="openai", model_requested="fast", model_resolved="fake-model", meta=meta,
                     input_tokens=1_000_000, output_tokens=1_000_000)
        assert (rec.priced_model, rec.cost_status, rec.cost_usd) == ("gpt-4o-mini", "priced", pytest.approx(0.75))


def test_an_already_priced_record_is_kept() -> None:
    rec = record(provider="openai", model_resolved="gpt-5", input_tokens=10, output_tokens=10, cost_usd=1.5,
                 cost_status="override", priced_model="x")
    pricer()(rec)
    assert (rec.cost_usd, rec.cost_status, rec.priced_model) == (1.5, "override", "x")


# -- config ---------------------------------------------------------------------------------


def write_config(tmp_path: Path, pricing: str) -> Path:
    path = tmp_path / "lockgate.toml"
    path.write_text('[providers.local]\nbase_url = "http://127.0.0.1:9/v1"\n\n' + pricing)
    return path


def test_config_check_reports_pricing_mistakes_with_lines(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[pricing.models."my-model"]\ninput = -1\noutput = 10\n\n'
                                  '[pricing.models."half"]\ninput = 1\n\n'
                                  '[pricing.models."typo"]\ninput = 1\noutput = 2\ncached = 0.1\n')
    problems = {str(p) for p in check_config(path, env={})}
    assert problems == {
        f"{path}:5: pricing.models.my-model.input: Input should be greater than or equal to 0",
        f"{path}:8: pricing.models.half.output: Field required",
        f"{path}:14: pricing.models.typo.cached: Extra inputs are not permitted",
    }


def test_config_check_flags_per_token_prices(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[pricing.models]\n"gpt-*" = { input = 0.00000125, output = 10 }\n')
    problems = [str(p) for p in check_config(path, env={})]
    assert problems == [f"{path}:5: pricing.models.gpt-*.input: 1.25e-06 looks like USD per token; "
                        "prices are USD per million tokens"]


def test_good_pricing_config_loads(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[pricing.models."my-*"]\ninput = 1.25\noutput = 10\ncached_input = 0.125\n'
                                  'cache_write = 1.5\ncache_write_1h = 2.0\nreasoning = 10\n')
    assert check_config(path, env={}) == []


# -- no network ---------------------------------------------------------------------------

_NO_NETWORK = r"""
import json, sys
seen = []
sys.addaudithook(lambda event, args: seen.append(event) if event.split(".")[0] in ("socket", "urllib") else None)
import genai_prices
from lockgate.config import PricingSettings, ProviderSettings
from lockgate.observe.cost import Pricer
from lockgate.observe.record import LogRecord
pricer = Pricer(PricingSettings(), {"openai": ProviderSettings(base_url="https://api.openai.com/v1")})
costs = []
for model in ("gpt-5", "claude-sonnet-4-5", "gemini-2.5-pro", "no-such-model"):
    rec = LogRecord(id="x", ts=0.0, method="POST", path="/", api="chat", provider="openai",
                    model_resolved=model, input_tokens=1000, output_tokens=100)
    pricer(rec)
    costs.append(rec.cost_usd)
import threading
from genai_prices import data_snapshot
bundled = not data_snapshot.get_snapshot().from_auto_update and data_snapshot._custom_snapshot is None
print(json.dumps({"events": seen, "costs": costs, "bundled": bundled, "threads": threading.active_count()}))
"""


def test_prices_come_from_the_package_without_network() -> None:
    """Every socket operation raises an audit event; importing genai-prices and pricing
    models (known and unknown) must raise none; the prices are the bundled ones and no
    updater thread runs."""
    out = subprocess.run([sys.executable, "-c", _NO_NETWORK], capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(out.stdout)
    assert result["events"] == [] and result["bundled"] is True and result["threads"] == 1
    assert all(c is not None and c > 0 for c in result["costs"][:3]) and result["costs"][3] is None


# -- streamed = non-streamed, at the writer, for Anthropic and Gemini ------------------------


def sse(event: str | None, data: dict[str, Any], crlf: bool = False) -> bytes:
    nl = b"\r\n" if crlf else b"\n"
    head = b"event: " + event.encode() + nl if event else b""
    return head + b"data: " + orjson.dumps(data) + nl + nl


def anthropic_stream(cumulative_delta: bool) -> list[bytes]:
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
    delta_usage: dict[str, Any] = {"output_tokens": 800}
    if cumulative_delta:  # the newer API repeats the input counts in message_delta
        delta_usage = {k: ANTHROPIC_USAGE[k] for k in ("input_tokens", "cache_creation_input_tokens",
                                                       "cache_read_input_tokens", "output_tokens")}
    message = {k: v for k, v in ANTHROPIC.items() if k != "usage"}
    return [
        sse("message_start", {"type": "message_start", "message": {
            **message, "content": [], "stop_reason": None, "usage": start_usage}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}}),
        sse("ping", {"type": "ping"}),
        sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                    "delta": {"type": "text_delta", "text": "Hello"}}),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                              "usage": delta_usage}),
        sse("message_stop", {"type": "message_stop"}),
    ]


def gemini_stream() -> list[bytes]:
    # alt=sse: every chunk carries the usage so far; the last one the final counts.
    first_usage = {k: v for k, v in GEMINI_USAGE.items() if k != "candidatesTokenCount"}
    first = {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}],
             "usageMetadata": {**first_usage, "totalTokenCount": 50800}, "modelVersion": "gemini-2.5-flash",
             "responseId": "gem-1"}
    last = {**GEMINI, "candidates": [{"content": {"parts": [{"text": "lo"}], "role": "model"},
                                      "finishReason": "STOP", "index": 0}]}
    return [sse(None, first, crlf=True), sse(None, last, crlf=True)]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = open_engine(database_url_for(tmp_path))
    migrate(eng)
    yield eng
    eng.dispose()


def stored_rows(engine: sa.Engine, tmp_path: Path, records: list[LogRecord]) -> list[dict[str, Any]]:
    """The records written by a real LogSink (usage, then cost, in its writer thread) and read back."""
    sink = LogSink(engine, SinkOptions(spool_path=tmp_path / "spool.bin", flush_interval=0.02),
                   enrich=(apply_usage, pricer()))
    sink.start()
    try:
        for rec in records:
            sink.submit(rec)
        assert sink.flush(10)
    finally:
        sink.close(5)
    rows = [get_request(engine, rec.id) for rec in records]
    assert all(row is not None for row in rows)
    return [row for row in rows if row is not None]


@pytest.mark.parametrize("case", ["anthropic", "anthropic-cumulative-delta", "gemini"])
def test_streamed_and_non_streamed_cost_the_same_at_the_writer(case: str, engine: sa.Engine,
                                                                 tmp_path: Path) -> None:
    if case == "gemini":
        body, provider, pid, model, stream = GEMINI, "gemini", "google", "gemini-2.5-flash", gemini_stream()
        path = "/v1beta/models/gemini-2.5-flash:generateContent"
    else:
        body, provider, pid, model = ANTHROPIC, "anthropic", "anthropic", "claude-sonnet-4-5-20250929"
        stream, path = anthropic_stream(case.endswith("cumulative-delta")), "/v1/messages"
    plain = record(1, path=path, api="messages", provider=provider, model_resolved=model,
                   usage_source=[orjson.dumps(body)])
    streamed = record(2, path=path, api="messages", provider=provider, model_resolved=model, stream=True,
                      usage_source=stream)
    rows = stored_rows(engine, tmp_path, [plain, streamed])
    assert [r["cost_status"] for r in rows] == ["priced", "priced"]
    assert [r["priced_model"] for r in rows] == [model, model]
    assert [rows[0][c] for c in TOKEN_COLUMNS] == [rows[1][c] for c in TOKEN_COLUMNS]
    assert rows[0]["input_tokens"] and rows[0]["cached_input_tokens"] and rows[0]["output_tokens"]
    assert rows[0]["cost_usd"] == rows[1]["cost_usd"]
    assert rows[0]["cost_usd"] == pytest.approx(genai_cost(body, pid, "default"), rel=1e-9)


# -- streamed = non-streamed through the gateway (OpenAI Chat and Responses) ----------------

_PRICING = """
[pricing.models."fake-priced-*"]
input = 1.0
output = 2.0
cached_input = 0.5
"""


@pytest.fixture(scope="module")
def priced_gateway(gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    return gateway_factory(extra=_PRICING)


def post(gw: GatewayProcess, path: str, body: dict[str, Any], **headers: str) -> str:
    """POST and read the whole answer (streamed or not); the request id of its log row."""
    with httpx.stream("POST", f"{gw.url}{path}", content=orjson.dumps(body), timeout=10,
                      headers={"authorization": f"Bearer {gw.key}", **headers}) as r:
        assert r.status_code == 200, r.read()
        r.read()
        return r.headers["lockgate-request-id"]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_streamed_and_non_streamed_cost_the_same_through_the_gateway(priced_gateway: GatewayProcess,
                                                                       api: str) -> None:
    text = "price this request please " * 40
    if api == "chat":
        path, body = "/chat/completions", {"model": "gpt-5", "messages": [{"role": "user", "content": text}]}
    else:
        path, body = "/responses", {"model": "gpt-5", "input": text}
    # prompt_cache_key and reasoning make the fake report cached and reasoning tokens.
    body |= {"prompt_cache_key": "cost-test", "reasoning": {"effort": "low"}}
    ids = [post(priced_gateway, path, {**body, "stream": stream}) for stream in (False, True)]
    plain, streamed = (priced_gateway.row(i) for i in ids)
    assert (plain["stream"], streamed["stream"]) == (False, True)
    assert plain["cached_input_tokens"] > 0 and plain["reasoning_tokens"] > 0
    assert [plain[c] for c in TOKEN_COLUMNS] == [streamed[c] for c in TOKEN_COLUMNS]
    assert plain["cost_status"] == streamed["cost_status"] == "priced"
    assert plain["priced_model"] == streamed["priced_model"] == "gpt-5"
    want = calc_price(Usage(input_tokens=plain["input_tokens"], cache_read_tokens=plain["cached_input_tokens"],
                            output_tokens=plain["output_tokens"], output_reasoning_tokens=plain["reasoning_tokens"]),
                      "gpt-5", provider_id="openai").total_price
    assert plain["cost_usd"] == streamed["cost_usd"] == pytest.approx(float(want), rel=1e-9)


def test_model_override_header_and_config_prices_through_the_gateway(priced_gateway: GatewayProcess) -> None:
    body = {"model": "fake-unpriced", "input": "hello " * 20, "prompt_cache_key": "k"}
    unknown = priced_gateway.row(post(priced_gateway, "/responses", body))
    assert (unknown["cost_usd"], unknown["cost_status"], unknown["priced_model"]) == (
        None, "unknown_model", "fake-unpriced")
    for header in ("Helicone-Model-Override", "lockgate-model-override"):
        row = priced_gateway.row(post(priced_gateway, "/responses", body, **{header: "gpt-4o-mini"}))
        want = calc_price(Usage(input_tokens=row["input_tokens"], cache_read_tokens=row["cached_input_tokens"],
                                output_tokens=row["output_tokens"]), "gpt-4o-mini", provider_id="openai").total_price
        assert (row["priced_model"], row["cost_status"]) == ("gpt-4o-mini", "priced")
        assert row["cost_usd"] == pytest.approx(float(want), rel=1e-9)
    configured = priced_gateway.row(post(priced_gateway, "/responses", {**body, "model": "fake-priced-1"}))
    inputs, cached, output = (configured[c] for c in ("input_tokens", "cached_input_tokens", "output_tokens"))
    assert cached > 0 and configured["cost_status"] == "override"
    assert configured["cost_usd"] == pytest.approx(((inputs - cached) * 1.0 + cached * 0.5 + output * 2.0) / 1e6)


def test_manually_logged_requests_are_priced(priced_gateway: GatewayProcess) -> None:
    usage = {"input_tokens": 1000, "cached_input_tokens": 200, "output_tokens": 100}
    r = httpx.post(f"{priced_gateway.root}/api/log", headers={"authorization": f"Bearer {priced_gateway.key}"},
                   json={"model": "gpt-4o", "provider": "openai", "api": "chat", "usage": usage})
    assert r.status_code == 200, r.text
    row = priced_gateway.row(r.json()["id"])
    assert (row["source"], row["cost_status"], row["priced_model"]) == ("manual", "priced", "gpt-4o")
    assert row["cost_usd"] == pytest.approx((800 * 2.5 + 200 * 1.25 + 100 * 10) / 1e6)
