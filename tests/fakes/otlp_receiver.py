"""A minimal OTLP/HTTP trace receiver on 127.0.0.1: POST /v1/traces with a protobuf
ExportTraceServiceRequest, decoded with opentelemetry-proto and kept for assertions."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["OtlpReceiver", "ReceivedSpan"]


@dataclass
class ReceivedSpan:
    name: str
    kind: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests: list[dict[str, str]] = []  # headers of each export
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                if self.headers.get("content-encoding") == "gzip":
                    data = gzip.decompress(data)
                req = ExportTraceServiceRequest()
                req.ParseFromString(data)
                receiver._keep(req, dict(self.headers.items()))
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)

    def _keep(self, req: ExportTraceServiceRequest, headers: dict[str, str]) -> None:
        found: list[ReceivedSpan] = []
        for rs in req.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    found.append(ReceivedSpan(
                        name=s.name, kind=s.kind, trace_id=s.trace_id, span_id=s.span_id,
                        parent_span_id=s.parent_span_id, start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano, status_code=s.status.code, status_message=s.status.message,
                        attributes={a.key: _value(a.value) for a in s.attributes}, resource=resource,
                        scope=ss.scope.name))
        with self._lock:
            self.spans.extend(found)
            self.requests.append({k.lower(): v for k, v in headers.items()})

    def span_for(self, request_id: str, timeout: float = 15.0) -> ReceivedSpan:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for span in self.spans:
                    if span.attributes.get("lockgate.request.id") == request_id:
                        return span
            if time.monotonic() > deadline:
                raise AssertionError(f"no span for {request_id}; got {[s.name for s in self.spans]}")
            time.sleep(0.05)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
