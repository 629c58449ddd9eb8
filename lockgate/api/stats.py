"""`GET /api/stats`: counts, tokens, cost, errors, latency and TTFT percentiles of the request
log, grouped by model, provider, key, user or a property, and/or by time bucket."""

from __future__ import annotations

from lockgate.api.router import ApiRequest, Param, Route
from lockgate.errors import InvalidRequest
from lockgate.store.filters import FilterError, parse_property_value, parse_time
from lockgate.store.stats import StatsQuery, StatsResponse, query_stats

__all__ = ["routes"]

_TIME_HELP = "epoch seconds, ISO 8601 (UTC unless an offset is given) or an age like 2h / 7d"


async def get_stats(req: ApiRequest) -> StatsResponse:
    q = req.query
    group_by = q.get("group_by")
    if group_by and group_by.startswith("property:"):
        group_by = "property:" + group_by.split(":", 1)[1].lower()  # header names arrive lower-case
    try:
        query = StatsQuery(
            start=parse_time(q["from"], "from") if "from" in q else None,
            end=parse_time(q["to"], "to") if "to" in q else None,
            group_by=group_by, bucket=q.get("bucket"), models=tuple(q.get("model", ())),
            providers=tuple(q.get("provider", ())), keys=tuple(q.get("key", ())), users=tuple(q.get("user", ())),
            properties=tuple(parse_property_value(v) for v in q.get("property", [])),
            limit=min(q.get("limit", 100), 10_000))
    except FilterError as exc:
        raise InvalidRequest(str(exc), param=exc.param, code="invalid_parameter") from None
    except ValueError as exc:
        raise InvalidRequest(f"{str(exc)[0].upper()}{str(exc)[1:]}.", code="invalid_parameter") from None
    result: StatsResponse = await req.db(query_stats, req.ctx.engine, query)
    return result


def routes() -> list[Route]:
    return [Route(
        "GET", "/api/stats", get_stats, "Request stats: counts, tokens, cost, errors, latency and TTFT",
        tag="stats", response=StatsResponse,
        description="Answered from per-hour and per-day rollups plus the raw rows of partial hours and of rows "
                    "not folded yet, so the newest requests are included. Percentiles come from log-spaced "
                    "histograms and are within `percentile_error` (relative) of the exact value.",
        query=(
            Param("from", str, f"Start of the range, inclusive: {_TIME_HELP}. Default: the first request."),
            Param("to", str, "End of the range, exclusive (same forms). Default: now and later."),
            Param("group_by", str, "model, provider, key, user or property:<name>"),
            Param("bucket", str, "minute, hour or day (UTC): one row per bucket (and group)"),
            Param("model", str, "Only these models (resolved name)", repeated=True),
            Param("provider", str, "Only these providers", repeated=True),
            Param("key", str, "Only these gateway key ids", repeated=True),
            Param("user", str, "Only these user ids (Helicone-User-Id)", repeated=True),
            Param("property", str, "name:value; only requests with this property value (values of one name: "
                                   "any of them)", repeated=True),
            Param("limit", int, "At most this many groups, the largest by request count (default 100)"),
        ))]
