"""GET /v1/models and /v1/models/{id}: the models this gateway's config routes."""

from __future__ import annotations

import orjson

from lockgate.routing.resolve import Router

__all__ = ["model_body", "model_list_body"]

_CREATED = 1_700_000_000  # OpenAI's field is required; config-defined names have no real date


def _model(model_id: str, owner: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": owner}


def model_list_body(router: Router) -> bytes:
    return orjson.dumps({"object": "list", "data": [_model(m, o) for m, o in router.model_names()]})


def model_body(router: Router, model_id: str) -> bytes:
    """The model object; raises NotFound when the config does not route it."""
    for m, owner in router.model_names():
        if m == model_id:
            return orjson.dumps(_model(m, owner))
    route = router.resolve(model_id)  # raises NotFound for unrouted names
    return orjson.dumps(_model(model_id, route.provider))



