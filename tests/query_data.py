"""A small, known request log for the query tests, made through a real gateway and the fake upstream.

Two sessions with paths (one with an upstream error), properties sent as Helicone-Property-*
and lockgate-property-*, an alias, a stream, a 429, a slow request, and a word to search for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from tests.gateway_proc import GatewayProcess

SESSION_A = f"sess-a-{uuid.uuid4().hex[:8]}"
SESSION_B = f"sess-b-{uuid.uuid4().hex[:8]}"
WORD = "Zanzibar"
# Costs set on two rows by hand: pricing is another part of the log writer, not this query layer.
BIG_COSTS = {"a_step1_first": 150.0, "b_ok": 250.0}


@dataclass
class Logged:
    gw: GatewayProcess
    ids: dict[str, str] = field(default_factory=dict)

    def rows(self) -> dict[str, dict[str, Any]]:
        """The log rows by label, as stored."""
        by_id = {r["id"]: r for r in self.gw.rows()}
        return {label: by_id[rid] for label, rid in self.ids.items()}

    def labels(self, ids: list[str]) -> set[str]:
        back = {rid: label for label, rid in self.ids.items()}
        return {back[i] for i in ids}


def _session(sid: str, path: str | None, name: str, user: str, **props: str) -> dict[str, str]:
    headers = {"Helicone-Session-Id": sid, "Helicone-Session-Name": name, "Helicone-User-Id": user}
    if path is not None:
        headers["Helicone-Session-Path"] = path
    headers.update({f"Helicone-Property-{k}": v for k, v in props.items()})
    return headers


# (label, endpoint, body, annotation headers)
PLAN: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    ("a_root", "responses", {"model": "gpt-5", "input": "start the plan"},
     _session(SESSION_A, None, "Course Plan", "alice", Env="prod")),
    ("a_plan", "responses", {"model": "gpt-5", "input": "make a plan"},
     _session(SESSION_A, "/plan", "Course Plan", "alice")),
    ("a_step1_first", "responses", {"model": "gpt-5", "input": "step one, first try"},
     _session(SESSION_A, "/plan/step-1", "Course Plan", "alice")),
    ("a_step1_stream", "chat", {"model": "fast", "stream": True,
                                "messages": [{"role": "user", "content": "step one, streamed"}]},
     _session(SESSION_A, "/plan/step-1/", "Course Plan", "alice")),
    ("a_step2", "responses", {"model": "gpt-5", "input": f'step two: say "{WORD}" and mean it'},
     _session(SESSION_A, "/plan/step-2", "Course Plan", "alice")),
    ("a_summary", "responses", {"model": "gpt-5-mini", "input": "summarise"},
     _session(SESSION_A, "/summary", "Course Plan", "alice")),
    ("b_ok", "responses", {"model": "gpt-5", "input": "other work"},
     {**_session(SESSION_B, "/x", "Other", "bob"), "lockgate-property-env": "dev"}),
    ("b_err", "responses", {"model": "fake-error-500", "input": "this fails"},
     _session(SESSION_B, "/x/y", "Other", "bob")),
    ("props", "responses", {"model": "gpt-5", "input": "with two properties"},
     {"Helicone-Property-Env": "prod", "Helicone-Property-Team": "search"}),
    ("limited", "responses", {"model": "fake-error-429", "input": "too many"}, {}),
    ("slow", "responses", {"model": "fake-slow", "input": "take your time"}, {}),
]


def populate(gw: GatewayProcess) -> Logged:
    logged = Logged(gw)
    auth = {"authorization": f"Bearer {gw.key}"}
    with httpx.Client(timeout=30) as client:
        for label, endpoint, body, headers in PLAN:
            path = "/responses" if endpoint == "responses" else "/chat/completions"
            r = client.post(f"{gw.url}{path}", content=orjson.dumps(body), headers={**auth, **headers})
            if endpoint == "chat":
                r.read()
            logged.ids[label] = r.headers["lockgate-request-id"]
    for rid in logged.ids.values():
        gw.row(rid)
    with gw.engine.begin() as conn:
        for label, cost in BIG_COSTS.items():
            conn.execute(sa.text("UPDATE requests SET cost_usd = :c WHERE id = :id"),
                         {"c": cost, "id": logged.ids[label]})
    return logged
