"""Shared fixtures: a protocol-true fake OpenAI upstream and a real lockgate process in front of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lockgate.store.db import migrate, open_engine
from tests import codex_env
from tests.fake_config import anthropic_table, chat_only_table, gemini_table
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.bedrock_upstream import FakeBedrock
from tests.fakes.chat_upstream import FakeChatHost
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.scripted_model import ScriptedModel
from tests.gateway_proc import GatewayProcess
from tests.query_data import Logged, populate

UPSTREAM_KEY = "sk-upstream-secret-key-0123456789"


def gateway_config(fake_url: str, extra: str = "", openai_extra: str = "",
                   claude_url: str = "http://127.0.0.1:9") -> str:
    """The default test gateway: `fake_url` serves gpt-*/fake-*; claude-* goes to `claude_url`."""
    return f"""
[log]
flush_interval = 0.05

[upstream]
connect_timeout = 2
read_timeout = 5

[providers.openai]
base_url = "{fake_url}"
api_key_env = "FAKE_OPENAI_KEY"
apis = ["responses", "chat", "embeddings"]
models = ["gpt-*", "fake-*", "text-embedding-*"]
{openai_extra}

[providers.claude]
type = "anthropic"
base_url = "{claude_url}"
api_key_env = "FAKE_ANTHROPIC_KEY"
apis = ["messages"]
models = ["claude-*"]

[aliases]
fast = "openai/gpt-5-mini"
{extra}
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated SQLite store in the test's tmp dir (files may override it with their own)."""
    eng = open_engine(f"sqlite:///{tmp_path / 'lockgate.db'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY) as f:
        yield f


@pytest.fixture(scope="session")
def gateway_factory(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI) -> Iterator[
        Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def make(extra: str = "", env: dict[str, str] | None = None, start: bool = True,
             config: str | None = None, create_key: bool = True) -> GatewayProcess:
        tmp = Path(tmp_path_factory.mktemp("gw"))
        gw = GatewayProcess(tmp, config if config is not None else gateway_config(fake.url, extra),
                            env={"FAKE_OPENAI_KEY": UPSTREAM_KEY, **(env or {})}, create_key=create_key)
        started.append(gw)
        return gw.start() if start else gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture(scope="session")
def fakes() -> Iterator[dict[str, Any]]:
    with FakeAnthropic() as a, FakeGemini() as g, FakeChatHost() as c, FakeBedrock() as b:
        yield {"anthropic": a, "gemini": g, "chat-only": c, "bedrock": b}


@pytest.fixture(scope="session")
def tgw(gateway_factory: Callable[..., GatewayProcess], fake: FakeOpenAI, fakes: dict[str, Any]) -> GatewayProcess:
    """One gateway in front of every fake provider (tests/test_translation_e2e.py says which model goes where)."""
    b = fakes["bedrock"]
    config = f"""
[log]
flush_interval = 0.05

[upstream]
connect_timeout = 2
read_timeout = 10

[providers.openai]
base_url = "{fake.url}"
api_key_env = "FAKE_OPENAI_KEY"
apis = ["responses", "chat", "embeddings"]
models = ["gpt-*"]

{anthropic_table(fakes)}
{gemini_table(fakes)}
{chat_only_table(fakes['chat-only'].url, "FAKE_CHAT_KEY")}
[providers.bedrock]
type = "bedrock"
base_url = "{b.url}"
models = ["bedrock-*", "*.anthropic.*"]

[providers.respo]
base_url = "{fake.url}"
api_key_env = "FAKE_OPENAI_KEY"
apis = ["responses"]
models = ["resp-*"]

[aliases]
claude-overloaded = "claude/fake-overloaded"
claude-too-long = "claude/fake-too-long"
"""
    env = {"FAKE_OPENAI_KEY": UPSTREAM_KEY, "FAKE_ANTHROPIC_KEY": fakes["anthropic"].api_key,
           "FAKE_GEMINI_KEY": fakes["gemini"].api_key, "FAKE_CHAT_KEY": fakes["chat-only"].api_key,
           "AWS_ACCESS_KEY_ID": b.access_key, "AWS_SECRET_ACCESS_KEY": b.secret_key, "AWS_REGION": b.region}
    return gateway_factory(config=config, env=env)


@pytest.fixture(scope="session")
def gateway(gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    """One shared gateway for tests that only add rows and look up their own."""
    return gateway_factory()


@pytest.fixture(scope="session")
def logged(gateway_factory: Callable[..., GatewayProcess]) -> Logged:
    """A gateway of its own with a small known request log (tests/query_data.py); read-only."""
    return populate(gateway_factory())


@pytest.fixture(scope="session")
def scripted() -> Iterator[ScriptedModel]:
    """The scripted model the Codex tests drive (tests/fakes/scripted_model.py)."""
    with ScriptedModel() as s:
        yield s


@pytest.fixture(scope="session")
def codex_gateway(gateway_factory: Callable[..., GatewayProcess], scripted: ScriptedModel,
                  fakes: dict[str, Any]) -> Callable[..., GatewayProcess]:
    """A gateway per (upstream, WebSockets on/off) whose `gpt-5.5` reaches the scripted model
    through that upstream (tests/codex_env.py), started when a test first needs it."""
    made: dict[tuple[str, bool], GatewayProcess] = {}

    def get(name: str, websockets: bool = True) -> GatewayProcess:
        if (name, websockets) not in made:
            made[(name, websockets)] = gateway_factory(
                config=codex_env.gateway_config(scripted, fakes, name, websockets),
                env={"SCRIPTED_KEY": scripted.api_key, "FAKE_ANTHROPIC_KEY": fakes["anthropic"].api_key,
                     "FAKE_GEMINI_KEY": fakes["gemini"].api_key})
        return made[(name, websockets)]

    return get
