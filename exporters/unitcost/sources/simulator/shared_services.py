"""Simulated shared services for the demo (docs/shared-services.md): a cache (Alluxio) and a
broker (Kafka) run by the platform team, and how much each team uses them, so the demo splits
their cost by usage.

Made up, like everything the simulator serves. The services' pods are the cluster's own
(`SimulatedCluster(shared_services=True)`: namespaces `platform-cache` and `platform-kafka`,
team `platform` through the demo config's `platform-*` default). Usage, per running pod, by the
kind of work it does:

| work | cache: bytes read/s, `tenant` = its team | broker: requests/s, by `client_namespace` |
|---|---|---|
| Spark | 20 MB | 10 |
| Ray | 50 MB | none |
| LLM batch inference | none | 40 |
| services (Deployments) | none | 300 |
| sandbox debug pods | 5 MB, no tenant (the owner keeps it) | none |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from unitcost.sources.simulator.catalogue import SANDBOX_NAMESPACE, WorkloadKind
from unitcost.sources.simulator.objects import SimPod, Workload

CACHE = "alluxio"
BROKER = "kafka"
CACHE_NAMESPACE = "platform-cache"
BROKER_NAMESPACE = "platform-kafka"
MB = 1_000_000
CACHE_READS = {WorkloadKind.SPARK: 20 * MB, WorkloadKind.RAY: 50 * MB}
SANDBOX_CACHE_READS = 5 * MB
BROKER_REQUESTS = {
    WorkloadKind.SPARK: 10.0,
    WorkloadKind.INFERENCE: 40.0,
    WorkloadKind.SERVICE: 300.0,
}


def usage(pods: Iterable[tuple[Workload, SimPod]], now: float) -> dict[str, dict[str, float]]:
    """Service -> consumer -> usage per second now (cache by team, broker by namespace).
    Only pods placed on a node and started count; the sandbox's cache reads have no tenant."""
    cache: dict[str, float] = {}
    broker: dict[str, float] = {}
    for workload, pod in pods:
        if not pod.node or workload.started > now:
            continue
        if workload.team is None:
            if pod.namespace == SANDBOX_NAMESPACE:
                cache[""] = cache.get("", 0.0) + SANDBOX_CACHE_READS
            continue
        kind = workload.team.workload
        if kind in CACHE_READS:
            team = workload.team.team
            cache[team] = cache.get(team, 0.0) + CACHE_READS[kind]
        if kind in BROKER_REQUESTS:
            namespace = pod.namespace
            broker[namespace] = broker.get(namespace, 0.0) + BROKER_REQUESTS[kind]
    return {CACHE: cache, BROKER: broker}


def rows(
    usage_now: Mapping[str, Mapping[str, float]], service: str, consumer_label: str
) -> list[tuple[dict[str, str], float]]:
    """A service's usage as a Prometheus instant query returns it: one series per consumer,
    the consumer in `consumer_label` (none for usage no consumer is named for). A service the
    simulated cluster does not run is an error, as a query over absent metrics would be."""
    if service not in usage_now:
        raise LookupError(
            f"the simulated cluster runs no shared service {service!r} "
            f"(it runs {', '.join(sorted(usage_now))})"
        )
    return [
        ({consumer_label: consumer} if consumer else {}, value)
        for consumer, value in sorted(usage_now[service].items())
    ]
