"""What a WebSocket's protocol and its app share about shutdown (see ws_protocol.py)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["DRAIN", "Drain"]

DRAIN = "lockgate.drain"


class Drain:
    """Shared by a socket's protocol and its app: is a turn in flight, and is the server stopping?"""

    __slots__ = ("_busy", "_close", "_pending", "stopped")

    def __init__(self, close: Callable[[], None]) -> None:
        self._close = close
        self._busy = False
        self._pending = False
        self.stopped = False  # closed for shutdown: the app starts no further turn

    def begin(self) -> None:
        self._busy = True

    def end(self) -> None:
        self._busy = False
        if self._pending:
            self._pending = False
            self.stopped = True
            self._close()

    def defer(self) -> bool:
        """The server is stopping: True when the close has to wait for the turn in flight."""
        if self._busy:
            self._pending = True
            return True
        self.stopped = True
        return False
