"""Simulated vLLM token counters for the simulator's LLM inference pods.

Real vLLM serves `vllm:prompt_tokens_total` and `vllm:generation_tokens_total` (label
`model_name`) on each pod's own /metrics; Prometheus' Kubernetes service discovery adds the
`namespace` and `pod` target labels that join them to unitcost's pod cost. The simulator has no
pods to scrape, so the demo exporter serves the same counters itself, with `namespace` and
`pod` written as labels, on an endpoint of their own beside /metrics (the CLI registers it):
they are not unitcost's series, and the rules cannot tell them from real ones
(docs/unit-economics.md).

Counters advance by each pod's throughput times *wall-clock* seconds: Prometheus' `rate()`
measures real time, so the demo's cost per token stays right whatever the simulator's speed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from unitcost.metrics.catalogue import Binary, Kind, MetricSpec, Section
from unitcost.metrics.family import MetricFamily

#: vLLM's own families, as its servers name them: not unitcost's, so not in its catalogue.
SIMULATED_VLLM = Section("Simulated vLLM token counters (demo only)")
PROMPT_TOKENS = MetricSpec(
    "vllm:prompt_tokens_total",
    "Number of prefill tokens processed (simulated vLLM).",
    Kind.COUNTER,
    "{token}",
    ("namespace", "pod", "model_name"),
    SIMULATED_VLLM,
    frozenset({Binary.EXPORTER}),
)
GENERATION_TOKENS = MetricSpec(
    "vllm:generation_tokens_total",
    "Number of generation tokens processed (simulated vLLM).",
    Kind.COUNTER,
    "{token}",
    ("namespace", "pod", "model_name"),
    SIMULATED_VLLM,
    frozenset({Binary.EXPORTER}),
)
#: Served models: (name, parameters in billions). Small models on 1-2 GPUs, large on 4-8.
SMALL_MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3")
LARGE_MODELS = ("meta-llama/Llama-3.1-70B-Instruct", "Qwen/Qwen2.5-72B-Instruct")
#: Generated tokens per second per fully busy GPU for an ~8B model with batched decoding
#: (order of magnitude of published vLLM offline benchmarks); unknown GPUs get the default.
GENERATION_PER_GPU_SECOND = {
    "NVIDIA H100 80GB HBM3": 3000.0,
    "NVIDIA A100-SXM4-80GB": 1800.0,
    "NVIDIA A100-SXM4-40GB": 1500.0,
    "NVIDIA A10G": 450.0,
}
DEFAULT_GENERATION_PER_GPU_SECOND = 1000.0
#: A ~70B model decodes about this many times slower per GPU than an ~8B one.
LARGE_MODEL_SLOWDOWN = 8.0
#: Batch inference reads long prompts: prompt tokens per generated token.
PROMPT_PER_GENERATED = 3.0


@dataclass(frozen=True, slots=True)
class Serving:
    """A running inference pod as vLLM would describe it."""

    namespace: str
    pod: str
    workload: str
    gpu_model: str
    gpus: int
    #: Mean activity of its GPUs (0..1).
    utilization: float


def served_model(workload: str, gpus: int) -> str:
    """The model a workload serves: stable for its name, sized to its GPU count."""
    choices = LARGE_MODELS if gpus >= 4 else SMALL_MODELS
    digest = hashlib.sha1(workload.encode()).digest()
    return choices[digest[0] % len(choices)]


def generation_rate(s: Serving) -> float:
    """Generated tokens per second of a serving pod now."""
    per_gpu = GENERATION_PER_GPU_SECOND.get(s.gpu_model, DEFAULT_GENERATION_PER_GPU_SECOND)
    if served_model(s.workload, s.gpus) in LARGE_MODELS:
        per_gpu /= LARGE_MODEL_SLOWDOWN
    return per_gpu * s.gpus * max(0.0, min(1.0, s.utilization))


class SimulatedVllm:
    """Token counters per (namespace, pod, model_name); a pod's counters go when it does."""

    def __init__(self) -> None:
        self._totals: dict[tuple[str, str, str], tuple[float, float]] = {}

    def advance(self, serving: Iterable[Serving], seconds: float) -> None:
        seconds = max(0.0, seconds)
        totals: dict[tuple[str, str, str], tuple[float, float]] = {}
        for s in serving:
            key = (s.namespace, s.pod, served_model(s.workload, s.gpus))
            prompt, generated = self._totals.get(key, (0.0, 0.0))
            rate = generation_rate(s)
            # Whole tokens, as real counters have.
            totals[key] = (
                prompt + round(rate * PROMPT_PER_GENERATED * seconds),
                generated + round(rate * seconds),
            )
        self._totals = totals

    def families(self) -> list[MetricFamily]:
        """The counters now; safe to call from another thread than advance() (it swaps the
        totals whole)."""
        prompt, generation = PROMPT_TOKENS.family(), GENERATION_TOKENS.family()
        for key, (p, g) in sorted(self._totals.items()):
            prompt.add(key, p)
            generation.add(key, g)
        return [prompt, generation]
