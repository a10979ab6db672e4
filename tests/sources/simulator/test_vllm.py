"""Simulated vLLM token counters: they grow with wall-clock time and GPU activity, start at 0
with the pod and go with it."""

from __future__ import annotations

from unitcost.sources.simulator import SimulatedCluster, SimulatorSource
from unitcost.sources.simulator.vllm import (
    GENERATION_PER_GPU_SECOND,
    PROMPT_PER_GENERATED,
    Serving,
    SimulatedVllm,
    served_model,
)

BUSY = Serving("ns", "vllm-0", "small-job", "NVIDIA A10G", 1, 1.0)


def counters(vllm: SimulatedVllm) -> dict[tuple[str, str], float]:
    return {(f.name, s[0][1]): s[1] for f in vllm.families() for s in f.samples}


def test_counters_integrate_throughput_over_wall_time() -> None:
    vllm = SimulatedVllm()
    assert served_model("small-job", 1).endswith(("8B-Instruct", "7B-Instruct-v0.3"))
    vllm.advance([BUSY], 10)
    vllm.advance([BUSY, Serving("ns", "idle-0", "x", "NVIDIA A10G", 1, 0.0)], 5)
    got = counters(vllm)
    generated = GENERATION_PER_GPU_SECOND["NVIDIA A10G"] * 15
    assert got[("vllm:generation_tokens_total", "vllm-0")] == generated
    assert got[("vllm:prompt_tokens_total", "vllm-0")] == generated * PROMPT_PER_GENERATED
    assert got[("vllm:generation_tokens_total", "idle-0")] == 0
    vllm.advance([], 5)  # the pods finished: their series go
    assert vllm.families()[0].samples == []


def test_simulator_source_serves_counters_by_wall_clock() -> None:
    now = [0.0]
    source = SimulatorSource(SimulatedCluster(seed=42), speed=60, clock=lambda: now[0])
    source.snapshot()
    serving = source.cluster.serving()
    assert serving and {s.namespace for s in serving} == {"batch-inference"}
    now[0] = 2.0  # two wall seconds = two simulated minutes
    snapshot = source.snapshot()
    running = {p.name for p in snapshot.pods if p.node}
    families = {f.name: f for f in source.vllm.families()}
    generated = families["vllm:generation_tokens_total"].samples
    assert {values[1] for values, _ in generated} <= running  # they join to real pods
    busy = [s for s in source.cluster.serving() if s.utilization > 0]
    # At most two seconds of the busiest throughput, not two minutes.
    assert 0 < max(v for _, v in generated) <= 2 * 3000 * 8
    assert busy
