"""Settings: one TOML file, then `LOCKGATE_*` env vars, then CLI flags; secrets only from env.

`load_settings()` returns a frozen `Settings`. `check_config()` returns every problem at
once, each with the line of the file it comes from, for `lockgate config check`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lockgate.providers.presets import PRESETS, PRESETS_BY_NAME

__all__ = [
    "ConfigProblem",
    "LogSettings",
    "ModelInfoSettings",
    "ModelPriceSettings",
    "PricingSettings",
    "ProviderSettings",
    "RetentionSettings",
    "Settings",
    "StatsSettings",
    "TelemetrySettings",
    "TranslationSettings",
    "check_config",
    "default_data_dir",
    "load_settings",
]

# APIs a provider can speak natively; the first three are also what clients send (see formats/registry.py).
API_NAMES = ("responses", "chat", "embeddings", "messages", "gemini", "converse", "invoke")
ENV_PREFIX = "LOCKGATE_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    auth: Literal["keys", "none"] = "keys"
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0)
    workers: int = Field(1, ge=1, le=64)
    shutdown_timeout: float = Field(30.0, ge=0)
    key_refresh_interval: float = Field(5.0, gt=0)
    websockets: bool = True  # WebSocket mode of /v1/responses; off: the upgrade gets 426 (Codex uses HTTPS)
    # permessage-deflate on client WebSockets: worth it across a slow link; on a LAN or loopback it
    # costs more CPU than it saves (docs/websocket.md).
    websocket_compression: bool = False


class DatabaseSettings(_Section):
    url: str = ""  # empty: SQLite in data_dir
    data_dir: str = ""  # empty: $XDG_DATA_HOME/lockgate or ~/.local/share/lockgate


class LogSettings(_Section):
    enabled: bool = True
    bodies: bool = True
    max_body_bytes: int = Field(1024 * 1024, ge=0)
    queue_size: int = Field(10_000, gt=0)
    queue_max_bytes: int = Field(64 * 1024 * 1024, gt=0)
    batch_rows: int = Field(500, gt=0)
    batch_bytes: int = Field(8 * 1024 * 1024, gt=0)
    flush_interval: float = Field(0.5, gt=0)
    spool_path: str = ""  # empty: <data_dir>/spool.bin


class RetentionSettings(_Section):
    """Background deletion of old log data; 0 days keeps it forever (the default)."""

    bodies_after_days: float = Field(0.0, ge=0)  # clear request/response bodies of older requests
    rows_after_days: float = Field(0.0, ge=0)  # delete older request rows (stats rollups keep them)
    interval: float = Field(300.0, gt=0)  # seconds between passes
    batch_rows: int = Field(500, gt=0, le=100_000)  # rows per delete transaction
    pause: float = Field(0.05, ge=0, le=60)  # seconds between batches

    @model_validator(mode="after")
    def _bodies_before_rows(self) -> RetentionSettings:
        if self.rows_after_days and self.bodies_after_days >= self.rows_after_days:
            raise ValueError(f"bodies_after_days ({self.bodies_after_days:g}) must be shorter than "
                             f"rows_after_days ({self.rows_after_days:g}): rows take their bodies with them")
        return self


class StatsSettings(_Section):
    # Seconds between folds of new log rows into the stats rollup; 0: only when a stats query
    # finds more than 20 000 rows waiting (it then folds them first) or retention runs.
    fold_interval: float = Field(5.0, ge=0)


class UpstreamSettings(_Section):
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(600.0, gt=0)  # longest silence allowed from an upstream
    pool_size: int = Field(512, gt=0)


_TYPE_APIS = {"openai": ("responses", "chat", "embeddings"), "azure": ("responses", "chat", "embeddings"),
              "anthropic": ("messages",), "gemini": ("gemini",), "bedrock": ("invoke", "converse")}


class ProviderSettings(_Section):
    preset: str = ""  # a name from providers/presets.py: fills type, base_url, apis, models, api_key_env
    type: Literal["openai", "anthropic", "gemini", "azure", "bedrock"] = "openai"
    base_url: str
    api_key_env: str | None = None  # name of the env var; the key itself never sits in the file
    apis: tuple[str, ...] = ("responses", "chat", "embeddings")
    models: tuple[str, ...] = ()  # glob patterns; "*" takes every model
    headers: dict[str, str] = Field(default_factory=dict)
    # Azure OpenAI: the api-version query parameter (empty: the v1 API, /openai/v1/...), and
    # model name → deployment name (a model without an entry is its own deployment name).
    api_version: str = ""
    deployments: dict[str, str] = Field(default_factory=dict)
    region: str = ""  # Bedrock: AWS region (empty: AWS_REGION / AWS_DEFAULT_REGION)
    # The host serves the Responses API's WebSocket mode (OpenAI, Azure v1, xAI): a client's
    # WebSocket turns then reach it over one upstream socket per client socket (docs/websocket.md).
    websockets: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("preset") and "apis" not in data:
            # Without `apis`, a provider speaks what its type speaks.
            return {**data, "apis": list(_TYPE_APIS.get(str(data.get("type", "openai")), ()))}
        if not isinstance(data, dict) or not data.get("preset"):
            return data
        preset = PRESETS_BY_NAME.get(str(data["preset"]))
        if preset is None:
            raise ValueError(f"unknown preset {data['preset']!r}; choose from {', '.join(PRESETS_BY_NAME)}")
        defaults: dict[str, Any] = {"type": preset.type, "apis": list(preset.apis), "models": list(preset.models),
                                    "websockets": preset.websockets}
        if preset.base_url:
            defaults["base_url"] = preset.base_url
        elif preset.type == "bedrock":
            defaults["base_url"] = bedrock_url(str(data.get("region") or ""))
        if preset.key_env:
            defaults["api_key_env"] = preset.key_env
        return {**defaults, **data}

    @model_validator(mode="after")
    def _known_apis(self) -> ProviderSettings:
        bad = [a for a in self.apis if a not in API_NAMES]
        if bad:
            raise ValueError(f"unknown api {bad[0]!r}; choose from {', '.join(API_NAMES)}")
        if not re.match(r"^https?://", self.base_url):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        return self


class TranslationSettings(_Section):
    """Requests to a provider that speaks another API (docs/translation.md)."""

    # Built-in tools the provider cannot run (web_search, tool_search, ...) are left out and
    # named in the lockgate-dropped-tools response header; strict refuses the request instead.
    strict: bool = False


class RoutingSettings(_Section):
    default_provider: str = ""  # for models no provider pattern matches; empty: unknown model → 404


class TelemetrySettings(_Section):
    """Prometheus /metrics and OpenTelemetry traces (docs/metrics.md)."""

    metrics: bool = True  # count requests for GET /metrics
    metrics_public: bool = False  # serve /metrics without a gateway key (a scraper on a private network)
    otlp_endpoint: str = ""  # OTLP/HTTP collector, e.g. http://127.0.0.1:4318; empty: no traces
    otlp_headers: dict[str, str] = Field(default_factory=dict)  # or env "k1=v1,k2=v2" (secrets belong in env)
    otlp_timeout: float = Field(10.0, gt=0)
    trace_sample_ratio: float = Field(1.0, ge=0, le=1)  # share of successful requests traced; errors always are
    service_name: str = Field("lockgate", min_length=1)

    @field_validator("otlp_headers", mode="before")
    @classmethod
    def _headers_text(cls, value: Any) -> Any:
        # The OTEL_EXPORTER_OTLP_HEADERS form, so that the env var can carry them.
        if isinstance(value, str):
            pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
            if any(len(p) != 2 or not p[0].strip() for p in pairs):
                raise ValueError("otlp_headers must look like 'name1=value1,name2=value2'")
            return {k.strip(): unquote(v.strip()) for k, v in pairs}
        return value

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"otlp_endpoint must be an http:// or https:// URL, got {value!r}")
        return value


class ModelPriceSettings(_Section):
    """A model's prices in USD per million tokens (see docs/cost.md). Unset rates fall back
    to the rate they are a kind of: cached_input and cache_write to input, cache_write_1h
    to cache_write, reasoning to output."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)
    cache_write: float | None = Field(None, ge=0)
    cache_write_1h: float | None = Field(None, ge=0)
    reasoning: float | None = Field(None, ge=0)


