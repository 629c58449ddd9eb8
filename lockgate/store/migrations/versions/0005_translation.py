"""How a request reached its provider: `provider_api` (the API the provider was sent:
differs from `api` when translated), `translated` (decoded and re-encoded rather than passed
through) and `dropped_tools` (built-in tools left out because the provider cannot run them).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("provider_api", sa.String))
    op.add_column("requests", sa.Column("translated", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("requests", sa.Column("dropped_tools", sa.JSON(none_as_null=True)))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("dropped_tools")
        batch.drop_column("translated")
        batch.drop_column("provider_api")
