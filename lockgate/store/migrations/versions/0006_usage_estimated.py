"""`usage_estimated`: the provider sent no usage, so the row's tokens (and its cost) are lockgate's
estimate (translated paths; the answer also says so in `lockgate-usage: estimated`).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("usage_estimated", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("usage_estimated")
