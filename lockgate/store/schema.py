"""The tables, as SQLAlchemy Core metadata (SQLite now, Postgres later: portable types only).

This is the live description of the schema; `migrations/versions/` holds the frozen steps
that create it. `tests/test_store.py` checks that the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store import histogram

__all__ = ["gateway_keys", "metadata", "request_bodies", "request_feedback", "request_scores", "requests",
           "stats_rollup", "stats_state"]

# Named constraints, so that later (batch) migrations can refer to them on every backend.
metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# None is stored as SQL NULL rather than the JSON text 'null'.
_JSON = sa.JSON(none_as_null=True)

requests = sa.Table(
    "requests", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("ts", sa.Float, nullable=False),  # request start, epoch seconds
    sa.Column("method", sa.String, nullable=False),
    sa.Column("path", sa.String, nullable=False),
    sa.Column("api", sa.String, nullable=False),
    sa.Column("key_id", sa.String),
    sa.Column("key_name", sa.String),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("model_requested", sa.String),
    sa.Column("model_resolved", sa.String),
    sa.Column("provider", sa.String),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error_type", sa.String),
    sa.Column("error", sa.Text),
    sa.Column("latency_ms", sa.Float),
    sa.Column("ttfb_ms", sa.Float),
    sa.Column("ttft_ms", sa.Float),
    sa.Column("input_tokens", sa.Integer),
    sa.Column("output_tokens", sa.Integer),
    sa.Column("cached_input_tokens", sa.Integer),
    sa.Column("cache_write_tokens", sa.Integer),
    sa.Column("reasoning_tokens", sa.Integer),
    sa.Column("total_tokens", sa.Integer),
    sa.Column("cost_usd", sa.Float),
    sa.Column("response_id", sa.String),
    sa.Column("upstream_request_id", sa.String),
    sa.Column("session_id", sa.String),
    sa.Column("session_path", sa.String),
    sa.Column("session_name", sa.String),
    sa.Column("user_id", sa.String),
    sa.Column("properties", _JSON),
    sa.Column("user_agent", sa.String),
    sa.Column("client_ip", sa.String),
    sa.Column("request_bytes", sa.Integer, nullable=False),
    sa.Column("response_bytes", sa.Integer, nullable=False),
    sa.Column("has_bodies", sa.Boolean, nullable=False),
    sa.Column("source", sa.String, nullable=False, server_default="proxy"),  # proxy | manual
    sa.Column("priced_model", sa.String),  # the model name the cost was priced as
    sa.Column("cost_status", sa.String),  # why cost_usd is what it is (see observe/cost.py)
    sa.Column("cache_write_1h_tokens", sa.Integer),  # the part of cache_write_tokens with a 1 h TTL
    sa.Column("key_source", sa.String, nullable=False, server_default="gateway"),  # gateway | client (BYOK)
    sa.Column("provider_api", sa.String),  # the API the provider was sent (differs from `api` when translated)
    sa.Column("translated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("dropped_tools", _JSON),  # built-in tools left out for the provider (formats/fit.py)
    # The provider sent no usage and lockgate estimated the tokens (translated paths; server/translate.py).
    sa.Column("usage_estimated", sa.Boolean, nullable=False, server_default=sa.false()),
)

sa.Index("ix_requests_ts_id", requests.c.ts, requests.c.id)
sa.Index("ix_requests_session_id_ts", requests.c.session_id, requests.c.ts)
sa.Index("ix_requests_model_resolved_ts", requests.c.model_resolved, requests.c.ts)
sa.Index("ix_requests_key_id_ts", requests.c.key_id, requests.c.ts)
sa.Index("ix_requests_user_id_ts", requests.c.user_id, requests.c.ts)
sa.Index("ix_requests_response_id", requests.c.response_id)
# Errors are rare; a partial index keeps "show me the failures" cheap without indexing every row.
# (ts, id) gives the listing's order, status answers "which code" without reading the row (0003).
# The migrations make it partial on PostgreSQL too; declaring `postgresql_where` here would
# load SQLAlchemy's PostgreSQL dialect in every gateway (~3 MB RSS, ~18 ms at start-up).
sa.Index("ix_requests_errors_ts_id", requests.c.ts, requests.c.id, requests.c.status,
         sqlite_where=requests.c.status >= 400)

request_bodies = sa.Table(
    "request_bodies", metadata,
    sa.Column("request_id", sa.String(36), sa.ForeignKey("requests.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("request_body", sa.LargeBinary),
    sa.Column("response_body", sa.LargeBinary),
    sa.Column("encoding", sa.String, nullable=False),  # how both bodies are compressed: "zlib"
    sa.Column("request_truncated", sa.Boolean, nullable=False),
    sa.Column("response_truncated", sa.Boolean, nullable=False),
    sa.Column("meta_headers", _JSON),
    sa.Column("content_type", sa.String),
)

# Feedback and scores: no foreign key, a client may send them before the row is written.
request_feedback = sa.Table(
    "request_feedback", metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("rating", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

request_scores = sa.Table(
    "request_scores", metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),  # booleans stored as 0/1
    sa.Column("created_at", sa.Float, nullable=False),
)

gateway_keys = sa.Table(
    "gateway_keys", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    sa.Column("last_used_at", sa.Float),
)

# Stats rollup (migration 0004; see store/rollup.py). One row per time bucket (grain 3600 or
# 86400 s) and dimension values of one series: "core" (model, provider, key), "user" (core +
# user) or "prop" (core + one property's name and value). Absent values are stored as ''.
# Latency and TTFT histograms are packed two bins per column (see store/histogram.py).
ROLLUP_KEY = ("grain", "series", "prop_name", "bucket", "model", "provider", "key_id", "user_id", "prop_value")
ROLLUP_SUMS = ("n", "errors", "streamed", "input_tokens", "output_tokens", "cached_input_tokens",
               "cache_write_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "cost_n", "latency_n",
               "latency_sum", "ttft_n", "ttft_sum")
_FLOAT_SUMS = {"cost_usd", "latency_sum", "ttft_sum"}
LAT_COLUMNS = tuple(f"lat_{j}" for j in range(histogram.COLUMNS))
TTFT_COLUMNS = tuple(f"ttft_{j}" for j in range(histogram.COLUMNS))

stats_rollup = sa.Table(
    "stats_rollup", metadata,
    sa.Column("grain", sa.Integer, primary_key=True),
    sa.Column("series", sa.String(8), primary_key=True),
    sa.Column("prop_name", sa.String, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),  # epoch seconds, a multiple of grain
    sa.Column("model", sa.String, primary_key=True),
    sa.Column("provider", sa.String, primary_key=True),
    sa.Column("key_id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, primary_key=True),
    sa.Column("prop_value", sa.String, primary_key=True),
    *(sa.Column(name, sa.Float if name in _FLOAT_SUMS else sa.BigInteger, nullable=False) for name in ROLLUP_SUMS),
    *(sa.Column(name, sa.BigInteger, nullable=False) for name in LAT_COLUMNS + TTFT_COLUMNS),
    sqlite_with_rowid=False,  # the rows live in primary-key order: a query reads one contiguous range
)

# Watermarks of the rollup (how far into `requests` it has folded).
stats_state = sa.Table(
    "stats_state", metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)
