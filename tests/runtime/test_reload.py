"""Hot reload: a changed price book or config is applied at the next collect; a broken one
leaves the last good version in force, is logged once, and is exported as a metric."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from unitcost.config.file import Config, load_config
from unitcost.config.kubernetes import with_flags
from unitcost.pricing import PriceBook
from unitcost.runtime.collector import Collector
from unitcost.runtime.reload import Reloader
from unitcost.sources.simulator import SimulatedCluster, SimulatorSource

CONFIG = """
source:
  kind: simulator
  simulator: {{nodes: 4, pods: 40}}
pricebooks: [prices.yaml]
budgets:
  teams: {{ml-research: {budget}}}
"""
PRICES = """
fallback:
  cpu_core_hour: {cpu}
"""

Samples = list[tuple[str, dict[str, str], float]]


def samples(collector: Collector) -> Samples:
    collected = collector.collect_once()
    return [
        (s.name, dict(s.labels), s.value)
        for f in text_string_to_metric_families(collected.exposition.decode())
        for s in f.samples
    ]


def get(found: Samples, name: str, **labels: str) -> float | None:
    for n, got, v in found:
        if n == name and all(got.get(k) == want for k, want in labels.items()):
            return v
    return None


def write(path: Path, text: str) -> None:
    """Write and move the mtime on, as an editor or a ConfigMap update would."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config, prices = tmp_path / "unitcost.yaml", tmp_path / "prices.yaml"
    write(config, CONFIG.format(budget=1000))
    write(prices, PRICES.format(cpu=0.04))
    return config, prices


def start(config_path: Path) -> tuple[Collector, Reloader]:
    config = load_config(config_path)
    book = PriceBook.load(config.pricebook_paths())
    sim = SimulatedCluster(seed=3, nodes=4, pods=40, start=1.7e9)
    reloader = Reloader(config_path, config, clock=lambda: 1.7e9 + 60)
    collector = Collector(
        SimulatorSource(sim, speed=0.0),
        book,
        config,
        extra_families=(reloader.families,),
        clock=lambda: 1.7e9,
    )
    return collector, reloader


def test_changes_apply_and_broken_files_keep_the_last_good(
    files: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    config_path, prices = files
    collector, reloader = start(config_path)
    first = samples(collector)
    assert get(first, "unitcost_budget_dollars", team="ml-research") == 1000
    assert get(first, "unitcost_config_reload_success", file=str(prices)) == 1
    fallback_before = collector.pricebook.book.fallback.cpu_core_hour
    assert not reloader.check(collector.reconfigure)  # nothing changed: nothing reloaded

    write(prices, PRICES.format(cpu=0.08))
    write(config_path, CONFIG.format(budget=2500))
    assert reloader.check(collector.reconfigure)
    now = samples(collector)
    assert get(now, "unitcost_budget_dollars", team="ml-research") == 2500
    assert collector.pricebook.book.fallback.cpu_core_hour == 0.08 != fallback_before
    assert get(now, "unitcost_config_last_reload_timestamp_seconds", file=str(prices)) == 1.7e9 + 60

    # A broken price book: nothing swapped in, the error logged once, the file blamed alone.
    good = collector.pricebook
    write(prices, "fallback:\n  cpu_core_hour: -1\n")
    with caplog.at_level(logging.ERROR, logger="unitcost.runtime.reload"):
        assert not reloader.check(collector.reconfigure)
        reloader.request()  # SIGHUP retries the same broken file: logged once only
        assert not reloader.check(collector.reconfigure)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(prices) in errors[0] and "cpu_core_hour" in errors[0]
    assert collector.pricebook is good
    broken = samples(collector)
    assert get(broken, "unitcost_config_reload_success", file=str(prices)) == 0
    assert get(broken, "unitcost_config_reload_success", file=str(config_path)) == 1
    assert get(broken, "unitcost_budget_dollars", team="ml-research") == 2500

    # A broken config (invalid YAML): the config file is blamed, the budget stays.
    write(prices, PRICES.format(cpu=0.08))
    write(config_path, "budgets: {teams: [unclosed\n")
    assert not reloader.check(collector.reconfigure)
    broken = samples(collector)
    assert get(broken, "unitcost_config_reload_success", file=str(config_path)) == 0
    assert get(broken, "unitcost_budget_dollars", team="ml-research") == 2500

    # Fixed: applied, and every file reports success again.
    write(config_path, CONFIG.format(budget=3000))
    assert reloader.check(collector.reconfigure)
    fixed = samples(collector)
    assert get(fixed, "unitcost_budget_dollars", team="ml-research") == 3000
    assert {v for n, _, v in fixed if n == "unitcost_config_reload_success"} == {1.0}


def test_a_deleted_file_is_a_failed_reload_not_a_crash(files: tuple[Path, Path]) -> None:
    config_path, prices = files
    collector, reloader = start(config_path)
    prices.unlink()
    assert not reloader.check(collector.reconfigure)
    assert get(samples(collector), "unitcost_config_reload_success", file=str(prices)) == 0
    write(prices, PRICES.format(cpu=0.05))
    assert reloader.check(collector.reconfigure)


def test_source_changes_are_logged_as_needing_a_restart(
    files: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    config_path, _ = files
    collector, reloader = start(config_path)
    write(config_path, CONFIG.format(budget=1000).replace("pods: 40", "pods: 80"))
    with caplog.at_level(logging.WARNING, logger="unitcost.runtime.reload"):
        assert reloader.check(collector.reconfigure)
    assert any("source changed: applied after a restart" in r.getMessage() for r in caplog.records)


def test_a_reload_reads_the_file_as_start_up_did(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`serve --context prod` lays the flag over every load of the file, the reloads too: the
    flag is not taken for a source change, and stays in force."""
    config_path = tmp_path / "unitcost.yaml"
    write(config_path, "source: {kind: kubernetes}\nbudgets: {teams: {etl: 1}}\n")

    def load(path: Path) -> Config:
        config = load_config(path)
        kube = with_flags(config.source.kubernetes, None, "prod")
        return config.model_copy(
            update={"source": config.source.model_copy(update={"kubernetes": kube})}
        )

    reloader = Reloader(config_path, load(config_path), load=load)
    applied: list[Config] = []
    write(config_path, "source: {kind: kubernetes}\nbudgets: {teams: {etl: 2}}\n")
    with caplog.at_level(logging.WARNING, logger="unitcost.runtime.reload"):
        assert reloader.check(lambda config, _book: applied.append(config))
    assert [(c.budgets.for_team("etl"), c.source.kubernetes.context) for c in applied] == [
        (2, "prod")
    ]
    assert not [r.getMessage() for r in caplog.records]
