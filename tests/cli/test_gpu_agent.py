"""`unitcost gpu-agent`: start-up errors, and pricing from the node's instance type."""

from __future__ import annotations

from pathlib import Path

import pynvml
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from support.fake_nvml import scenario_eight_gpus
from unitcost.cli.gpu_agent import AgentOptions, build_agent
from unitcost.cli.main import main
from unitcost.data.model import CapacityType, Provider
from unitcost.metrics.catalogue import GPU_IDLE_COST
from unitcost.pricing import PriceBook
from unitcost.pricing.gpu import GpuPricer, host_node
from unitcost.runtime.gpu_agent import GpuAgent


def _real_nvml_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


@pytest.mark.skipif(_real_nvml_present(), reason="a real NVML is present here")
def test_no_driver_exits_at_startup_naming_the_library() -> None:
    result = CliRunner().invoke(
        main, ["gpu-agent", "--node-name", "n1", "--listen", "127.0.0.1:0", "--duration", "1"]
    )
    assert result.exit_code == 2
    assert "libnvidia-ml.so.1 not found" in result.output


def test_node_name_is_required_and_read_from_env() -> None:
    result = CliRunner().invoke(main, ["gpu-agent"], env={"NODE_NAME": ""})
    assert result.exit_code == 2 and "--node-name" in result.output
    result = CliRunner().invoke(main, ["gpu-agent", "--listen", "nope"], env={"NODE_NAME": "n1"})
    assert result.exit_code == 2 and "--listen must be HOST:PORT, got 'nope'" in result.output


def test_instance_type_prices_gpus_at_the_node_price() -> None:
    options = AgentOptions(node="n1", provider="aws", instance_type="p4d.24xlarge", pods_url="none")
    agent = build_agent(options, scenario_eight_gpus().nvml)
    try:
        book = PriceBook.load()
        node = host_node(
            "n1", Provider.AWS, "p4d.24xlarge", CapacityType.ON_DEMAND, 8, "NVIDIA A100-SXM4-80GB"
        )
        expected = book.node_price(node).dollars_per_hour["gpu"] / 8
        assert agent.pricer.method == "node"
        assert agent.pricer.hourly("NVIDIA A100-SXM4-80GB") == pytest.approx(expected)
        assert 0 < expected < 32.7726 / 8  # the GPUs' share of the instance, not all of it
        assert agent.pricer.hourly("NVIDIA A100-SXM4-80GB", 3 / 7) == pytest.approx(
            expected * 3 / 7
        )
    finally:
        agent.close()


def test_unknown_instance_type_falls_back_to_the_model_rate() -> None:
    book = PriceBook.load()
    node = host_node("n1", Provider.AWS, "x9.unknown", CapacityType.ON_DEMAND, 8, "NVIDIA L4")
    pricer = GpuPricer(book, node)
    assert pricer.method == "model" and pricer.hourly("NVIDIA L4") == book.gpu_hourly("NVIDIA L4")


def test_instance_type_without_provider_is_an_error() -> None:
    from unitcost.base.errors import InputError

    with pytest.raises(InputError, match="--instance-type needs --provider"):
        build_agent(
            AgentOptions(node="n1", instance_type="p4d.24xlarge"), scenario_eight_gpus().nvml
        )


def _idle_series(agent: GpuAgent) -> list[float]:
    text = agent.collect_once().exposition.decode()
    return [
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == GPU_IDLE_COST.name
    ]


def test_the_agent_writes_idle_dollars_only_as_the_configured_producer(tmp_path: Path) -> None:
    """gpu_idle.producer in the agent's --config (the chart mounts the cluster exporter's):
    `agent` (the default) writes idle GPU dollars, `dcgm` leaves them to the cluster
    exporter: never two producers for one device."""
    scenario = scenario_eight_gpus()
    proc = scenario.write_proc(tmp_path / "proc")
    dcgm = tmp_path / "dcgm.yaml"
    dcgm.write_text(
        yaml.safe_dump(
            {
                "gpu_idle": {"producer": "dcgm"},
                "gpu_activity": {"source": "dcgm", "prometheus_url": "http://prometheus:9090"},
            }
        )
    )
    default = tmp_path / "default.yaml"
    default.write_text("{}\n")
    written = {}
    for name, path in (("agent", default), ("dcgm", dcgm)):
        options = AgentOptions(node="n1", pods_url="none", proc_root=proc, config_path=path)
        agent = build_agent(options, scenario_eight_gpus().nvml)
        try:
            written[name] = _idle_series(agent)
        finally:
            agent.close()
    assert len(written["agent"]) > 0
    assert written["dcgm"] == []
