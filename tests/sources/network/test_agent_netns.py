"""The node agent with only its network collector on, over real conntrack: its exposition keeps
the catalogue's contract, and its dollars are its bytes at the price book's rates."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from support.catalogue import assert_conforms
from support.netns import NetnsNode, counted_as_sent, topology
from unitcost.data.network import GIB
from unitcost.metrics.catalogue import Binary
from unitcost.pricing import PriceBook
from unitcost.pricing.gpu import GpuPricer
from unitcost.pricing.network import NetworkPricer
from unitcost.runtime.gpu_agent import GpuAgent
from unitcost.runtime.network import NetworkCollector
from unitcost.sources.network.conntrack import NetlinkConntrack


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_the_agent_serves_priced_traffic(netns_node: NetnsNode) -> None:
    book = PriceBook.load()
    network = NetworkCollector(
        NetlinkConntrack(netns=netns_node.ns("node")),
        NetworkPricer(book, "aws"),
        "node-a",
        topology,
        accounting=lambda: True,
    )
    clock = iter([1_000.0, 1_015.0, 1_030.0])
    agent = GpuAgent(
        None, GpuPricer(book, None), "node-a", network=network, clock=lambda: next(clock)
    )
    try:
        agent.collect_once()  # the baseline
        netns_node.exchange(("peer", "10.1.2.9", 5031), "pod", 3_000_000, 1_000_000)
        netns_node.exchange(("inet", "93.184.216.34", 5032), "pod", 1_500_000, 0)
        text = agent.collect_once().exposition.decode()
    finally:
        agent.close()
    seen = assert_conforms(text, Binary.GPU_AGENT)
    assert {"unitcost_network_bytes_total", "unitcost_network_cost_dollars_total"} <= seen
    nbytes = samples(text, "unitcost_network_bytes_total")
    dollars = samples(text, "unitcost_network_cost_dollars_total")
    base = {"node": "node-a", "namespace": "spark", "pod": "exec-1"}

    def key(destination: str, nat: str, direction: str) -> tuple[tuple[str, str], ...]:
        labels = {**base, "destination": destination, "nat": nat, "direction": direction}
        return tuple(sorted(labels.items()))

    zone_tx = nbytes[key("other-zone", "false", "transmit")]
    zone_rx = nbytes[key("other-zone", "false", "receive")]
    inet_tx = nbytes[key("internet", "true", "transmit")]
    assert counted_as_sent(zone_tx, 3_000_000, reverse_payload=1_000_000)
    assert counted_as_sent(zone_rx, 1_000_000, reverse_payload=3_000_000)
    assert counted_as_sent(inet_tx, 1_500_000)
    # AWS: $0.01/GiB each way across zones; $0.09 + $0.045 NAT per GiB to the internet
    assert abs(dollars[key("other-zone", "false", "transmit")] - zone_tx / GIB * 0.01) < 1e-12
    assert abs(dollars[key("other-zone", "false", "receive")] - zone_rx / GIB * 0.01) < 1e-12
    assert abs(dollars[key("internet", "true", "transmit")] - inet_tx / GIB * 0.135) < 1e-12
    health = samples(text, "unitcost_source_up")
    assert health[(("source", "conntrack"),)] == 1.0
    assert samples(text, "unitcost_network_conntrack_entries")[(("node", "node-a"),)] >= 2
