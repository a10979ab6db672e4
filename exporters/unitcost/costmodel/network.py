"""Network traffic, pure: which pod owns each conntrack entry, where its remote end is, how many
bytes it moved since the last read, and what they cost (docs/network.md).

Byte deltas survive what the kernel does to its table:

- an entry seen before: delta = counters now - counters then;
- counters below what was seen (the tuple was reused by a new entry the reader cannot tell
  apart, e.g. from /proc without ids): a new entry, delta = counters now;
- an entry first seen after the first read: a new connection, delta = its counters;
- an entry first seen in the first read after the agent started: a baseline, delta 0 (its
  earlier bytes were counted by the previous process, whose counters Prometheus has; a restart
  resets the exported counters, which `increase()` handles);
- an entry gone (expired, destroyed): forgotten; the bytes it moved after the last read are lost,
  at most one interval's worth, never counted twice.

Each entry's owner and class are decided when it is first seen and kept while it lives, so a pod
IP reused by a new pod cannot inherit the old pod's connections.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from unitcost.data.gpu import PodRef
from unitcost.data.network import (
    NAT_CLASSES,
    Direction,
    Entry,
    Flow,
    Place,
    TrafficClass,
    TrafficKey,
)
from unitcost.pricing.network import TIERED, NetworkPricer

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: One attribution of an entry: (pod or None for the node, class, via NAT, transmit = orig?)
Row = tuple[PodRef | None, TrafficClass, bool, bool]
FlowKey = Hashable


@dataclass(frozen=True)
class Topology:
    """What one node's collector knows about addresses."""

    #: This node: its provider, region, zone and name.
    here: Place
    #: Pod IPs on this node (not hostNetwork pods: those share the node's addresses).
    pods: Mapping[str, PodRef] = field(default_factory=dict)
    #: This node's own addresses (its processes and hostNetwork pods: the node's bucket).
    node_addresses: frozenset[str] = frozenset()
    #: Exact addresses elsewhere in the cluster: other nodes' IPs, known pod IPs.
    places: Mapping[str, Place] = field(default_factory=dict)
    #: Ranges: pod CIDRs and subnets per node or zone, on-prem sites, the clouds' ranges.
    #: Longest prefix wins; an exact address in `places` wins over any range.
    networks: Sequence[tuple[Network, Place]] = ()
    #: This node reaches the internet and other regions through a NAT gateway.
    nat: bool = False
    #: Destinations that bypass the NAT gateway (VPC endpoints, a proxy's address).
    nat_bypass: Sequence[Network] = ()


#: Addresses that are not global (as Python's ipaddress defines it): loopback is this node;
#: the rest, when no configured range claims them, are `unclassified`.
_LOOPBACK = ("127.0.0.0/8", "::1/128")
_NOT_GLOBAL = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "::/128",
    "::ffff:0:0/96",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
)


class _Prefixes:
    """Longest-prefix match over integer addresses: one dict per (version, prefix length)."""

    def __init__(self, entries: Iterable[tuple[Network, object]]) -> None:
        self._tables: dict[tuple[int, int], dict[int, object]] = {}
        for network, value in entries:
            table = self._tables.setdefault((network.version, network.prefixlen), {})
            table.setdefault(int(network.network_address), value)
        self._lengths = {
            version: sorted(
                ((length, self._tables[(v, length)]) for v, length in self._tables if v == version),
                key=lambda item: -item[0],
            )
            for version in (4, 6)
        }

    def find(self, value: int, version: int) -> object | None:
        bits = 32 if version == 4 else 128
        for length, table in self._lengths[version]:
            shift = bits - length
            found = table.get(value >> shift << shift)
            if found is not None:
                return found
        return None


def parse_address(text: str) -> tuple[int, int]:
    """(integer value, version) of an address; ValueError when it is not one."""
    try:
        if ":" in text:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big"), 6
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big"), 4
    except OSError:
        raise ValueError(f"not an IP address (got {text!r})") from None


