"""MIG enumeration: slices as GPUs of their own, profile and share of the device."""

from __future__ import annotations

import pytest

from support.fake_nvml import GIB, scenario_mig_h100
from unitcost.sources.gpu.mig import profile_name
from unitcost.sources.gpu.nvml import NvmlReader


def test_h100_in_mig_mode_with_mixed_profiles() -> None:
    reader = NvmlReader(scenario_mig_h100().nvml)
    reader.start()
    try:
        readings = {r.gpu: r for r in reader.read()}
    finally:
        reader.close()
    assert list(readings) == ["0", "0/1", "0/5", "0/13", "0/14", "1"]
    parent = readings["0"]
    assert parent.mig_parent and parent.utilization is None and parent.power_watts == 120.0
    assert parent.memory_used_bytes == 24 * GIB  # the slices' use, seen on the device
    profiles = {g: (r.mig_profile, round(r.share, 4)) for g, r in readings.items() if r.mig_profile}
    assert profiles == {
        "0/1": ("3g.40gb", round(3 / 7, 4)),
        "0/5": ("2g.20gb", round(2 / 7, 4)),
        "0/13": ("1g.10gb", round(1 / 7, 4)),
        "0/14": ("1g.10gb", round(1 / 7, 4)),
    }
    busy = readings["0/1"]
    assert busy.utilization is None  # NVML gives none for MIG devices
    assert busy.uuid == "MIG-3g-0001" and busy.model == "NVIDIA H100 80GB HBM3"
    assert [p.pid for p in busy.processes] == [2001]
    assert busy.memory_total_bytes == 40_192 * 2**20
    whole = readings["1"]
    assert not whole.mig_parent and whole.mig_profile == "" and whole.utilization == 0.4


@pytest.mark.parametrize(
    ("name", "slices", "memory_mb", "expected"),
    [
        ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", 1, 9856, "1g.10gb"),
        ("NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb", 3, 19968, "1c.3g.20gb"),
        ("NVIDIA H100 80GB HBM3 MIG 1g.10gb+me", 1, 9856, "1g.10gb+me"),
        ("MIG device", 2, 20480, "2g.20gb"),  # no profile in the name: from attributes
    ],
)
def test_profile_name(name: str, slices: int, memory_mb: float, expected: str) -> None:
    assert profile_name(name, slices, memory_mb) == expected
