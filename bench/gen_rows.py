"""Realistic request-log rows, written straight into a lockgate SQLite store, fast.

    python -m bench.gen_rows /tmp/big.db --rows 1000000 [--days 30] [--bodies 0.2]

Mixed models and providers, sessions with paths, Zipf-distributed users and their keys,
properties, a status mix with errors, streamed and not, token counts with cached and
reasoning tokens, costs (some unknown), log-normal latency and TTFT per model, start times
over `days` with a daily rhythm. The secondary indexes are dropped during the load and
rebuilt after it (sorting once beats a million B-tree inserts).
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import time
import zlib
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson

from lockgate.store.db import migrate, open_engine
from lockgate.store.requests import _REQUEST_COLUMNS

__all__ = ["generate"]


@dataclass(frozen=True)
class Model:
    name: str
    provider: str
    weight: float
    latency_ms: float  # median
    ttft_ms: float  # median
    input_per_m: float | None  # USD per million tokens; None: unknown price
    output_per_m: float
    reasoning: bool = False


MODELS = (
    Model("gpt-4o-mini", "openai", 26, 900, 280, 0.15, 0.6),
    Model("gpt-4.1", "openai", 12, 2400, 520, 2.0, 8.0),
    Model("gpt-5", "openai", 14, 6500, 1900, 1.25, 10.0, reasoning=True),
    Model("o4-mini", "openai", 6, 5200, 2600, 1.1, 4.4, reasoning=True),
    Model("claude-sonnet-4-5", "anthropic", 18, 4200, 900, 3.0, 15.0),
    Model("claude-haiku-4-5", "anthropic", 9, 1300, 380, 1.0, 5.0),
    Model("gemini-2.5-flash", "gemini", 8, 1500, 420, 0.3, 2.5),
    Model("llama-3.3-70b", "groq", 5, 450, 120, 0.59, 0.79),
    Model("qwen3-coder-local", "ollama", 2, 8000, 1500, None, 0.0),
)
KEYS = tuple((f"key_{i:012x}", name) for i, name in enumerate(
    ("ci-bot", "codex-laptop", "backend-prod", "backend-staging", "eval-runner", "support-app")))
STATUSES = ((200, 95.6), (429, 1.6), (500, 0.9), (400, 0.7), (502, 0.5), (401, 0.3), (499, 0.4))
FEATURES = ("chat", "code-review", "summarize", "search", "autocomplete", "agent", "translate", "extract",
            "classify", "rewrite", "qa", "plan")
APPS = ("web", "ios", "android", "cli", "slack-bot")
ENVIRONMENTS = (("production", 70), ("staging", 20), ("development", 10))
PATHS = ("/plan", "/plan/step-1", "/plan/step-2", "/plan/step-3", "/tool/search", "/tool/edit", "/review",
         "/review/fix", "/summary")
HOURLY = (3, 2, 2, 2, 2, 3, 5, 8, 11, 13, 14, 14, 13, 14, 14, 13, 12, 10, 8, 7, 6, 5, 4, 3)  # UTC rhythm
_BODY = zlib.compress(orjson.dumps({"model": "gpt-4o-mini", "messages": [
    {"role": "user", "content": "Summarize the following change set and list risky edits. " * 12}]}), 1)


def _uuid7(ms: int, rand: int) -> str:
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _times(rng: random.Random, n: int, start: float, days: int) -> list[float]:
    day = [rng.randrange(days) for _ in range(n)]
    hour = rng.choices(range(24), weights=HOURLY, k=n)
    return sorted(start + d * 86400 + h * 3600 + rng.random() * 3600 for d, h in zip(day, hour, strict=True))


def rows(n: int, days: int = 30, end: float | None = None, seed: int = 1, users: int = 2000) -> list[tuple[Any, ...]]:
    """n `requests` rows in column order, start times ascending."""
    rng = random.Random(seed)
    end = end if end is not None else time.time()
    ts = _times(rng, n, end - days * 86400, days)
    models = rng.choices(MODELS, weights=[m.weight for m in MODELS], k=n)
    statuses = rng.choices([s for s, _ in STATUSES], cum_weights=list(accumulate(w for _, w in STATUSES)), k=n)
    zipf = [1 / (i + 1) ** 1.1 for i in range(users)]
    user_ids = rng.choices([f"user-{i:05d}" for i in range(users)], weights=zipf, k=n)
    envs = rng.choices([e for e, _ in ENVIRONMENTS], weights=[w for _, w in ENVIRONMENTS], k=n)
    open_sessions: list[list[Any]] = []  # [id, user, name, steps left, step]
    next_session = 0
    out: list[tuple[Any, ...]] = []
    lognorm, rand = rng.lognormvariate, rng.random
    for i in range(n):
        m, status, t = models[i], statuses[i], ts[i]
        user: str | None = user_ids[i] if rand() > 0.15 else None
        session_id = session_path = session_name = None
        if rand() < 0.6:
            if len(open_sessions) < 40 or rand() < 0.05:
                open_sessions.append([f"sess-{next_session:07d}", user, rng.choice(("agent-run", "review", "chat")),
                                      rng.randint(1, 25), 0])
                next_session += 1
            s = open_sessions[rng.randrange(len(open_sessions))]
            session_id, user, session_name = s[0], s[1], s[2]
            session_path = PATHS[min(s[4], len(PATHS) - 1)]
            s[3] -= 1
            s[4] += 1
            if s[3] <= 0:
                open_sessions.remove(s)
        key_id, key_name = KEYS[int(user[-5:]) % len(KEYS)] if user and rand() < 0.9 else KEYS[rng.randrange(len(KEYS))]
        stream = rand() < 0.6
        ok = status < 400
        latency = lognorm(math.log(m.latency_ms), 0.6) if ok else lognorm(math.log(120 if status == 429 else 900), 0.8)
        ttft = min(latency * 0.95, lognorm(math.log(m.ttft_ms), 0.5)) if ok and stream else None
        tokens: list[int | None] = [None] * 6
        cost = None
        cost_status = "no_usage"
        if ok:
            inp = int(lognorm(math.log(1800), 1.0)) + 1
            cached = int(inp * rng.choice((0.0, 0.0, 0.3, 0.6, 0.9)))
            out_t = int(lognorm(math.log(280), 0.9)) + 1
            reasoning = int(out_t * (0.2 + 0.6 * rand())) if m.reasoning else 0
            write = int(inp * 0.4) if m.provider == "anthropic" and rand() < 0.2 else 0
            tokens = [inp, out_t, cached, write, reasoning, inp + out_t]
            if m.input_per_m is None:
                cost_status = "unknown_price"
            else:
                cost = ((inp - cached) * m.input_per_m + cached * m.input_per_m * 0.1 + write * m.input_per_m * 1.25
                        + out_t * m.output_per_m) / 1e6
                cost_status = "priced"
        props: dict[str, str] = {"environment": envs[i], "feature": FEATURES[int(rand() ** 2 * len(FEATURES))],
                                 "app": APPS[int(rand() ** 1.5 * len(APPS))]}
        if rand() < 0.2:
            props["experiment"] = "B" if rand() < 0.5 else "A"
        rid = _uuid7(int(t * 1000), rng.getrandbits(80))
        api = "responses" if rand() < 0.45 else "chat"
        out.append((
            rid, t, "POST", "/v1/responses" if api == "responses" else "/v1/chat/completions", api, key_id, key_name,
            stream, m.name, m.name, m.provider, status, None if ok else "upstream_error",
            None if ok else f"upstream returned {status}", latency, (ttft or latency) * 0.9 if ok else latency, ttft,
            *tokens, cost, f"resp_{rid[-12:]}" if api == "responses" and ok else None, f"req_{rid[:8]}",
            session_id, session_path, session_name, user, orjson.dumps(props).decode(), "codex/0.50",
            "10.0.0.7", 2000 + int(rand() * 8000), 1200 + int(rand() * 5000), False, "proxy", m.name, cost_status,
            0 if tokens[3] is not None else None, "gateway", api, False, None, False))
    return out


def generate(path: Path, n: int, *, days: int = 30, end: float | None = None, seed: int = 1,
             bodies: float = 0.0, batch: int = 50_000) -> dict[str, float]:
    """Write n rows (and bodies for a `bodies` fraction of them) into the store at `path`."""
    engine = open_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    t0 = time.perf_counter()
    data = rows(n, days, end, seed)
    made = time.perf_counter() - t0
    assert len(data[0]) == len(_REQUEST_COLUMNS)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests' "
                           "AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    sql = (f"INSERT INTO requests ({', '.join(_REQUEST_COLUMNS)}) VALUES ({', '.join('?' * len(_REQUEST_COLUMNS))})")
    body_sql = ("INSERT INTO request_bodies (request_id, request_body, response_body, encoding, request_truncated, "
                "response_truncated, meta_headers, content_type) VALUES (?, ?, ?, 'zlib', 0, 0, NULL, "
                "'application/json')")
    t1 = time.perf_counter()
    rng = random.Random(seed + 1)
    for lo in range(0, n, batch):
        chunk = data[lo:lo + batch]
        conn.execute("BEGIN")
        if bodies:
            chunk = [(*r[:-5], True, *r[-4:]) if rng.random() < bodies else r for r in chunk]
            conn.executemany(body_sql, ((r[0], _BODY, _BODY) for r in chunk if r[-5]))
        conn.executemany(sql, chunk)
        conn.execute("COMMIT")
    inserted = time.perf_counter() - t1
    t2 = time.perf_counter()
    for _, create in indexes:
        conn.execute(create)
    conn.close()
    return {"rows": n, "make_s": made, "insert_s": inserted, "index_s": time.perf_counter() - t2,
            "total_s": time.perf_counter() - t0, "db_mb": path.stat().st_size / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path, help="SQLite file (created and migrated if missing)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--bodies", type=float, default=0.0, help="fraction of rows with (small, compressed) bodies")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(orjson.dumps(generate(args.path, args.rows, days=args.days, seed=args.seed, bodies=args.bodies)).decode())


if __name__ == "__main__":
    main()
