"""The opt-in actions block: nothing (and no write RBAC) unless actions.enabled; when enabled,
a controller with its own ServiceAccount, patch-only write rules, valid manifests, a mounted
config unitcost loads (dry-run on), and args the CLI accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from support.helmchart import CHART_DIR, everything_on, of_kind, render, render_raw
from unitcost.cli.main import main
from unitcost.config.file import parse_config

ENABLED = {"actions": {"enabled": True, "prometheusUrl": "http://prometheus.monitoring:9090"}}
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}


def _writes(manifests: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (role["metadata"]["name"], rule)
        for role in of_kind(manifests, "ClusterRole") + of_kind(manifests, "Role")
        for rule in role["rules"]
        if set(rule["verbs"]) & WRITE_VERBS
    ]


@pytest.mark.parametrize("values", [{}, everything_on()], ids=["defaults", "everything-on"])
def test_no_actions_objects_or_write_rbac_unless_enabled(values: dict[str, Any]) -> None:
    manifests = render(values)
    assert _writes(manifests) == []
    components = {
        m.obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") for m in manifests
    }
    assert "actions" not in components


def test_enabled_adds_the_controller_and_only_patch_rights() -> None:
    manifests = render(ENABLED)
    writes = _writes(manifests)
    assert {name for name, _ in writes} == {"uc-unitcost-actions"}
    granted = {
        (g, r, v)
        for _, rule in writes
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert {v for _, _, v in granted} <= {"get", "list", "patch"}
    assert ("apps", "deployments/scale", "patch") in granted
    assert ("kueue.x-k8s.io", "workloads", "patch") in granted
    assert not any(r in ("secrets", "*") or g == "*" for g, r, _ in granted)
    (binding,) = [
        b
        for b in of_kind(manifests, "ClusterRoleBinding")
        if b["metadata"]["name"] == "uc-unitcost-actions"
    ]
    assert binding["subjects"][0]["name"] == "uc-unitcost-actions"  # its own ServiceAccount
    exporter_sa = {
        m.obj["spec"]["template"]["spec"]["serviceAccountName"]
        for m in manifests
        if m.kind == "Deployment" and m.name == "uc-unitcost"
    }
    assert exporter_sa == {"uc-unitcost"}  # the exporter keeps its read-only identity


@pytest.mark.parametrize("version", ["1.25.0", kubernetes_validate.utils.latest_version()])
def test_controller_manifests_validate(version: str) -> None:
    for m in render(ENABLED):
        if m.obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "actions":
            kubernetes_validate.validate(m.obj, version, strict=True)


def test_mounted_config_loads_in_dry_run_and_args_match_the_cli(tmp_path: Path) -> None:
    values = {
        "actions": {
            **ENABLED["actions"],
            "recommend": {"window_seconds": 86400},
            "policy": {"rules": [{"recommendation": "abandoned", "action": "annotate"}]},
        }
    }
    manifests = render(values)
    (cm,) = [
        c for c in of_kind(manifests, "ConfigMap") if c["metadata"]["name"] == "uc-unitcost-actions"
    ]
    config = parse_config(yaml.safe_load(cm["data"]["config.yaml"]), "config.yaml", tmp_path)
    assert config.actions.dry_run is True and config.recommend.window_seconds == 86400
    assert config.source.kubernetes.in_cluster and len(config.actions.rules) == 1
    (deploy,) = [
        d
        for d in of_kind(manifests, "Deployment")
        if d["metadata"]["name"] == "uc-unitcost-actions"
    ]
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    help_text = CliRunner().invoke(main, ["controller", "--help"]).output
    for arg in container["args"]:
        flag = arg.split("=")[0]
        assert flag in ("--log-level", "controller") or flag in help_text, arg


def test_prometheus_url_is_required_and_checked() -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"actions\.prometheusUrl is required"):
        render_raw({"actions": {"enabled": True}})
    chart = helm_python.Chart.load(str(CHART_DIR))
    with pytest.raises(helm_python.HelmValuesError, match="prometheusUrl"):
        chart.validate_schema({"actions": {"prometheusUrl": "prometheus:9090"}})
    with pytest.raises(helm_python.HelmValuesError, match="additional properties 'dryRun'"):
        chart.validate_schema({"actions": {"dryRun": False}})
