"""One watch event's update time in the Kubernetes source: the JSON line decoded, converted
to a Pod and applied to the reflector's store (what Reflector._watch does per event), with
the store already holding the cluster's pods; and one pod's share of a PodMetrics poll."""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from support.fake_apiserver import pod as pod_object
from unitcost.config.kubernetes import KubernetesSettings
from unitcost.costmodel.attribution import AttributionRules
from unitcost.sources.kubernetes import convert
from unitcost.sources.kubernetes.reflector import Endpoint, Reflector
from unitcost.sources.kubernetes.usage import parse_pod_metrics

SPARK = {
    "spark-app-selector": "spark-0001",
    "spark-role": "executor",
    "team": "analytics",
    "yunikorn.apache.org/queue": "root.data.analytics",
    "controller-uid": "not-read-by-attribution",
}


def _event(kind: str, i: int) -> bytes:
    obj = pod_object(
        f"ns-{i % 50}",
        f"job-{i // 30}-exec-{i}",
        node_name=f"node-{i % 5000:04d}",
        cpu="3500m",
        memory="12Gi",
        labels={**SPARK, "spark-exec-id": str(i)},
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}" * 40},
        owner=("Pod", f"job-{i // 30}-driver"),
    )
    obj["metadata"]["resourceVersion"] = str(1000 + i)
    obj["metadata"]["uid"] = f"uid-{i}"
    return json.dumps({"type": kind, "object": obj}).encode()


def _per_call(fn: Callable[[bytes], Any], lines: list[bytes]) -> list[float]:
    out = []
    for line in lines:
        started = time.perf_counter()
        fn(line)
        out.append(time.perf_counter() - started)
    return out


def bench_events(pods: int, samples: int = 2000) -> dict[str, float]:
    rules = AttributionRules()
    labels, annotations = rules.pod_label_keys(), rules.pod_annotation_keys()
    reflector: Reflector[Any] = Reflector(
        Endpoint("pods", lambda _v: lambda **_k: None),
        lambda o: convert.to_pod(o, labels, annotations),
        KubernetesSettings(),
        rng=random.Random(1),
    )
    # Fill the store as a list would: `pods` objects already held.
    for i in range(pods):
        reflector._apply(json.loads(_event("ADDED", i)), "")

    def apply(line: bytes) -> None:  # exactly Reflector._watch's per-line work
        reflector._apply(json.loads(line), "")

    added = _per_call(apply, [_event("ADDED", pods + i) for i in range(samples)])
    modified = _per_call(apply, [_event("MODIFIED", i) for i in range(samples)])
    deleted = _per_call(apply, [_event("DELETED", pods + i) for i in range(samples)])
    assert len(reflector) == pods
    metrics = {
        "items": [
            {
                "metadata": {"namespace": f"ns-{i % 50}", "name": f"job-{i // 30}-exec-{i}"},
                "containers": [{"name": "main", "usage": {"cpu": "2874m", "memory": "9Gi"}}],
            }
            for i in range(samples)
        ]
    }
    body = json.dumps(metrics).encode()
    started = time.perf_counter()
    parse_pod_metrics(json.loads(body))
    usage_per_pod = (time.perf_counter() - started) / samples
    return {
        "event_added_median_s": statistics.median(added),
        "event_modified_median_s": statistics.median(modified),
        "event_deleted_median_s": statistics.median(deleted),
        "event_added_p95_s": sorted(added)[int(0.95 * samples)],
        "usage_update_per_pod_s": usage_per_pod,
    }
