"""Gateway keys: created once, shown once, stored as a sha256 hash.

Keys carry 256 bits of randomness, so a fast unsalted hash is enough: nothing can be
guessed, and a fast hash keeps the per-request lookup a dict access.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from lockgate.store.db import begin_write
from lockgate.store.schema import gateway_keys

__all__ = ["KeyRecord", "create_key", "hash_key", "list_keys", "load_active_keys", "new_key_secret",
           "revoke_key"]

_PREFIX_LEN = 8  # "lg-" and five characters: enough to tell keys apart in a list


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None


def new_key_secret() -> str:
    """A fresh key: `lg-` and 32 random bytes, URL-safe."""
    return "lg-" + secrets.token_urlsafe(32)


def hash_key(secret: str) -> str:
    """The stored form of a key (sha256, hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()


_COLUMNS = (gateway_keys.c.id, gateway_keys.c.name, gateway_keys.c.prefix, gateway_keys.c.created_at,
            gateway_keys.c.revoked_at)


def _record(row: sa.Row[str, str, str, float, float | None]) -> KeyRecord:
    return KeyRecord(id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at,
                     revoked_at=row.revoked_at)


def create_key(engine: sa.Engine, name: str) -> tuple[KeyRecord, str]:
    """Store a new key; returns its record and the plaintext, which is not kept anywhere."""
    secret = new_key_secret()
    rec = KeyRecord(id="key_" + secrets.token_hex(6), name=name, prefix=secret[:_PREFIX_LEN],
                    created_at=time.time(), revoked_at=None)
    with begin_write(engine) as conn:
        conn.execute(gateway_keys.insert().values(id=rec.id, name=rec.name, prefix=rec.prefix,
                                                  key_hash=hash_key(secret), created_at=rec.created_at))
    return rec, secret


def list_keys(engine: sa.Engine, include_revoked: bool = True) -> list[KeyRecord]:
    """Keys, oldest first."""
    query = sa.select(*_COLUMNS).order_by(gateway_keys.c.created_at, gateway_keys.c.id)
    if not include_revoked:
        query = query.where(gateway_keys.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [_record(r) for r in conn.execute(query)]


def revoke_key(engine: sa.Engine, id_or_name: str) -> KeyRecord:
    """Revoke one key by id, or by name when exactly one active key has that name.

    Raises KeyError (with a message for people) when nothing or several keys match.
    """
    now = time.time()
    with begin_write(engine) as conn:
        row = conn.execute(sa.select(*_COLUMNS).where(gateway_keys.c.id == id_or_name)).first()
        if row is None:
            rows = conn.execute(sa.select(*_COLUMNS).where(
                gateway_keys.c.name == id_or_name, gateway_keys.c.revoked_at.is_(None))).all()
            if not rows:
                raise KeyError(f"no active key with id or name {id_or_name!r}")
            if len(rows) > 1:
                ids = ", ".join(r.id for r in rows)
                raise KeyError(f"name {id_or_name!r} matches several active keys ({ids}); revoke one by id")
            row = rows[0]
        elif row.revoked_at is not None:
            raise KeyError(f"key {row.id} ({row.name}) is already revoked")
        conn.execute(gateway_keys.update().where(gateway_keys.c.id == row.id).values(revoked_at=now))
    return KeyRecord(id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at, revoked_at=now)


def load_active_keys(engine: sa.Engine) -> dict[str, KeyRecord]:
    """Every key that is not revoked, by hash: what the request path authenticates against."""
    query = sa.select(gateway_keys.c.key_hash, *_COLUMNS).where(gateway_keys.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return {r.key_hash: KeyRecord(id=r.id, name=r.name, prefix=r.prefix, created_at=r.created_at,
                                      revoked_at=None) for r in conn.execute(query)}
