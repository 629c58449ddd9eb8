"""The store against real SQLite files: migrations, keys, request rows and bodies."""

from __future__ import annotations

import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lockgate.observe.record import LogRecord, RequestMeta
from lockgate.store import keys as key_store
from lockgate.store.db import SCHEMA_HEAD, begin_write, database_url_for, migrate, open_engine
from lockgate.store.requests import (
    count_requests,
    get_request,
    insert_records,
    provider_for_response,
    recent_requests,
)
from lockgate.store.schema import metadata, request_bodies


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = open_engine(database_url_for(tmp_path / "data"))
    migrate(eng)
    yield eng
    eng.dispose()


def record(i: int, **kw: object) -> LogRecord:
    rec = LogRecord(id=f"req-{i:04d}", ts=1000.0 + i, method="POST", path="/v1/responses", api="responses",
                    status=200, provider="openai", model_resolved="gpt-5")
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


def insert(engine: sa.Engine, records: list[LogRecord], store_bodies: bool = True,
           cap: int = 1_000_000) -> None:
    with begin_write(engine) as conn:
        insert_records(conn, records, store_bodies=store_bodies, max_body_bytes=cap)


# -- migrations ---------------------------------------------------------------------------


def test_migrate_twice_is_idempotent_and_matches_schema(tmp_path: Path) -> None:
    eng = open_engine(database_url_for(tmp_path / "new" / "dir"))  # parent dirs are created
    migrate(eng)
    migrate(eng)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert MigrationContext.configure(conn).get_current_heads() == (SCHEMA_HEAD,)
        # The hand-written migration creates exactly what schema.py describes.
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        indexes = {r[0]: r[1] for r in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert indexes["ix_requests_errors_ts_id"].endswith("WHERE status >= 400")
    assert {"ix_requests_ts_id", "ix_requests_session_id_ts", "ix_requests_model_resolved_ts",
            "ix_requests_key_id_ts", "ix_requests_user_id_ts", "ix_requests_response_id"} <= set(indexes)
    eng.dispose()


_MIGRATE_AT = """
import sys, time
from lockgate.store.db import migrate, open_engine
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # start together
migrate(open_engine(sys.argv[1]))
"""


def test_concurrent_processes_migrate_the_same_file(tmp_path: Path) -> None:
    url = database_url_for(tmp_path)
    start_at = str(time.time() + 1.5)
    procs = [subprocess.Popen([sys.executable, "-c", _MIGRATE_AT, url, start_at], stderr=subprocess.PIPE)
             for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    eng = open_engine(url)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [SCHEMA_HEAD]
    assert count_requests(eng) == 0
    eng.dispose()


def test_write_transactions_roll_back_as_a_whole(engine: sa.Engine) -> None:
    # The driver's legacy transaction mode is off: a failed transaction leaves nothing behind.
    with pytest.raises(RuntimeError), begin_write(engine) as conn:
        insert_records(conn, [record(1)], store_bodies=True, max_body_bytes=100)
        raise RuntimeError("boom")
    assert count_requests(engine) == 0


# -- keys -----------------------------------------------------------------------------------


def test_keys_create_list_revoke_and_load(engine: sa.Engine) -> None:
    rec, secret = key_store.create_key(engine, "ci-bot")
    assert secret.startswith("lg-") and len(secret) >= 46
    assert rec.id.startswith("key_") and len(rec.id) == 16 and rec.prefix == secret[:8]
    assert key_store.hash_key(secret) == key_store.hash_key(secret) != secret
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash FROM gateway_keys").scalars().all()
    assert stored == [key_store.hash_key(secret)]  # never the key itself

    other, other_secret = key_store.create_key(engine, "laptop")
    assert [k.name for k in key_store.list_keys(engine)] == ["ci-bot", "laptop"]
    active = key_store.load_active_keys(engine)
    assert active == {key_store.hash_key(secret): rec, key_store.hash_key(other_secret): other}

    revoked = key_store.revoke_key(engine, "ci-bot")
    assert revoked.id == rec.id and revoked.revoked_at is not None
    assert list(key_store.load_active_keys(engine)) == [key_store.hash_key(other_secret)]
    assert [k.name for k in key_store.list_keys(engine, include_revoked=False)] == ["laptop"]
    assert len(key_store.list_keys(engine, include_revoked=True)) == 2

    with pytest.raises(KeyError, match="already revoked"):
        key_store.revoke_key(engine, rec.id)
    with pytest.raises(KeyError, match="no active key"):
        key_store.revoke_key(engine, "nobody")
    assert key_store.revoke_key(engine, other.id).id == other.id  # by id
    assert key_store.load_active_keys(engine) == {}


def test_revoke_by_ambiguous_name_fails(engine: sa.Engine) -> None:
    a, _ = key_store.create_key(engine, "shared")
    b, _ = key_store.create_key(engine, "shared")
    with pytest.raises(KeyError, match="several active keys") as exc:
        key_store.revoke_key(engine, "shared")
    assert a.id in str(exc.value) and b.id in str(exc.value)
    assert len(key_store.load_active_keys(engine)) == 2
    key_store.revoke_key(engine, a.id)
    assert key_store.revoke_key(engine, "shared").id == b.id  # one active left: the name is enough


# -- request rows -------------------------------------------------------------------------


def test_insert_and_get_round_trip_with_compressed_capped_bodies(engine: sa.Engine) -> None:
    request = b'{"model":"gpt-5","input":"' + b"x" * 5000 + b'"}'
    response = [b'{"id":"resp_1",', b'"output":"' + "é".encode() * 600 + b'"}']
    meta = RequestMeta(session_id="s1", session_path="/a", session_name="n", user_id="alice",
                       properties={"team": "core"}, headers={"helicone-session-id": "s1"})
    rec = record(1, request_body=request, response_body=response, meta=meta, content_type="application/json",
                 input_tokens=3, output_tokens=4, response_id="resp_1", user_agent="ua",
                 client_ip="127.0.0.1", request_bytes=len(request), response_bytes=1234, ttft_ms=5.5,
                 stream=True)
    small = record(2, request_body=b'{"a":1}', response_body=[b"\xff\xfe not utf-8"])
    insert(engine, [rec, small], cap=1002)  # 25 ASCII bytes, then the cap falls inside an "é"

    got = get_request(engine, rec.id)
    assert got is not None
    assert got["request_body"] == request[:1002].decode() and got["request_truncated"] is True
    # Cut at the cap inside a two-byte character: the partial character is dropped, not an error.
    assert isinstance(got["response_body"], str) and got["response_truncated"] is True
    assert got["response_body"].encode() == b"".join(response)[:1001]
    assert got["meta_headers"] == {"helicone-session-id": "s1"} and got["content_type"] == "application/json"
    assert (got["session_id"], got["user_id"], got["properties"]) == ("s1", "alice", {"team": "core"})
    assert (got["input_tokens"], got["output_tokens"], got["stream"], got["has_bodies"]) == (3, 4, True, True)
    assert got["cost_usd"] is None and got["ttft_ms"] == 5.5

    with engine.connect() as conn:
        raw = conn.execute(sa.select(request_bodies.c.request_body, request_bodies.c.encoding)
                           .where(request_bodies.c.request_id == rec.id)).one()
    assert raw.encoding == "zlib" and zlib.decompress(raw.request_body) == request[:1002]
    assert len(raw.request_body) < 200  # compressed

    got_small = get_request(engine, small.id)
    assert got_small is not None
    assert got_small["request_body"] == '{"a":1}' and got_small["request_truncated"] is False
    assert got_small["response_body"] == b"\xff\xfe not utf-8"  # not UTF-8: bytes
    assert get_request(engine, "missing") is None


def test_without_bodies_only_annotation_headers_are_kept(engine: sa.Engine) -> None:
    with_headers = record(1, request_body=b"{}", meta=RequestMeta(headers={"lockgate-x": "1"}))
    plain = record(2, request_body=b"{}")
    insert(engine, [with_headers, plain], store_bodies=False)
    a, b = get_request(engine, with_headers.id), get_request(engine, plain.id)
    assert a is not None and b is not None
    assert a["has_bodies"] is False and a["request_body"] is None and a["meta_headers"] == {"lockgate-x": "1"}
    assert b["has_bodies"] is False and b["request_body"] is None and b["meta_headers"] is None


def test_existing_ids_are_skipped_and_bodies_cascade(engine: sa.Engine) -> None:
    insert(engine, [record(1, request_body=b"{}")])
    insert(engine, [record(1, request_body=b"{}", status=500), record(2)])  # a replayed copy of 1
    assert count_requests(engine) == 2
    got = get_request(engine, "req-0001")
    assert got is not None and got["status"] == 200  # the first copy stays
    with begin_write(engine) as conn:
        conn.exec_driver_sql("DELETE FROM requests WHERE id = 'req-0001'")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM request_bodies").scalar() == 1  # foreign keys on


def test_recent_requests_ordering_and_after_ts(engine: sa.Engine) -> None:
    insert(engine, [record(i) for i in (3, 1, 2, 5, 4)])
    assert [r["id"] for r in recent_requests(engine, limit=3)] == ["req-0005", "req-0004", "req-0003"]
    assert [r["id"] for r in recent_requests(engine, after_ts=1002.0)] == ["req-0003", "req-0004", "req-0005"]
    assert [r["id"] for r in recent_requests(engine, limit=1, after_ts=1002.0)] == ["req-0003"]
    assert recent_requests(engine, after_ts=1005.0) == []
    assert count_requests(engine) == 5


def test_provider_for_response(engine: sa.Engine) -> None:
    insert(engine, [record(1, response_id="resp_a", provider="azure"), record(2, response_id="resp_b"),
                    record(3, response_id="resp_a", provider="openai")])
    assert provider_for_response(engine, "resp_a") == "openai"  # newest row wins
    assert provider_for_response(engine, "resp_b") == "openai"
    assert provider_for_response(engine, "resp_none") is None


def test_schema_head_constant_matches_the_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from lockgate.store import db

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(cfg).get_heads() == [db.SCHEMA_HEAD]


@pytest.mark.parametrize("size", [1, 300, 512, 513, 4096, 70_000])
def test_bodies_of_any_size_round_trip_through_the_small_window_compressor(engine: sa.Engine, size: int) -> None:
    # The compressor sizes zlib's window to the body; every size must still decode with plain zlib.
    body = (b'{"input":"' + bytes(range(32, 127)) * (size // 95 + 1))[:size]
    rec = record(size, request_body=body, response_body=[body[::-1]])
    insert(engine, [rec], cap=1_000_000)
    with engine.connect() as conn:
        raw = conn.execute(sa.select(request_bodies.c.request_body, request_bodies.c.response_body)
                           .where(request_bodies.c.request_id == rec.id)).one()
    assert zlib.decompress(raw.request_body) == body and zlib.decompress(raw.response_body) == body[::-1]


def test_insert_calls_pace_once_per_record(engine: sa.Engine) -> None:
    calls: list[int] = []
    with begin_write(engine) as conn:
        insert_records(conn, [record(i) for i in range(5)], store_bodies=True, max_body_bytes=100,
                       pace=lambda: calls.append(1))
    assert len(calls) == 5 and count_requests(engine) == 5


def test_upgrade_from_0001_keeps_rows_and_downgrade_returns(tmp_path: Path) -> None:
    from alembic import command

    from lockgate.store import db

    eng = open_engine(database_url_for(tmp_path))
    cfg = db._alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql(
            "INSERT INTO requests (id, ts, method, path, api, stream, status, request_bytes, response_bytes, "
            "has_bodies) VALUES ('old-1', 1.0, 'POST', '/v1/responses', 'responses', 0, 200, 10, 20, 0)")
    migrate(eng)
    with eng.connect() as conn:
        row = conn.exec_driver_sql("SELECT source, priced_model, cost_status, cache_write_1h_tokens "
                                   "FROM requests WHERE id = 'old-1'").one()
        assert tuple(row) == ("proxy", None, None, None)
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with eng.connect() as conn:
        cols = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(requests)")}
        assert "source" not in cols and conn.exec_driver_sql("SELECT count(*) FROM requests").scalar() == 1
        tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not {"request_feedback", "request_scores"} & tables
    eng.dispose()
