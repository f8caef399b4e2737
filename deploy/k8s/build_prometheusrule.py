"""Write deploy/k8s/components/monitoring/prometheusrule.yaml from deploy/prometheus/alerts.yml, the one source of
the alert rules (compose loads alerts.yml; Kubernetes gets the same groups in a prometheus-operator
PrometheusRule). Run after editing the alerts: `python deploy/k8s/build_prometheusrule.py`; a test fails when
the two disagree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
OUT = DEPLOY / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"
HEADER = "# Generated from deploy/prometheus/alerts.yml by deploy/k8s/build_prometheusrule.py: do not edit.\n"


class BlockStyleDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as `|` blocks, the way alerts.yml writes them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


BlockStyleDumper.add_representer(str, _str)


def prometheus_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    """The PrometheusRule holding `alerts`' groups unchanged."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "ebmm-api", "labels": {"app.kubernetes.io/component": "api"}},
        "spec": {"groups": alerts["groups"]},
    }


def render() -> str:
    """The file's text."""
    alerts = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    body = yaml.dump(prometheus_rule(alerts), Dumper=BlockStyleDumper, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(DEPLOY.parent)}")
