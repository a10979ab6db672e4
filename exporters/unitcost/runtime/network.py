"""The node agent's network collector (`unitcost gpu-agent --collector.network`): one conntrack
dump per collect, turned into byte deltas per pod and destination class, priced, and added to
counters that last as long as the process (docs/network.md).

State kept from one collect to the next: the accounting's per-entry counters (so an entry is
counted once), the counters exported, and this node's tiered egress month to date.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from unitcost.costmodel.network import Classifier, FlowKey, Seen, Topology, account, price
from unitcost.data.network import Entry, Flow, TrafficKey
from unitcost.data.records import SourceHealth
from unitcost.metrics.family import MetricFamily
from unitcost.pricing.network import NetworkPricer
from unitcost.sinks.network import network_families
from unitcost.sources.network.conntrack import ConntrackUnavailable

log = logging.getLogger(__name__)
ACCT_SYSCTL = Path("/proc/sys/net/netfilter/nf_conntrack_acct")


class ConntrackReader(Protocol):
    name: str
    malformed: int

    def entries(self) -> Iterator[Entry]: ...

    def decode(self, blob: object) -> Flow: ...

    def close(self) -> None: ...


def read_accounting(path: Path = ACCT_SYSCTL) -> bool | None:
    try:
        return path.read_text().strip() == "1"
    except OSError:
        return None


class NetworkCollector:
    """Collects when the agent does; `families` are what it serves."""

    def __init__(
        self,
        reader: ConntrackReader,
        pricer: NetworkPricer,
        node: str,
        topology: Callable[[], Topology],
        *,
        retain_seconds: float = 3600.0,
        accounting: Callable[[], bool | None] = read_accounting,
    ) -> None:
        self.reader = reader
        self.pricer = pricer
        self.node = node
        self.topology = topology
        self.retain_seconds = retain_seconds
        self.accounting = accounting
        self._state: dict[FlowKey, Seen] = {}
        self._first = True
        self._bytes: dict[TrafficKey, int] = {}
        self._dollars: dict[TrafficKey, float] = {}
        self._touched: dict[TrafficKey, float] = {}
        self._month: tuple[int, int] | None = None
        self._month_bytes = 0.0
        self._malformed = 0
        self._entries = 0
        self._up = False
        self._last_success = 0.0
        self._problem = ""

    @property
    def name(self) -> str:
        return "conntrack"

    def close(self) -> None:
        self.reader.close()

    def collect(self, now: float) -> tuple[list[MetricFamily], SourceHealth]:
        month = time.gmtime(now)[:2]
        if month != self._month:
            self._month, self._month_bytes = (month[0], month[1]), 0.0
        try:
            classifier = Classifier(self.topology())
            deltas, state = account(
                self._state,
                self.reader.entries(),
                self.reader.decode,
                classifier,
                first=self._first,
            )
        except ConntrackUnavailable as exc:
            if self._up or not self._problem:
                log.error("conntrack: %s (serving the last counters)", exc)
            self._up, self._problem = False, str(exc)
        else:
            self._state, self._first = state, False
            self._up, self._problem, self._last_success = True, "", now
            self._entries = deltas.entries
            self._malformed += deltas.malformed + self.reader.malformed
            dollars, self._month_bytes = price(deltas.bytes, self.pricer, self._month_bytes)
            for key, nbytes in deltas.bytes.items():
                self._bytes[key] = self._bytes.get(key, 0) + nbytes
                self._dollars[key] = self._dollars.get(key, 0.0) + dollars.get(key, 0.0)
                self._touched[key] = now
            for key, last in list(self._touched.items()):
                if now - last > self.retain_seconds:
                    del self._touched[key], self._bytes[key], self._dollars[key]
        families = network_families(
            self.node,
            self._bytes,
            self._dollars,
            self._entries,
            self._malformed,
            self.accounting(),
        )
        return families, SourceHealth(self.name, self._up, self._last_success)
