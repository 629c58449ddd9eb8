"""Systems under test: each is started by the harness on the same mock upstream, pinned to cores."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / ".peers"
BENCH_KEY = "sk-bench-key"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class System:
    """A running proxy (or the mock itself, for `direct`)."""

    name: str
    base: str  # http://127.0.0.1:PORT
    headers: dict[str, str]
    model: str
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    cold_start_ms: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def tree(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def rss_mb(self) -> float:
        total = 0
        for p in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total / 1e6

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_first_200(system: System, t0: float, timeout: float = 60.0) -> None:
    """Cold start = process start → first 200 on a real chat request."""
    body = {"model": system.model, "messages": [{"role": "user", "content": "warm"}]}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if system.proc is not None and system.proc.poll() is not None:
            raise RuntimeError(f"{system.name} exited: rc={system.proc.returncode}")
        try:
            r = httpx.post(f"{system.base}/v1/chat/completions", json=body, headers=system.headers, timeout=2)
            if r.status_code == 200:
                system.cold_start_ms = (time.monotonic() - t0) * 1000
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{system.name} did not answer 200 within {timeout}s")


def _spawn(cmd: list[str], cores: str, env: dict[str, str], cwd: Path | None, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["taskset", "-c", cores, *cmd], env=env, cwd=cwd, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)


def start_system(name: str, mock_url: str, cores: str = "1") -> System:
    """Start one system by name: direct, ref, lockgate, lockgate-nolog, lockgate-2w, lockgate-ws (its
    provider with the Responses WebSocket mode), litellm, portkey."""
    if name == "direct":
        return System(name, mock_url, {"authorization": "Bearer sk-mock"}, "mock-model")
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = work / "out.log"
    base = f"http://127.0.0.1:{port}"
    if name == "ref":
        cmd = [sys.executable, str(ROOT / "bench" / "ref_proxy.py"), "--port", str(port), "--upstream", mock_url,
               "--key", BENCH_KEY]
        system = System(name, base, {"authorization": f"Bearer {BENCH_KEY}"}, "mock-model")
    elif name.startswith("lockgate"):
        system, cmd, cores = _lockgate(name, work, port, mock_url, env, cores)
    elif name == "litellm":
        cfg = work / "litellm.yaml"
        models = "".join(f"""
  - model_name: {m}
    litellm_params:
      model: openai/{m}
      api_base: {mock_url}/v1
      api_key: sk-mock
    model_info:
      supports_reasoning: true   # else LiteLLM rejects the Codex-shaped body's reasoning.effort""" for m in (
            "mock-model", "mock-model-size10k", "mock-model-lat60"))
        cfg.write_text(f"""model_list:{models}
litellm_settings:
  callbacks: []
  num_retries: 0
  request_timeout: 30
general_settings:
  master_key: {BENCH_KEY}
""")
        env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
                    "LITELLM_LOCAL_BLOG_POSTS": "True", "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True"})
        cmd = [str(PEERS / "litellm" / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1",
               "--port", str(port), "--num_workers", "1"]
        system = System(name, base, {"authorization": f"Bearer {BENCH_KEY}"}, "mock-model")
    elif name == "portkey":
        script = PEERS / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
        cmd = ["node", str(script), f"--port={port}", "--headless"]
        env["NODE_ENV"] = "production"
        system = System(name, base, {"authorization": "Bearer sk-mock", "x-portkey-provider": "openai",
                                     "x-portkey-custom-host": f"{mock_url}/v1"}, "mock-model")
    else:
        raise ValueError(f"unknown system {name}")
    system.workdir = work
    t0 = time.monotonic()
    system.proc = _spawn(cmd, cores, env, work, log)
    try:
        _wait_first_200(system, t0)
    except RuntimeError as exc:
        out = log.read_text(errors="replace")[-2000:]
        system.stop()
        raise RuntimeError(f"{exc}\n{out}") from None
    return system


def _lockgate(name: str, work: Path, port: int, mock_url: str, env: dict[str, str],
              cores: str) -> tuple[System, list[str], str]:
    from lockgate.store import keys as key_store
    from lockgate.store.db import migrate, open_engine

    data = work / "data"
    (work / "lockgate.toml").write_text(f"""
[providers.mock]
base_url = "{mock_url}/v1"
api_key_env = "MOCK_KEY"
apis = ["responses", "chat", "embeddings"]
models = ["mock-*"]
{"websockets = true" if name == "lockgate-ws" else ""}
""")
    engine = open_engine(f"sqlite:///{data / 'lockgate.db'}")
    migrate(engine)
    secret = key_store.create_key(engine, "bench")[1]
    engine.dispose()
    env.update({"LOCKGATE_CONFIG": str(work / "lockgate.toml"), "LOCKGATE_DATA_DIR": str(data),
                "LOCKGATE_PORT": str(port), "MOCK_KEY": "sk-mock"})
    if name == "lockgate-nolog":
        env["LOCKGATE_LOG_ENABLED"] = "false"
    if name == "lockgate-2w":
        env["LOCKGATE_SERVER_WORKERS"] = "2"
        cores = "0,1"
    cmd = [sys.executable, "-m", "lockgate", "serve"]
    system = System(name, f"http://127.0.0.1:{port}", {"authorization": f"Bearer {secret}"}, "mock-model")
    system.extra["db"] = str(data / "lockgate.db")
    return system, cmd, cores
