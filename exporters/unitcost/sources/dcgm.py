"""dcgm-exporter's series, read back from Prometheus with the Prometheus API client: GPU
activity (DCGM_FI_PROF_GR_ENGINE_ACTIVE, else DCGM_FI_DEV_GPU_UTIL / 100), framebuffer used
and power, per device or MIG instance, with the pod and DRA labels dcgm-exporter writes.

Most GPU clusters already run dcgm-exporter; with `gpu_activity.source: dcgm` the cluster
exporter reads it instead of needing the GPU agent's NVML readings (docs/gpu.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from unitcost.config.file import GpuActivityConfig
from unitcost.data.activity import DcgmReading
from unitcost.sources.poller import Poller
from unitcost.sources.promapi import PrometheusAPI, Sample

PROF_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"  # ratio 0..1
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # percent 0..100
FB_USED = "DCGM_FI_DEV_FB_USED"  # MiB
POWER = "DCGM_FI_DEV_POWER_USAGE"  # W
MIB = 2.0**20

#: (Hostname, gpu, GPU_I_ID): one device or MIG instance.
Key = tuple[str, str, str]


def _key(labels: Mapping[str, str]) -> Key:
    return (labels.get("Hostname", ""), labels.get("gpu", ""), labels.get("GPU_I_ID", ""))


def _by_key(samples: list[Sample]) -> dict[Key, Sample]:
    out: dict[Key, Sample] = {}
    for sample in samples:
        key = _key(sample.labels)
        if key not in out or sample.labels.get("pod"):  # a pod-attributed series wins
            out[key] = sample
    return out


def readings_from(
    active: list[Sample], util: list[Sample], memory: list[Sample], power: list[Sample]
) -> list[DcgmReading]:
    """The query results joined per device; activity from the profiling field where the
    device has it (MIG instances and data-centre GPUs), else the coarse utilisation."""
    prof, coarse = _by_key(active), _by_key(util)
    fb, watts = _by_key(memory), _by_key(power)
    out = []
    for key in sorted(set(prof) | set(coarse)):
        sample = prof.get(key) or coarse[key]
        field = PROF_ACTIVE if key in prof else GPU_UTIL
        activity = sample.value if key in prof else sample.value / 100.0
        labels = sample.labels
        claim = labels.get("dra_claim_name", "")
        claim_ns = labels.get("dra_claim_namespace", "")
        used = fb.get(key)
        drawn = watts.get(key) or watts.get((key[0], key[1], ""))  # power is per GPU
        out.append(
            DcgmReading(
                node=key[0],
                gpu=key[1],
                uuid=labels.get("UUID", ""),
                mig_profile=labels.get("GPU_I_PROFILE", "") or labels.get("dra_mig_profile", ""),
                namespace=labels.get("namespace", ""),
                pod=labels.get("pod", ""),
                dra_claim=f"{claim_ns}/{claim}" if claim else "",
                dra_pool=labels.get("dra_pool_name", ""),
                dra_device=labels.get("dra_device_name", ""),
                activity=max(0.0, min(1.0, activity)),
                field=field,
                memory_used_bytes=used.value * MIB if used is not None else None,
                power_watts=drawn.value if drawn is not None else None,
            )
        )
    return out


class DcgmReader:
    """Reads the latest dcgm-exporter samples through one Prometheus (or Thanos, Mimir)."""

    def __init__(self, api: PrometheusAPI, selector: str = "") -> None:
        self.api = api
        #: Extra matchers for every query, e.g. `cluster="prod"` on a global Prometheus.
        self.selector = selector

    def _query(self, name: str) -> list[Sample]:
        return self.api.query(f"{name}{{{self.selector}}}" if self.selector else name)

    def read(self) -> list[DcgmReading]:
        return readings_from(
            self._query(PROF_ACTIVE),
            self._query(GPU_UTIL),
            self._query(FB_USED),
            self._query(POWER),
        )


def dcgm_poller(settings: GpuActivityConfig) -> Poller[list[DcgmReading]]:
    """Polls dcgm-exporter's series every `poll_seconds` (status `source="dcgm"`)."""
    reader = DcgmReader(PrometheusAPI(settings.prometheus_url, timeout_s=30.0), settings.selector)
    return Poller(
        "dcgm",
        reader.read,
        settings.poll_seconds,
        summary=lambda readings: f"{len(readings)} DCGM devices",
    )
