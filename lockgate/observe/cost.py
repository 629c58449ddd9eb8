"""The cost of each logged request, from its final usage, in the log writer thread.

`Pricer` is a `LogSink` enrich step that runs after `apply_usage`. It prices the token
counts the record holds (stored with OpenAI's meaning: input includes cached and
cache-write tokens, output includes reasoning tokens) with, in order:

1. a `[pricing.models]` entry of the config whose name or glob matches the model;
2. the price list bundled in the pinned `genai-prices` package (no network: the list
   ships inside the package and lockgate never starts its updater).

The model priced is the `Helicone-Model-Override` / `lockgate-Model-Override` header when
sent, else the upstream model the request was routed to, else the model asked for.

`cost_status` says why `cost_usd` is what it is:

- `priced`: from the bundled price list.
- `override`: from a `[pricing.models]` entry.
- `free`: a price was found and it charges nothing for the tokens used (cost 0).
- `unknown_model`: no price for the model; `cost_usd` stays None, never a silent 0.
- `no_usage`: a model call whose response reported no token counts (an upstream error, a
  stream cut short); `cost_usd` None.
- `invalid_usage`: counts that contradict each other (more cached than input tokens);
  `cost_usd` None.
- None: not a model call (`GET /v1/models`, `GET /v1/responses/{id}`, …), nothing to price.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lockgate.config import ModelPriceSettings, PricingSettings, ProviderSettings, Settings
from lockgate.observe.record import LogRecord

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice

__all__ = ["PRICED", "Pricer", "Tokens"]

log = logging.getLogger("lockgate.cost")

PRICED, OVERRIDE, FREE = "priced", "override", "free"
UNKNOWN_MODEL, NO_USAGE, INVALID_USAGE = "unknown_model", "no_usage", "invalid_usage"
_PER = 1_000_000  # prices are per million tokens
_DIGITS = 12  # USD decimals kept: drops float noise (0.028000000000000004), far below any price
_CACHE_LIMIT = 4096  # (provider, model) look-ups remembered, unknown ones included


@dataclass(frozen=True, slots=True)
class Tokens:
    """One request's counts split into parts that do not overlap, each billed at one rate."""

    uncached_input: int
    cache_read: int
    cache_write_5m: int  # cache writes not known to be 1 h ones (the only kind for most providers)
    cache_write_1h: int
    text_output: int  # output that is not reasoning
    reasoning: int

    @classmethod
    def of(cls, rec: LogRecord) -> Tokens | None:
        """The parts of `rec`'s counts, or None when they contradict each other."""
        inputs = rec.input_tokens or 0
        read = rec.cached_input_tokens or 0
        write = rec.cache_write_tokens or 0
        write_1h = rec.cache_write_1h_tokens or 0
        output = rec.output_tokens or 0
        reasoning = rec.reasoning_tokens or 0
        parts = (inputs - read - write, read, write - write_1h, write_1h, output - reasoning, reasoning)
        if min(parts) < 0:
            return None
        return cls(*parts)

    @property
    def input_total(self) -> int:
        return self.uncached_input + self.cache_read + self.cache_write_5m + self.cache_write_1h

    def __bool__(self) -> bool:
        return any((self.uncached_input, self.cache_read, self.cache_write_5m, self.cache_write_1h,
                    self.text_output, self.reasoning))


