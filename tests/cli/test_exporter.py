"""The command line: complete help, reports in every format, clear config errors, and the
simulator only when asked for by name."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from support.prometheus import exporter, http_get
from support.tools import tool
from unitcost.cli.exporter import SIMULATED_DCGM_PATH, SIMULATED_VLLM_PATH, source_endpoints
from unitcost.cli.main import main
from unitcost.data.model import Snapshot
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource


def commands() -> list[tuple[str, click.Command]]:
    assert isinstance(main, click.Group)
    return [("", main), *sorted(main.commands.items())]


@pytest.mark.parametrize(("name", "command"), commands())
def test_every_command_and_option_has_help(name: str, command: click.Command) -> None:
    assert command.help, name
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{name} {param.opts}"
    result = CliRunner().invoke(main, [*([name] if name else []), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.fixture
def simulated(tmp_path: Path) -> Path:
    """A config that asks for the simulated cluster."""
    config = tmp_path / "simulated.yaml"
    config.write_text("source: {kind: simulator}\nshared_cost: {namespaces: [kube-system]}\n")
    return config


def test_report_formats_agree(simulated: Path) -> None:
    runner = CliRunner()
    report = ["report", "--config", str(simulated)]
    as_json = json.loads(runner.invoke(main, [*report, "--format", "json"]).stdout)
    as_csv = list(
        csv.DictReader(io.StringIO(runner.invoke(main, [*report, "--format", "csv"]).stdout))
    )
    table = runner.invoke(main, report).stdout
    assert [r["team"] for r in as_json] == [r["team"] for r in as_csv]
    assert {"llm-training", "etl", "unassigned", "shared"} <= {r["team"] for r in as_json}
    for row_json, row_csv in zip(as_json, as_csv, strict=True):
        assert float(row_csv["cost_per_hour"]) == pytest.approx(row_json["cost_per_hour"])
    top = as_json[0]
    assert f"${top['cost_per_hour']:,.2f}" in table
    assert all(r["cost_per_hour"] >= 0 for r in as_json)


def test_config_error_exits_non_zero_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("budgets: {default: lots}\n")
    result = CliRunner().invoke(main, ["report", "--config", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: budgets.default: Input should be a valid number" in result.stderr


def test_bad_pricebook_and_missing_config_are_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["validate", "--config", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "none.yaml: cannot read" in missing.stderr
    book = tmp_path / "p.yaml"
    book.write_text("fallback: {gpu_hour: -2}\n")
    result = runner.invoke(main, ["validate", "--pricebook", str(book)])
    assert result.exit_code == 2 and f"{book}: fallback.gpu_hour" in result.stderr


def test_validate_summarises_a_good_setup(simulated: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "--config", str(simulated)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("config ok: source simulator") and "price book ok" in lines[1]
    assert lines[2].startswith("cluster: the simulator (made-up costs")


@pytest.mark.parametrize(
    "args", [["serve", "--listen", "127.0.0.1:0", "--duration", "5"], ["report"]]
)
def test_without_config_or_cluster_nothing_runs_and_the_error_says_why(
    args: list[str], no_cluster: Path
) -> None:
    """Never the simulator by default: made-up dollars must not reach a real Prometheus. One
    line on stderr and exit 2, before anything listens (no "serving" line is logged)."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("unitcost: error: no Kubernetes cluster found: looked for --kubeconfig")
    assert "$KUBECONFIG (unset)" in line and "~/.kube/config" in line
    assert "`unitcost demo` or `source.kind: simulator`" in line


def test_bad_listen_address_is_rejected() -> None:
    result = CliRunner().invoke(main, ["demo", "--listen", "nowhere", "--duration", "1"])
    assert result.exit_code == 2 and "--listen" in result.output


class _RealCluster:
    """Any source but the simulator: its vLLM pods serve their own counters."""

    name = "kubernetes"

    def snapshot(self) -> Snapshot:
        return Snapshot(timestamp=0.0)

    def close(self) -> None:
        return None


def test_only_the_simulator_gets_vllm_and_dcgm_endpoints() -> None:
    assert source_endpoints(_RealCluster()) == {}
    source = SimulatorSource(SimulatedCluster(seed=42, nodes=20, pods=300), speed=60)
    endpoints = source_endpoints(source)
    assert set(endpoints) == {SIMULATED_VLLM_PATH, SIMULATED_DCGM_PATH}
    before = endpoints[SIMULATED_DCGM_PATH]().decode()  # no GPU series before a snapshot
    assert [f.samples for f in text_string_to_metric_families(before)] == [[], [], [], []]
    snapshot = source.snapshot()
    text = endpoints[SIMULATED_VLLM_PATH]().decode()
    served = {s.labels["pod"] for f in text_string_to_metric_families(text) for s in f.samples}
    assert served == {s.pod for s in source.cluster.serving()} != set()
    dcgm = endpoints[SIMULATED_DCGM_PATH]().decode()
    devices = {
        (s.labels["Hostname"], s.labels["gpu"])
        for f in text_string_to_metric_families(dcgm)
        for s in f.samples
        if s.name == "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
    }
    assert devices == {(g.node, g.gpu) for g in snapshot.gpus} != set()


def test_serve_metrics_pass_promtool_and_vllm_counters_are_beside_them(tmp_path: Path) -> None:
    """The real `unitcost serve` process on the simulator source."""
    config = tmp_path / "unitcost.yaml"
    simulator = {"seed": 42, "nodes": 20, "pods": 300, "speed": 60}
    config.write_text(yaml.safe_dump({"source": {"kind": "simulator", "simulator": simulator}}))
    with exporter(config) as proc:
        metrics = http_get(f"{proc.url}/metrics")
        vllm = http_get(f"{proc.url}{SIMULATED_VLLM_PATH}").decode()
    result = subprocess.run(
        [tool("promtool"), "check", "metrics"],
        input=metrics,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")
    names = {f.name for f in text_string_to_metric_families(metrics.decode())}
    assert names and all(n.startswith("unitcost_") for n in names), sorted(names)
    assert "\nunitcost_simulated_data 1\n" in metrics.decode()  # asked for, and said so
    counters = {f.name: f for f in text_string_to_metric_families(vllm)}
    assert set(counters) == {"vllm:prompt_tokens", "vllm:generation_tokens"}
    assert all(f.type == "counter" and f.samples for f in counters.values())
