"""Query API timings on a big synthetic log: `python -m bench.query_timings --rows 1000000 DIR`.

Fills DIR/lockgate.db (once) with realistic rows over 30 days (models, keys, users, sessions
with paths, properties, ~3 % errors; bodies for the newest rows only), then times each
listing the API offers, first page and a deep page, as the median of a few runs.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from lockgate.store.db import migrate, open_engine
from lockgate.store.filters import RequestFilter, build_request_filter, decode_cursor
from lockgate.store.query import list_requests, request_detail
from lockgate.store.query_groups import SessionFilter, UserFilter, list_sessions, list_users, session_tree
from lockgate.store.requests import _compress
from lockgate.store.schema import request_bodies, requests

_DAY = 86400.0
_MODELS = [f"model-{i}" for i in range(20)]
_PROVIDERS = ["openai", "anthropic", "groq", "mistral", "local"]


def _rows(n: int, now: float, seed: int = 7) -> list[tuple[Any, ...]]:
    rnd = random.Random(seed)
    cols = [c.name for c in requests.columns]
    out: list[tuple[Any, ...]] = []
    session = ""
    left = 0
    for i in range(n):
        ts = now - 30 * _DAY + 30 * _DAY * i / n + rnd.random() * 1e-3
        if left == 0:
            session = f"s{i}" if rnd.random() < 0.6 else ""
            left = rnd.randint(1, 40)
        left -= 1
        user = f"user-{int(rnd.paretovariate(1.2)) % 2000}" if rnd.random() < 0.7 else None
        status = rnd.choices([200, 429, 500, 400], [97, 1, 1, 1])[0]
        inp, outp = rnd.randint(50, 20000), rnd.randint(1, 2000)
        props = {"env": rnd.choice(["prod", "dev", "staging"]), "team": f"t{rnd.randint(0, 9)}"}
        if rnd.random() < 0.01:
            props["experiment"] = "rare"
        model = rnd.choice(_MODELS)
        values = {
            "id": f"{int(ts * 1000):013x}-{i:019d}", "ts": ts, "method": "POST", "path": "/v1/responses",
            "api": "responses", "key_id": f"key_{rnd.randint(0, 49)}", "key_name": "k", "stream": True,
            "model_requested": model, "model_resolved": model, "provider": rnd.choice(_PROVIDERS),
            "status": status, "latency_ms": rnd.lognormvariate(7, 1), "ttft_ms": rnd.lognormvariate(5, 1),
            "input_tokens": inp, "output_tokens": outp, "total_tokens": inp + outp,
            "cost_usd": (inp * 1.25 + outp * 10) / 1e6, "session_id": session or None,
            "session_path": f"/step-{left % 5}/sub-{left % 2}" if session else None,
            "session_name": "agent run" if session else None, "user_id": user,
            "properties": orjson.dumps(props).decode(),
            "request_bytes": 1000, "response_bytes": 2000, "has_bodies": False, "source": "proxy",
        }
        out.append(tuple(values.get(c) for c in cols))
    return out


def fill(engine: sa.Engine, n: int, bodies: int) -> None:
    now = time.time()
    cols = [c.name for c in requests.columns]
    sql = f"INSERT INTO requests ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    rows = _rows(n, now)
    with engine.begin() as conn:
        for start in range(0, n, 50_000):
            conn.exec_driver_sql(sql, rows[start:start + 50_000])
        rnd = random.Random(3)
        body_rows = []
        for row in rows[-bodies:]:
            words = " ".join(rnd.choice(["alpha", "beta", "gamma", "delta", "tool", "patch"]) for _ in range(300))
            body_rows.append({"request_id": row[0], "request_body": _compress(orjson.dumps({"input": words})),
                              "response_body": _compress(orjson.dumps({"output": words[::-1]})),
                              "encoding": "zlib", "request_truncated": False, "response_truncated": False})
        conn.execute(request_bodies.insert(), body_rows)
        conn.execute(requests.update().where(requests.c.id.in_(
            sa.select(request_bodies.c.request_id))).values(has_bodies=True))


def timed(fn: Callable[[], object], runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--bodies", type=int, default=50_000)
    args = ap.parse_args()
    engine = open_engine(f"sqlite:///{args.dir / 'lockgate.db'}")
    migrate(engine)
    with engine.connect() as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one()
    if not have:
        t0 = time.perf_counter()
        fill(engine, args.rows, args.bodies)
        print(f"filled {args.rows} rows in {time.perf_counter() - t0:.0f} s")
    cases: dict[str, RequestFilter] = {
        "all": RequestFilter(),
        "from 1d": build_request_filter(since="1d"),
        "model": RequestFilter(models=("model-3",)),
        "user": RequestFilter(users=("user-5",)),
        "session": RequestFilter(sessions=("s0",)),
        "key": build_request_filter(keys=["key_7"]),
        "status error": build_request_filter(status="error"),
        "status 429 + 7d": build_request_filter(status="429", since="7d"),
        "provider": RequestFilter(providers=("groq",)),
        "property common": build_request_filter(properties=["env:prod"]),
        "property rare": build_request_filter(properties=["experiment:rare"]),
        "min latency 20s": RequestFilter(min_latency_ms=20_000.0),
        "user + model + 7d": build_request_filter(users=["user-1"], models=["model-1"], since="7d"),
        "q (common word)": RequestFilter(text="gamma"),
        "q (absent)": RequestFilter(text="zanzibar"),
    }
    print(f"{'query':24} {'page 1 ms':>10} {'page 20 ms':>10}")
    for name, flt in cases.items():
        first = timed(functools.partial(list_requests, engine, flt, limit=50), 3)
        cursor = None
        for _ in range(19):
            page = list_requests(engine, flt, limit=50, cursor=cursor)
            if page.next_cursor is None:
                break
            cursor = decode_cursor(page.next_cursor)
        deep = timed(functools.partial(list_requests, engine, flt, limit=50, cursor=cursor), 3)
        print(f"{name:24} {first:10.1f} {deep:10.1f}")
    with engine.connect() as conn:
        some_id = conn.execute(sa.select(requests.c.id).order_by(requests.c.ts.desc()).limit(1)).scalar_one()
    others: dict[str, Callable[[], object]] = {
        "request detail": lambda: request_detail(engine, some_id),
        "sessions page": lambda: list_sessions(engine, SessionFilter(), limit=50),
        "sessions 1d": lambda: list_sessions(engine, SessionFilter(since=time.time() - _DAY), limit=50),
        "sessions by user": lambda: list_sessions(engine, SessionFilter(users=("user-5",)), limit=50),
        "session tree": lambda: session_tree(engine, "s0"),
        "users page": lambda: list_users(engine, UserFilter(), limit=50),
        "users 7d": lambda: list_users(engine, UserFilter(since=time.time() - 7 * _DAY), limit=50),
    }
    for name, fn in others.items():
        print(f"{name:24} {timed(fn, 3):10.1f}")


if __name__ == "__main__":
    main()