class Pricer:
    """The pricing step: `pricer(record)` sets cost_usd, priced_model and cost_status."""

    def __init__(self, pricing: PricingSettings, providers: Mapping[str, ProviderSettings]) -> None:
        self._exact = dict(pricing.models)
        self._globs = [(pat, price) for pat, price in pricing.models.items() if _is_glob(pat)]
        self._providers = dict(providers)
        self._matched: dict[tuple[str | None, str], ModelPriceSettings | None] = {}
        self._found: dict[tuple[str | None, str], _Listed | None] = {}
        self._price_ids: dict[str | None, str | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Pricer:
        return cls(settings.pricing, settings.providers)

    def __call__(self, rec: LogRecord) -> None:
        if rec.cost_status is not None:
            return  # priced already (e.g. before a trip through the spool)
        if "." in rec.api or rec.api == "models":
            # Not a model call. Sub-resources (responses.retrieve, …) repeat the usage of an
            # earlier response: pricing them would count that response twice.
            return
        override = rec.meta.model_override.strip() if rec.meta.model_override else ""
        model = override or rec.model_resolved or rec.model_requested
        has_usage = rec.input_tokens is not None or rec.output_tokens is not None
        if not model:
            if has_usage:
                rec.cost_status = UNKNOWN_MODEL
            return
        rec.priced_model = model
        if not has_usage:
            rec.cost_status = NO_USAGE
            return
        tokens = Tokens.of(rec)
        if tokens is None:
            rec.cost_status = INVALID_USAGE
            return
        configured = self._configured(model, rec.provider)
        if configured is not None:
            cost = _configured_cost(configured, tokens)
            rec.cost_usd = cost
            rec.cost_status = OVERRIDE if cost or not tokens else FREE
            return
        listed = self._lookup(rec.provider, model)
        if listed is None:
            rec.cost_status = UNKNOWN_MODEL
            return
        try:
            cost = listed.cost(tokens, rec.ts)
        except ValueError as exc:  # a price table genai-prices itself cannot apply
            log.warning("cannot price model %r: %s", model, exc)
            rec.cost_status = UNKNOWN_MODEL
            return
        rec.cost_usd = cost
        rec.cost_status = PRICED if cost or not tokens else FREE

    # -- config overrides -------------------------------------------------------------

    def _configured(self, model: str, provider: str | None) -> ModelPriceSettings | None:
        if not self._exact:
            return None
        key = (provider, model)
        if key in self._matched:
            return self._matched[key]
        if len(self._matched) >= _CACHE_LIMIT:
            self._matched.clear()
        found = self._matched[key] = self._match(model, provider)
        return found

    def _match(self, model: str, provider: str | None) -> ModelPriceSettings | None:
        """An exact name first (the model, then "provider/model"), then the first glob in file order."""
        names = (model, f"{provider}/{model}") if provider else (model,)
        for name in names:
            if name in self._exact:
                return self._exact[name]
        for pattern, price in self._globs:
            if any(fnmatchcase(name, pattern) for name in names):
                return price
        return None

    # -- the bundled price list -------------------------------------------------------

    def _lookup(self, provider: str | None, model: str) -> _Listed | None:
        key = (provider, model)
        if key in self._found:
            return self._found[key]
        if len(self._found) >= _CACHE_LIMIT:
            self._found.clear()
        info = self._search(provider, model)
        if info is None:
            log.debug("no price for model %r (provider %r)", model, provider)
        listed = self._found[key] = None if info is None else _Listed(info)
        return listed

    def _search(self, provider: str | None, model: str) -> ModelInfo | None:
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        price_id = self._price_id(provider)
        settings = self._providers.get(provider or "")
        # A model on a host of your own (Ollama's deepseek-r1:14b) does not cost what its
        # maker's API charges: no guessing by name there, only an explicit "maker/model".
        guess = price_id is not None or settings is None or not _is_local(settings.base_url)
        attempts: list[tuple[str | None, str]] = [(price_id, model)] if price_id else []
        if guess:
            attempts.append((None, model))  # by the model name alone
        if "/" in model:  # "anthropic/claude-..." style names
            prefix, rest = model.split("/", 1)
            attempts.append((prefix, rest))
            if guess:
                attempts.append((None, rest))
        for pid, ref in attempts:
            try:
                return snapshot.find_provider_model(ref, None, pid, None)[1]
            except LookupError:
                continue
        return None

    def _price_id(self, provider: str | None) -> str | None:
        """genai-prices' provider id for a configured provider: by its name, else by its host."""
        if provider in self._price_ids:
            return self._price_ids[provider]
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        found: str | None = None
        settings = self._providers.get(provider or "")
        if provider:
            found = next((p.id for p in snapshot.providers if p.id == provider.lower()), None)
        if found is None and settings is not None:
            found = next((p.id for p in snapshot.providers if re.match(p.api_pattern, settings.base_url)), None)
        if found is None and provider:
            match = data_snapshot.find_provider_by_id(snapshot.providers, provider)
            found = match.id if match is not None else None
        if found is None and settings is not None and settings.type == "anthropic":
            found = "anthropic"
        self._price_ids[provider] = found
        return found


def _is_local(base_url: str) -> bool:
    """A host on this machine or a private network (Ollama, vLLM, LM Studio, …)."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _configured_cost(price: ModelPriceSettings, t: Tokens) -> float:
    cached = price.input if price.cached_input is None else price.cached_input
    write = price.input if price.cache_write is None else price.cache_write
    write_1h = write if price.cache_write_1h is None else price.cache_write_1h
    reasoning = price.output if price.reasoning is None else price.reasoning
    total = (t.uncached_input * price.input + t.cache_read * cached + t.cache_write_5m * write
             + t.cache_write_1h * write_1h + t.text_output * price.output + t.reasoning * reasoning)
    return round(total / _PER, _DIGITS)


class _Listed:
    """One model of the bundled list, priced fast.

    genai-prices' engine (`ModelPrice.calc_price`) is generic and took about 100 µs per
    record, in a writer that shares the GIL with the request path. Within one price table
    and one tier band, its cost is linear in the counts: a constant per request plus a rate
    for each part of `Tokens`. So the rates are read off the engine itself, once per table
    and band, by pricing one probe per part; a record then costs a dot product."""

    __slots__ = ("_fixed", "_model", "_tables")

    def __init__(self, model: ModelInfo) -> None:
        from genai_prices.types import ModelPrice

        self._model = model
        self._fixed = model.prices if isinstance(model.prices, ModelPrice) else None  # else prices by date
        # id(table) → (table, tier thresholds, band → rates); the table is kept so the id stays unique.
        self._tables: dict[int, tuple[ModelPrice, tuple[int, ...], dict[int, _Rates]]] = {}

    def cost(self, t: Tokens, ts: float) -> float:
        table = self._fixed
        if table is None:
            table = self._model.get_prices(datetime.fromtimestamp(ts, UTC))
        entry = self._tables.get(id(table))
        if entry is None:
            entry = self._tables[id(table)] = (table, _thresholds(table), {})
        _, thresholds, bands = entry
        # A tier applies to every token once the request's input exceeds its start.
        band = bisect_left(thresholds, t.input_total)
        rates = bands.get(band)
        if rates is None:
            rates = bands[band] = _Rates.probe(table, _band_input(thresholds, band))
        return rates.cost(t)


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per request and per token of each part of `Tokens`, for one table and band."""

    per_request: float
    per_token: tuple[float, float, float, float, float, float]

    def cost(self, t: Tokens) -> float:
        r = self.per_token
        return round(self.per_request + t.uncached_input * r[0] + t.cache_read * r[1] + t.cache_write_5m * r[2]
                     + t.cache_write_1h * r[3] + t.text_output * r[4] + t.reasoning * r[5], _DIGITS)

    @classmethod
    def probe(cls, table: ModelPrice, inputs: int) -> _Rates:
        """Rates read off genai-prices for requests whose input is `inputs` tokens (the band)."""
        from genai_prices import Usage

        def price(**counts: int) -> Decimal:
            full = dict.fromkeys(_USAGE_KEYS, 0) | counts
            return table.calc_price(Usage(**full))["total_price"]

        base = price()
        n_in = max(inputs, 1)
        plain = price(input_tokens=inputs)
        n_out = 1_000_000

        def per_input(**counts: int) -> float:
            return float((price(input_tokens=inputs, **counts) - base) / n_in) if inputs else 0.0

        def per_output(**counts: int) -> float:
            return float((price(input_tokens=inputs, **counts) - plain) / n_out)

        return cls(float(base), (
            per_input(),
            per_input(cache_read_tokens=inputs),
            per_input(cache_write_tokens=inputs, cache_write_5m_tokens=inputs),
            per_input(cache_write_tokens=inputs, cache_write_1h_tokens=inputs),
            per_output(output_tokens=n_out),
            per_output(output_tokens=n_out, output_reasoning_tokens=n_out),
        ))


# The usage genai-prices is told about, all of it, so that it never infers a missing count.
_USAGE_KEYS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_5m_tokens",
               "cache_write_1h_tokens", "output_tokens", "output_reasoning_tokens")


def _thresholds(table: ModelPrice) -> tuple[int, ...]:
    from genai_prices.types import TieredPrices

    starts = {tier.start for value in vars(table).values() if isinstance(value, TieredPrices) for tier in value.tiers}
    return tuple(sorted(starts))


def _band_input(thresholds: tuple[int, ...], band: int) -> int:
    """An input size inside `band`: above thresholds[band - 1], at most thresholds[band]."""
    if band < len(thresholds):
        return thresholds[band]
    return max(2 * thresholds[-1], 1_000_000) if thresholds else 1_000_000
