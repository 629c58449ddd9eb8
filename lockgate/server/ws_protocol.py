"""uvicorn's sans-I/O WebSocket protocol, with a shutdown that lets a turn in flight finish.

uvicorn closes every WebSocket at once when it shuts down (close code 1012), which would cut
a Codex turn in the middle of its answer. Here a socket whose app has a turn in flight (the
app says so through the `lockgate.drain` scope extension) closes when that turn has ended;
uvicorn waits for it as it waits for HTTP responses, up to `server.shutdown_timeout`. Idle
sockets still close at once, and Codex opens a new one for its next turn.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from lockgate.server.drain import DRAIN, Drain

__all__ = ["DrainingWebSocketProtocol"]


class DrainingWebSocketProtocol(WebSocketsSansIOProtocol):
    _drain: Drain | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # the app task starts on the next loop turn, after this
            self._drain = Drain(super().shutdown)
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[DRAIN] = self._drain

    def shutdown(self) -> None:
        if self._drain is not None and self._drain.defer():
            return
        super().shutdown()
