"""Network plain data: one connection-tracking entry as the kernel reports it, the places
addresses map to, and a pod's traffic after classification (what the network collector's
metrics show). docs/network.md."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from unitcost.data.gpu import PodRef

#: Billing uses binary gigabytes (AWS and GCP both bill data transfer per 2^30 bytes).
GIB = 2**30


class TrafficClass(StrEnum):
    """Where the remote end of a flow is, seen from the pod that owns the local end."""

    SAME_NODE = "same-node"
    SAME_ZONE = "same-zone"
    OTHER_ZONE = "other-zone"
    #: A cloud address of this node's provider in this region outside the cluster (object
    #: storage, managed databases); its zone is not known.
    SAME_REGION = "same-region"
    OTHER_REGION = "other-region"
    OTHER_CLOUD = "other-cloud"
    INTERNET = "internet"
    ONPREM = "onprem"
    #: A private address in no configured range (a VPC peer nobody described): counted and
    #: priced at 0, an SLI of the network configuration.
    UNCLASSIFIED = "unclassified"


#: Classes that leave the provider's network through a NAT gateway when the node egresses
#: through one.
NAT_CLASSES = frozenset(
    {
        TrafficClass.SAME_REGION,
        TrafficClass.OTHER_REGION,
        TrafficClass.OTHER_CLOUD,
        TrafficClass.INTERNET,
    }
)


class Direction(StrEnum):
    TRANSMIT = "transmit"
    RECEIVE = "receive"


@dataclass(frozen=True, slots=True)
class Flow:
    """One conntrack entry: the original tuple (as the first packet had it), the reply tuple
    (after NAT, as replies travel) and the bytes counted each way since the entry began."""

    proto: int
    orig_src: str
    orig_dst: str
    orig_sport: int
    orig_dport: int
    reply_src: str
    reply_dst: str
    orig_bytes: int
    reply_bytes: int
    #: The kernel's entry id (netlink CTA_ID); None where the reader cannot see it (/proc).
    entry_id: int | None = None
    zone: int = 0

    @property
    def key(self) -> tuple[int | None, int, str, str, int, int, int]:
        """What identifies the entry from one read to the next."""
        return (
            self.entry_id,
            self.proto,
            self.orig_src,
            self.orig_dst,
            self.orig_sport,
            self.orig_dport,
            self.zone,
        )


#: One conntrack entry as readers yield it: (key, orig bytes, reply bytes, blob); the reader's
#: `decode(blob)` makes the Flow, only for entries the accounting has not seen.
Entry = tuple[object, int, int, object]


def flow_entries(flows: Iterable[Flow]) -> Iterator[Entry]:
    """Flows already decoded, as entries (their blob is the flow itself)."""
    for flow in flows:
        yield flow.key, flow.orig_bytes, flow.reply_bytes, flow


def decoded(blob: object) -> Flow:
    assert isinstance(blob, Flow)
    return blob


@dataclass(frozen=True, slots=True)
class Place:
    """Where an address is: a node (with zone and region) or a region of a provider."""

    provider: str
    region: str = ""
    zone: str = ""
    node: str = ""


@dataclass(frozen=True, slots=True)
class TrafficKey:
    """One row of a node's traffic: a pod (None: the node's shared bucket, for bytes no pod
    owns: hostNetwork pods, the node's own processes), a class, NAT or not, a direction."""

    pod: PodRef | None
    traffic_class: TrafficClass
    nat: bool
    direction: Direction
