"""Network accounting, pure: classification, attribution, byte deltas across expiry, resets and
restarts, IP reuse, and dollars by hand."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unitcost.costmodel.network import (
    Classifier,
    Deltas,
    FlowKey,
    Seen,
    Topology,
    account,
    attribute,
    price,
)
from unitcost.data.gpu import PodRef
from unitcost.data.network import (
    GIB,
    Direction,
    Flow,
    Place,
    TrafficClass,
    TrafficKey,
    decoded,
    flow_entries,
)
from unitcost.pricing import PriceBook
from unitcost.pricing.network import NetworkPricer

C = TrafficClass
TX, RX = Direction.TRANSMIT, Direction.RECEIVE
SPARK = PodRef("spark", "exec-1", "uid-exec-1", "Running")
DRIVER = PodRef("spark", "driver", "uid-driver", "Running")
NEWPOD = PodRef("llm", "batch-7", "uid-batch-7", "Running")
V6POD = PodRef("ray", "worker-0", "uid-worker-0", "Running")


def net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


TOPOLOGY = Topology(
    here=Place("aws", "us-east-1", "us-east-1a", "node-a"),
    pods={"10.1.0.5": SPARK, "10.1.0.6": DRIVER, "fd00:1::5": V6POD},
    node_addresses=frozenset({"10.0.0.10"}),
    places={"10.0.1.20": Place("aws", "us-east-1", "us-east-1b", "node-b")},
    networks=(
        (net("10.1.0.0/24"), Place("aws", "us-east-1", "us-east-1a", "node-a")),
        (net("10.1.1.0/24"), Place("aws", "us-east-1", "us-east-1a", "node-c")),
        (net("10.1.2.0/24"), Place("aws", "us-east-1", "us-east-1b", "node-b")),
        (net("fd00:2::/64"), Place("aws", "us-east-1", "us-east-1b", "node-b6")),
        (net("10.50.0.0/16"), Place("onprem", "dc-paris")),
        (net("52.216.0.0/15"), Place("aws", "us-east-1")),  # S3 us-east-1
        (net("52.92.0.0/17"), Place("aws", "us-west-2")),
        (net("34.64.0.0/10"), Place("gcp", "")),
    ),
    nat=True,
    nat_bypass=(net("52.216.0.0/15"),),  # an S3 gateway endpoint
)
CLASSIFIER = Classifier(TOPOLOGY)


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("10.1.0.6", (C.SAME_NODE, False)),
        ("10.0.0.10", (C.SAME_NODE, False)),
        ("10.1.1.9", (C.SAME_ZONE, False)),
        ("10.1.2.9", (C.OTHER_ZONE, False)),
        ("10.0.1.20", (C.OTHER_ZONE, False)),
        ("fd00:2::9", (C.OTHER_ZONE, False)),
        ("10.50.3.4", (C.ONPREM, False)),
        ("52.216.1.1", (C.SAME_REGION, False)),  # bypasses the NAT gateway
        ("52.92.1.1", (C.OTHER_REGION, True)),
        ("34.100.0.1", (C.OTHER_CLOUD, True)),
        ("93.184.216.34", (C.INTERNET, True)),
        ("2606:2800:220:1::1", (C.INTERNET, True)),
        ("192.168.7.7", (C.UNCLASSIFIED, False)),  # private, in no known range
        ("127.0.0.1", (C.SAME_NODE, False)),
    ],
)
def test_classify(remote: str, expected: tuple[TrafficClass, bool]) -> None:
    assert CLASSIFIER.classify(remote) == expected


def test_a_malformed_address_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        Classifier(TOPOLOGY).classify("not-an-ip")


def test_an_entry_that_cannot_be_decoded_is_counted_and_skipped() -> None:
    good = flow("10.1.0.5", "10.1.2.9", 10, 0)
    bad = flow("10.1.0.5", "bogus", 10, 0, entry_id=2)
    deltas, state = totals(None, [good, bad])
    assert deltas.malformed == 1 and len(state) == 1
    assert deltas.bytes == {TrafficKey(SPARK, C.OTHER_ZONE, False, TX): 10}


def flow(
    src: str,
    dst: str,
    orig: int,
    reply: int,
    *,
    reply_src: str | None = None,
    reply_dst: str | None = None,
    entry_id: int | None = 1,
    sport: int = 40000,
) -> Flow:
    return Flow(6, src, dst, sport, 443, reply_src or dst, reply_dst or src, orig, reply, entry_id)


def test_attribution_follows_nat_and_direction() -> None:
    # the pod opens a connection to the internet, masqueraded to the node's address
    out = flow("10.1.0.5", "93.184.216.34", 100, 900, reply_dst="10.0.0.10")
    assert attribute(out, CLASSIFIER) == ((SPARK, C.INTERNET, True, True),)
    # a client in another zone reaches the pod through a Service (DNAT to the pod)
    inbound = flow("10.1.2.9", "172.20.0.1", 50, 5000, reply_src="10.1.0.5")
    assert attribute(inbound, CLASSIFIER) == ((SPARK, C.OTHER_ZONE, False, False),)
    # two pods of this node: a row each
    local = flow("10.1.0.5", "10.1.0.6", 10, 20)
    assert attribute(local, CLASSIFIER) == (
        (SPARK, C.SAME_NODE, False, True),
        (DRIVER, C.SAME_NODE, False, False),
    )
    # hostNetwork pods and the node's own processes: the node's bucket, both ways
    host_out = flow("10.0.0.10", "10.0.1.20", 1, 2)
    assert attribute(host_out, CLASSIFIER) == ((None, C.OTHER_ZONE, False, True),)
    host_in = flow("10.0.1.20", "10.0.0.10", 1, 2)
    assert attribute(host_in, CLASSIFIER) == ((None, C.OTHER_ZONE, False, False),)
    # IPv6
    v6 = flow("fd00:1::5", "fd00:2::9", 1, 2)
    assert attribute(v6, CLASSIFIER) == ((V6POD, C.OTHER_ZONE, False, True),)


def totals(
    state: dict[FlowKey, Seen] | None, flows: list[Flow], first: bool = False
) -> tuple[Deltas, dict[FlowKey, Seen]]:
    return account(state or {}, flow_entries(flows), decoded, Classifier(TOPOLOGY), first=first)


def test_deltas_across_reads() -> None:
    a1 = flow("10.1.0.5", "10.1.2.9", 1000, 300)
    d, state = totals(None, [a1])
    assert d.bytes == {
        TrafficKey(SPARK, C.OTHER_ZONE, False, TX): 1000,
        TrafficKey(SPARK, C.OTHER_ZONE, False, RX): 300,
    }
    a2 = flow("10.1.0.5", "10.1.2.9", 1500, 300)
    d, state = totals(state, [a2])
    assert d.bytes == {TrafficKey(SPARK, C.OTHER_ZONE, False, TX): 500}
    # the entry expires: forgotten, nothing negative, nothing counted twice
    d, state = totals(state, [])
    assert d.bytes == {} and d.expired_entries == 1 and state == {}
    # the same tuple comes back as a new entry (a new id): all of it is new
    a3 = flow("10.1.0.5", "10.1.2.9", 200, 100, entry_id=2)
    d, state = totals(state, [a3])
    assert d.bytes[TrafficKey(SPARK, C.OTHER_ZONE, False, TX)] == 200
    assert d.new_entries == 1


def test_counters_below_the_last_read_are_a_new_entry() -> None:
    """Without ids (/proc), a reused tuple shows as counters going down: count them as new."""
    d, state = totals(None, [flow("10.1.0.5", "10.1.2.9", 5000, 5000, entry_id=None)])
    d, state = totals(state, [flow("10.1.0.5", "10.1.2.9", 100, 40, entry_id=None)])
    assert d.bytes == {
        TrafficKey(SPARK, C.OTHER_ZONE, False, TX): 100,
        TrafficKey(SPARK, C.OTHER_ZONE, False, RX): 40,
    }
    assert d.reset_entries == 1


def test_the_first_read_after_a_restart_is_a_baseline() -> None:
    """Entries that were there when the agent started were counted by the process before it."""
    old = flow("10.1.0.5", "93.184.216.34", 10**9, 10**6)
    d, state = totals(None, [old], first=True)
    assert d.bytes == {} and d.entries == 1
    d, state = totals(state, [flow("10.1.0.5", "93.184.216.34", 10**9 + 10, 10**6)])
    assert d.bytes == {TrafficKey(SPARK, C.INTERNET, True, TX): 10}


def test_a_reused_pod_ip_keeps_old_connections_with_the_old_pod() -> None:
    old = flow("10.1.0.5", "10.1.2.9", 100, 100)
    _, state = totals(None, [old])
    # the pod is gone; a new pod gets its IP; the old entry lingers and moves a last few bytes
    reused = Topology(**{**TOPOLOGY.__dict__, "pods": {"10.1.0.5": NEWPOD}})
    new = flow("10.1.0.5", "10.1.2.9", 70, 0, entry_id=9, sport=50000)
    entries = flow_entries([flow("10.1.0.5", "10.1.2.9", 110, 100), new])
    deltas, _ = account(state, entries, decoded, Classifier(reused), first=False)
    assert deltas.bytes == {
        TrafficKey(SPARK, C.OTHER_ZONE, False, TX): 10,
        TrafficKey(NEWPOD, C.OTHER_ZONE, False, TX): 70,
    }


@given(st.lists(st.lists(st.integers(0, 10**9), min_size=3, max_size=3), min_size=1, max_size=8))
def test_property_growth_is_counted_once_and_never_negative(steps: list[list[int]]) -> None:
    """Three entries that live through every read, their counters growing by arbitrary steps:
    after a baseline first read, the deltas add up to exactly the growth, none negative."""
    state: dict[FlowKey, Seen] = {}
    values = [0, 0, 0]
    flows = [flow("10.1.0.5", "10.1.2.9", 0, 0, entry_id=i) for i in range(3)]
    _, state = account({}, flow_entries(flows), decoded, CLASSIFIER, first=True)
    counted = 0
    for step in steps:
        values = [v + s for v, s in zip(values, step, strict=True)]
        flows = [flow("10.1.0.5", "10.1.2.9", v, v, entry_id=i) for i, v in enumerate(values)]
        d, state = account(state, flow_entries(flows), decoded, CLASSIFIER, first=False)
        assert all(v > 0 for v in d.bytes.values())
        counted += sum(d.bytes.values())
    assert counted == 2 * sum(values)


def test_price_rows_by_hand() -> None:
    pricer = NetworkPricer(PriceBook.load(), "aws")
    deltas = {
        TrafficKey(SPARK, C.OTHER_ZONE, False, TX): 50 * GIB,  # 50 x 0.01 = 0.50
        TrafficKey(SPARK, C.OTHER_ZONE, False, RX): 30 * GIB,  # 30 x 0.01 = 0.30
        TrafficKey(DRIVER, C.INTERNET, True, TX): 20 * GIB,  # 10 x 0.09 + 10 x 0.085 + NAT 0.90
        TrafficKey(None, C.SAME_ZONE, False, TX): 99 * GIB,  # free
    }
    dollars, month = price(deltas, pricer, 10_230 * GIB)
    assert round(dollars[TrafficKey(SPARK, C.OTHER_ZONE, False, TX)], 2) == 0.50
    assert round(dollars[TrafficKey(SPARK, C.OTHER_ZONE, False, RX)], 2) == 0.30
    # 0.90 + 0.85 + 20 x 0.045 = 2.65
    assert round(dollars[TrafficKey(DRIVER, C.INTERNET, True, TX)], 2) == 2.65
    assert dollars[TrafficKey(None, C.SAME_ZONE, False, TX)] == 0.0
    assert month == 10_250 * GIB
