"""exporter_collector(): what `unitcost serve` does with a `clouds:` block."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from unitcost.cli.exporter import exporter_collector
from unitcost.config.file import load_config
from unitcost.pricing import PriceBook
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource

CONFIG = """\
source: {simulator: {nodes: 8, pods: 40}}
clouds:
  aws:
    pricing: {enabled: true, instance_types: [m5.xlarge]}
    billing: {enabled: true}
    correction: {mode: fixed, factor: 0.9}
    retries: {mode: standard, max_attempts: 1}
"""


def test_without_credentials_the_exporter_serves_with_the_parts_down(
    no_aws_machine: None, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    source = SimulatorSource(SimulatedCluster(seed=3, nodes=8, pods=40, start=1.79e9))
    collector = exporter_collector(config, PriceBook.load(), source, cloud_wait_seconds=10)
    cloud = collector.cloud
    assert cloud is not None
    try:
        collected = collector.collect_once()
    finally:
        cloud.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(collected.exposition.decode())
        for s in f.samples
    }
    assert samples[("unitcost_source_up", (("source", "aws-billing"),))] == 0
    assert samples[("unitcost_source_up", (("source", "aws-pricing"),))] == 0
    assert samples[("unitcost_source_up", (("source", "simulator"),))] == 1
    assert samples[("unitcost_cost_correction_factor", (("provider", "aws"),))] == 0.9
    assert collected.frame is not None and collected.frame.pods
