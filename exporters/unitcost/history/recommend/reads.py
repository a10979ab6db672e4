"""Prometheus answers -> the maths' inputs. Every query runs at one instant `end`; the
aggregation over the window happens in Prometheus (subqueries), so a fleet of thousands of
pods costs a few instant queries, not millions of points over the wire.

Only the Prometheus HTTP API is used (unitcost.sources.promapi), so Thanos Query and Mimir work too.
Every query keeps the `cluster` label (`by (cluster, ...)`, `on (cluster, ...)`) and every key
starts with it: in a fleet's global tier pod, node and queue names repeat across clusters; on a
single cluster's Prometheus the label is absent and the cluster is "".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from unitcost.config.recommend import RecommendSettings, promql_duration
from unitcost.history.recommend.maths import (
    GpuIdleHistory,
    GpuPeak,
    Inputs,
    PodActivity,
    PodUsage,
    QueueQuota,
    Workload,
)
from unitcost.sources.promapi import PrometheusAPI, Sample

log = logging.getLogger(__name__)
#: (cluster, namespace, pod)
PodKey = tuple[str, str, str]
Query = Callable[[str], list[Sample]]


def _pod_key(labels: Mapping[str, str]) -> PodKey:
    return labels.get("cluster", ""), labels.get("namespace", ""), labels.get("pod", "")


def _by_pod(samples: list[Sample]) -> dict[PodKey, float]:
    return {_pod_key(s.labels): s.value for s in samples}


def read_inputs(api: PrometheusAPI, settings: RecommendSettings, end: float) -> Inputs:
    w = promql_duration(settings.window_seconds)
    step = settings.step_seconds
    s = promql_duration(step)
    q = settings.queries

    def at_end(promql: str) -> list[Sample]:
        return api.query(promql, at=end)

    # One series per pod with either `detail` (docs/config.md): its owners and its node.
    pods = at_end(f"last_over_time(unitcost_pod_total_cost_dollars_per_hour[{w}])")
    workloads = _workloads(pods)

    def workload(key: PodKey) -> Workload:
        cluster, namespace, pod = key
        return workloads.get(key) or Workload(namespace, "Pod", pod, cluster)

    # Prices: the pod's last node, at that node's $/core-hour and $/byte-hour; its cluster's
    # average for a pod whose node is unknown.
    pod_node = {_pod_key(x.labels): x.labels.get("node", "") for x in pods}
    prices = {
        resource: (
            {_node_key(x): x.value for x in at_end(_node_price(resource, per, w))},
            {x.labels.get("cluster", ""): x.value for x in at_end(_cluster_price(resource, per))},
        )
        for resource, per in (
            ("cpu", "unitcost_node_allocatable_cpu_cores"),
            ("memory", "unitcost_node_allocatable_memory_bytes"),
        )
    }

    def price(resource: str, key: PodKey) -> float:
        by_node, average = prices[resource]
        cluster = key[0]
        return by_node.get((cluster, pod_node.get(key, "")), average.get(cluster, 0.0))

    quantile = settings.rightsize.cpu_percentile / 100
    cpu_pct = _by_pod(at_end(f"quantile_over_time({quantile:g}, ({q.cpu_usage_cores})[{w}:{s}])"))
    mem_peak = _by_pod(at_end(f"max_over_time(({q.memory_usage_bytes})[{w}:{s}])"))
    seen = _by_pod(at_end(f"count_over_time(({q.memory_usage_bytes})[{w}:{s}])"))
    cpu_req = _by_pod(at_end(f"last_over_time(({q.cpu_request_cores})[{w}:{s}])"))
    mem_req = _by_pod(at_end(f"last_over_time(({q.memory_request_bytes})[{w}:{s}])"))
    usage = tuple(
        PodUsage(
            key[1],
            key[2],
            workload(key),
            cpu_pct.get(key),
            mem_peak.get(key),
            cpu_req.get(key),
            mem_req.get(key),
            # A subquery may hold one step more than the window: clamp.
            min(seen.get(key, 0.0) * step, settings.window_seconds),
            price("cpu", key),
            price("memory", key),
        )
        for key in sorted(set(cpu_pct) | set(mem_peak))
    )

    a = promql_duration(settings.abandoned.window_seconds)
    cpu_max = _by_pod(at_end(f"max_over_time(({q.cpu_usage_cores})[{a}:{s}])"))
    cpu_seen = _by_pod(at_end(f"count_over_time(({q.cpu_usage_cores})[{a}:{s}])"))
    net_max = _by_pod(at_end(f"max_over_time(({q.network_bytes_per_second})[{a}:{s}])"))
    cost_now = _by_pod(
        at_end("sum by (cluster, namespace, pod) (unitcost_pod_total_cost_dollars_per_hour)")
    )
    activity = tuple(
        PodActivity(
            key[1],
            key[2],
            workload(key),
            cpu_max.get(key),
            net_max.get(key),
            min(cpu_seen.get(key, 0.0) * step, settings.abandoned.window_seconds),
            cost_now.get(key),
        )
        for key in sorted(set(cpu_max) | set(cost_now))
    )

    return Inputs(
        end=end,
        window_seconds=settings.window_seconds,
        step_seconds=step,
        usage=usage,
        gpus=_gpu_histories(api, settings, end, workload),
        activity=activity,
        queues=_queues(at_end, w, s, step),
        gpu_peaks=_gpu_peaks(at_end, w, workload),
    )


def _workloads(samples: list[Sample]) -> dict[PodKey, Workload]:
    out: dict[PodKey, Workload] = {}
    for x in samples:
        key = cluster, ns, pod = _pod_key(x.labels)
        app, kind = x.labels.get("app", ""), x.labels.get("workload_kind", "")
        out[key] = (
            Workload(ns, kind, app, cluster) if app and kind else Workload(ns, "Pod", pod, cluster)
        )
    return out


def _node_key(x: Sample) -> tuple[str, str]:
    return x.labels.get("cluster", ""), x.labels.get("node", "")


def _node_price(resource: str, per: str, w: str) -> str:
    return (
        "max by (cluster, node) (last_over_time("
        f'unitcost_node_cost_dollars_per_hour{{resource="{resource}"}}[{w}]))'
        f" / on (cluster, node) (max by (cluster, node) (last_over_time({per}[{w}])) > 0)"
    )


def _cluster_price(resource: str, per: str) -> str:
    """Each cluster's average price: its nodes' cost over its nodes' allocatable."""
    return (
        f'sum by (cluster) (unitcost_node_cost_dollars_per_hour{{resource="{resource}"}})'
        f" / on (cluster) (sum by (cluster) ({per}) > 0)"
    )


