"""Settings from file, env and defaults; `config check` finds every mistake with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from lockgate.cli import cli
from lockgate.config import check_config, load_settings
from lockgate.routing.resolve import Router


def test_defaults_come_from_sdk_env_vars(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-1", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "ANTHROPIC_API_KEY": "a",
           "LOCKGATE_DATA_DIR": str(tmp_path)}
    s = load_settings(None, env=env)
    assert (s.server.host, s.server.port, s.server.auth) == ("127.0.0.1", 8080, "keys")
    assert s.providers["openai"].base_url == "http://127.0.0.1:1/v1"
    assert s.providers["anthropic"].base_url == "https://api.anthropic.com"
    assert s.database_url == f"sqlite:///{tmp_path / 'lockgate.db'}"
    router = Router(s)
    assert router.resolve("claude-opus-4").provider == "anthropic"
    assert router.resolve("gpt-5").provider == "openai"


def test_env_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text('[server]\nport = 9000\n[log]\nbodies = true\n[providers.x]\nbase_url = "http://h/v1"\n')
    s = load_settings(cfg, env={"LOCKGATE_SERVER_PORT": "9100", "LOCKGATE_LOG_BODIES": "false"})
    assert s.server.port == 9100 and s.log.bodies is False and list(s.providers) == ["x"]
    s = load_settings(cfg, env={}, cli={"server.port": 9200})
    assert s.server.port == 9200


def test_auth_none_only_on_loopback() -> None:
    load_settings(None, env={"LOCKGATE_SERVER_AUTH": "none"})
    with pytest.raises(ValidationError, match="loopback"):
        load_settings(None, env={"LOCKGATE_SERVER_AUTH": "none", "LOCKGATE_HOST": "0.0.0.0"})


BAD = """\
[server]
port = 99999
auth = "maybe"

[log]
batch_rows = 0
colour = "red"

[providers.local]
base_url = "ftp://nowhere"
apis = ["chat", "telepathy"]

[providers.missing]
base_url = "https://api.example.com/v1"
api_key_env = "LOCKGATE_TEST_UNSET_KEY"

[aliases]
fast = "nobody/model-x"
"""


def test_check_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text(BAD)
    problems = [str(p) for p in check_config(cfg, env={})]
    joined = "\n".join(problems)
    assert f"{cfg}:2: server.port" in joined
    assert f"{cfg}:3: server.auth" in joined
    assert f"{cfg}:6: log.batch_rows" in joined
    assert f"{cfg}:7: log.colour" in joined
    assert f"{cfg}:9: providers.local" in joined or f"{cfg}:10: providers.local" in joined
    assert len(problems) >= 5


SEMANTIC = """\
[providers.missing]
base_url = "https://api.example.com/v1"
api_key_env = "LOCKGATE_TEST_UNSET_KEY"

[aliases]
fast = "nobody/model-x"
"""


def test_check_semantic_problems(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text(SEMANTIC)
    problems = [str(p) for p in check_config(cfg, env={})]
    assert f"{cfg}:3: providers.missing: env var LOCKGATE_TEST_UNSET_KEY is not set" in problems
    assert any(p.startswith(f"{cfg}:6: aliases.fast") for p in problems), problems


def test_check_syntax_error_and_cli_exit_code(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text("[server]\nport = = 1\n")
    problems = check_config(cfg, env={})
    assert len(problems) == 1 and f"{cfg}:2" in str(problems[0])
    result = CliRunner().invoke(cli, ["--config", str(cfg), "config", "check"])
    assert result.exit_code == 1 and "TOML syntax error" in result.output
    cfg.write_text('[providers.a]\nbase_url = "http://127.0.0.1:5/v1"\n')
    result = CliRunner().invoke(cli, ["--config", str(cfg), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "config OK" in result.output and "provider  a: http://127.0.0.1:5/v1" in result.output


def test_env_problem_names_the_variable() -> None:
    problems = [str(p) for p in check_config(None, env={"LOCKGATE_SERVER_PORT": "http", "OPENAI_API_KEY": "x"})]
    assert problems and problems[0].startswith("env LOCKGATE_SERVER_PORT: server.port")