class PricingSettings(_Section):
    # Model name or glob pattern (also matched as "provider/model") → prices; these win over
    # the bundled price list.
    models: dict[str, ModelPriceSettings] = Field(default_factory=dict)


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
Modality = Literal["text", "image"]


def _efforts() -> list[Effort]:
    return ["low", "medium", "high"]


def _modalities() -> list[Modality]:
    return ["text", "image"]


class ModelInfoSettings(_Section):
    """What clients may learn about a model name the gateway routes (Codex's model catalog, docs/codex.md).

    Codex lets a served catalog entry replace everything it knows about a slug, its system prompt
    included, so an entry is served to Codex only with `instructions_file`; `context_window` alone
    goes into the Codex profile (`lockgate codex setup`)."""

    display_name: str = ""
    description: str = ""
    context_window: int | None = Field(None, gt=0)
    auto_compact_token_limit: int | None = Field(None, gt=0)
    reasoning_efforts: list[Effort] = Field(default_factory=_efforts)  # empty: the model does not reason
    default_reasoning_effort: Effort | None = "medium"
    reasoning_summaries: bool = False
    input_modalities: list[Modality] = Field(default_factory=_modalities)
    parallel_tool_calls: bool = True
    instructions_file: str = ""  # the system prompt Codex sends for this model (a path; ~ allowed)


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    retention: RetentionSettings = RetentionSettings()
    stats: StatsSettings = StatsSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    routing: RoutingSettings = RoutingSettings()
    translation: TranslationSettings = TranslationSettings()
    telemetry: TelemetrySettings = TelemetrySettings()


    pricing: PricingSettings = PricingSettings()
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)  # name → "provider/model" or another model
    models: dict[str, ModelInfoSettings] = Field(default_factory=dict)  # model name → metadata for clients
    source: str | None = None  # the file these came from

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.server.auth == "none" and not _is_loopback(self.server.host):
            raise ValueError("server.auth = 'none' is only allowed on a loopback bind (127.0.0.1, ::1, localhost)")
        if self.routing.default_provider and self.routing.default_provider not in self.providers:
            raise ValueError(f"routing.default_provider {self.routing.default_provider!r} is not a provider")
        return self

    @property
    def data_dir(self) -> Path:
        return Path(self.database.data_dir).expanduser() if self.database.data_dir else default_data_dir()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'lockgate.db'}"

    @property
    def spool_path(self) -> Path:
        return Path(self.log.spool_path).expanduser() if self.log.spool_path else self.data_dir / "spool.bin"


