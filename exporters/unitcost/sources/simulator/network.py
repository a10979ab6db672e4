"""Simulated network traffic for the demo (docs/network.md): what the network collector would
count on each simulated node, so the rules, dashboards and demo show network dollars.

Made up, like everything the simulator serves, and served only for a simulated snapshot (the
real counters come from the node agent). Rates per running pod, by what owns it:

| owner | traffic |
|---|---|
| SparkApplication | shuffles: 6 MB/s each way to another zone, 10 MB/s to its own zone |
| RayCluster | object transfers: 8 MB/s in its zone, 1 MB/s across zones |
| `*-llm-*` Jobs (LLM batch inference) | through the NAT gateway: 2 MB/s out, 0.5 MB/s in |
| other Jobs | reads from object storage in the region: 4 MB/s in, 0.1 MB/s out |
| Deployments | 0.5 MB/s each way in the zone, 0.2 MB/s out to the internet (not NATed) |

and 0.2 MB/s of each node's own traffic in its zone (the node's bucket).
"""

from __future__ import annotations

from collections.abc import Iterator

from unitcost.costmodel.network import price
from unitcost.data.gpu import PodRef
from unitcost.data.model import PodPhase, Snapshot
from unitcost.data.network import Direction, TrafficClass, TrafficKey
from unitcost.pricing import PriceBook
from unitcost.pricing.network import NetworkPricer

MB = 1_000_000
C = TrafficClass
TX, RX = Direction.TRANSMIT, Direction.RECEIVE
#: (class, nat, direction, bytes per second)
Rates = tuple[tuple[TrafficClass, bool, Direction, float], ...]
SPARK: Rates = (
    (C.OTHER_ZONE, False, TX, 6 * MB),
    (C.OTHER_ZONE, False, RX, 6 * MB),
    (C.SAME_ZONE, False, TX, 10 * MB),
    (C.SAME_ZONE, False, RX, 10 * MB),
)
RAY: Rates = ((C.SAME_ZONE, False, TX, 8 * MB), (C.OTHER_ZONE, False, TX, 1 * MB))
LLM: Rates = ((C.INTERNET, True, TX, 2 * MB), (C.INTERNET, True, RX, 0.5 * MB))
JOB: Rates = ((C.SAME_REGION, False, RX, 4 * MB), (C.SAME_REGION, False, TX, 0.1 * MB))
SERVICE: Rates = (
    (C.SAME_ZONE, False, TX, 0.5 * MB),
    (C.SAME_ZONE, False, RX, 0.5 * MB),
    (C.INTERNET, False, TX, 0.2 * MB),
)
NODE: Rates = ((C.SAME_ZONE, False, TX, 0.2 * MB),)


def rates_of(owner_kind: str, owner_name: str) -> Rates:
    if owner_kind == "SparkApplication":
        return SPARK
    if owner_kind == "RayCluster":
        return RAY
    if owner_kind == "Job":
        return LLM if "-llm-" in owner_name else JOB
    return SERVICE


class SimulatedTraffic:
    """Counters per (node, pod, class, nat, direction) since the demo started, priced."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book
        self._last: float | None = None
        self.bytes: dict[tuple[str, TrafficKey], int] = {}
        self.dollars: dict[tuple[str, TrafficKey], float] = {}
        self._month_bytes: dict[str, float] = {}

    def advance(self, snapshot: Snapshot) -> None:
        now = snapshot.timestamp
        seconds = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        if seconds <= 0:
            return
        providers = {n.name: n.provider.value for n in snapshot.nodes}
        running = {(p.namespace, p.name) for p in snapshot.pods if p.phase is PodPhase.RUNNING}
        for gone in [
            k for k in self.bytes if k[1].pod and (k[1].pod.namespace, k[1].pod.name) not in running
        ]:  # a pod that ended: its series go, as the agent's do after retain_seconds
            del self.bytes[gone], self.dollars[gone]
        by_node: dict[str, dict[TrafficKey, int]] = {}
        for node, key, rate in self._flows(snapshot):
            rows = by_node.setdefault(node, {})
            rows[key] = rows.get(key, 0) + int(rate * seconds)
        for node, rows in by_node.items():
            pricer = NetworkPricer(self.book, providers.get(node, "onprem"))
            dollars, self._month_bytes[node] = price(rows, pricer, self._month_bytes.get(node, 0))
            for key, nbytes in rows.items():
                self.bytes[(node, key)] = self.bytes.get((node, key), 0) + nbytes
                self.dollars[(node, key)] = self.dollars.get((node, key), 0.0) + dollars[key]

    @staticmethod
    def _flows(snapshot: Snapshot) -> Iterator[tuple[str, TrafficKey, float]]:
        for node in snapshot.nodes:
            for cls, nat, direction, rate in NODE:
                yield node.name, TrafficKey(None, cls, nat, direction), rate
        for pod in snapshot.pods:
            if pod.phase is not PodPhase.RUNNING or not pod.node:
                continue
            owner = pod.owner
            ref = PodRef(pod.namespace, pod.name, pod.uid, "Running")
            for cls, nat, direction, rate in rates_of(
                owner.kind if owner else "", owner.name if owner else ""
            ):
                yield pod.node, TrafficKey(ref, cls, nat, direction), rate
