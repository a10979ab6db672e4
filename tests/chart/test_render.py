"""The chart lints, renders and validates: the real Helm engine (helm-python-sdk), Kubernetes
schemas (kubernetes-validate) for the oldest and newest versions we support, the operator's CRD
constraints, and the config the pods read loads with unitcost's own loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from support.helmchart import (
    CHART_DIR,
    CI_VALUES,
    Manifest,
    ci_values,
    everything_on,
    of_kind,
    render,
    render_raw,
)
from support.operator_crds import SCHEMAS
from unitcost.config.file import parse_config
from unitcost.pricing import PriceBook

# Chart.yaml's kubeVersion floor, and the newest schema kubernetes-validate ships.
OLDEST, NEWEST = "1.25.0", kubernetes_validate.utils.latest_version()
CORE_KINDS = {
    "ConfigMap",
    "Service",
    "ServiceAccount",
    "Deployment",
    "DaemonSet",
    "ClusterRole",
    "ClusterRoleBinding",
    "PodDisruptionBudget",
    "NetworkPolicy",
}
VALUE_SETS = [pytest.param({}, id="defaults"), pytest.param(everything_on(), id="everything-on")]
VALUE_SETS += [pytest.param(ci_values(p), id=p.stem) for p in CI_VALUES]


def test_chart_declares_the_oldest_validated_version() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={OLDEST}-0"


def test_ci_values_files_cover_the_main_variants() -> None:
    names = {p.stem for p in CI_VALUES}
    assert {"gpu-agent-values", "no-operator-values", "operator-values"} <= names


@pytest.mark.parametrize("values", VALUE_SETS)
def test_lint_strict_passes(values: dict[str, Any]) -> None:
    report = helm_python.lint(str(CHART_DIR), values, strict=True, namespace="finops")
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("values", VALUE_SETS)
def test_core_manifests_validate_against_kubernetes(values: dict[str, Any], version: str) -> None:
    manifests = render(values)
    core = [m for m in manifests if m.kind in CORE_KINDS]
    assert {"Deployment", "Service", "ConfigMap", "ClusterRole"} <= {m.kind for m in core}
    for m in core:
        try:
            kubernetes_validate.validate(m.obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{m.template} {m.kind}/{m.name} invalid for {version}: {path}: {exc}")
    unknown = {m.kind for m in manifests} - CORE_KINDS - set(SCHEMAS)
    assert not unknown, f"kinds with no validation: {unknown}"


@pytest.mark.parametrize("values", VALUE_SETS)
def test_operator_objects_have_the_fields_the_operator_requires(values: dict[str, Any]) -> None:
    for m in render(values):
        if m.kind in SCHEMAS:
            try:
                jsonschema.validate(m.obj, SCHEMAS[m.kind])
            except jsonschema.ValidationError as exc:
                pytest.fail(f"{m.kind}/{m.name}: {'.'.join(map(str, exc.path))}: {exc.message}")


def test_operator_values_render_each_operator_kind() -> None:
    manifests = render(ci_values(CHART_DIR / "ci" / "operator-values.yaml"))
    kinds = {m.kind for m in manifests}
    assert {"ServiceMonitor", "AlertmanagerConfig", "DaemonSet"} <= kinds
    (amc,) = of_kind(manifests, "AlertmanagerConfig")
    routes = {r["matchers"][0]["value"]: r["receiver"] for r in amc["spec"]["route"]["routes"]}
    assert routes == {"vision": "vision-slack", "llm-training": "llm-pager"}
    (sm,) = of_kind(manifests, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_no_operator_values_render_no_operator_kinds() -> None:
    manifests = render(ci_values(CHART_DIR / "ci" / "no-operator-values.yaml"))
    assert not {m.kind for m in manifests} & set(SCHEMAS)
    assert any(m.name.endswith("-rules") for m in manifests if m.kind == "ConfigMap")


def _config_files(manifests: list[Manifest], tmp_path: Path) -> Path:
    (cm,) = [m.obj for m in manifests if m.template.endswith("templates/configmap.yaml")]
    for key, text in cm["data"].items():
        (tmp_path / key).write_text(text)
    return tmp_path / "config.yaml"


@pytest.mark.parametrize("values", VALUE_SETS)
def test_mounted_config_and_pricebook_load_with_unitcost(
    values: dict[str, Any], tmp_path: Path
) -> None:
    # The files exactly as the pods see them under /etc/unitcost, read by unitcost's loader.
    config_path = _config_files(render(values), tmp_path)
    mounted = yaml.safe_load(config_path.read_text())
    config = parse_config(mounted, str(config_path), tmp_path)
    book = PriceBook.load(config.pricebook_paths())
    # Written out, not left to unitcost's default (values.schema.json requires it).
    assert mounted["source"]["kind"] == config.source.kind
    assert config.source.kind == values.get("config", {}).get("source", {}).get(
        "kind", "kubernetes"
    )
    if values.get("pricebook"):
        assert config.pricebooks == ["pricebook.yaml"]
        assert len(book.sources) >= 2  # bundled defaults + the chart's price book


def test_config_change_rolls_the_pods() -> None:
    def checksums(values: dict[str, Any]) -> list[str]:
        return [
            spec_owner["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for spec_owner in (
                m.obj for m in render(values) if m.kind in ("Deployment", "DaemonSet")
            )
        ]

    base = {"gpuAgent": {"enabled": True}}
    before = checksums(base)
    after = checksums({**base, "config": {"collect_interval_seconds": 60}})
    assert len(before) == 2 and len(set(before)) == 1
    assert set(before).isdisjoint(after)


def _images(values: dict[str, Any]) -> dict[str, str]:
    return {
        m.kind: c["image"]
        for m in render(values)
        if m.kind in ("Deployment", "DaemonSet")
        for c in m.obj["spec"]["template"]["spec"]["containers"]
    }


def test_the_gpu_agent_runs_its_own_image() -> None:
    version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    assert _images({"gpuAgent": {"enabled": True}}) == {
        "Deployment": f"ghcr.io/unitcost/unitcost:{version}",
        "DaemonSet": f"ghcr.io/unitcost/unitcost-gpu-agent:{version}",
    }
    digest = "sha256:" + "a" * 64
    pinned = _images(
        {
            "image": {"tag": "1.2.3"},
            "gpuAgent": {"enabled": True, "image": {"repository": "r/agent", "digest": digest}},
        }
    )
    assert pinned == {
        "Deployment": "ghcr.io/unitcost/unitcost:1.2.3",
        "DaemonSet": f"r/agent@{digest}",  # the digest wins over the (default) tag
    }


def test_long_release_names_stay_within_kubernetes_limits() -> None:
    release = "a-very-long-release-name-for-the-finops-platform-team-x"
    manifests = render({"gpuAgent": {"enabled": True}}, release=release)
    for m in manifests:
        limit = 63 if m.kind in ("Service", "DaemonSet", "Deployment") else 253
        assert len(m.name) <= limit, (m.kind, m.name)
        for value in m.obj["metadata"].get("labels", {}).values():
            assert len(value) <= 63, (m.kind, value)


def test_notes_tell_the_user_what_to_do_next() -> None:
    notes = render_raw({})["unitcost/templates/NOTES.txt"]
    assert "port-forward svc/uc-unitcost 9810" in notes
    assert "prometheusRule.additionalLabels.release" in notes  # kube-prometheus-stack hint
    notes_ok = render_raw(
        {"serviceMonitor": {"enabled": True, "additionalLabels": {"release": "kps"}}}
    )["unitcost/templates/NOTES.txt"]
    assert "A ServiceMonitor is installed." in notes_ok
    assert "serviceMonitor.additionalLabels.release" not in notes_ok
