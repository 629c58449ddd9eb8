"""Filters over the request log: parsed from text (API query strings, CLI options) into SQL.

One `RequestFilter` serves `GET /api/requests`, `lockgate logs` and `lockgate export`, so the
three always agree. Parsing raises `FilterError` (a ValueError naming the parameter); the API
turns it into a 400 and the CLI into a usage error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from lockgate.store.schema import gateway_keys, requests

__all__ = [
    "Cursor",
    "FilterError",
    "RequestFilter",
    "StatusMatch",
    "before",
    "build_request_filter",
    "decode_cursor",
    "encode_cursor",
    "parse_property",
    "parse_status",
    "parse_time",
    "request_conditions",
]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Property names arrive as HTTP header names (`Helicone-Property-<name>`, stored lower-case):
# token characters only, which also keeps them safe inside a JSON path.
_PROPERTY_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9a-z]+$")
_STATUS_CLASS = re.compile(r"^([1-5])xx$")


class FilterError(ValueError):
    """A filter value that cannot be understood; `param` names the parameter."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def parse_time(value: str, param: str = "from", now: float | None = None) -> float:
    """Epoch seconds from: epoch seconds, ISO 8601 (UTC when no offset), or an age like 15m/2h/7d."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
        raise FilterError(param, f"`{param}` must be a finite time; got {value!r}.")
    m = _DURATION.match(text.lower())
    if m:
        return (time.time() if now is None else now) - float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(param, f"`{param}` must be epoch seconds, an ISO 8601 time or an age like 15m, 2h, "
                                 f"7d; got {value!r}.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


@dataclass(frozen=True, slots=True)
class StatusMatch:
    """Status codes in [low, high]."""

    low: int
    high: int


_STATUS_WORDS = {"error": StatusMatch(400, 999), "errors": StatusMatch(400, 999), "ok": StatusMatch(0, 399),
                 "success": StatusMatch(0, 399)}


def parse_status(value: str, param: str = "status") -> tuple[StatusMatch, ...]:
    """`200`, `4xx`, `error` (≥ 400), `ok` (< 400), or a comma-separated list of those (any may match)."""
    out: list[StatusMatch] = []
    for part in value.split(","):
        item = part.strip().lower()
        if not item:
            continue
        if item in _STATUS_WORDS:
            out.append(_STATUS_WORDS[item])
        elif (m := _STATUS_CLASS.match(item)) is not None:
            low = int(m.group(1)) * 100
            out.append(StatusMatch(low, low + 99))
        elif item.isdigit() and len(item) == 3:
            out.append(StatusMatch(int(item), int(item)))
        else:
            raise FilterError(param, f"`{param}` takes a status code (429), a class (4xx, 5xx), `error` or `ok`, "
                                     f"or a comma-separated list of them; got {part.strip()!r}.")
    if not out:
        raise FilterError(param, f"`{param}` is empty.")
    return tuple(out)


def parse_property(value: str, param: str = "property") -> tuple[str, str | None]:
    """`name:value` (exact value) or `name` (the property is set). Names are case-insensitive."""
    name, sep, wanted = value.partition(":")
    name = name.strip().lower()
    if not _PROPERTY_NAME.match(name):
        raise FilterError(param, f"`{param}` takes `name:value` or `name`, where name is the part after "
                                 f"Helicone-Property-; got {value!r}.")
    return name, (wanted if sep else None)


def parse_property_value(value: str, param: str = "property") -> tuple[str, str]:
    """`name:value` only (stats filter on a value, not on presence)."""
    name, wanted = parse_property(value, param)
    if wanted is None:
        raise FilterError(param, f"`{param}` takes `name:value`; got {value!r}.")
    return name, wanted


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """Every filter is optional; different filters are ANDed, values of one filter ORed."""

    since: float | None = None  # ts >= since
    until: float | None = None  # ts < until
    models: tuple[str, ...] = ()  # model_resolved
    models_requested: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # key id or name
    users: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    properties: tuple[tuple[str, str | None], ...] = ()  # all must match
    status: tuple[StatusMatch, ...] = ()
    min_latency_ms: float | None = None
    min_cost_usd: float | None = None
    text: str | None = None  # searched in the decompressed bodies (store/query.py)


def _in(column: sa.ColumnElement[str | None], values: Sequence[str]) -> sa.ColumnElement[bool]:
    return column == values[0] if len(values) == 1 else column.in_(values)


def _status_condition(matches: tuple[StatusMatch, ...]) -> list[sa.ColumnElement[bool]]:
    status = requests.c.status
    ors: list[sa.ColumnElement[bool]] = []
    for m in matches:
        if m.low == m.high:
            ors.append(status == m.low)
        elif m.high >= 999:
            ors.append(status >= m.low)
        else:
            ors.append(sa.and_(status >= m.low, status <= m.high))
    out = [ors[0] if len(ors) == 1 else sa.or_(*ors)]
    if all(m.low >= 400 for m in matches):
        # The same term, as a literal, as the partial index's WHERE: SQLite uses a partial
        # index only when the query repeats its condition verbatim (a bound parameter does not).
        out.append(status >= sa.literal_column("400"))
    return out


def _key_ids(conn: sa.Connection, keys: Sequence[str]) -> list[str]:
    """Key ids for values that are ids or names (names need not be unique); a value that is
    neither is kept as an id (a key the table no longer has)."""
    k = gateway_keys.c
    rows = conn.execute(sa.select(k.id, k.name).where(sa.or_(k.id.in_(keys), k.name.in_(keys)))).all()
    out: list[str] = []
    for value in keys:
        ids = [r.id for r in rows if value in (r.id, r.name)] or [value]
        out += [i for i in ids if i not in out]
    return out


def request_conditions(conn: sa.Connection, flt: RequestFilter) -> list[sa.ColumnElement[bool]]:
    """The WHERE terms for `flt` on `requests` (the body search is not one of them)."""
    c = requests.c
    out: list[sa.ColumnElement[bool]] = []
    if flt.since is not None:
        out.append(c.ts >= flt.since)
    if flt.until is not None:
        out.append(c.ts < flt.until)
    if flt.models:
        out.append(_in(c.model_resolved, flt.models))
    if flt.models_requested:
        out.append(_in(c.model_requested, flt.models_requested))
    if flt.providers:
        out.append(_in(c.provider, flt.providers))
    if flt.keys:
        # Names resolved to ids, so the (key_id, ts) index applies (keys are revoked, never deleted).
        out.append(_in(c.key_id, _key_ids(conn, flt.keys)))
    if flt.users:
        out.append(_in(c.user_id, flt.users))
    if flt.sessions:
        out.append(_in(c.session_id, flt.sessions))
    for name, value in flt.properties:
        prop = c.properties[name].as_string()
        out.append(prop.is_not(None) if value is None else prop == value)
    if flt.status:
        out.extend(_status_condition(flt.status))
    if flt.min_latency_ms is not None:
        out.append(c.latency_ms >= flt.min_latency_ms)
    if flt.min_cost_usd is not None:
        out.append(c.cost_usd >= flt.min_cost_usd)
    return out


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in a newest-first listing: the last row shown, by (ts, id)."""

    ts: float
    id: str


