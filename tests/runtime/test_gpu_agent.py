"""The fake-NVML scenarios end to end: agent -> HTTP /metrics, pods resolved from a loopback
API server, processes mapped through /proc/<pid>/cgroup files, the idle rule over a clock."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.catalogue import assert_conforms
from support.fake_apiserver import TOKEN, FakeCluster, running
from support.fake_nvml import (
    Scenario,
    scenario_eight_gpus,
    scenario_lost_gpu,
    scenario_mig_h100,
    scenario_shared_gpu,
    scenario_unsupported_fields,
)
from support.prometheus import Promtool
from unitcost.costmodel.gpu_idle import IdleTracker
from unitcost.metrics.catalogue import Binary
from unitcost.pricing import PriceBook
from unitcost.pricing.gpu import GpuPricer
from unitcost.runtime.gpu_agent import GpuAgent
from unitcost.runtime.server import ExporterServer, serve_in_background
from unitcost.sources.gpu.nvml import NvmlReader
from unitcost.sources.gpu.pods import PodDirectory

NODE = "gpu-node-1"
T0 = 1_700_000_000.0
WINDOW = 1800.0
BOOK = PriceBook.load()
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Running:
    scenario: Scenario
    cluster: FakeCluster | None
    agent: GpuAgent
    server: ExporterServer
    now: list[float] = field(default_factory=lambda: [T0])

    def scrape(self, advance: float = 0.0) -> Series:
        """Advance the clock, collect once, and read /metrics over HTTP."""
        self.now[0] += advance
        self.agent.collect_once()
        host, port = self.server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        out: Series = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                # Prometheus drops empty label values at ingestion; do the same.
                labels = tuple(sorted((k, v) for k, v in s.labels.items() if v))
                out[(s.name, labels)] = s.value
        return out

    def set_phase(self, uid: str, phase: str) -> None:
        assert self.cluster is not None
        namespace, name = self.scenario.pods[uid]
        self.cluster.apply("pods", _pod_json(uid, namespace, name, phase))


def _pod_json(uid: str, namespace: str, name: str, phase: str) -> dict[str, object]:
    return {
        "metadata": {"namespace": namespace, "name": name, "uid": uid},
        "spec": {"nodeName": NODE},
        "status": {"phase": phase},
    }


def get(series: Series, name: str, **labels: str) -> float | None:
    """The value of the one series with these labels (Prometheus drops empty label values)."""
    want = tuple(sorted((k, v) for k, v in labels.items() if v))
    return series.get((name, want))


def names(series: Series, name: str) -> set[tuple[tuple[str, str], ...]]:
    return {labels for (n, labels) in series if n == name}


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[object]:
    stack: list[tuple[GpuAgent, ExporterServer, object]] = []

    def _start(scenario: Scenario, *, with_pods: bool = True) -> Running:
        proc = scenario.write_proc(tmp_path / "proc")
        cluster, api, directory = None, None, None
        if with_pods:
            cluster = FakeCluster()
            for uid, (namespace, name) in scenario.pods.items():
                cluster.apply("pods", _pod_json(uid, namespace, name, "Running"))
            api_cm = running(cluster)
            api = api_cm.__enter__()
            token = tmp_path / "token"
            token.write_text(TOKEN)
            directory = PodDirectory(f"{api.url}/api/v1/pods", token_path=token)
        reader = NvmlReader(scenario.nvml, timeout=2.0)
        reader.start()
        now = [T0]
        agent = GpuAgent(
            reader,
            GpuPricer(BOOK),
            NODE,
            pods=directory,
            proc_root=proc,
            tracker=IdleTracker(0.01, WINDOW),
            clock=lambda: now[0],
        )
        server = ExporterServer(("127.0.0.1", 0), agent)
        serve_in_background(server)
        stack.append((agent, server, api_cm if api is not None else None))
        return Running(scenario, cluster, agent, server, now)

    yield _start
    for agent, server, api_cm in stack:
        server.shutdown()
        server.server_close()
        agent.close()
        if api_cm is not None:
            api_cm.__exit__(None, None, None)  # type: ignore[attr-defined]


def test_eight_gpus_idle_dollars_after_the_window(start_agent: object) -> None:
    run: Running = start_agent(scenario_eight_gpus())  # type: ignore[operator]
    a100 = BOOK.gpu_hourly("NVIDIA A100-SXM4-80GB")
    s = run.scrape()
    assert all(get(s, "unitcost_gpu_up", node=NODE, gpu=str(i)) == 1 for i in range(8))
    assert get(s, "unitcost_gpu_utilization_ratio", node=NODE, gpu="0") == 0.85
    assert get(s, "unitcost_gpu_power_watts", node=NODE, gpu="0") == 350
    assert get(s, "unitcost_gpu_energy_joules_total", node=NODE, gpu="0") == 1000
    allocated = [get(s, "unitcost_gpu_allocated", node=NODE, gpu=str(i)) for i in range(8)]
    assert allocated == [1, 1, 1, 1, 1, 1, 0, 0]
    # GPU 3 also runs a host process: only the pod's memory is the pod's.
    assert (
        get(
            s,
            "unitcost_gpu_pod_memory_used_bytes",
            node=NODE,
            gpu="3",
            namespace="llm-batch",
            pod="worker-3",
        )
        == 13 * 2**30
    )
    assert len(names(s, "unitcost_gpu_pod_memory_used_bytes")) == 6
    idle = {
        dict(labels)["gpu"]: s[("unitcost_gpu_idle_cost_dollars_per_hour", labels)]
        for labels in names(s, "unitcost_gpu_idle_cost_dollars_per_hour")
    }
    assert idle == {str(i): 0.0 for i in range(6)}  # free GPUs are node idle capacity: no series
    s = run.scrape(WINDOW - 1)
    assert (
        get(
            s,
            "unitcost_gpu_idle_cost_dollars_per_hour",
            node=NODE,
            gpu="4",
            namespace="notebooks",
            pod="worker-4",
        )
        == 0
    )
    assert get(s, "unitcost_gpu_low_activity_seconds", node=NODE, gpu="4") == WINDOW - 1
    s = run.scrape(1)
    for gpu in ("4", "5"):
        pod = f"worker-{gpu}"
        assert (
            get(
                s,
                "unitcost_gpu_idle_cost_dollars_per_hour",
                node=NODE,
                gpu=gpu,
                namespace="notebooks",
                pod=pod,
            )
            == a100
        )
    for gpu in ("0", "1", "2", "3"):
        pod = f"worker-{gpu}"
        assert (
            get(
                s,
                "unitcost_gpu_idle_cost_dollars_per_hour",
                node=NODE,
                gpu=gpu,
                namespace="llm-batch",
                pod=pod,
            )
            == 0
        )
    # Activity comes back on GPU 4: no idle dollars from the next collect.
    run.scenario.nvml.gpus[4].utilization = 30
    s = run.scrape(30)
    assert (
        get(
            s,
            "unitcost_gpu_idle_cost_dollars_per_hour",
            node=NODE,
            gpu="4",
            namespace="notebooks",
            pod="worker-4",
        )
        == 0
    )
    assert get(s, "unitcost_gpu_low_activity_seconds", node=NODE, gpu="4") == 0
    assert get(s, "unitcost_source_up", source="pods") == 1


def test_mig_slices_priced_at_their_share_with_the_process_rule(start_agent: object) -> None:
    scenario = scenario_mig_h100()
    run: Running = start_agent(scenario)  # type: ignore[operator]
    h100 = BOOK.gpu_hourly("NVIDIA H100 80GB HBM3")
    s = run.scrape()
    assert get(s, "unitcost_gpu_up", node=NODE, gpu="0/13", mig_profile="1g.10gb") == 1
    assert (
        get(
            s,
            "unitcost_gpu_info",
            node=NODE,
            gpu="0/1",
            model="NVIDIA H100 80GB HBM3",
            mig_profile="3g.40gb",
        )
        == 1
    )
    assert (
        get(s, "unitcost_gpu_utilization_ratio", node=NODE, gpu="0/1", mig_profile="3g.40gb")
        is None
    )
    assert get(s, "unitcost_gpu_allocated", node=NODE, gpu="0") is None  # the parent is not a GPU
    assert get(s, "unitcost_gpu_power_watts", node=NODE, gpu="0") == 120
    allocated = {
        g: get(s, "unitcost_gpu_allocated", node=NODE, gpu=g, mig_profile=p)
        for g, p in (
            ("0/1", "3g.40gb"),
            ("0/5", "2g.20gb"),
            ("0/13", "1g.10gb"),
            ("0/14", "1g.10gb"),
        )
    }
    assert allocated == {"0/1": 1, "0/5": 0, "0/13": 1, "0/14": 0}
    # The embedder's process exits but its pod still holds the slice: no process, no memory
    # movement -> activity 0, and after the window the slice's share is idle dollars.
    slice_13 = scenario.nvml.gpus[0].mig[2]  # type: ignore[index]
    slice_13.processes.clear()
    s = run.scrape(30)
    assert get(s, "unitcost_gpu_allocated", node=NODE, gpu="0/13", mig_profile="1g.10gb") == 1
    s = run.scrape(WINDOW)
    cost = get(
        s,
        "unitcost_gpu_idle_cost_dollars_per_hour",
        node=NODE,
        gpu="0/13",
        namespace="inference",
        pod="embedder-0",
    )
    assert cost == pytest.approx(h100 / 7)
    assert (
        get(
            s,
            "unitcost_gpu_idle_cost_dollars_per_hour",
            node=NODE,
            gpu="0/1",
            namespace="inference",
            pod="llama-0",
        )
        == 0
    )
    # Memory moving by >= 1% of the slice counts as activity.
    slice_13.memory_used += 512 * 2**20
    s = run.scrape(30)
    assert (
        get(
            s,
            "unitcost_gpu_idle_cost_dollars_per_hour",
            node=NODE,
            gpu="0/13",
            namespace="inference",
            pod="embedder-0",
        )
        == 0
    )
    # The pod finishes: the slice is free again (node idle capacity), its series go.
    embedder = next(uid for uid, (_, name) in scenario.pods.items() if name == "embedder-0")
    run.set_phase(embedder, "Succeeded")
    s = run.scrape(30)
    assert get(s, "unitcost_gpu_allocated", node=NODE, gpu="0/13", mig_profile="1g.10gb") == 0
    assert not [
        labels
        for labels in names(s, "unitcost_gpu_idle_cost_dollars_per_hour")
        if ("gpu", "0/13") in labels
    ]


def test_lost_gpu_reports_down_and_the_other_keeps_reporting(start_agent: object) -> None:
    scenario = scenario_lost_gpu()
    run: Running = start_agent(scenario)  # type: ignore[operator]
    s = run.scrape()
    assert get(s, "unitcost_gpu_up", node=NODE, gpu="1") == 1
    scenario.nvml.gpus[1].lost = True
    s = run.scrape(30)
    assert get(s, "unitcost_gpu_up", node=NODE, gpu="1") == 0
    assert get(s, "unitcost_gpu_memory_total_bytes", node=NODE, gpu="1") is None
    assert get(s, "unitcost_gpu_info", node=NODE, gpu="1", model="NVIDIA L4") == 1
    assert get(s, "unitcost_gpu_up", node=NODE, gpu="0") == 1
    assert get(s, "unitcost_gpu_utilization_ratio", node=NODE, gpu="0") == 0.3
    assert get(s, "unitcost_source_up", source="nvml") == 1


def test_unsupported_fields_leave_no_series(start_agent: object) -> None:
    run: Running = start_agent(scenario_unsupported_fields(), with_pods=False)  # type: ignore[operator]
    s = run.scrape()
    assert get(s, "unitcost_gpu_up", node=NODE, gpu="0") == 1
    assert get(s, "unitcost_gpu_power_watts", node=NODE, gpu="0") is None
    assert get(s, "unitcost_gpu_energy_joules_total", node=NODE, gpu="0") is None
    assert get(s, "unitcost_gpu_utilization_ratio", node=NODE, gpu="0") == 0.12
    assert get(s, "unitcost_gpu_utilization_ratio", node=NODE, gpu="1") is None
    assert get(s, "unitcost_gpu_power_watts", node=NODE, gpu="1") == 60
    assert get(s, "unitcost_source_up", source="pods") is None  # no pod list configured


def test_processes_from_several_pods(start_agent: object) -> None:
    scenario = scenario_shared_gpu()
    run: Running = start_agent(scenario)  # type: ignore[operator]
    s = run.scrape()
    memory = {
        dict(labels)["pod"]: s[("unitcost_gpu_pod_memory_used_bytes", labels)]
        for labels in names(s, "unitcost_gpu_pod_memory_used_bytes")
    }
    assert memory == {"svc-0": 2 * 2**30, "svc-1": 6 * 2**30, "svc-2": 6 * 2**30}
    s = run.scrape(WINDOW)
    # One owner per GPU (rules take max by (node, gpu)): most memory, ties to the lowest UID.
    idle = {
        labels: s[("unitcost_gpu_idle_cost_dollars_per_hour", labels)]
        for labels in names(s, "unitcost_gpu_idle_cost_dollars_per_hour")
    }
    assert idle == {
        (("gpu", "0"), ("namespace", "team-b"), ("node", NODE), ("pod", "svc-1")): BOOK.gpu_hourly(
            "NVIDIA A10G"
        )
    }


def _shares(s: Series, measure: str) -> dict[str, float]:
    return {
        dict(labels)["pod"]: s[("unitcost_gpu_pod_share_ratio", labels)]
        for labels in names(s, "unitcost_gpu_pod_share_ratio")
        if dict(labels)["measure"] == measure
    }


def test_time_sliced_pods_get_shares_by_memory_and_sm_time(start_agent: object) -> None:
    run: Running = start_agent(scenario_shared_gpu())  # type: ignore[operator]
    s = run.scrape()
    # framebuffer 2, 6, 6 GiB of 14 held by pods
    assert _shares(s, "memory") == pytest.approx(
        {"svc-0": 2 / 14, "svc-1": 6 / 14, "svc-2": 6 / 14}
    )
    # SM samples: svc-0 (10+30)/2 = 20%, svc-1 60%, svc-2 none: 0.2/0.8 and 0.6/0.8
    assert _shares(s, "sm") == pytest.approx({"svc-0": 0.25, "svc-1": 0.75, "svc-2": 0.0})
    # the next read asks only for samples newer than the last (NVML: Not Found): nobody ran a
    # kernel since, so SM time splits evenly; memory is unchanged
    s = run.scrape(15)
    assert _shares(s, "sm") == pytest.approx(dict.fromkeys(("svc-0", "svc-1", "svc-2"), 1 / 3))
    assert _shares(s, "memory") == pytest.approx(
        {"svc-0": 2 / 14, "svc-1": 6 / 14, "svc-2": 6 / 14}
    )


def test_shares_without_process_utilization_or_process_memory(start_agent: object) -> None:
    scenario = scenario_shared_gpu()
    gpu = scenario.nvml.gpus[0]
    gpu.unsupported.add("process_utilization")
    gpu.processes[1].used_memory = None  # NVML_VALUE_NOT_AVAILABLE
    run: Running = start_agent(scenario)  # type: ignore[operator]
    s = run.scrape()
    assert _shares(s, "sm") == {}  # the device does not give it: no made-up SM share
    assert _shares(s, "memory") == pytest.approx(dict.fromkeys(("svc-0", "svc-1", "svc-2"), 1 / 3))
    assert get(s, "unitcost_gpu_up", node=NODE, gpu="0") == 1  # never marks the device down


def test_without_a_pod_list_pods_are_named_by_uid(start_agent: object) -> None:
    scenario = scenario_lost_gpu()
    run: Running = start_agent(scenario, with_pods=False)  # type: ignore[operator]
    s = run.scrape()
    (uid,) = scenario.pods
    assert get(s, "unitcost_gpu_pod_memory_used_bytes", node=NODE, gpu="0", pod=uid) == 2**30


def test_pod_list_outage_keeps_the_last_good_list(start_agent: object) -> None:
    run: Running = start_agent(scenario_lost_gpu())  # type: ignore[operator]
    run.scrape()
    assert run.cluster is not None
    run.cluster.faults.http_500["pods"] = 1
    s = run.scrape(30)
    assert get(s, "unitcost_source_up", source="pods") == 0
    assert (
        get(
            s,
            "unitcost_gpu_pod_memory_used_bytes",
            node=NODE,
            gpu="0",
            namespace="ml",
            pod="trainer",
        )
        == 2**30
    )


def test_promtool_accepts_the_exposition(start_agent: object, promtool: Promtool) -> None:
    run: Running = start_agent(scenario_mig_h100())  # type: ignore[operator]
    run.scrape()
    current = run.agent.current
    assert current is not None
    result = promtool(current.exposition)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[:2000]


def test_every_family_is_the_catalogues(start_agent: object) -> None:
    """MIG slices, a whole GPU and a pod list: the agent serves its telemetry, GPU info and idle
    dollars exactly as the catalogue declares them for the gpu-agent."""
    run: Running = start_agent(scenario_mig_h100())  # type: ignore[operator]
    run.scrape()
    current = run.agent.current
    assert current is not None
    seen = assert_conforms(current.exposition.decode(), Binary.GPU_AGENT)
    assert {
        "unitcost_gpu_info",
        "unitcost_gpu_idle_cost_dollars_per_hour",
        "unitcost_gpu_up",
    } <= seen
