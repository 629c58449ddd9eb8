"""The management API: every feature module's routes in one router, plus the OpenAPI document."""

from __future__ import annotations

from typing import Any

import msgspec

from lockgate import __version__
from lockgate.api import feedback, manual_log, sessions
from lockgate.api import requests as requests_api
from lockgate.api.router import ApiContext, ApiRequest, ApiRouter, Route
from lockgate.api.stats import routes as stats_routes

__all__ = ["build_api"]


def build_api(ctx: ApiContext) -> ApiRouter:
    routes: list[Route] = []
    # Feature modules add their routes here, one line each.
    routes += feedback.routes()
    routes += manual_log.routes()
    routes += requests_api.routes() + sessions.routes()
    routes += stats_routes()
    spec: dict[str, Any] = {}

    async def openapi(_: ApiRequest) -> bytes:
        if not spec:
            spec.update(router.openapi(__version__))
        return msgspec.json.encode(spec)

    routes.append(Route("GET", "/api/openapi.json", openapi, "This document (OpenAPI 3.1)", tag="meta",
                        public=True))
    router = ApiRouter(ctx, routes)
    return router
