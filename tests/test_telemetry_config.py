"""The [telemetry] section: defaults, env overrides, and `config check` with file:line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lockgate.cli import cli
from lockgate.config import check_config, load_settings

BAD = """\
[providers.local]
base_url = "http://127.0.0.1:1/v1"

[telemetry]
metrics = true
otlp_endpoint = "collector:4318"
otlp_timeout = -1
service_name = ""
metrics_pubic = true
"""


def test_defaults() -> None:
    tel = load_settings(None, env={}).telemetry
    assert tel.metrics is True and tel.metrics_public is False
    assert tel.otlp_endpoint == "" and tel.otlp_headers == {} and tel.service_name == "lockgate"


def test_file_and_env(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text('[telemetry]\notlp_endpoint = "http://127.0.0.1:4318"\notlp_headers = { a = "1" }\n')
    tel = load_settings(cfg, env={}).telemetry
    assert tel.otlp_endpoint == "http://127.0.0.1:4318" and tel.otlp_headers == {"a": "1"}
    # Secrets stay in the environment, in the OTEL_EXPORTER_OTLP_HEADERS form.
    tel = load_settings(cfg, env={"LOCKGATE_TELEMETRY_OTLP_HEADERS": "api-key=s%3Dcret, team = x",
                                  "LOCKGATE_TELEMETRY_METRICS_PUBLIC": "true"}).telemetry
    assert tel.otlp_headers == {"api-key": "s=cret", "team": "x"} and tel.metrics_public is True


def test_check_reports_lines(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text(BAD)
    problems = "\n".join(str(p) for p in check_config(cfg, env={}))
    assert f"{cfg}:6: telemetry.otlp_endpoint: otlp_endpoint must be an http:// or https:// URL" in problems
    assert f"{cfg}:7: telemetry.otlp_timeout" in problems
    assert f"{cfg}:8: telemetry.service_name" in problems
    assert f"{cfg}:9: telemetry.metrics_pubic" in problems
    out = CliRunner().invoke(cli, ["--config", str(cfg), "config", "check"])
    assert out.exit_code != 0 and "telemetry.otlp_endpoint" in out.output


def test_check_reports_bad_env_headers() -> None:
    problems = [str(p) for p in check_config(None, env={"LOCKGATE_TELEMETRY_OTLP_HEADERS": "novalue",
                                                        "OPENAI_API_KEY": "sk-x"})]
    assert any(p.startswith("env LOCKGATE_TELEMETRY_OTLP_HEADERS: telemetry.otlp_headers") for p in problems), \
        problems


def test_check_summary(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text('[providers.a]\nbase_url = "http://127.0.0.1:5/v1"\n[telemetry]\nmetrics_public = true\n'
                   'otlp_endpoint = "http://127.0.0.1:4318"\ntrace_sample_ratio = 0.25\n')
    out = CliRunner().invoke(cli, ["--config", str(cfg), "config", "check"])
    assert out.exit_code == 0, out.output
    assert "metrics   GET /metrics  (public)" in out.output
    assert "traces    OTLP/HTTP -> http://127.0.0.1:4318/v1/traces  sample=0.25" in out.output
