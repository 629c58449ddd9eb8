"""A protocol-true fake AWS Bedrock runtime: Converse and ConverseStream.

An aiohttp server on 127.0.0.1 in a background thread. It checks SigV4 with its own
implementation of the algorithm (not botocore's), so a test that passes here shows the
gateway's signer agrees with an independent one; or it takes a Bedrock API key as a
bearer token. It validates bodies the way Bedrock does (alternating roles, non-empty
content, toolResult ids answering the previous turn's toolUse ids, a toolConfig whenever
tool blocks appear, reasoning signatures unchanged) and answers deterministically:

- tools offered and the last user turn is text: a short text, then a toolUse of the
  first tool (or the one `toolChoice` names), inputs made from its schema;
- the last user turn holds toolResults: a text quoting them;
- otherwise: "Echo: <last user text>";
- `additionalModelRequestFields.thinking` enabled: a signed reasoningContent block first.

Model `fake-error-<status>` fails: 429 ThrottlingException, 400 ValidationException,
500/503 …; on converse-stream, `fake-error-424` sends a modelStreamErrorException frame
mid-stream. Errors use Bedrock's shape: `x-amzn-ErrorType` header and `{"message"}` body.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import math
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from aiohttp import web

from lockgate.formats.bedrock_converse.eventstream import event_message, exception_message
from tests.fakes import anthropic_upstream as anthropic_fake
from tests.fakes.openai_upstream import sse_events
from tests.fakes.server import LoopbackServer

__all__ = ["FakeBedrock", "sigv4_signature"]

_ERRORS = {
    400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
    408: "ModelTimeoutException", 424: "ModelErrorException", 429: "ThrottlingException",
    500: "InternalServerException", 503: "ServiceUnavailableException",
}
_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                  "Secret Access Key and signing method. Consult the service documentation for details.")
_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_BLOCK_KEYS = {"text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent", "cachePoint",
               "reasoningContent", "citationsContent", "searchResult"}


class _Reject(Exception):
    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


# -- SigV4, written from AWS's description of the algorithm -------------------------------------

def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_signature(secret: str, method: str, raw_path: str, query: str, headers: dict[str, str],
                    signed: list[str], body: bytes, amz_date: str, region: str, service: str) -> str:
    """The hex signature of a request (non-S3 rules: the path is URI-encoded a second time)."""
    canonical_uri = quote(raw_path or "/", safe="/~")
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    canonical = "\n".join([method, canonical_uri, canonical_query, canonical_headers, ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(f"AWS4{secret}".encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class FakeBedrock(LoopbackServer):
    access_key: str = "AKIDFAKEBEDROCK"
    secret_key: str = "fake/secret+key"
    session_token: str | None = None
    bearer_token: str | None = None  # accept this Bedrock API key too
    region: str = "us-east-1"
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: set[str] = set()
        self._thread_name = "fake-bedrock"

    # -- lifecycle

    def _bound(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/model/{model:[^/]+}/converse", self._converse)
        app.router.add_post("/model/{model:[^/]+}/converse-stream", self._converse_stream)
        app.router.add_post("/model/{model:[^/]+}/invoke", self._invoke)
        app.router.add_post("/model/{model:[^/]+}/invoke-with-response-stream", self._invoke_stream)
        return app

    def signature_for(self, text: str) -> str:
        """The signature the fake gives a reasoning text (and expects back unchanged)."""
        return base64.b64encode(_hmac(self.secret_key.encode(), "reasoning:" + text)).decode()

    # -- handlers

    async def _converse(self, request: web.Request) -> web.StreamResponse:
        try:
            model, body = await self._accept(request)
            if model.startswith("fake-error-"):
                status = int(model.rsplit("-", 1)[1])
                raise _Reject(status, _ERRORS.get(status, "InternalServerException"), f"fake error {status}")
            blocks, stop = self._answer(body)
        except _Reject as r:
            return _error(r)
        usage = self._usage(body, blocks)
        out = {"output": {"message": {"role": "assistant", "content": blocks}}, "stopReason": stop,
               "usage": usage, "metrics": {"latencyMs": 42}}
        return web.Response(body=orjson.dumps(out), content_type="application/json",
                            headers={"x-amzn-RequestId": str(uuid.uuid4())})

    async def _converse_stream(self, request: web.Request) -> web.StreamResponse:
        try:
            model, body = await self._accept(request)
            if model.startswith("fake-error-") and model != "fake-error-424":
                status = int(model.rsplit("-", 1)[1])
                raise _Reject(status, _ERRORS.get(status, "InternalServerException"), f"fake error {status}")
            blocks, stop = self._answer(body)
        except _Reject as r:
            return _error(r)
        resp = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream",
                                           "x-amzn-RequestId": str(uuid.uuid4())})
        await resp.prepare(request)
        frames = [event_message("messageStart", _padded({"role": "assistant"}))]
        for i, block in enumerate(blocks):
            frames += _block_frames(i, block)
        frames.append(event_message("messageStop", _padded({"stopReason": stop})))
        frames.append(event_message("metadata", _padded({"usage": self._usage(body, blocks),
                                                         "metrics": {"latencyMs": 42}})))
        if model == "fake-error-424":
            frames = [*frames[:3], exception_message("modelStreamErrorException", {
                "message": "Model stream failed", "originalStatusCode": 500,
                "originalMessage": "upstream model error"})]
        for frame in frames:
            await resp.write(frame)
        await resp.write_eof()
        return resp

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        """InvokeModel with Anthropic's Messages body (Claude models)."""
        try:
            model, body = await self._accept(request, _validate_invoke)
            msg = anthropic_fake.message_object({**body, "model": model})
        except _Reject as r:
            return _error(r)
        return web.Response(body=orjson.dumps(msg), content_type="application/json",
                            headers={"x-amzn-RequestId": str(uuid.uuid4())})

    async def _invoke_stream(self, request: web.Request) -> web.StreamResponse:
        """InvokeModelWithResponseStream: each Anthropic stream event base64-encoded in a `chunk` event."""
        try:
            model, body = await self._accept(request, _validate_invoke)
            msg = anthropic_fake.message_object({**body, "model": model})
        except _Reject as r:
            return _error(r)
        resp = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream",
                                           "x-amzn-RequestId": str(uuid.uuid4())})
        await resp.prepare(request)
        for _, data in sse_events(b"".join(anthropic_fake.stream_events(msg))):
            await resp.write(event_message("chunk", {"bytes": base64.b64encode(data).decode()}))
        await resp.write_eof()
        return resp

    async def _accept(self, request: web.Request, validate: Any = None) -> tuple[str, dict[str, Any]]:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(request.path, headers, raw))
        self._authenticate(request, headers, raw)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _Reject(400, "SerializationException", "Unexpected character in the request body") from None
        if not isinstance(body, dict):
            raise _Reject(400, "SerializationException", "Expected an object")
        (validate or _validate)(body, self)
        return request.match_info["model"], body

    def _authenticate(self, request: web.Request, headers: dict[str, str], body: bytes) -> None:
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer "):
            if self.bearer_token is None or auth[7:] != self.bearer_token:
                raise _Reject(403, "UnrecognizedClientException", "The security token included in the request is "
                                                                  "invalid.")
            return
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            raise _Reject(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        fields = dict(kv.strip().split("=", 1) for kv in auth[17:].split(","))
        access_key, date, region, service, _ = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        if access_key != self.access_key:
            raise _Reject(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if region != self.region or service != "bedrock":
            raise _Reject(403, "InvalidSignatureException", f"Credential should be scoped to a valid region and "
                                                            f"service ('{self.region}', 'bedrock').")
        amz_date = headers.get("x-amz-date", "")
        if "host" not in signed or "x-amz-date" not in signed or amz_date[:8] != date:
            raise _Reject(403, "InvalidSignatureException", "'Host' and 'X-Amz-Date' must be signed, with the "
                                                            "credential's date.")
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        if abs((dt.datetime.now(dt.UTC) - when).total_seconds()) > 300:
            raise _Reject(403, "InvalidSignatureException", f"Signature expired: {amz_date} is now earlier than "
                                                            "the allowed time window.")
        if self.session_token is not None and (headers.get("x-amz-security-token") != self.session_token
                                               or "x-amz-security-token" not in signed):
            raise _Reject(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        expected = sigv4_signature(self.secret_key, request.method, request.raw_path.split("?")[0],
                                   request.query_string, headers, signed, body, amz_date, region, service)
        if not hmac.compare_digest(expected, fields["Signature"]):
            raise _Reject(403, "InvalidSignatureException", _BAD_SIGNATURE)

    # -- the scripted model

    def _answer(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        last = body["messages"][-1]
        texts = [b["text"] for b in last["content"] if "text" in b]
        results = [b["toolResult"] for b in last["content"] if "toolResult" in b]
        blocks: list[dict[str, Any]] = []
        thinking = (body.get("additionalModelRequestFields") or {}).get("thinking") or {}
        if thinking.get("type") == "enabled":
            thought = f"The user wrote {len(texts)} text block(s)."
            blocks.append({"reasoningContent": {"reasoningText": {"text": thought,
                                                                  "signature": self.signature_for(thought)}}})
        tools = [t["toolSpec"] for t in (body.get("toolConfig") or {}).get("tools", []) if "toolSpec" in t]
        if results:
            quoted = "; ".join(f"{r['toolUseId']}={_result_text(r)}" for r in results)
            blocks.append({"text": f"Tool results: {quoted}"})
            return blocks, "end_turn"
        if tools and texts:
            choice = (body["toolConfig"].get("toolChoice") or {}).get("tool", {}).get("name")
            spec = next((t for t in tools if t["name"] == choice), tools[0])
            digest = hashlib.sha256(orjson.dumps(body["messages"])).hexdigest()[:22]
            blocks.append({"text": f"Calling {spec['name']}."})
            blocks.append({"toolUse": {"toolUseId": f"tooluse_{digest}", "name": spec["name"],
                                       "input": _sample(spec["inputSchema"]["json"])}})
            return blocks, "tool_use"
        text = "Echo: " + " ".join(texts)
        limit = (body.get("inferenceConfig") or {}).get("maxTokens")
        if limit is not None and len(text) > limit * 4:
            blocks.append({"text": text[: limit * 4]})
            return blocks, "max_tokens"
        blocks.append({"text": text})
        return blocks, "end_turn"

    def _usage(self, body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
        system = body.get("system") or []
        prefix = ""
        for b in system:  # the system text up to the last cache point is the cached prefix
            if "cachePoint" in b:
                prefix = "".join(s.get("text", "") for s in system[: system.index(b)])
        total = math.ceil(len(orjson.dumps(body)) / 4)
        cached = math.ceil(len(prefix) / 4)
        read = write = 0
        if cached:
            with self._lock:
                if prefix in self._cached:
                    read = cached
                else:
                    write = cached
                    self._cached.add(prefix)
        output = math.ceil(len(orjson.dumps(blocks)) / 4)
        usage = {"inputTokens": total - cached, "outputTokens": output,
                 "totalTokens": total + output}
        if cached:
            usage |= {"cacheReadInputTokens": read, "cacheWriteInputTokens": write}
        return usage


def _result_text(r: dict[str, Any]) -> str:
    parts = [c["text"] if "text" in c else orjson.dumps(c["json"]).decode() if "json" in c else f"<{next(iter(c))}>"
             for c in r.get("content", [])]
    return ("ERROR " if r.get("status") == "error" else "") + " ".join(parts)


def _sample(schema: dict[str, Any]) -> dict[str, Any]:
    samples = {"string": "fake", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}
    props = schema.get("properties") or {}
    if list(props) == ["input"]:  # a freeform tool sent as a function: write a patch
        return {"input": "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"}
    return {name: samples.get(str(props.get(name, {}).get("type"))) for name in schema.get("required", [])}


def _padded(payload: dict[str, Any]) -> dict[str, Any]:
    # Bedrock pads each event with a "p" field so that sizes do not leak the content.
    return {**payload, "p": _PAD[: 1 + len(orjson.dumps(payload)) % len(_PAD)]}


def _block_frames(i: int, block: dict[str, Any]) -> list[bytes]:
    frames: list[bytes] = []

    def delta(d: dict[str, Any]) -> None:
        frames.append(event_message("contentBlockDelta", _padded({"contentBlockIndex": i, "delta": d})))

    if "text" in block:
        text = block["text"]
        for k in range(0, len(text), 12):
            delta({"text": text[k:k + 12]})
    elif "toolUse" in block:
        tu = block["toolUse"]
        frames.append(event_message("contentBlockStart", _padded({
            "contentBlockIndex": i, "start": {"toolUse": {"toolUseId": tu["toolUseId"], "name": tu["name"]}}})))
        args = orjson.dumps(tu["input"]).decode()
        half = len(args) // 2
        for piece in (args[:half], args[half:]):
            if piece:
                delta({"toolUse": {"input": piece}})
    elif "reasoningContent" in block:
        rt = block["reasoningContent"]["reasoningText"]
        for k in range(0, len(rt["text"]), 10):
            delta({"reasoningContent": {"text": rt["text"][k:k + 10]}})
        delta({"reasoningContent": {"signature": rt["signature"]}})
    frames.append(event_message("contentBlockStop", _padded({"contentBlockIndex": i})))
    return frames


def _error(r: _Reject) -> web.Response:
    return web.Response(status=r.status, body=orjson.dumps({"message": r.message}), content_type="application/json",
                        headers={"x-amzn-ErrorType": f"{r.type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                                 "x-amzn-RequestId": str(uuid.uuid4())})


# -- validation, with Bedrock's messages -------------------------------------------------------

def _invalid(message: str) -> _Reject:
    return _Reject(400, "ValidationException", message)


def _validate_invoke(body: dict[str, Any], fake: FakeBedrock) -> None:
    """What Bedrock checks on an Anthropic body: its own version string, no model or stream key."""
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        raise _invalid("anthropic_version: Input should be 'bedrock-2023-05-31'")
    for key in ("model", "stream"):
        if key in body:
            raise _invalid(f"extraneous key [{key}] is not permitted")
    try:
        anthropic_fake.validate({**body, "model": "bedrock"})
    except anthropic_fake.Invalid as exc:
        raise _invalid(str(exc)) from None


def _validate(body: dict[str, Any], fake: FakeBedrock) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
        raise _invalid("A conversation must start with a user message. Try again with a conversation that starts "
                       "with a user message.")
    for i, b in enumerate(body.get("system") or []):
        if "text" in b and not b["text"].strip():
            raise _invalid(f"The text field in the SystemContentBlock object at system.{i} is blank.")
    uses_tools = False
    previous_uses: list[str] = []
    for i, m in enumerate(messages):
        if m.get("role") not in ("user", "assistant"):
            raise _invalid(f"Value at 'messages.{i + 1}.member.role' failed to satisfy constraint: Member must "
                           "satisfy enum value set: [user, assistant]")
        if i and m["role"] == messages[i - 1]["role"]:
            raise _invalid("A conversation must alternate between user and assistant roles. Make sure the "
                           "conversation alternates between user and assistant roles and try again.")
        content = m.get("content")
        if not content:
            raise _invalid(f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock "
                           "object to the content field and try again.")
        uses: list[str] = []
        results: list[str] = []
        for j, b in enumerate(content):
            where = f"messages.{i}.content.{j}"
            if len(b) != 1 or next(iter(b)) not in _BLOCK_KEYS:
                raise _invalid(f"The ContentBlock object at {where} must set exactly one of its members.")
            if "text" in b and not b["text"].strip():
                raise _invalid(f"The text field in the ContentBlock object at {where} is blank. Add text to the "
                               "text field, and try again.")
            if "image" in b:
                _check_image(b["image"], where)
            if "toolUse" in b:
                if m["role"] != "assistant":
                    raise _invalid(f"The toolUse block at {where} must be in an assistant message.")
                uses.append(b["toolUse"]["toolUseId"])
            if "toolResult" in b:
                if m["role"] != "user":
                    raise _invalid(f"The toolResult block at {where} must be in a user message.")
                results.append(b["toolResult"]["toolUseId"])
            rt = b.get("reasoningContent", {}).get("reasoningText")
            if rt is not None and rt.get("signature") != fake.signature_for(rt.get("text", "")):
                raise _invalid(f"The signature of the reasoningContent block at {where} is invalid: pass reasoning "
                               "back unmodified.")
        uses_tools = uses_tools or bool(uses or results)
        if m["role"] == "user" and (previous_uses or results):
            if len(results) > len(previous_uses):
                raise _invalid(f"The number of toolResult blocks at messages.{i}.content exceeds the number of "
                               "toolUse blocks of previous turn.")
            missing = [u for u in previous_uses if u not in results]
            if missing:
                raise _invalid(f"Expected toolResult blocks at messages.{i}.content for the following Ids: "
                               f"{', '.join(missing)}")
        previous_uses = uses
    tool_config = body.get("toolConfig")
    if uses_tools and not tool_config:
        raise _invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    if tool_config is not None:
        tools = tool_config.get("tools") or []
        if not tools:
            raise _invalid("Value at 'toolConfig.tools' failed to satisfy constraint: Member must have length "
                           "greater than or equal to 1")
        names = [t["toolSpec"]["name"] for t in tools if "toolSpec" in t]
        for t in tools:
            if "toolSpec" in t and "json" not in t["toolSpec"].get("inputSchema", {}):
                raise _invalid("The toolSpec inputSchema must have a json member.")
        chosen = (tool_config.get("toolChoice") or {}).get("tool", {}).get("name")
        if chosen is not None and chosen not in names:
            raise _invalid(f"The tool {chosen} in toolChoice is not defined in toolConfig.tools.")
    inference = body.get("inferenceConfig") or {}
    if "maxTokens" in inference and inference["maxTokens"] < 1:
        raise _invalid("Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value "
                       "greater than or equal to 1")


def _check_image(image: dict[str, Any], where: str) -> None:
    if image.get("format") not in ("png", "jpeg", "gif", "webp"):
        raise _invalid(f"The format of the image at {where} is not supported.")
    data = (image.get("source") or {}).get("bytes")
    if data is not None:
        try:
            if not base64.b64decode(data, validate=True):
                raise _invalid(f"The image at {where} is empty.")
        except binascii.Error:
            raise _invalid(f"The image bytes at {where} are not valid base64.") from None