class Classifier:
    """Remote address -> traffic class for one node, longest-prefix match, cached."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._ranges = _Prefixes(topology.networks)
        self._special = _Prefixes(
            [(ipaddress.ip_network(n), TrafficClass.SAME_NODE) for n in _LOOPBACK]
            + [(ipaddress.ip_network(n), TrafficClass.UNCLASSIFIED) for n in _NOT_GLOBAL]
        )
        self._bypass = _Prefixes((n, True) for n in topology.nat_bypass)
        self._has_bypass = bool(topology.nat_bypass)
        self._cache: dict[str, tuple[TrafficClass, bool]] = {}

    def place_of(self, address: Address) -> Place | None:
        found = self._ranges.find(int(address), address.version)
        return found if isinstance(found, Place) else None

    def relate(self, place: Place) -> TrafficClass:
        here = self.topology.here
        if place.node and place.node == here.node:
            return TrafficClass.SAME_NODE
        if place.provider != here.provider:
            return TrafficClass.ONPREM if place.provider == "onprem" else TrafficClass.OTHER_CLOUD
        if place.region != here.region:
            return TrafficClass.OTHER_REGION
        if not place.zone or not here.zone:
            return TrafficClass.SAME_REGION
        return TrafficClass.SAME_ZONE if place.zone == here.zone else TrafficClass.OTHER_ZONE

    def classify(self, remote: str) -> tuple[TrafficClass, bool]:
        """(class, through the NAT gateway) of a remote address. Raises ValueError on an
        address that is not one."""
        cached = self._cache.get(remote)
        if cached is not None:
            return cached
        topology = self.topology
        value, version = parse_address(remote)
        if remote in topology.pods or remote in topology.node_addresses:
            found = TrafficClass.SAME_NODE
        else:
            place = topology.places.get(remote) or self._ranges.find(value, version)
            if isinstance(place, Place):
                found = self.relate(place)
            else:
                special = self._special.find(value, version)
                found = special if isinstance(special, TrafficClass) else TrafficClass.INTERNET
        nat = topology.nat and found in NAT_CLASSES
        if nat and self._has_bypass:
            nat = self._bypass.find(value, version) is None
        result = (found, nat)
        if len(self._cache) < 1_000_000:
            self._cache[remote] = result
        return result


def attribute(flow: Flow, classifier: Classifier) -> tuple[Row, ...]:
    """Who owns the entry's bytes on this node, and where the other end is.

    A pod that opened the connection is the original source (its reply comes back to it, or to
    the node's address after masquerading); a pod that accepted one is the reply's source
    (after any DNAT). Two pods of this node talking give a row each. Bytes no pod owns (the
    node's processes, hostNetwork pods, forwarded traffic) go to the node's bucket (pod None)."""
    topology = classifier.topology
    pods = topology.pods
    rows: list[Row] = []
    source = pods.get(flow.orig_src)
    replier = pods.get(flow.reply_src)
    if source is not None:
        rows.append((source, *classifier.classify(flow.reply_src), True))
    if replier is not None:
        rows.append((replier, *classifier.classify(flow.orig_src), False))
    if rows:
        return tuple(rows)
    if flow.reply_src in topology.node_addresses and flow.orig_src not in topology.node_addresses:
        return ((None, *classifier.classify(flow.orig_src), False),)
    return ((None, *classifier.classify(flow.reply_src), True),)


#: What the accounting remembers of an entry: its counters at the last read and its rows.
Seen = tuple[int, int, tuple[Row, ...]]


@dataclass
class Deltas:
    """One read's bytes per row, and how many entries were read, new, and unparseable."""

    bytes: dict[TrafficKey, int] = field(default_factory=dict)
    entries: int = 0
    new_entries: int = 0
    reset_entries: int = 0
    expired_entries: int = 0
    malformed: int = 0


def account(
    previous: Mapping[FlowKey, Seen],
    entries: Iterable[Entry],
    decode: Callable[[object], Flow],
    classifier: Classifier,
    *,
    first: bool,
) -> tuple[Deltas, dict[FlowKey, Seen]]:
    """Byte deltas since `previous` (the state the last call returned), and the new state.
    `decode` turns an entry's blob into its Flow; it is called only for entries not seen
    before (or reset), so a known entry costs a dictionary look-up. An entry that cannot be
    decoded (ValueError, KeyError, IndexError) is counted in `malformed` and skipped."""
    state: dict[FlowKey, Seen] = {}
    out = Deltas()
    totals: dict[tuple[Row, bool], int] = {}
    interned: dict[tuple[Row, ...], tuple[Row, ...]] = {}
    get = previous.get
    count = new = reset = malformed = 0
    for key, orig, reply, blob in entries:
        count += 1
        seen = get(key)
        if seen is not None and orig >= seen[0] and reply >= seen[1]:
            d_orig = orig - seen[0]
            d_reply = reply - seen[1]
            rows = seen[2]
            if not (d_orig or d_reply):
                state[key] = seen
                continue
        else:
            try:
                rows = attribute(decode(blob), classifier)
            except (ValueError, KeyError, IndexError):
                malformed += 1
                continue
            if seen is not None:
                reset += 1
            else:
                new += 1
            rows = interned.setdefault(rows, rows)
            d_orig, d_reply = (0, 0) if first and seen is None else (orig, reply)
        state[key] = (orig, reply, rows)
        for row in rows:
            tx, rx = (d_orig, d_reply) if row[3] else (d_reply, d_orig)
            if tx:
                totals[(row, True)] = totals.get((row, True), 0) + tx
            if rx:
                totals[(row, False)] = totals.get((row, False), 0) + rx
    out.entries, out.new_entries, out.reset_entries, out.malformed = count, new, reset, malformed
    out.expired_entries = max(0, len(previous) - (len(state) - new))
    for (row, transmit), nbytes in totals.items():
        direction = Direction.TRANSMIT if transmit else Direction.RECEIVE
        traffic = TrafficKey(row[0], row[1], row[2], direction)
        out.bytes[traffic] = out.bytes.get(traffic, 0) + nbytes
    return out, state


def _order(key: TrafficKey) -> tuple[str, str, str, bool, str]:
    pod = key.pod
    return (
        pod.namespace if pod else "",
        pod.name if pod else "",
        key.traffic_class.value,
        key.nat,
        key.direction.value,
    )


def price(
    deltas: Mapping[TrafficKey, int], pricer: NetworkPricer, month_to_date_bytes: float
) -> tuple[dict[TrafficKey, float], float]:
    """Dollars per row, and this node's tiered egress month to date after them. Rows are priced
    in a fixed order (namespace, pod, class) so a tier boundary splits the same way each time."""
    dollars: dict[TrafficKey, float] = {}
    for key in sorted(deltas, key=_order):
        nbytes = deltas[key]
        dollars[key] = pricer.dollars(
            key.traffic_class, key.direction, key.nat, nbytes, month_to_date_bytes
        )
        if key.direction is Direction.TRANSMIT and key.traffic_class in TIERED:
            month_to_date_bytes += nbytes
    return dollars, month_to_date_bytes
