"""GPU right-size advice: the smallest MIG profile a whole-GPU holder's peak fits, and its
saving, hand-computed."""

from __future__ import annotations

from unitcost.config.recommend import RecommendSettings
from unitcost.costmodel.gpu_rightsize import mig_fit
from unitcost.history.recommend.maths import GpuPeak, Inputs, Workload, recommend

GIB = 2.0**30


def test_the_smallest_profile_that_holds_the_peak() -> None:
    assert mig_fit("NVIDIA H100 80GB HBM3", 30 * GIB, 0.35).profile == "3g.40gb"  # type: ignore[union-attr]
    assert mig_fit("NVIDIA H100 80GB HBM3", 8 * GIB, 0.1).profile == "1g.10gb"  # type: ignore[union-attr]
    assert mig_fit("NVIDIA H100 80GB HBM3", 70 * GIB, 0.2) is None  # only the whole GPU
    assert mig_fit("NVIDIA H100 80GB HBM3", 8 * GIB, 0.9) is None  # busy: keep it
    assert mig_fit("NVIDIA A10G", 1 * GIB, 0.01) is None  # no MIG
    assert mig_fit("NVIDIA A30", 10 * GIB, 0.2).profile == "2g.12gb"  # type: ignore[union-attr]
    assert mig_fit("NVIDIA H200", 30 * GIB, 0.2).profile == "2g.35gb"  # type: ignore[union-attr]


def test_a_full_h100_that_fits_a_3g_slice() -> None:
    job = Workload("ml", "Job", "eval")
    peak = GpuPeak("ml", "eval-0", job, "NVIDIA H100 80GB HBM3", 1.0, 4.20, 30 * GIB, 0.35)
    (rec,) = recommend(Inputs(0.0, 86400.0, 300.0, gpu_peaks=(peak,)), RecommendSettings())
    assert rec.kind == "gpu-rightsize" and rec.pods == ("eval-0",)
    assert (rec.current, round(rec.recommended, 4)) == (1.0, round(3 / 7, 4))
    assert round(rec.savings_dollars_per_month, 2) == round(4.20 * 4 / 7 * 730, 2) == 1752.0
    assert "3g.40gb" in rec.reason


def test_idle_gpu_advice_names_the_claim_and_the_slice() -> None:
    from unitcost.history.recommend.maths import GpuIdleHistory, idle_gpus

    points = tuple((float(t), 2.0) for t in range(0, 5 * 3600 + 1, 300))
    held = GpuIdleHistory(
        "p5",
        "3",
        "serve",
        "router-a",
        Workload("serve", "Deployment", "router"),
        points,
        ("serve/shared",),
        ("3g.40gb",),
    )
    (rec,) = idle_gpus([held], 5 * 3600.0, 300.0, RecommendSettings())
    assert rec.reason == "1 GPU(s) idle for 5.0 h; claims serve/shared; MIG slices 3g.40gb"
