"""Real traffic through real conntrack: a pod on a node in zone a sends and receives known
byte counts to a pod in zone b (IPv4 and IPv6) and to an internet host through masquerading;
the collector's per-pod, per-class bytes must match what was sent.

Conntrack counts layer-3 bytes (IP and TCP headers included, handshakes and ACKs too), so a
count is at least the payload and at most the payload plus OVERHEAD: 5% (TCP/IP headers on
1500-byte frames are 52 to 72 bytes of 1500, about 3.5-5%) plus 4 KiB for the handshake, the
close and the reply's ACKs.
"""

from __future__ import annotations

import subprocess

from support.netns import POD, NetnsNode, counted_as_sent, topology
from unitcost.costmodel.network import Classifier, account
from unitcost.data.network import Direction, TrafficClass, TrafficKey
from unitcost.sources.network.conntrack import (
    NetlinkConntrack,
    parse_proc_line,
)

C = TrafficClass
TX, RX = Direction.TRANSMIT, Direction.RECEIVE


def within(counted: int, payload: int) -> bool:
    return counted_as_sent(counted, payload)


def small(counted: int, payload: int) -> bool:
    """The reverse of a bulk transfer: ACKs and the handshake only."""
    return counted <= payload * 0.05 + 4096


def test_per_pod_bytes_by_class_match_what_was_sent(netns_node: NetnsNode) -> None:
    reader = NetlinkConntrack(netns=netns_node.ns("node"))
    classifier = Classifier(topology())
    try:
        # the agent starts before the traffic: an empty baseline
        first, state = account({}, reader.entries(), reader.decode, classifier, first=True)
        assert first.bytes == {}
        # pod -> pod-b in the other zone, IPv4 then IPv6; pod -> the internet through NAT
        netns_node.exchange(("peer", "10.1.2.9", 5001), "pod", 1_000_000, 20_000)
        netns_node.exchange(("peer", "fd00:2::9", 5002), "pod", 300_000, 0)
        netns_node.exchange(("inet", "93.184.216.34", 5003), "pod", 2_000_000, 500_000)
        # pod-b opens a connection to the pod (the pod accepts it)
        netns_node.exchange(("pod", "10.1.0.5", 5004), "peer", 400_000, 0)
        deltas, state = account(state, reader.entries(), reader.decode, classifier, first=False)
    finally:
        reader.close()
    got = deltas.bytes
    assert set(got) <= {
        TrafficKey(POD, C.OTHER_ZONE, False, TX),
        TrafficKey(POD, C.OTHER_ZONE, False, RX),
        TrafficKey(POD, C.INTERNET, True, TX),
        TrafficKey(POD, C.INTERNET, True, RX),
    }, got
    zone_tx = got[TrafficKey(POD, C.OTHER_ZONE, False, TX)]
    zone_rx = got[TrafficKey(POD, C.OTHER_ZONE, False, RX)]
    # sent to zone b: 1,000,000 + 300,000; received: 20,000 replies + 400,000 from pod-b
    assert counted_as_sent(zone_tx, 1_300_000, reverse_payload=420_000, connections=4)
    assert counted_as_sent(zone_rx, 420_000, reverse_payload=1_300_000, connections=4)
    inet_tx = got[TrafficKey(POD, C.INTERNET, True, TX)]
    inet_rx = got[TrafficKey(POD, C.INTERNET, True, RX)]
    assert counted_as_sent(inet_tx, 2_000_000, reverse_payload=500_000)
    assert counted_as_sent(inet_rx, 500_000, reverse_payload=2_000_000)


def test_a_restarted_reader_counts_only_what_follows(netns_node: NetnsNode) -> None:
    netns_node.exchange(("peer", "10.1.2.9", 5011), "pod", 700_000, 0)
    reader = NetlinkConntrack(netns=netns_node.ns("node"))  # the agent starts now
    classifier = Classifier(topology())
    try:
        first, state = account({}, reader.entries(), reader.decode, classifier, first=True)
        assert first.bytes == {} and first.entries >= 1
        netns_node.exchange(("peer", "10.1.2.9", 5012), "pod", 250_000, 0)
        deltas, _ = account(state, reader.entries(), reader.decode, classifier, first=False)
    finally:
        reader.close()
    tx = deltas.bytes[TrafficKey(POD, C.OTHER_ZONE, False, TX)]
    assert within(tx, 250_000), tx  # the 700,000 before the start are not counted again


def test_our_decoder_agrees_with_pyroute2_and_proc(netns_node: NetnsNode) -> None:
    """The fast decoder against pyroute2's generic one (the reference) on the same entries,
    and against /proc/net/nf_conntrack of the same namespace."""
    from pyroute2 import Conntrack

    netns_node.exchange(("peer", "fd00:2::9", 5021), "pod", 100_000, 1_000)
    netns_node.exchange(("inet", "93.184.216.34", 5022), "pod", 50_000, 5_000)
    reader = NetlinkConntrack(netns=netns_node.ns("node"))
    try:
        ours = {}
        for _, orig, reply, blob in reader.entries():
            flow = reader.decode(blob)
            assert (flow.orig_bytes, flow.reply_bytes) == (orig, reply)
            ours[flow.entry_id] = flow
    finally:
        reader.close()
    reference = Conntrack(nfgen_family=0, netns=netns_node.ns("node"))
    try:
        theirs = list(reference.dump())
    finally:
        reference.close()
    assert len(theirs) == len(ours) >= 2
    for message in theirs:
        flow = ours[message.get_attr("CTA_ID")]
        orig = message.get_attr("CTA_TUPLE_ORIG")
        ip = dict(orig.get_attr("CTA_TUPLE_IP")["attrs"])
        proto = dict(orig.get_attr("CTA_TUPLE_PROTO")["attrs"])
        assert flow.orig_src == ip.get("CTA_IP_V4_SRC", ip.get("CTA_IP_V6_SRC"))
        assert flow.orig_dst == ip.get("CTA_IP_V4_DST", ip.get("CTA_IP_V6_DST"))
        assert (flow.proto, flow.orig_sport, flow.orig_dport) == (
            proto["CTA_PROTO_NUM"],
            proto.get("CTA_PROTO_SRC_PORT", 0),
            proto.get("CTA_PROTO_DST_PORT", 0),
        )
        counters = dict(message.get_attr("CTA_COUNTERS_ORIG")["attrs"])
        # the reference dump came a moment later: counters only grow
        assert counters["CTA_COUNTERS_BYTES"] >= flow.orig_bytes > 0
    proc = subprocess.run(
        ["ip", "netns", "exec", netns_node.ns("node"), "cat", "/proc/net/nf_conntrack"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0 and proc.stdout:  # kernels without the file: netlink only
        from_proc = {
            (f.orig_src, f.orig_sport): f for f in map(parse_proc_line, proc.stdout.splitlines())
        }
        for flow in ours.values():
            same = from_proc[(flow.orig_src, flow.orig_sport)]
            assert (same.reply_src, same.reply_dst) == (flow.reply_src, flow.reply_dst)
            assert same.orig_bytes >= flow.orig_bytes
