"""The opt-in lakehouse CronJob: nothing unless lakehouse.enabled; when enabled, a daily
`unitcost chargeback --period yesterday --format iceberg` whose manifests validate, whose
mounted config unitcost loads, and whose args the command parses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from support.helmchart import CHART_DIR, everything_on, of_kind, render, render_raw
from unitcost.cli.chargeback import chargeback
from unitcost.config.file import parse_config

CATALOG = {"type": "rest", "uri": "https://polaris.data:8181/api/catalog", "warehouse": "finance"}
ENABLED = {
    "lakehouse": {
        "enabled": True,
        "prometheusUrl": "http://thanos-query.monitoring:9090",
        "config": {"catalog": CATALOG, "namespace": "finops", "table": "chargeback"},
    }
}


def _lakehouse_objects(values: dict[str, Any]) -> list[Any]:
    return [
        m
        for m in render(values)
        if m.obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "lakehouse"
    ]


@pytest.mark.parametrize("values", [{}, everything_on()], ids=["defaults", "everything-on"])
def test_off_by_default(values: dict[str, Any]) -> None:
    assert _lakehouse_objects(values) == []
    assert of_kind(render(values), "CronJob") == []


def _cronjob(values: dict[str, Any]) -> dict[str, Any]:
    (cronjob,) = of_kind(render(values), "CronJob")
    return cronjob


def test_enabled_runs_yesterday_into_iceberg_daily_one_at_a_time() -> None:
    cronjob = _cronjob(ENABLED)
    assert cronjob["metadata"]["name"] == "uc-unitcost-lakehouse"
    spec = cronjob["spec"]
    assert spec["schedule"] == "30 1 * * *" and spec["concurrencyPolicy"] == "Forbid"
    assert "timeZone" not in spec  # empty by default: Kubernetes 1.25 and 1.26 lack it
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["args"] == [
        "--log-level=info",
        "chargeback",
        "--prometheus=http://thanos-query.monitoring:9090",
        "--period=yesterday",
        "--format=iceberg",
        "--config=/etc/unitcost/config.yaml",
    ]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"]["memory"]
    with_zone = {"lakehouse": {**ENABLED["lakehouse"], "timeZone": "Europe/Paris"}}
    assert _cronjob(with_zone)["spec"]["timeZone"] == "Europe/Paris"


@pytest.mark.parametrize(
    ("version", "values"),
    [
        ("1.25.0", ENABLED),
        (
            kubernetes_validate.utils.latest_version(),
            {"lakehouse": {**ENABLED["lakehouse"], "timeZone": "Etc/UTC"}},
        ),
    ],
)
def test_manifests_validate(version: str, values: dict[str, Any]) -> None:
    objects = _lakehouse_objects(values)
    assert {m.kind for m in objects} == {"ConfigMap", "CronJob"}
    for m in objects:
        kubernetes_validate.validate(m.obj, version, strict=True)


def test_mounted_config_loads_and_the_command_parses_the_args(tmp_path: Path) -> None:
    values = {
        "lakehouse": {
            **ENABLED["lakehouse"],
            "extraArgs": ["--billing-account=acme-platform"],
            "config": {
                **ENABLED["lakehouse"]["config"],
                "catalog": {**CATALOG, "properties": {"s3.region": "eu-west-1"}},
            },
        }
    }
    manifests = render(values)
    (cm,) = [
        c
        for c in of_kind(manifests, "ConfigMap")
        if c["metadata"]["name"] == "uc-unitcost-lakehouse"
    ]
    config = parse_config(yaml.safe_load(cm["data"]["config.yaml"]), "config.yaml", tmp_path)
    assert config.lakehouse.catalog.type == "rest"
    assert config.lakehouse.catalog.uri == CATALOG["uri"]
    assert config.lakehouse.catalog.properties == {"s3.region": "eu-west-1"}
    assert (config.lakehouse.namespace, config.lakehouse.table) == ("finops", "chargeback")
    assert config.lakehouse.cluster == ""  # the chart default: the series name the cluster
    (cronjob,) = of_kind(manifests, "CronJob")
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[1] == "chargeback" and args[-1] == "--billing-account=acme-platform"
    # The command's own parser takes every flag (and resolves --period yesterday).
    ctx = chargeback.make_context("chargeback", list(args[2:]))
    assert ctx.params["fmt"] == "iceberg" and ctx.params["period"].until is not None
    assert ctx.params["billing_account"] == "acme-platform"


def test_prometheus_url_required_and_values_checked() -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"lakehouse\.prometheusUrl is required"):
        render_raw({"lakehouse": {"enabled": True}})
    with pytest.raises(helm_python.HelmRenderError, match=r"lakehouse\.env\[0\] CATALOG_TOKEN"):
        render_raw(
            {
                "lakehouse": {
                    **ENABLED["lakehouse"],
                    "env": [{"name": "CATALOG_TOKEN", "value": "x"}],
                }
            }
        )
    chart = helm_python.Chart.load(str(CHART_DIR))
    for values, fragment in [
        (
            {"lakehouse": {"config": {"catalog": {"type": "mongo"}}}},
            "/lakehouse/config/catalog/type",
        ),
        ({"lakehouse": {"prometheusUrl": "prometheus:9090"}}, "prometheusUrl"),
        ({"lakehouse": {"config": {"table": "focus chargeback"}}}, "/lakehouse/config/table"),
        ({"lakehouse": {"scheduel": "@daily"}}, "additional properties 'scheduel'"),
    ]:
        with pytest.raises(helm_python.HelmValuesError, match=fragment):
            chart.validate_schema(values)
