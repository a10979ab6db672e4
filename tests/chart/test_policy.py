"""Policy over the rendered chart: read-only RBAC, locked-down containers, no credentials in
values, the GPU agent's access limited to what it needs, and rules/dashboards that are exactly
the bundle's files with the chart's per-alert settings applied."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.helmchart import (
    CHART_DIR,
    CI_VALUES,
    REPO_ROOT,
    ci_values,
    everything_on,
    of_kind,
    pod_specs,
    render,
)

VALUE_SETS = [pytest.param({}, id="defaults"), pytest.param(everything_on(), id="everything-on")]
VALUE_SETS += [pytest.param(ci_values(p), id=p.stem) for p in CI_VALUES]
READ_VERBS = {"get", "list", "watch"}
CREDENTIAL_NAME = re.compile(r"secret|password|passwd|token|access_?key|api_?key|credential", re.I)


@pytest.mark.parametrize("values", VALUE_SETS)
def test_rbac_is_read_only(values: dict[str, Any]) -> None:
    manifests = render(values)
    assert not of_kind(manifests, "Role") and not of_kind(manifests, "RoleBinding")
    for role in of_kind(manifests, "ClusterRole"):
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= READ_VERBS, (role["metadata"]["name"], rule)
            assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
            assert "secrets" not in rule["resources"], rule


def test_rbac_covers_what_the_exporter_reads_and_follows_the_config() -> None:
    def granted(values: dict[str, Any]) -> set[tuple[str, str]]:
        (role,) = [r for r in of_kind(render(values), "ClusterRole")]
        return {
            (g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
        }

    full = granted({})
    core = {("", r) for r in ("nodes", "pods", "namespaces", "persistentvolumes")}
    kueue = {("kueue.x-k8s.io", r) for r in ("clusterqueues", "localqueues", "workloads")}
    dra = {("resource.k8s.io", r) for r in ("resourceslices", "resourceclaims", "deviceclasses")}
    assert core | kueue | dra | {("metrics.k8s.io", "pods"), ("apps", "replicasets")} <= full
    k8s_off = {
        "kueue": {"enabled": False},
        "metrics_enabled": False,
        "resolve_owners": False,
        "dra_enabled": False,
    }
    slim = granted({"config": {"source": {"kind": "kubernetes", "kubernetes": k8s_off}}})
    assert {g for g, _ in slim} == {""}
    simulated = render({"config": {"source": {"kind": "simulator"}}})
    assert not of_kind(simulated, "ClusterRole")


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_container_is_locked_down(values: dict[str, Any]) -> None:
    specs = pod_specs(render(values))
    assert specs
    for workload, spec in specs:
        if workload.endswith("-network-agent"):
            continue  # its one documented exception: test_the_network_agent_needs_only_net_admin
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] > 0, workload
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", workload
        assert not spec.get("hostNetwork") and not spec.get("hostIPC"), workload
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (workload, c["name"])
            assert sc["runAsNonRoot"] is True, (workload, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (workload, c["name"])
            assert not sc.get("privileged"), (workload, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("values", VALUE_SETS)
def test_no_credentials_in_rendered_objects(values: dict[str, Any]) -> None:
    manifests = render(values)
    assert not of_kind(manifests, "Secret")
    for _, spec in pod_specs(manifests):
        for c in spec["containers"]:
            for env in c.get("env", []):
                if env["name"] == "GOOGLE_APPLICATION_CREDENTIALS":
                    # A path into the existing Secret's mount, not a credential.
                    assert env["value"].startswith("/var/run/secrets/unitcost/cloud/"), env
                elif CREDENTIAL_NAME.search(env["name"]):
                    assert "value" not in env, (c["name"], env)


def test_values_files_hold_no_credentials() -> None:
    def walk(node: Any, path: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{path}.{key}"
                # Only references to Secrets (by name) are allowed, never the data.
                is_reference = str(key).endswith(("existingSecret", "Secret"))
                if CREDENTIAL_NAME.search(str(key)) and isinstance(value, str) and value:
                    found += [] if is_reference else [here]
                found += walk(value, here)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                found += walk(item, f"{path}[{i}]")
        return found

    for path in [CHART_DIR / "values.yaml", *CI_VALUES]:
        assert walk(yaml.safe_load(path.read_text()), path.name) == []


def test_credentials_only_by_workload_identity_or_an_existing_secret() -> None:
    manifests = render(ci_values(CHART_DIR / "ci" / "cloud-identity-values.yaml"))
    (sa,) = [
        s for s in of_kind(manifests, "ServiceAccount") if s["metadata"]["name"] == "uc-unitcost"
    ]
    annotations = sa["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert annotations["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    (deploy,) = of_kind(manifests, "Deployment")
    spec = deploy["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "unitcost-cloud"}}]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/unitcost/cloud/key.json"
    secret_volumes = [v for v in spec["volumes"] if "secret" in v]
    assert secret_volumes == [
        {"name": "cloud-credentials", "secret": {"secretName": "unitcost-cloud"}}
    ]


@pytest.mark.parametrize("access", ["hostPID", "hostProc"])
def test_gpu_agent_gets_devices_and_processes_and_nothing_more(access: str) -> None:
    manifests = render({"gpuAgent": {"enabled": True, "processAccess": access}})
    (ds,) = of_kind(manifests, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all"
    assert spec["runtimeClassName"] == "nvidia"
    # Monitoring every GPU must not take one from the workloads.
    assert not any("nvidia.com/gpu" in str(k) for k in c["resources"].get("limits", {}))
    host_paths = [v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v]
    if access == "hostPID":
        assert spec["hostPID"] is True and host_paths == []
        assert not any(a.startswith("--proc-root") for a in c["args"])
    else:
        assert "hostPID" not in spec and host_paths == ["/proc"]
        (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/host/proc"]
        assert mount["readOnly"] is True
        assert "--proc-root=/host/proc" in c["args"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]


def test_gpu_agent_args_match_the_cli() -> None:
    from click.testing import CliRunner

    from unitcost.cli.main import main

    manifests = render({"gpuAgent": {"enabled": True, "processAccess": "hostProc"}})
    for _, spec in pod_specs(manifests):
        (c,) = spec["containers"]
        # Every flag the chart passes is one the CLI accepts (--help parses them all).
        result = CliRunner().invoke(main, [*c["args"], "--help"], env={"NODE_NAME": "n1"})
        assert result.exit_code == 0, (c["name"], result.output)


def _source_groups(chart_file: Path) -> tuple[str, list[dict[str, Any]]]:
    header = chart_file.read_text().splitlines()[0]
    match = re.search(r"from (\S+):", header)
    assert match, f"{chart_file}: no generated header"
    source = REPO_ROOT / match.group(1)
    return match.group(1), yaml.safe_load(source.read_text())["groups"]


def test_prometheus_rules_equal_the_rule_files() -> None:
    rule_files = sorted((CHART_DIR / "files" / "rules").glob("*.yaml"))
    rules = {
        r["metadata"]["annotations"]["unitcost.io/rule-file"]: r
        for r in of_kind(render({}), "PrometheusRule")
    }
    assert set(rules) == {f.name for f in rule_files}
    configmap_values = {"prometheusRule": {"enabled": False}, "rulesConfigMap": {"enabled": True}}
    (cm,) = [
        m
        for m in of_kind(render(configmap_values), "ConfigMap")
        if m["metadata"]["name"].endswith("-rules")
    ]
    for chart_file in rule_files:
        source, groups = _source_groups(chart_file)
        assert rules[chart_file.name]["spec"]["groups"] == groups, source
        assert yaml.safe_load(cm["data"][chart_file.name])["groups"] == groups, source


FIXTURE_RULES = {
    "groups": [
        {
            "name": "fixture.alerts",
            "rules": [
                {"record": "team:fixture:sum", "expr": "sum by (team) (up)"},
                {
                    "alert": "UnitcostFixtureOne",
                    "expr": "vector(1) > 0",
                    "for": "5m",
                    "labels": {"severity": "warning", "team": "vision"},
                    "annotations": {"summary": "One.", "description": "{{ $labels.team }}"},
                },
                {"alert": "UnitcostFixtureTwo", "expr": "vector(1) > 0"},
            ],
        },
        {"name": "fixture.only-two", "rules": [{"alert": "UnitcostFixtureTwo", "expr": "up == 0"}]},
    ]
}


@pytest.fixture(scope="module")
def chart_with_alerts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chart with a known alert file, so per-alert settings are tested whatever
    alerts/ holds today."""
    chart = tmp_path_factory.mktemp("chart") / "unitcost"
    shutil.copytree(CHART_DIR, chart)
    (chart / "files" / "rules" / "alerts-fixture.yaml").write_text(
        "# Generated\n" + yaml.safe_dump(FIXTURE_RULES, sort_keys=False)
    )
    return chart


