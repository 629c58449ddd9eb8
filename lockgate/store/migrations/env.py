"""Alembic environment, run only through `lockgate.store.db.migrate()`.

There is no alembic.ini: `migrate()` builds the Config in code and hands over an open
connection (already inside the transaction it wants the migration to run in) through
`config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context

from lockgate.store.schema import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("lockgate migrations run through lockgate.store.db.migrate(engine)")
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("lockgate migrations do not support offline (SQL script) mode")
run_migrations_online()
