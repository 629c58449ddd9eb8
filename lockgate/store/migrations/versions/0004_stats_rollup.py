"""Stats rollup: per-hour and per-day aggregates of the request log, and its watermarks.

`stats_rollup` holds counts, token and cost sums, and latency/TTFT histograms (169 log-spaced
bins, two per BIGINT column: 85 columns each) per time bucket and dimension values;
`stats_state` holds how far the rollup has folded `requests`. See lockgate/store/rollup.py.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_KEY = ("grain", "series", "prop_name", "bucket", "model", "provider", "key_id", "user_id", "prop_value")
_SUMS = ("n", "errors", "streamed", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
         "reasoning_tokens", "total_tokens", "cost_usd", "cost_n", "latency_n", "latency_sum", "ttft_n", "ttft_sum")
_FLOATS = {"cost_usd", "latency_sum", "ttft_sum"}
_HIST_COLUMNS = 85


def upgrade() -> None:
    key_types: dict[str, Any] = {"grain": sa.Integer(), "series": sa.String(8), "bucket": sa.BigInteger()}
    op.create_table(
        "stats_rollup",
        *(sa.Column(name, key_types.get(name, sa.String()), nullable=False) for name in _KEY),
        *(sa.Column(name, sa.Float if name in _FLOATS else sa.BigInteger, nullable=False) for name in _SUMS),
        *(sa.Column(f"{metric}_{j}", sa.BigInteger, nullable=False)
          for metric in ("lat", "ttft") for j in range(_HIST_COLUMNS)),
        sa.PrimaryKeyConstraint(*_KEY, name="pk_stats_rollup"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stats_state",
        sa.Column("name", sa.String, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_stats_state"),
    )


def downgrade() -> None:
    op.drop_table("stats_state")
    op.drop_table("stats_rollup")
