"""Cost details, manual log records, feedback and scores.

requests: `source` (proxy | manual), `priced_model` (the model the cost was priced as),
`cost_status` (why `cost_usd` is what it is), `cache_write_1h_tokens` (the part of
`cache_write_tokens` written with a one-hour TTL), `key_source` (whose provider key was
used: the gateway's configured one, or the client's own, sent with Helicone-Auth). Feedback and scores live in their own
tables without a foreign key: a client may send them before the writer has stored the row.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("source", sa.String, nullable=False, server_default="proxy"))
    op.add_column("requests", sa.Column("priced_model", sa.String))
    op.add_column("requests", sa.Column("cost_status", sa.String))
    op.add_column("requests", sa.Column("cache_write_1h_tokens", sa.Integer))
    op.add_column("requests", sa.Column("key_source", sa.String, nullable=False, server_default="gateway"))
    op.create_table(
        "request_feedback",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("rating", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_request_feedback"),
    )
    op.create_table(
        "request_scores",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("request_id", "name", name="pk_request_scores"),
    )


def downgrade() -> None:
    # Run with foreign keys off (as lockgate's migrate() does): the batch step rebuilds
    # `requests`, and with them on, dropping the old table would cascade to request_bodies.
    op.drop_table("request_scores")
    op.drop_table("request_feedback")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("key_source")
        batch.drop_column("cache_write_1h_tokens")
        batch.drop_column("cost_status")
        batch.drop_column("priced_model")
        batch.drop_column("source")