def _gpu_histories(
    api: PrometheusAPI,
    settings: RecommendSettings,
    end: float,
    workload: Callable[[PodKey], Workload],
) -> tuple[GpuIdleHistory, ...]:
    step = settings.step_seconds
    start = end - settings.gpu_idle.policy_window_seconds - 2 * step
    # max by GPU and pod: a GPU with two producers (agent and exporter) counts once.
    series = api.query_range(
        "max by (cluster, node, gpu, namespace, pod) (unitcost_gpu_idle_cost_dollars_per_hour)",
        start=start,
        end=end,
        step_s=step,
    )
    # What each pod holds on its node, from the GPU ledger: claims and MIG slices to name.
    holds: dict[tuple[str, str, str, str], tuple[set[str], set[str]]] = {}
    if series:
        for h in api.query(
            "max by (cluster, namespace, pod, node, claim, mig_profile) "
            "(unitcost_gpu_holding_cost_dollars_per_hour)",
            at=end,
        ):
            labels = h.labels
            place = (labels.get("node", ""), *_pod_key(labels))
            claims, slices = holds.setdefault(place, (set(), set()))
            if labels.get("claim"):
                claims.add(labels["claim"])
            if labels.get("mig_profile"):
                slices.add(labels["mig_profile"])
    out = []
    for x in series:
        if not x.points or x.points[-1][1] <= 0:
            continue  # not idle now: nothing to reclaim
        key = _pod_key(x.labels)
        claims, slices = holds.get((x.labels.get("node", ""), *key), (set(), set()))
        out.append(
            GpuIdleHistory(
                x.labels.get("node", ""),
                x.labels.get("gpu", ""),
                key[1],
                key[2],
                workload(key),
                x.points,
                tuple(sorted(claims)),
                tuple(sorted(slices)),
            )
        )
    return tuple(out)


