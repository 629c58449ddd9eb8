"""The partial index on failed requests also orders by id and carries the status.

`GET /api/requests?status=…` lists newest first by (ts, id). The old partial index on (ts)
alone could not give that order, so SQLite preferred walking the whole time index and
reading every row to test its status: a rare code over a million rows took ~0.7 s. On
(ts, id, status) the same query reads only the failed rows' index entries (~1 ms). The
writer's cost is unchanged: still one partial index, touched by failed requests only.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_requests_errors_ts_id", "requests", ["ts", "id", "status"],
                    sqlite_where=sa.text("status >= 400"), postgresql_where=sa.text("status >= 400"))
    op.drop_index("ix_requests_errors_ts", table_name="requests")


def downgrade() -> None:
    op.create_index("ix_requests_errors_ts", "requests", ["ts"],
                    sqlite_where=sa.text("status >= 400"), postgresql_where=sa.text("status >= 400"))
    op.drop_index("ix_requests_errors_ts_id", table_name="requests")
