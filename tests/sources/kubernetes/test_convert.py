"""Object conversion, queue parsing and config errors of the Kubernetes source (no server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from support.fake_apiserver import node, pod
from support.loopback import loopback_server
from unitcost.base.errors import InputError
from unitcost.cli.main import main
from unitcost.config.file import parse_config
from unitcost.config.kubernetes import YunikornSettings
from unitcost.data.model import CapacityType, Provider, Resources
from unitcost.sources.kubernetes import convert
from unitcost.sources.kubernetes.queues import YunikornPoller, parse_yunikorn_queues

GIB = 2.0**30


def test_pod_requests_count_sidecars_init_peak_and_overhead() -> None:
    obj: Any = pod("ml", "p", cpu="1", memory="1Gi", gpus=1)
    obj["spec"]["initContainers"] = [
        {"name": "fetch", "resources": {"requests": {"cpu": "3", "memory": "512Mi"}}},
        {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "250m"}}},
    ]
    obj["spec"]["overhead"] = {"cpu": "100m", "memory": "64Mi"}
    # max(containers + sidecar = 1.25 cpu / 1 GiB, init peak 3 cpu / 0.5 GiB) + overhead
    assert convert.pod_requests(obj) == Resources(3.1, GIB + 64 * 2**20, 1, 0)


def test_bad_quantity_names_object_and_field() -> None:
    obj: Any = pod("ml", "p", cpu="lots")
    obj["kind"] = "Pod"
    with pytest.raises(convert.ConversionError, match=r"Pod ml/p: spec\.containers\[0\].*cpu"):
        convert.pod_requests(obj)


@pytest.mark.parametrize(
    ("provider_id", "labels", "provider", "capacity"),
    [
        ("aws:///us-east-1a/i-1", {"eks.amazonaws.com/capacityType": "SPOT"}, "aws", "spot"),
        ("gce://proj/us-central1-a/n", {"cloud.google.com/gke-spot": "true"}, "gcp", "spot"),
        ("", {"unitcost.dev/capacity-type": "committed"}, "onprem", "committed"),
        ("", {}, "onprem", "on-demand"),
    ],
)
def test_node_provider_and_capacity_type(
    provider_id: str, labels: dict[str, str], provider: str, capacity: str
) -> None:
    n = convert.to_node(node("n", gpus=8, labels=labels, provider_id=provider_id))
    assert (n.provider, n.capacity_type) == (Provider(provider), CapacityType(capacity))
    assert n.allocatable == Resources(16, 64 * GIB, 8, 100 * GIB)


def test_cluster_queue_quota_per_flavor_and_cohort() -> None:
    queue = convert.to_cluster_queue(
        {
            "metadata": {"name": "cq"},
            "spec": {
                "cohortName": "ai",
                "resourceGroups": [
                    {
                        "flavors": [
                            {
                                "name": "h100",
                                "resources": [
                                    {"name": "nvidia.com/gpu", "nominalQuota": "16"},
                                    {"name": "cpu", "nominalQuota": "200"},
                                ],
                            }
                        ]
                    },
                    {
                        "flavors": [
                            {
                                "name": "spot",
                                "resources": [
                                    {"name": "memory", "nominalQuota": "1Ti"},
                                ],
                            }
                        ]
                    },
                ],
            },
        }
    )
    assert queue.cohort == "ai"
    assert queue.quota == {
        "h100": Resources(200, 0, 16, 0),
        "spot": Resources(0, 2.0**40, 0, 0),
    }


YUNIKORN_TREE = {
    "queuename": "root",
    "guaranteedResource": {},
    "children": [
        {
            "queuename": "root.data",
            "guaranteedResource": {"vcore": 64000, "memory": 256 * 2**30},
            "children": [
                {"queuename": "etl", "guaranteedResource": {"vcore": 16000, "nvidia.com/gpu": 2}}
            ],
        }
    ],
}


def test_yunikorn_queue_tree() -> None:
    queues = {q.name: q for q in parse_yunikorn_queues(YUNIKORN_TREE, "yk")}
    assert set(queues) == {"root", "root.data", "root.data.etl"}
    assert queues["root.data"].quota == {"yk": Resources(64, 256 * GIB, 0, 0)}
    assert queues["root.data.etl"].quota == {"yk": Resources(16, 0, 2, 0)}
    assert queues["root.data.etl"].parent == "root.data"


@pytest.fixture
def yunikorn_rest() -> Iterator[str]:
    """A loopback server answering the YuniKorn queues endpoint (and 404 otherwise)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            ok = self.path == "/ws/v1/partition/default/queues"
            body = json.dumps(YUNIKORN_TREE if ok else {"message": "no"}).encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with loopback_server(Handler) as address:
        yield f"http://{address}"


def test_yunikorn_poller(yunikorn_rest: str) -> None:
    good = YunikornPoller(YunikornSettings(rest_url=yunikorn_rest))
    good.poll_once()
    assert good.up and {q.name for q in good.queues} >= {"root.data.etl"}
    bad = YunikornPoller(YunikornSettings(rest_url=yunikorn_rest, partition="nope"))
    bad.poll_once()
    assert not bad.up and bad.queues == []


def test_config_errors_name_the_field() -> None:
    with pytest.raises(InputError, match=r"x\.yaml: source\.kubernetes\.page_size"):
        parse_config(
            {"source": {"kind": "kubernetes", "kubernetes": {"page_size": 0}}}, "x.yaml", Path(".")
        )
    with pytest.raises(InputError, match=r"source\.kind"):
        parse_config({"source": {"kind": "k8s"}}, "x.yaml", Path("."))
    with pytest.raises(InputError, match="both become label_app_name"):
        parse_config(
            {"attribution": {"pod_label_allowlist": ["app.name", "app/name"]}}, "x.yaml", Path(".")
        )


def test_serve_with_a_missing_kubeconfig_fails_clearly(tmp_path: Path) -> None:
    config = tmp_path / "unitcost.yaml"
    config.write_text("source:\n  kind: kubernetes\n  kubernetes:\n    kubeconfig: nope.yaml\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "source.kubernetes.kubeconfig: no such file" in result.output
    assert "nope.yaml" in result.output
