"""The management API's plumbing: a route table with path templates, gateway-key auth,
typed query parameters and JSON bodies (msgspec), errors in OpenAI's shape, and the
OpenAPI document built from the same table.

Feature modules (`api/feedback.py`, `api/requests.py`, ...) each return their `Route`s;
`api/app.py` collects them. The proxy never comes here: `GatewayApp` hands a path over
only after its exact-match route lookup has missed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

import msgspec
import sqlalchemy as sa

from lockgate.errors import GatewayError, InvalidRequest, NotFound
from lockgate.observe.record import LogRecord
from lockgate.server.asgi_io import JSON_HEADERS, Receive, Scope, Send, read_body, send_bytes
from lockgate.store.keys import KeyRecord

__all__ = ["ApiContext", "ApiRequest", "ApiRouter", "Param", "Route"]

log = logging.getLogger("lockgate.api")

PREFIXES = ("/api/", "/v1/request/", "/custom/v1/", "/oai/v1/", "/anthropic/v1/")
_MAX_API_BODY = 32 * 1024 * 1024
_TEMPLATE_PART = re.compile(r"\{(\w+)\}")


class ApiContext(Protocol):
    """What API handlers may use of the gateway."""

    @property
    def engine(self) -> sa.Engine: ...

    @property
    def log_enabled(self) -> bool: ...

    def flush_log(self, timeout: float) -> bool:
        """Wait until the log writer has stored everything submitted so far (blocking)."""
        ...

    def submit_log(self, record: LogRecord) -> None: ...

    async def authenticate(self, authorization: str | None, x_api_key: str | None) -> KeyRecord | None: ...


@dataclass(frozen=True)
class Param:
    """A query parameter: parsed to `type` (str, int, float or bool); `repeated` gives a list."""

    name: str
    type: type = str
    description: str = ""
    required: bool = False
    repeated: bool = False


@dataclass
class ApiRequest:
    method: str
    path: str
    params: dict[str, str]  # from the path template
    query: dict[str, Any]  # parsed per the route's Params; absent optional ones are missing
    body: Any  # the decoded body (route.body type), or None
    headers: Mapping[bytes, bytes]
    key: KeyRecord | None
    ctx: ApiContext

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.lower().encode("latin-1"))
        return value.decode("utf-8", "replace") if value is not None else None

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking store code in the default executor, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


Handler = Callable[[ApiRequest], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /api/requests/{id}
    handler: Handler
    summary: str
    query: tuple[Param, ...] = ()
    body: Any = None  # a msgspec-decodable type for the JSON body
    response: Any = None  # the 200 body's type, for the OpenAPI document
    status: int = 200
    tag: str = "api"
    public: bool = False  # no gateway key needed (the OpenAPI document)
    description: str = ""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = _TEMPLATE_PART.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(self.template).replace(
            r"\{", "{").replace(r"\}", "}"))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


class ApiRouter:
    def __init__(self, ctx: ApiContext, routes: Sequence[Route]) -> None:
        self._ctx = ctx
        self.routes = list(routes)

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(PREFIXES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        headers = dict(scope["headers"])
        try:
            route, params = self._match(method, path)
            key = None
            if not route.public:
                key = await self._ctx.authenticate(_text(headers.get(b"authorization")) or _helicone_auth(headers),
                                                   _text(headers.get(b"x-api-key")))
            raw = await read_body(receive, _MAX_API_BODY)
            body = _decode_body(route, raw)
            query = _parse_query(route.query, scope.get("query_string", b""))
            req = ApiRequest(method, path, params, query, body, headers, key, self._ctx)
            result = await route.handler(req)
            out = result if isinstance(result, bytes) else msgspec.json.encode(result)
            await send_bytes(send, route.status, out, JSON_HEADERS)
        except GatewayError as exc:
            await send_bytes(send, exc.status, exc.openai_body(), JSON_HEADERS)
        except Exception:
            # A bug in a handler: say so in the API's error shape (uvicorn would send plain text).
            log.exception("management API handler failed: %s %s", method, path)
            err = GatewayError("The gateway failed to answer this request; the error is in its log.")
            await send_bytes(send, err.status, err.openai_body(), JSON_HEADERS)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == method:
                return route, m.groupdict()
            allowed = True
        if allowed:
            err = NotFound(f"Method {method} is not allowed on {path}.", code="method_not_allowed")
            err.status = 405
            raise err
        raise NotFound(f"Unknown request URL: {method} {path}.", code="unknown_url")

    def openapi(self, version: str) -> dict[str, Any]:
        """The OpenAPI 3.1 document of every route."""
        types = [t for r in self.routes for t in (r.body, r.response) if t is not None]
        schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
        by_type = dict(zip(types, schemas, strict=True))
        paths: dict[str, dict[str, Any]] = {}
        for r in self.routes:
            op: dict[str, Any] = {"summary": r.summary, "tags": [r.tag],
                                  "operationId": f"{r.method.lower()}_{r.template.strip('/').replace('/', '_')}"
                                  .replace("{", "").replace("}", "")}
            if r.description:
                op["description"] = r.description
            parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                          for n in _TEMPLATE_PART.findall(r.template)]
            parameters += [_query_param_doc(p) for p in r.query]
            if parameters:
                op["parameters"] = parameters
            if r.body is not None:
                op["requestBody"] = {"required": True,
                                     "content": {"application/json": {"schema": by_type[r.body]}}}
            ok: dict[str, Any] = {"description": "OK"}
            if r.response is not None:
                ok["content"] = {"application/json": {"schema": by_type[r.response]}}
            op["responses"] = {str(r.status): ok, "default": {
                "description": "An error, in OpenAI's shape",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
            if not r.public:
                op["security"] = [{"bearer": []}]
            paths.setdefault(r.template, {})[r.method.lower()] = op
        components["Error"] = {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["message", "type"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                           "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}
        return {"openapi": "3.1.0",
                "info": {"title": "lockgate API", "version": version,
                         "description": "Query the request log, annotate requests and log requests by hand."},
                "paths": paths,
                "components": {"schemas": components,
                               "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                              "description": "A gateway key"}}}}


def _decode_body(route: Route, raw: bytes) -> Any:
    if route.body is None:
        return None
    if not raw.strip():
        raise InvalidRequest("This endpoint needs a JSON body.", code="missing_body")
    try:
        return msgspec.json.decode(raw, type=route.body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"Invalid body: {exc}", code="invalid_body") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}", code="invalid_json") from None


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _parse_query(params: tuple[Param, ...], query_string: bytes) -> dict[str, Any]:
    raw = parse_qs(query_string.decode("latin-1"), keep_blank_values=False)
    known = {p.name for p in params}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidRequest(f"Unknown query parameter `{unknown[0]}`; this endpoint takes: "
                             f"{', '.join(sorted(known)) or 'none'}.", param=unknown[0], code="unknown_parameter")
    out: dict[str, Any] = {}
    for p in params:
        values = raw.get(p.name)
        if not values:
            if p.required:
                raise InvalidRequest(f"Missing query parameter `{p.name}`.", param=p.name,
                                     code="missing_required_parameter")
            continue
        parsed = [_convert(p, v) for v in values]
        out[p.name] = parsed if p.repeated else parsed[-1]
    return out


def _convert(p: Param, value: str) -> Any:
    try:
        if p.type is bool:
            return _BOOLS[value.lower()]
        return p.type(value)
    except (KeyError, ValueError):
        raise InvalidRequest(f"Query parameter `{p.name}` must be {_TYPE_NAMES.get(p.type, 'a string')}, "
                             f"got {value!r}.", param=p.name, code="invalid_parameter") from None


_TYPE_NAMES: dict[type, str] = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_JSON_TYPES: dict[type, str] = {int: "integer", float: "number", bool: "boolean", str: "string"}


def _query_param_doc(p: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _JSON_TYPES.get(p.type, "string")}
    if p.repeated:
        schema = {"type": "array", "items": schema}
    doc: dict[str, Any] = {"name": p.name, "in": "query", "required": p.required, "schema": schema}
    if p.description:
        doc["description"] = p.description
    return doc


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


def _helicone_auth(headers: Mapping[bytes, bytes]) -> str | None:
    # Helicone's clients send their key as Helicone-Auth; accept it where Authorization is absent.
    return _text(headers.get(b"helicone-auth"))