def default_data_dir() -> Path:
    if os.environ.get("LOCKGATE_DATA_DIR"):
        return Path(os.environ["LOCKGATE_DATA_DIR"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "lockgate"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_SCALAR_SECTIONS: dict[str, type[_Section]] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "log": LogSettings,
    "retention": RetentionSettings,
    "stats": StatsSettings,
    "upstream": UpstreamSettings,
    "routing": RoutingSettings,
    "translation": TranslationSettings,
    "telemetry": TelemetrySettings,
}
# Short names people expect, besides the LOCKGATE_<SECTION>_<FIELD> form.
_ENV_SHORTCUTS = {"LOCKGATE_HOST": ("server", "host"), "LOCKGATE_PORT": ("server", "port"),
                  "LOCKGATE_DATA_DIR": ("database", "data_dir"), "LOCKGATE_DATABASE_URL": ("database", "url")}


def env_setting_names() -> dict[str, tuple[str, str]]:
    """Every env var that sets a scalar setting → (section, field)."""
    names = dict(_ENV_SHORTCUTS)
    for section, model in _SCALAR_SECTIONS.items():
        for field in model.model_fields:
            names[f"{ENV_PREFIX}{section.upper()}_{field.upper()}"] = (section, field)
    return names


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for var, (section, field) in env_setting_names().items():
        if var in env:
            out.setdefault(section, {})[field] = env[var]
    return out


def bedrock_url(region: str) -> str:
    return f"https://bedrock-runtime.{region or 'us-east-1'}.amazonaws.com"


def providers_from_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Providers implied by the official SDKs' env vars (OPENAI_API_KEY, ANTHROPIC_BASE_URL, …)."""
    found: dict[str, dict[str, Any]] = {}
    for p in PRESETS:
        has_key = p.key_env is not None and bool(env.get(p.key_env))
        if p.type == "bedrock":
            has_key = has_key or bool(env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"))
        base = env.get(p.base_url_env or "") or ""
        if not has_key and not (p.key_env is None and base):
            continue
        if p.base_url_env == "OLLAMA_HOST" and base:
            base = (base if "://" in base else f"http://{base}").rstrip("/") + "/v1"
        if p.type == "bedrock":
            base = bedrock_url(env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "")
        if not (base or p.base_url):
            continue  # e.g. an Azure key without AZURE_OPENAI_ENDPOINT: nowhere to send requests
        found[p.name] = {"type": p.type, "base_url": base or p.base_url, "api_key_env": p.key_env,
                         "apis": list(p.apis), "models": list(p.models), "websockets": p.websockets}
    return found


def _read_file(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    return tomllib.loads(text), text


def _merge(data: dict[str, Any], env: Mapping[str, str], cli: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for section, values in _env_overrides(env).items():
        base = merged.get(section)
        merged[section] = {**(base if isinstance(base, dict) else {}), **values}
    for dotted, value in (cli or {}).items():
        section, field = dotted.split(".", 1)
        base = merged.get(section)
        merged[section] = {**(base if isinstance(base, dict) else {}), field: value}
    if not merged.get("providers"):
        merged["providers"] = providers_from_env(env)
    return merged


def config_path_from_env(env: Mapping[str, str]) -> Path | None:
    if env.get("LOCKGATE_CONFIG"):
        return Path(env["LOCKGATE_CONFIG"])
    local = Path("lockgate.toml")
    return local if local.exists() else None


def load_settings(
    path: Path | None = None, *, env: Mapping[str, str] | None = None, cli: Mapping[str, Any] | None = None
) -> Settings:
    """Settings from `path` (or $LOCKGATE_CONFIG, or ./lockgate.toml), env and CLI overrides."""
    env = os.environ if env is None else env
    path = path or config_path_from_env(env)
    data: dict[str, Any] = {}
    if path is not None:
        data, _ = _read_file(path)
    merged = _merge(data, env, cli)
    merged["source"] = str(path) if path else None
    return Settings.model_validate(merged)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    where: str  # "file:line" or "env LOCKGATE_X" or "file"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


_TABLE_RE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""")


def _unquote_path(raw: str) -> list[str]:
    parts = re.findall(r"""("[^"]*"|'[^']*'|[^.\s]+)""", raw)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each table and key path in a TOML text to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}
    table: list[str] = []
    for no, line in enumerate(text.splitlines(), start=1):
        if m := _TABLE_RE.match(line):
            table = _unquote_path(m.group(1))
            lines.setdefault(tuple(table), no)
        elif m := _KEY_RE.match(line):
            lines.setdefault((*table, *_unquote_path(m.group(1))), no)
    return lines


def _locate(loc: tuple[str | int, ...], lines: dict[tuple[str, ...], int], path: Path | None,
            env_vars: dict[tuple[str, str], str]) -> str:
    keys = tuple(str(p) for p in loc)
    if len(keys) >= 2 and (keys[0], keys[1]) in env_vars:
        return f"env {env_vars[(keys[0], keys[1])]}"
    for n in range(len(keys), 0, -1):
        if keys[:n] in lines:
            return f"{path}:{lines[keys[:n]]}"
    return str(path) if path else "settings"


def check_config(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """Every problem in the file and env at once, each with where it comes from."""
    env = os.environ if env is None else env
    path = path or config_path_from_env(env)
    data: dict[str, Any] = {}
    lines: dict[tuple[str, ...], int] = {}
    if path is not None:
        try:
            data, text = _read_file(path)
        except FileNotFoundError:
            return [ConfigProblem(str(path), "file not found")]
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            return [ConfigProblem(f"{path}:{m.group(1)}" if m else str(path), f"TOML syntax error: {exc}")]
        lines = key_lines(text)
    env_vars = {v: k for k, v in env_setting_names().items() if k in env}
    merged = _merge(data, env, None)
    problems: list[ConfigProblem] = []
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "settings"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(ConfigProblem(_locate(loc, lines, path, env_vars), f"{field}: {msg}"))
        return problems
    for name, prov in settings.providers.items():
        if prov.api_key_env and not env.get(prov.api_key_env) and not _is_local(prov.base_url):
            where = _locate(("providers", name, "api_key_env"), lines, path, env_vars)
            problems.append(ConfigProblem(where, f"providers.{name}: env var {prov.api_key_env} is not set"))
    for alias, target in settings.aliases.items():
        if "/" in target and target.split("/", 1)[0] not in settings.providers and \
                target.rsplit("/", 1)[1] not in settings.providers:
            where = _locate(("aliases", alias), lines, path, env_vars)
            problems.append(ConfigProblem(where, f"aliases.{alias}: no provider named in {target!r}"))
    problems += _pricing_problems(settings.pricing, lambda loc: _locate(loc, lines, path, env_vars))
    if not settings.providers:
        problems.append(ConfigProblem(str(path) if path else "env",
                                      "no providers: add [providers.NAME] or set OPENAI_API_KEY (or another key)"))
    return problems


def _pricing_problems(pricing: PricingSettings, locate: Callable[[tuple[str, ...]], str]) -> list[ConfigProblem]:
    problems = []
    for model, prices in pricing.models.items():
        if not model.strip():
            problems.append(ConfigProblem(locate(("pricing", "models", model)), "pricing.models: empty model name"))
        for rate, value in prices.model_dump().items():
            # 0 < rate < 0.001 per million tokens: almost surely a per-token price.
            if value is not None and 0 < value < 0.001:
                problems.append(ConfigProblem(
                    locate(("pricing", "models", model, rate)),
                    f"pricing.models.{model}.{rate}: {value} looks like USD per token; "
                    "prices are USD per million tokens"))
    return problems


def _is_local(url: str) -> bool:
    return bool(re.match(r"^https?://(127\.|localhost|\[::1\])", url))
