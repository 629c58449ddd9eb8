"""Initial schema: requests, request_bodies, gateway_keys.

Written by hand (a frozen copy, not an import of `schema.py`, so that later schema edits
do not change what this step does).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
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
        sa.Column("properties", sa.JSON(none_as_null=True)),
        sa.Column("user_agent", sa.String),
        sa.Column("client_ip", sa.String),
        sa.Column("request_bytes", sa.Integer, nullable=False),
        sa.Column("response_bytes", sa.Integer, nullable=False),
        sa.Column("has_bodies", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
    )
    op.create_index("ix_requests_ts_id", "requests", ["ts", "id"])
    op.create_index("ix_requests_session_id_ts", "requests", ["session_id", "ts"])
    op.create_index("ix_requests_model_resolved_ts", "requests", ["model_resolved", "ts"])
    op.create_index("ix_requests_key_id_ts", "requests", ["key_id", "ts"])
    op.create_index("ix_requests_user_id_ts", "requests", ["user_id", "ts"])
    op.create_index("ix_requests_response_id", "requests", ["response_id"])
    op.create_index("ix_requests_errors_ts", "requests", ["ts"],
                    sqlite_where=sa.text("status >= 400"), postgresql_where=sa.text("status >= 400"))

    op.create_table(
        "request_bodies",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("request_body", sa.LargeBinary),
        sa.Column("response_body", sa.LargeBinary),
        sa.Column("encoding", sa.String, nullable=False),
        sa.Column("request_truncated", sa.Boolean, nullable=False),
        sa.Column("response_truncated", sa.Boolean, nullable=False),
        sa.Column("meta_headers", sa.JSON(none_as_null=True)),
        sa.Column("content_type", sa.String),
        sa.PrimaryKeyConstraint("request_id", name="pk_request_bodies"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE",
                                name="fk_request_bodies_request_id_requests"),
    )

    op.create_table(
        "gateway_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.Column("last_used_at", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_keys"),
        sa.UniqueConstraint("key_hash", name="uq_gateway_keys_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("gateway_keys")
    op.drop_table("request_bodies")
    op.drop_index("ix_requests_errors_ts", table_name="requests")
    op.drop_index("ix_requests_response_id", table_name="requests")
    op.drop_index("ix_requests_user_id_ts", table_name="requests")
    op.drop_index("ix_requests_key_id_ts", table_name="requests")
    op.drop_index("ix_requests_model_resolved_ts", table_name="requests")
    op.drop_index("ix_requests_session_id_ts", table_name="requests")
    op.drop_index("ix_requests_ts_id", table_name="requests")
    op.drop_table("requests")