def encode_cursor(ts: float, id_: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts, id_])).decode().rstrip("=")


def decode_cursor(value: str, param: str = "cursor") -> Cursor:
    try:
        ts, id_ = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if isinstance(ts, int | float) and not isinstance(ts, bool) and isinstance(id_, str):
            return Cursor(float(ts), id_)
    except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
        pass
    raise FilterError(param, f"`{param}` is not a cursor this API returned.")


def before(ts_col: sa.ColumnElement[float], id_col: sa.ColumnElement[str], cur: Cursor) -> sa.ColumnElement[bool]:
    """Rows after `cur` in (ts, id) descending order. `ts <= ?` first: an index range on ts."""
    return sa.and_(ts_col <= cur.ts, sa.or_(ts_col < cur.ts, id_col < cur.id))


def build_request_filter(*, since: str | None = None, until: str | None = None, models: Sequence[str] = (),
                         models_requested: Sequence[str] = (), providers: Sequence[str] = (),
                         keys: Sequence[str] = (), users: Sequence[str] = (), sessions: Sequence[str] = (),
                         properties: Sequence[str] = (), status: str | None = None,
                         min_latency_ms: float | None = None, min_cost_usd: float | None = None,
                         text: str | None = None, now: float | None = None) -> RequestFilter:
    """A RequestFilter from text values as the API and the CLI take them."""
    for param, value in (("min_latency_ms", min_latency_ms), ("min_cost", min_cost_usd)):
        if value is not None and not value >= 0:  # also rejects NaN
            raise FilterError(param, f"`{param}` must be a number ≥ 0.")
    return RequestFilter(
        since=parse_time(since, "from", now) if since else None,
        until=parse_time(until, "to", now) if until else None,
        models=tuple(models), models_requested=tuple(models_requested), providers=tuple(providers),
        keys=tuple(keys), users=tuple(users), sessions=tuple(sessions),
        properties=tuple(parse_property(p) for p in properties),
        status=parse_status(status) if status else (),
        min_latency_ms=min_latency_ms, min_cost_usd=min_cost_usd, text=text or None)