def _gpu_peaks(
    at_end: Query, w: str, workload: Callable[[PodKey], Workload]
) -> tuple[GpuPeak, ...]:
    """Pods holding whole GPUs now (the per-device ledger's holdings), their GPUs' model, and
    the peak framebuffer (MiB) and engine activity dcgm-exporter saw for them over the window.
    Without dcgm-exporter's series there is nothing to read: no advice."""
    held = at_end(
        "max by (cluster, namespace, pod, node, gpu) "
        '(unitcost_gpu_holding_cost_dollars_per_hour{kind=~"whole|dra",mig_profile=""})'
        " * on (cluster, node, gpu) group_left (model) "
        "max by (cluster, node, gpu, model) (unitcost_gpu_device_cost_dollars_per_hour)"
    )
    if not held:
        return ()
    per_pod = "max by (cluster, namespace, pod)"
    memory = _by_pod(at_end(f"{per_pod} (max_over_time(DCGM_FI_DEV_FB_USED[{w}]))"))
    active = _by_pod(at_end(f"{per_pod} (max_over_time(DCGM_FI_PROF_GR_ENGINE_ACTIVE[{w}]))"))
    pods: dict[PodKey, list[Sample]] = {}
    for sample in held:
        pods.setdefault(_pod_key(sample.labels), []).append(sample)
    out = []
    for key, samples in sorted(pods.items()):
        if key not in memory or key not in active:
            continue
        out.append(
            GpuPeak(
                key[1],
                key[2],
                workload(key),
                samples[0].labels.get("model", ""),
                float(len(samples)),
                sum(x.value for x in samples),
                memory[key] * 2.0**20,
                active[key],
            )
        )
    return tuple(out)


def _queues(at_end: Query, w: str, s: str, step: float) -> tuple[QueueQuota, ...]:
    by = "max by (cluster, queue, flavor, resource)"
    quota = at_end(f"{by} (unitcost_queue_quota_cost_dollars_per_hour)")
    peak = _keyed(
        at_end(f"max_over_time(({by} (unitcost_queue_used_cost_dollars_per_hour))[{w}:{s}])")
    )
    seen = _keyed(
        at_end(f"count_over_time(({by} (unitcost_queue_quota_cost_dollars_per_hour))[{w}:{s}])")
    )
    scheduler = {
        (x.labels.get("cluster", ""), x.labels.get("queue", "")): x.labels.get("scheduler", "")
        for x in at_end(
            f"max by (cluster, queue, scheduler) (last_over_time(unitcost_queue_info[{w}]))"
        )
    }
    out = []
    for x in quota:
        key = _queue_key(x)
        cluster, queue, flavor, resource = key
        out.append(
            QueueQuota(
                queue,
                flavor,
                resource,
                scheduler=scheduler.get((cluster, queue), ""),
                quota_dollars_per_hour=x.value,
                peak_used_dollars_per_hour=peak.get(key, 0.0),  # never used in the window
                observed_seconds=seen.get(key, 0.0) * step,  # only compared to the window
                cluster=cluster,
            )
        )
    return tuple(out)


def _queue_key(x: Sample) -> tuple[str, str, str, str]:
    labels = x.labels
    return (
        labels.get("cluster", ""),
        labels.get("queue", ""),
        labels.get("flavor", ""),
        labels.get("resource", ""),
    )


def _keyed(samples: list[Sample]) -> Mapping[tuple[str, str, str, str], float]:
    return {_queue_key(x): x.value for x in samples}
