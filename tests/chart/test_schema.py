"""values.schema.json: wrong types and unknown keys fail the install with a message naming the
key; the chart's own values and every ci/ values file pass."""

from __future__ import annotations

import json
from typing import Any

import helm_python
import pytest

from support.helmchart import CHART_DIR, CI_VALUES, ci_values, everything_on, render_raw

BAD_VALUES = [
    # (values, the path the message must name, a fragment of the reason)
    ({"exporterr": {"enabled": True}}, "''", "additional properties 'exporterr'"),
    ({"exporter": {"port": "9810"}}, "/exporter/port", "want integer"),
    ({"exporter": {"port": 70000}}, "/exporter/port", "maximum"),
    ({"exporter": {"replicas": 2}}, "/exporter", "additional properties 'replicas'"),
    ({"exporter": {"resources": {"requests": {"cpu": "lots"}}}}, "/exporter/resources", "cpu"),
    ({"gpuAgent": {"enabled": "yes"}}, "/gpuAgent/enabled", "want boolean"),
    ({"gpuAgent": {"processAccess": "privileged"}}, "/gpuAgent/processAccess", "one of"),
    ({"gpuAgent": {"extraArgs": ["--proc-root", 5]}}, "/gpuAgent/extraArgs/1", "want string"),
    ({"securityContext": {"readOnlyRootFilesystem": False}}, "/securityContext", "true"),
    ({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "/securityContext", "add"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext", "true"),
    ({"serviceMonitor": {"interval": 30}}, "/serviceMonitor/interval", "want string"),
    ({"serviceMonitor": {"interval": "30 seconds"}}, "/serviceMonitor/interval", "pattern"),
    ({"prometheusRule": {"disabledAlerts": "UnitcostBudget"}}, "/prometheusRule", "array"),
    ({"prometheusRule": {"disabledAlerts": ["budget"]}}, "/prometheusRule/disabledAlerts/0", ""),
    ({"prometheusRule": {"alertLabels": {"tier": 1}}}, "/prometheusRule/alertLabels/tier", ""),
    ({"dashboards": {"labelValue": 1}}, "/dashboards/labelValue", "want string"),
    ({"cloudIdentity": {"awsRoleArn": "my-role"}}, "/cloudIdentity/awsRoleArn", "pattern"),
    ({"cloudCredentials": {"accessKey": "AKIA..."}}, "/cloudCredentials", "'accessKey'"),
    ({"cloudCredentials": {"existingSecret": {"name": "x"}}}, "existingSecret", "want string"),
    ({"image": {"digest": "latest"}}, "/image/digest", "pattern"),
    ({"gpuAgent": {"image": {"digest": "latest"}}}, "/gpuAgent/image/digest", "pattern"),
    ({"gpuAgent": {"image": {"pullPolicy": "Always"}}}, "/gpuAgent/image", "'pullPolicy'"),
    (
        {"alertmanagerConfig": {"teams": [{"team": "vision"}]}},
        "/alertmanagerConfig/teams/0",
        "receiver",
    ),
    ({"rbac": {"kueue": False}}, "/rbac", "additional properties 'kueue'"),
    ({"clusterLabel": "k8s-cluster"}, "/clusterLabel", "pattern"),
    ({"clusterLabel": ""}, "/clusterLabel", "pattern"),
    ({"prometheusRule": {"runbookBaseUrl": "https://x/runbooks.md#a"}}, "runbookBaseUrl", ""),
    # The source is always explicit: the simulator only when asked for by name.
    ({"config": {"source": None}}, "/config", "missing property 'source'"),
    ({"config": {"source": {"kind": None}}}, "/config/source", "missing property 'kind'"),
    ({"config": {"source": {"kind": "k8s"}}}, "/config/source/kind", "one of"),
]


@pytest.mark.parametrize(("values", "where", "why"), BAD_VALUES, ids=lambda v: json.dumps(v))
def test_bad_values_are_rejected_with_a_clear_message(
    values: dict[str, Any], where: str, why: str
) -> None:
    chart = helm_python.Chart.load(str(CHART_DIR))
    with pytest.raises(helm_python.HelmValuesError) as caught:
        chart.validate_schema(values)
    message = str(caught.value)
    assert where.strip("'") in message and why in message, message
    # Rendering (what `helm install` does) refuses them too.
    with pytest.raises(helm_python.HelmValuesError):
        render_raw(values)


@pytest.mark.parametrize(
    "values",
    [{}, everything_on(), *(ci_values(p) for p in CI_VALUES)],
    ids=["defaults", "everything-on", *(p.stem for p in CI_VALUES)],
)
def test_good_values_pass_the_schema(values: dict[str, Any]) -> None:
    helm_python.Chart.load(str(CHART_DIR)).validate_schema(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}},
            "enable serviceMonitor or podMonitor, not both",
        ),
        (
            {"alertmanagerConfig": {"enabled": True, "teams": [{"team": "a", "receiver": "nope"}]}},
            'receiver "nope" is not in alertmanagerConfig.receivers',
        ),
        (
            {"exporter": {"extraEnv": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}]}},
            "exporter.extraEnv[0] AWS_SECRET_ACCESS_KEY: a credential cannot be a literal value",
        ),
        (
            {"gpuAgent": {"enabled": True, "extraEnv": [{"name": "API_TOKEN", "value": "x"}]}},
            "gpuAgent.extraEnv[0] API_TOKEN",
        ),
    ],
)
def test_values_the_schema_cannot_express_fail_the_render(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=None) as caught:
        render_raw(values)
    assert message in str(caught.value)


def test_secret_references_are_allowed() -> None:
    env = [{"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "t"}}}]
    rendered = render_raw({"exporter": {"extraEnv": env}})
    assert "secretKeyRef" in rendered["unitcost/templates/deployment.yaml"]


def test_every_default_value_is_described_by_the_schema() -> None:
    # additionalProperties false everywhere except free-form blocks: a key added to
    # values.yaml without the schema would make the chart refuse its own defaults.
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    chart = helm_python.Chart.load(str(CHART_DIR))
    chart.validate_schema(chart.values)
