"""The demo's shared-GPU pools: every way of holding a GPU is there, each priced through the
per-device ledger, and both ledgers (device and node) balance."""

from __future__ import annotations

import math
from collections import Counter

from support.invariant import assert_frame_invariant
from unitcost.costmodel.allocation import AllocationPolicy, allocate
from unitcost.pricing import PriceBook
from unitcost.sources.simulator import SimulatedCluster
from unitcost.sources.simulator.gpu_pools import gpu_pools, with_gpu_pools


def test_the_pools_show_every_kind_of_hold_and_balance() -> None:
    frame = allocate(gpu_pools(1.79e9), PriceBook.load(), AllocationPolicy())
    assert_frame_invariant(frame)
    kinds = Counter(h.kind for ledger in frame.gpu_devices for h in ledger.holdings)
    assert kinds == {"replica": 26, "mig": 22, "dra": 16, "fraction": 8}
    for ledger in frame.gpu_devices:
        held = math.fsum(h.hourly for h in ledger.holdings)
        assert math.isclose(held + ledger.unheld, ledger.hourly, rel_tol=1e-9)
    mig = [x for x in frame.gpu_devices if x.device.node == "sim-mig-h100-0"]
    # 10 x 3g + 12 x 1g = 42 of 56 compute slices: two GPUs' worth unheld
    assert math.isclose(sum(x.unheld for x in mig), 2 * mig[0].hourly, rel_tol=1e-9)
    shared = [h for x in frame.gpu_devices for h in x.holdings if h.claim.endswith("router-0-gpu")]
    assert [h.share for h in shared] == [0.5, 0.5]


def test_laid_beside_the_simulated_cluster() -> None:
    snapshot = SimulatedCluster(seed=1, nodes=20, pods=300).snapshot()
    both = with_gpu_pools(snapshot)
    assert len(both.nodes) == len(snapshot.nodes) + 6
    frame = allocate(both, PriceBook.load(), AllocationPolicy())
    assert_frame_invariant(frame)