def _fixture_rule(chart: Path, values: dict[str, Any]) -> dict[str, Any] | None:
    rules = of_kind(render(values, chart_dir=chart), "PrometheusRule")
    found = [r for r in rules if r["metadata"]["name"] == "uc-unitcost-alerts-fixture"]
    return found[0] if found else None


def test_per_alert_disable_and_extra_labels(chart_with_alerts: Path) -> None:
    as_is = _fixture_rule(chart_with_alerts, {})
    assert as_is is not None and as_is["spec"]["groups"] == FIXTURE_RULES["groups"]
    values = {
        "prometheusRule": {
            "disabledAlerts": ["UnitcostFixtureTwo"],
            "alertLabels": {"env": "prod", "severity": "info"},
        }
    }
    changed = _fixture_rule(chart_with_alerts, values)
    assert changed is not None
    (group,) = changed["spec"]["groups"]  # the group left empty is dropped
    record, alert = group["rules"]
    assert record == FIXTURE_RULES["groups"][0]["rules"][0]  # recording rules untouched
    # Extra labels added; the alert's own severity wins on a clash; templates kept verbatim.
    assert alert["labels"] == {"severity": "warning", "team": "vision", "env": "prod"}
    assert alert["annotations"]["description"] == "{{ $labels.team }}"
    everything_off = {
        "prometheusRule": {"disabledAlerts": ["UnitcostFixtureOne", "UnitcostFixtureTwo"]}
    }
    only_records = _fixture_rule(chart_with_alerts, everything_off)
    assert only_records is not None
    assert [r.get("record") for g in only_records["spec"]["groups"] for r in g["rules"]] == [
        "team:fixture:sum"
    ]


