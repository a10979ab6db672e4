"""The NVML reader against the fake's scenarios, and start-up against the real pynvml."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pynvml
import pytest

from support.fake_nvml import (
    GIB,
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    FakeNvml,
    scenario_eight_gpus,
    scenario_lost_gpu,
    scenario_unsupported_fields,
)
from unitcost.sources.gpu.nvml import NvmlReader, NvmlUnavailable


@pytest.fixture
def started() -> Iterator[list[NvmlReader]]:
    readers: list[NvmlReader] = []
    yield readers
    for reader in readers:
        reader.close()


def _start(nvml: FakeNvml, started: list[NvmlReader], timeout: float = 5.0) -> NvmlReader:
    reader = NvmlReader(nvml, timeout=timeout)
    reader.start()
    started.append(reader)
    return reader


def test_eight_gpus(started: list[NvmlReader]) -> None:
    reader = _start(scenario_eight_gpus().nvml, started)
    readings = reader.read()
    assert [r.gpu for r in readings] == [str(i) for i in range(8)]
    assert all(r.up and r.model == "NVIDIA A100-SXM4-80GB" for r in readings)
    assert [r.utilization for r in readings] == [0.85] * 4 + [0.0] * 4
    assert readings[0].power_watts == 350.0  # 350000 mW
    assert readings[0].energy_joules == 1000.0  # 1e6 mJ
    assert readings[5].memory_used_bytes == 15 * GIB
    assert readings[5].memory_total_bytes == 80 * GIB
    assert [p.pid for p in readings[3].processes] == [1003, 900]
    assert readings[7].processes == ()


def test_unsupported_fields_are_skipped_not_fatal(started: list[NvmlReader]) -> None:
    readings = _start(scenario_unsupported_fields().nvml, started).read()
    t4, a10g = readings
    assert t4.up and a10g.up
    assert (t4.power_watts, t4.energy_joules, t4.processes) == (None, None, ())
    assert t4.utilization == 0.12
    assert a10g.utilization is None and a10g.power_watts == 60.0


def test_lost_gpu_goes_down_others_keep_reporting(started: list[NvmlReader]) -> None:
    scenario = scenario_lost_gpu()
    reader = _start(scenario.nvml, started)
    assert all(r.up for r in reader.read())
    scenario.nvml.gpus[1].lost = True
    first, second = reader.read()
    assert first.up and first.utilization == 0.3
    assert not second.up and second.error == "GPU is lost"
    # The lost device keeps its identity from the last good read.
    assert (second.uuid, second.model) == ("GPU-l4-1", "NVIDIA L4")
    assert second.memory_used_bytes is None
    scenario.nvml.gpus[1].lost = False  # e.g. after a reset
    assert all(r.up for r in reader.read())


def test_hung_call_times_out_and_is_not_stacked(started: list[NvmlReader]) -> None:
    scenario = scenario_lost_gpu()
    reader = _start(scenario.nvml, started, timeout=0.2)
    reader.read()
    hang = threading.Event()
    scenario.nvml.gpus[0].hang = hang
    try:
        began = time.perf_counter()
        first, second = reader.read()
        assert time.perf_counter() - began < 2.0
        assert not first.up and "timed out after 0.2s" in first.error
        assert second.up
        calls = scenario.nvml.calls["nvmlDeviceGetName"]
        first, _ = reader.read()  # still hung: reported down without a new call
        assert not first.up and "still hung" in first.error
        assert scenario.nvml.calls["nvmlDeviceGetName"] == calls + 1  # only GPU 1 was read
    finally:
        hang.set()
    deadline = time.monotonic() + 5
    while not all(r.up for r in reader.read()):
        assert time.monotonic() < deadline, "GPU 0 did not come back after the hang ended"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (NVML_ERROR_LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 not found"),
        (NVML_ERROR_DRIVER_NOT_LOADED, "driver not loaded"),
    ],
)
def test_startup_names_what_is_missing(code: int, message: str) -> None:
    with pytest.raises(NvmlUnavailable, match=message):
        NvmlReader(FakeNvml([], init_error=code)).start()


def test_real_pynvml_without_a_driver_names_the_library() -> None:
    # This machine has nvidia-ml-py but no NVIDIA driver: the real library is missing.
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("a real NVML is present here")
    with pytest.raises(NvmlUnavailable, match=r"libnvidia-ml\.so\.1 not found"):
        NvmlReader().start()


def test_read_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="before start"):
        NvmlReader(FakeNvml([])).read()
