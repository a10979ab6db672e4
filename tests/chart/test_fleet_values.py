"""The two roles of docs/fleet.md, rendered by the real Helm engine: a fleet member serves
costs and no rules; the global tier carries every rule and dashboard and no exporter."""

from __future__ import annotations

from support.helmchart import CHART_DIR, ci_values, of_kind, render

EXAMPLES = CHART_DIR.parent / "examples"
RULE_FILES = sorted((CHART_DIR / "files" / "rules").glob("*.yaml"))
DASHBOARDS = sorted((CHART_DIR / "files" / "dashboards").glob("*.json"))


def test_a_fleet_member_serves_costs_and_evaluates_no_rules() -> None:
    manifests = render(ci_values(EXAMPLES / "fleet-cluster-values.yaml"))
    assert [d["metadata"]["name"] for d in of_kind(manifests, "Deployment")]
    assert of_kind(manifests, "ServiceMonitor")
    assert not of_kind(manifests, "PrometheusRule")
    dashboards = [
        c
        for c in of_kind(manifests, "ConfigMap")
        if "grafana_dashboard" in c["metadata"].get("labels", {})
    ]
    assert not dashboards


def test_the_global_tier_carries_every_rule_and_dashboard_and_no_exporter() -> None:
    manifests = render(ci_values(EXAMPLES / "fleet-global-values.yaml"))
    assert not of_kind(manifests, "Deployment")
    rules = of_kind(manifests, "PrometheusRule")
    assert len(rules) == len(RULE_FILES) > 5
    assert all(r["metadata"]["labels"]["role"] == "global-ruler" for r in rules)
    dashboards = [
        c
        for c in of_kind(manifests, "ConfigMap")
        if "grafana_dashboard" in c["metadata"].get("labels", {})
    ]
    assert len(dashboards) == len(DASHBOARDS) >= 5
