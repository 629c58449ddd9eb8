"""The response head goes out in the same write as the body (see server/http_protocol.py)."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import httpx
import pytest

from lockgate.server.http_protocol import _HeadCoalescingTransport
from tests.gateway_proc import GatewayProcess


class _Recorder:
    """A stand-in for the socket transport that records every write call."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        self.writes.append(b"".join(bytes(p) for p in parts))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"


async def test_head_joins_the_body_written_in_the_same_turn() -> None:
    rec = _Recorder()
    t = _HeadCoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(HEAD)
    t.write(b"{}")
    assert rec.writes == [HEAD + b"{}"]
    big = b"x" * 200_000
    t.write(HEAD)
    t.write(big)
    assert rec.writes[-1] == HEAD + big and len(rec.writes) == 2
    assert t.get_extra_info("peername") == "info:peername"  # everything else passes through


async def test_a_head_without_body_goes_out_at_the_end_of_the_turn() -> None:
    rec = _Recorder()
    t = _HeadCoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(HEAD)
    assert rec.writes == []
    await asyncio.sleep(0)
    assert rec.writes == [HEAD]
    t.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # never held: the client waits for it
    assert rec.writes[-1] == b"HTTP/1.1 100 Continue\r\n\r\n"
    t.write(HEAD)
    t.close()
    assert rec.writes[-1] == HEAD and rec.closed


def _data_segments_in(sock: socket.socket) -> int:
    # struct tcp_info: tcpi_data_segs_in (segments that carried data) is the u32 at byte 152.
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, 152)[0])


@pytest.mark.parametrize("path", ["/v1/models", "/healthz"])
def test_each_answer_arrives_in_one_segment(gateway: GatewayProcess, path: str) -> None:
    request = (f"GET {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {gateway.key}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        before = _data_segments_in(sock)
        for _ in range(20):
            sock.sendall(request)
            got = b""
            while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) < _length(got):
                got += sock.recv(65536)
        # Head and body written apart arrive as two data segments per answer.
        assert _data_segments_in(sock) - before == 20
    assert httpx.get(f"{gateway.root}/healthz").json() == {"status": "ok"}


def _length(data: bytes) -> int:
    head = data.partition(b"\r\n\r\n")[0]
    return int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
