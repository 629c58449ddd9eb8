"""Feedback and scores on logged requests (Helicone's `/v1/request/{id}/feedback` and `/score`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from lockgate.store.db import begin_write
from lockgate.store.schema import request_feedback, request_scores, requests

__all__ = ["get_annotations", "request_exists", "set_feedback", "set_scores"]


def _upsert(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
            update: Sequence[str]) -> None:
    """INSERT, or UPDATE the `update` columns of the row whose `keys` already exist."""
    index = list(keys)
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # not loaded by SQLite gateways

        pg = postgresql.insert(table)
        conn.execute(pg.on_conflict_do_update(index_elements=index, set_={c: pg.excluded[c] for c in update}),
                     list(rows))
        return
    from sqlalchemy.dialects import sqlite

    lite = sqlite.insert(table)
    conn.execute(lite.on_conflict_do_update(index_elements=index, set_={c: lite.excluded[c] for c in update}),
                 list(rows))


def request_exists(engine: sa.Engine, request_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(requests.c.id).where(requests.c.id == request_id)).first() is not None


def set_feedback(engine: sa.Engine, request_id: str, rating: bool) -> float:
    """Store (or replace) the rating; returns the time it was stored."""
    now = time.time()
    with begin_write(engine) as conn:
        _upsert(conn, request_feedback, [{"request_id": request_id, "rating": rating, "created_at": now,
                                          "updated_at": now}], ["request_id"], ["rating", "updated_at"])
    return now


def set_scores(engine: sa.Engine, request_id: str, scores: Mapping[str, float]) -> None:
    """Store the scores by name; a score already set under the same name is replaced."""
    now = time.time()
    with begin_write(engine) as conn:
        _upsert(conn, request_scores, [{"request_id": request_id, "name": n, "value": v, "created_at": now}
                                       for n, v in scores.items()], ["request_id", "name"], ["value", "created_at"])


def get_annotations(engine: sa.Engine, request_id: str) -> tuple[bool | None, dict[str, float]]:
    """(rating or None, {score name: value}) of one request."""
    with engine.connect() as conn:
        rating = conn.execute(sa.select(request_feedback.c.rating)
                              .where(request_feedback.c.request_id == request_id)).scalar_one_or_none()
        scores = {str(n): float(v) for n, v in conn.execute(
            sa.select(request_scores.c.name, request_scores.c.value)
            .where(request_scores.c.request_id == request_id).order_by(request_scores.c.name))}
    return (None if rating is None else bool(rating)), scores
