"""The demo's simulated traffic: rates by owner, priced by hand, series gone with their pod."""

from __future__ import annotations

from unitcost.data.gpu import PodRef
from unitcost.data.model import CapacityType, Node, Owner, Pod, PodPhase, Provider, Snapshot
from unitcost.data.network import GIB, Direction, TrafficClass, TrafficKey
from unitcost.data.resources import Resources
from unitcost.pricing import PriceBook
from unitcost.sources.simulator.network import SimulatedTraffic

NODE = Node(
    "n1", Provider.AWS, "m5.xlarge", "us-east-1", "us-east-1a", CapacityType.ON_DEMAND, "general",
    Resources(4, 16 * GIB), Resources(4, 16 * GIB),
)  # fmt: skip
SPARK = Pod(
    "etl", "exec-1", "u1", "n1", PodPhase.RUNNING, Resources(1, GIB),
    owner=Owner("SparkApplication", "nightly"),
)  # fmt: skip
LLM = Pod(
    "llm", "batch-0", "u2", "n1", PodPhase.RUNNING, Resources(1, GIB),
    owner=Owner("Job", "team-llm-abc123"),
)  # fmt: skip


def test_traffic_by_owner_priced_by_hand() -> None:
    traffic = SimulatedTraffic(PriceBook.load())
    traffic.advance(Snapshot(1000.0, (NODE,), (SPARK, LLM)))  # the start: nothing yet
    traffic.advance(Snapshot(1100.0, (NODE,), (SPARK, LLM)))
    spark = PodRef("etl", "exec-1", "u1", "Running")
    zone_tx = ("n1", TrafficKey(spark, TrafficClass.OTHER_ZONE, False, Direction.TRANSMIT))
    # 6 MB/s x 100 s = 600,000,000 bytes; AWS $0.01/GiB: 600e6 / 2^30 x 0.01 = $0.005588
    assert traffic.bytes[zone_tx] == 600_000_000
    assert round(traffic.dollars[zone_tx], 6) == 0.005588
    llm = PodRef("llm", "batch-0", "u2", "Running")
    out = ("n1", TrafficKey(llm, TrafficClass.INTERNET, True, Direction.TRANSMIT))
    # 2 MB/s x 100 s = 200 MB through NAT: (0.09 + 0.045) x 200e6 / 2^30 = $0.025146
    assert traffic.bytes[out] == 200_000_000
    assert round(traffic.dollars[out], 6) == 0.025146
    node = ("n1", TrafficKey(None, TrafficClass.SAME_ZONE, False, Direction.TRANSMIT))
    assert traffic.bytes[node] == 20_000_000 and traffic.dollars[node] == 0.0
    # the LLM pod ends: its series go; the Spark pod's keep counting
    traffic.advance(Snapshot(1200.0, (NODE,), (SPARK,)))
    assert out not in traffic.bytes and traffic.bytes[zone_tx] == 1_200_000_000
