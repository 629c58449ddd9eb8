"""Feedback and scores on a logged request, on Helicone's paths and bodies (and under /api)."""

from __future__ import annotations

import math

import msgspec

from lockgate.api.router import ApiRequest, Route
from lockgate.errors import InvalidRequest, NotFound
from lockgate.store.annotations import request_exists, set_feedback, set_scores

__all__ = ["routes"]

_MAX_NAME = 128
_FLUSH_WAIT = 2.0  # seconds: the row of a request answered a moment ago may still be in the writer's queue


class FeedbackBody(msgspec.Struct):
    rating: bool


class ScoresBody(msgspec.Struct):
    scores: dict[str, float | bool]


class Feedback(msgspec.Struct):
    request_id: str
    rating: bool


class Scores(msgspec.Struct):
    request_id: str
    scores: dict[str, float]


class FeedbackResult(msgspec.Struct):
    """Helicone's result envelope: `data`, and `error` (always null on success)."""

    data: Feedback
    error: None = None


class ScoresResult(msgspec.Struct):
    data: Scores
    error: None = None


async def _require_request(req: ApiRequest, request_id: str) -> None:
    """404 unless the request is logged; waits for the log writer once, briefly, on a miss."""
    if not req.ctx.log_enabled:
        return  # nothing is logged: accept annotations for any id
    if await req.db(request_exists, req.ctx.engine, request_id):
        return
    await req.db(req.ctx.flush_log, _FLUSH_WAIT)
    if not await req.db(request_exists, req.ctx.engine, request_id):
        raise NotFound(f"No logged request has the id `{request_id}`.", param="id", code="request_not_found")


async def feedback(req: ApiRequest) -> FeedbackResult:
    rid = req.params["id"]
    body: FeedbackBody = req.body
    await _require_request(req, rid)
    await req.db(set_feedback, req.ctx.engine, rid, body.rating)
    return FeedbackResult(Feedback(rid, body.rating))


async def scores(req: ApiRequest) -> ScoresResult:
    rid = req.params["id"]
    body: ScoresBody = req.body
    if not body.scores:
        raise InvalidRequest("`scores` must name at least one score.", param="scores", code="invalid_body")
    values: dict[str, float] = {}
    for name, value in body.scores.items():
        if not name.strip() or len(name) > _MAX_NAME:
            raise InvalidRequest(f"Score names must be 1 to {_MAX_NAME} characters, got {name!r}.",
                                 param="scores", code="invalid_body")
        number = float(value)  # booleans are stored as 1 and 0, as Helicone does
        if not math.isfinite(number):
            raise InvalidRequest(f"Score `{name}` must be a finite number.", param="scores", code="invalid_body")
        values[name] = number
    await _require_request(req, rid)
    await req.db(set_scores, req.ctx.engine, rid, values)
    return ScoresResult(Scores(rid, values))


def routes() -> list[Route]:
    out: list[Route] = []
    for base, tag in (("/v1/request/{id}", "helicone"), ("/api/requests/{id}", "annotations")):
        out += [
            Route("POST", f"{base}/feedback", feedback, "Rate a request (thumbs up or down)", body=FeedbackBody,
                  response=FeedbackResult, tag=tag,
                  description="Replaces an earlier rating. `{id}` is the request id (the `Helicone-Id` / "
                              "`lockgate-request-id` response header, or the client's `Helicone-Request-Id`)."),
            Route("POST", f"{base}/score", scores, "Score a request (named numbers or booleans)", body=ScoresBody,
                  response=ScoresResult, tag=tag,
                  description="Booleans are stored as 1 and 0. A score given again under the same name replaces "
                              "the earlier value."),
        ]
    return out
