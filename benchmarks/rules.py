"""`make bench-rules`: the real Prometheus scrapes a 150,000-pod exporter with every file in
recording-rules/ loaded, and reports each rule group's evaluation time
(prometheus_rule_group_last_duration_seconds from Prometheus' own /metrics, read 5 times 20 s
apart: median and worst). Target: every group <= 5 s. Prints a table and merges the figures
into benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.prometheus import exporter, http_get, prometheus, wait_until  # noqa: E402
from unitcost.sources.promapi import PrometheusAPI  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results.json"
TARGET_S = 5.0


def rule_group_durations(url: str) -> dict[str, tuple[float, float]]:
    """rule group -> (last duration s, samples it wrote), from Prometheus' own metrics."""
    text = http_get(f"{url}/metrics", timeout=30).decode()
    durations: dict[str, float] = {}
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            group = s.labels.get("rule_group", "").split(";")[-1]
            if s.name == "prometheus_rule_group_last_duration_seconds":
                durations[group] = s.value
            elif s.name == "prometheus_rule_group_last_evaluation_samples":
                samples[group] = s.value
    return {g: (d, samples.get(g, 0.0)) for g, d in durations.items()}


def rule_durations(url: str) -> dict[str, float]:
    """record name -> its last evaluation time (s), from /api/v1/rules: which rule is slow."""
    body = json.loads(http_get(f"{url}/api/v1/rules", timeout=30))
    out: dict[str, float] = {}
    for group in body["data"]["groups"]:
        for rule in group["rules"]:
            name = rule.get("name", "")
            out[name] = max(out.get(name, 0.0), float(rule.get("evaluationTime", 0.0)))
    return out


def bench_rules(pods: int, rounds: int = 5) -> dict[str, object]:
    nodes = max(10, pods // 30)
    config = {
        "source": {"kind": "simulator", "simulator": {"seed": 1, "nodes": nodes, "pods": pods}},
        "collect_interval_seconds": 120,
    }
    rule_files = sorted((ROOT / "recording-rules").glob("*.yml"))
    with tempfile.TemporaryDirectory(prefix="unitcost-bench-rules-") as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(config))
        with (
            exporter(path, timeout=600) as proc,
            prometheus(
                [proc.address],
                rule_files,
                simulated_vllm=[proc.address],  # the LLM rules evaluate on tokens too
                scrape_interval="30s",
                evaluation_interval="15s",
                timeout=120,
            ) as prom,
        ):
            # A 150k-pod scrape outlasts the default 10 s scrape timeout on a busy machine.
            cfg_path = prom.workdir / "prometheus.yml"
            cfg = yaml.safe_load(cfg_path.read_text())
            cfg["global"]["scrape_timeout"] = "30s"
            cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            urllib.request.urlopen(
                urllib.request.Request(f"{prom.url}/-/reload", method="POST"), timeout=30
            ).close()
            api = PrometheusAPI(prom.url)

            def scraped() -> float | None:
                result = api.query('scrape_samples_scraped{job="unitcost"}')
                value = result[0].value if result else 0.0
                return value if value > pods else None

            started = time.monotonic()
            series = wait_until(scraped, timeout=600, interval=2.0, what="the first full scrape")
            ingest_s = time.monotonic() - started
            time.sleep(30.0)  # every group evaluates on the scraped data
            # One reading is one moment of a busy machine: read every group's last duration
            # `rounds` times, 20 s apart, and report the median and the worst.
            readings: dict[str, list[float]] = {}
            written: dict[str, float] = {}
            load: list[float] = []
            rules: dict[str, float] = {}
            for _ in range(rounds):
                for group, (seconds, samples) in rule_group_durations(prom.url).items():
                    readings.setdefault(group, []).append(seconds)
                    written[group] = samples
                for name, seconds in rule_durations(prom.url).items():
                    rules[name] = max(rules.get(name, 0.0), seconds)
                load.append(os.getloadavg()[0])
                time.sleep(20.0)
    return {
        "pods": pods,
        "scraped_series": series,
        "first_full_scrape_wait_s": ingest_s,
        "rounds": rounds,
        "load_average_1m": load,
        "rule_groups": {
            g: {
                "median_s": statistics.median(values),
                "max_s": max(values),
                "samples": written[g],
            }
            for g, values in readings.items()
        },
        "slowest_group_median_s": max(statistics.median(v) for v in readings.values()),
        "slowest_group_max_s": max(max(v) for v in readings.values()),
        "slowest_rules_s": dict(sorted(rules.items(), key=lambda kv: -kv[1])[:12]),
        "target_s": TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=150_000)
    args = parser.parse_args()
    result = bench_rules(args.pods)
    print(f"rule groups on {args.pods} pods ({result['scraped_series']:.0f} series scraped):")
    groups = result["rule_groups"]
    assert isinstance(groups, dict)
    print(f"  {'group':32s} {'median':>9s} {'max':>9s} {'samples':>9s}")
    for name, figures in sorted(groups.items()):
        flag = "" if figures["max_s"] <= TARGET_S else "  SLOW (> 5 s)"
        print(
            f"  {name:32s} {figures['median_s']:8.3f}s {figures['max_s']:8.3f}s "
            f"{figures['samples']:9.0f}{flag}"
        )
    print(f"load average (1 min) during the readings: {result['load_average_1m']}")
    print("slowest rules:")
    slowest = result["slowest_rules_s"]
    assert isinstance(slowest, dict)
    for name, seconds in slowest.items():
        print(f"  {name:60s} {seconds:8.3f} s")
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["rules"] = result
    RESULTS.write_text(json.dumps(data, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
