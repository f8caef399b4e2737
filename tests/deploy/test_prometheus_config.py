"""Prometheus configuration and alert rules: promtool accepts them and the alert unit tests pass."""

from __future__ import annotations

import subprocess

from .conftest import PROMETHEUS_DIR, load_yaml

REQUIRED_ALERTS = {
    "EbmmTargetDown",
    "EbmmNoTargets",
    "EbmmHighLatencyP99",
    "EbmmHigh5xxRate",
    "EbmmQueueSaturated",
    "EbmmRecallErrorHigh",
    "EbmmRedisErrors",
}


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120)


def test_promtool_check_config(promtool: str) -> None:
    result = promtool_run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_rules(promtool: str) -> None:
    result = promtool_run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_every_alert(promtool: str) -> None:
    result = promtool_run(promtool, "test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = load_yaml(PROMETHEUS_DIR / "alerts.yml")
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert alerts >= REQUIRED_ALERTS
    tests = load_yaml(PROMETHEUS_DIR / "alerts.test.yml")["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert fired == alerts, f"alerts never shown firing in alerts.test.yml: {sorted(alerts - fired)}"


def test_promtool_notices_a_broken_rule(promtool: str, tmp_path) -> None:
    (tmp_path / "bad.yml").write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: Bad\n        expr: rate(ebmm_http_requests_total[5m]\n"
    )
    result = subprocess.run([promtool, "check", "rules", str(tmp_path / "bad.yml")], capture_output=True, text=True)
    assert result.returncode != 0


def test_every_replica_is_discovered_by_dns() -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "ebmm-api"]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["api"] and sd["type"] == "A" and sd["port"] == 8000
    assert job.get("metrics_path", "/metrics") == "/metrics"