def test_dashboards_ship_as_sidecar_configmaps(tmp_path: Path) -> None:
    chart = tmp_path / "unitcost"
    shutil.copytree(CHART_DIR, chart)
    dashboards = chart / "files" / "dashboards"
    for old in dashboards.glob("*.json"):
        old.unlink()
    dashboard = '{"uid": "unitcost-test", "title": "Test \\"quoted\\" — ünïcode", "panels": []}\n'
    (dashboards / "team-costs.json").write_text(dashboard)
    (dashboards / "gpu-waste.json").write_text('{"uid": "gpu", "panels": []}')

    default = of_kind(render({}, chart_dir=chart), "ConfigMap")
    by_name = {c["metadata"]["name"]: c for c in default}
    cm = by_name["uc-unitcost-team-costs"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["data"] == {"team-costs.json": dashboard}  # byte for byte
    assert "uc-unitcost-gpu-waste" in by_name

    values = {
        "dashboards": {
            "label": "my_dash",
            "labelValue": "yes",
            "folder": "FinOps",
            "namespace": "grafana",
        }
    }
    custom = {
        c["metadata"]["name"]: c for c in of_kind(render(values, chart_dir=chart), "ConfigMap")
    }
    cm = custom["uc-unitcost-team-costs"]
    assert cm["metadata"]["labels"]["my_dash"] == "yes"
    assert "grafana_dashboard" not in cm["metadata"]["labels"]
    assert cm["metadata"]["annotations"] == {"grafana_folder": "FinOps"}
    assert cm["metadata"]["namespace"] == "grafana"
    off = of_kind(render({"dashboards": {"enabled": False}}, chart_dir=chart), "ConfigMap")
    assert not [c for c in off if "grafana_dashboard" in c["metadata"]["labels"]]


def test_real_dashboards_each_get_a_configmap() -> None:
    files = sorted((CHART_DIR / "files" / "dashboards").glob("*.json"))
    labelled = [
        c
        for c in of_kind(render({}), "ConfigMap")
        if "grafana_dashboard" in c["metadata"]["labels"]
    ]
    assert sorted(k for c in labelled for k in c["data"]) == [f.name for f in files]
    for c in labelled:
        ((key, text),) = c["data"].items()
        assert text == (CHART_DIR / "files" / "dashboards" / key).read_text()


def test_the_network_agent_needs_only_net_admin() -> None:
    """A conntrack dump needs the host's network namespace and CAP_NET_ADMIN; an added
    capability is effective only for uid 0 (no ambient capabilities), so: uid 0, hostNetwork,
    every capability dropped but NET_ADMIN, nothing else (docs/network.md)."""
    manifests = render({"networkAgent": {"enabled": True}})
    (spec,) = [s for w, s in pod_specs(manifests) if w.endswith("-network-agent")]
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert not spec.get("hostPID") and not spec.get("hostIPC")
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert not [v for v in spec["volumes"] if "hostPath" in v]
    (container,) = spec["containers"]
    sc = container["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert not sc.get("privileged")
    assert container["args"][1:4] == ["gpu-agent", "--no-collector.gpu", "--collector.network"]
    (role,) = [
        r
        for r in of_kind(manifests, "ClusterRole")
        if r["metadata"]["name"].endswith("-network-agent")
    ]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list"]}
    ]
