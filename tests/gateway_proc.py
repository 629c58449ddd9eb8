"""Runs the real `lockgate serve` in a subprocess on a free loopback port, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from lockgate.store import keys as key_store
from lockgate.store.db import migrate, open_engine

__all__ = ["GatewayProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    """A lockgate server with its own data dir and config; `key` is a valid gateway key."""

    def __init__(self, tmp: Path, config: str, env: dict[str, str] | None = None, create_key: bool = True) -> None:
        self.dir = tmp
        self.port = free_port()
        self.data_dir = tmp / "data"
        self.config_path = tmp / "lockgate.toml"
        self.config_path.write_text(config, encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKGATE_", "OPENAI_", "ANTHROPIC_"))}
        self.env.update({"LOCKGATE_DATA_DIR": str(self.data_dir), "LOCKGATE_CONFIG": str(self.config_path),
                         "LOCKGATE_PORT": str(self.port), "PYTHONUNBUFFERED": "1"})
        self.env.update(env or {})
        self.engine = open_engine(f"sqlite:///{self.data_dir / 'lockgate.db'}")
        migrate(self.engine)
        self.key = key_store.create_key(self.engine, "test")[1] if create_key else ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "gateway.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> GatewayProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "lockgate", "serve"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lockgate exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.root}/readyz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"lockgate did not become ready:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.engine.dispose()

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        sql = "SELECT * FROM requests"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = :{k}" for k in where)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql + " ORDER BY ts"), where)]

    def row(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The log row of one request, waiting for the batch writer."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.rows(id=request_id)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no log row for {request_id}\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def wait_rows(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows()
            if len(rows) >= n or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def bodies(self, request_id: str) -> dict[str, Any]:
        from lockgate.store.requests import get_request

        self.row(request_id)
        got = get_request(self.engine, request_id)
        assert got is not None
        return got
