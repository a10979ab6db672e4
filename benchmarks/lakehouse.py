"""The lakehouse sink (docs/lakehouse.md): a demo and a benchmark.

python benchmarks/lakehouse.py demo [--warehouse DIR]
    A real Prometheus 3.5 backfilled with the chargeback tests' recorded cost series
    (tests/support/cost_history.py: 26 February -> 2 March 2025, two teams); `unitcost
    chargeback --format iceberg` writes its two billing months into a local SQL catalog and
    file warehouse; Ray Data (local, 2 CPUs) reads the table back and prints the totals per
    month, team and cluster beside the CSV export's. Run twice: still one copy.

python benchmarks/lakehouse.py bench [--workloads 20000] [--days 31] [--clusters 1]
    A month of FOCUS rows (workloads x days, three cost components spread over them, built
    by history/chargeback/focus.py from generated charges) written to an Iceberg table
    (SQL catalog, file warehouse in a temporary directory), then the same month again (the
    overwrite), against the Parquet export of the same rows as the baseline in the same
    run: seconds, rows per second, peak RSS of each phase (each in a fresh process).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PERIOD = "2025-03"


# --- demo --------------------------------------------------------------------------------------


def demo(warehouse: Path) -> None:
    from support import cost_history
    from support.prometheus import prometheus

    warehouse.mkdir(parents=True, exist_ok=True)
    catalog = [
        "--catalog-type=sql",
        f"--catalog-uri=sqlite:///{warehouse}/catalog.db",
        f"--warehouse=file://{warehouse}/data",
    ]
    at = "2025-03-02T12:00:00Z"  # the end of the recorded history
    expected: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    print("Prometheus 3.5, backfilled with 26 Feb - 2 Mar 2025 of recorded cost series ...")
    with prometheus([], history=cost_history.openmetrics()) as server:
        for month in ("2025-02", "2025-03"):
            common = ["--prometheus", server.url, "--period", month, "--at", at]
            exported = _unitcost("chargeback", *common)
            for row in csv.DictReader(io.StringIO(exported)):
                expected[(month, row["x_Team"], row["x_Cluster"])] += Decimal(row["BilledCost"])
            _unitcost("chargeback", *common, "--format=iceberg", *catalog)
    print(f"\nRead back through Ray Data from {warehouse}:")
    got = _ray_totals(warehouse)
    print(f"{'month':<8} {'team':<6} {'cluster':<16} {'Ray Data $':>14} {'CSV export $':>14}")
    for key in sorted(set(got) | set(expected)):
        month, team, cluster = key
        print(
            f"{month:<8} {team:<6} {cluster or '(none)':<16} "
            f"{got.get(key, Decimal(0)):>14.2f} {expected.get(key, Decimal(0)):>14.2f}"
        )
    cents = Decimal("0.01")
    same = {k: v.quantize(cents) for k, v in got.items()} == {
        k: v.quantize(cents) for k, v in expected.items()
    }
    print(f"\nequal to the CSV export to the cent: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


def _unitcost(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "unitcost", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"unitcost {' '.join(args[:1])} failed:\n{done.stderr}")
    if done.stderr.strip():
        print(done.stderr.strip())
    return done.stdout


def _ray_totals(warehouse: Path) -> dict[tuple[str, str, str], Decimal]:
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        dataset = ray.data.read_iceberg(
            table_identifier="finops.focus_chargeback",
            catalog_kwargs={
                "name": "unitcost",
                "type": "sql",
                "uri": f"sqlite:///{warehouse}/catalog.db",
                "warehouse": f"file://{warehouse}/data",
            },
        )
        dataset = dataset.map(lambda r: {**r, "month": r["BillingPeriodStart"].strftime("%Y-%m")})
        grouped = (
            dataset.groupby(["month", "x_Team", "x_Cluster"], num_partitions=2)
            .sum("BilledCost")
            .take_all()
        )
    finally:
        ray.shutdown()
    return {
        (g["month"], g["x_Team"], g["x_Cluster"]): Decimal(str(g["sum(BilledCost)"]))
        for g in grouped
    }


# --- bench -------------------------------------------------------------------------------------


def month_rows(workloads: int, days: int, clusters: int) -> list[dict[str, Any]]:
    """FOCUS rows as `unitcost chargeback` makes them, for `workloads` lines a day."""
    from unitcost.history.chargeback.focus import DEFAULT_VERSION, Issuer, project, rows
    from unitcost.history.chargeback.period import Period
    from unitcost.history.chargeback.query import Charge, ChargeKey, Charges

    period = Period.parse(PERIOD)
    components = ("compute", "shared", "storage")
    keys = []
    for w in range(workloads):
        team = f"team-{w % 40:02d}"
        keys.append(
            ChargeKey(
                f"cluster-{w % clusters:02d}",
                team,
                f"org-{w % 5}",
                f"cc-{w % 40:02d}",
                f"ns-{w % 400:03d}",
                f"q-{w % 12}",
                f"app-{w:05d}",
                components[w % 3],
            )
        )
    charges = [
        Charge(key, date(2025, 3, d), 0.25 + (i % 97) * 0.731 + d * 0.013, 24.0)
        for d in range(1, days + 1)
        for i, key in enumerate(keys)
    ]
    return project(rows(Charges(period, period.end, charges), Issuer()), DEFAULT_VERSION)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _hwm_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, workloads: int, days: int, clusters: int) -> None:
    """One phase in this process; prints one JSON line."""
    # Imported before the clock starts: the figures are the writes, not module loading.
    import pyarrow.parquet  # noqa: F401
    import pyiceberg.catalog.sql
    import pyiceberg.io.pyarrow  # noqa: F401

    from unitcost.config.lakehouse import CatalogSettings, LakehouseSettings
    from unitcost.history.chargeback.focus import write_parquet
    from unitcost.history.chargeback.iceberg import write_rows

    table = month_rows(workloads, days, clusters)
    before = _hwm_mib()
    with tempfile.TemporaryDirectory() as tmp:
        started, cpu = time.perf_counter(), _cpu_s()
        if name == "parquet":
            write_parquet(table, Path(tmp) / "month.parquet")
            seconds = time.perf_counter() - started
        else:
            settings = LakehouseSettings(
                catalog=CatalogSettings(
                    type="sql", uri=f"sqlite:///{tmp}/catalog.db", warehouse=f"file://{tmp}/wh"
                )
            )
            write_rows(table, settings)
            seconds = time.perf_counter() - started
            if name == "iceberg-again":  # the daily rerun: overwrite the same month
                started, cpu = time.perf_counter(), _cpu_s()
                write_rows(table, settings)
                seconds = time.perf_counter() - started
        cpu = _cpu_s() - cpu
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    print(
        json.dumps(
            {
                "phase": name,
                "rows": len(table),
                "seconds": seconds,
                "cpu_seconds": cpu,
                "rss_rows_mib": before,
                "rss_peak_mib": _hwm_mib(),
                "bytes": size,
            }
        )
    )


def bench(workloads: int, days: int, clusters: int) -> None:
    results = {}
    for name in ("parquet", "iceberg", "iceberg-again"):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "phase",
                name,
                f"--workloads={workloads}",
                f"--days={days}",
                f"--clusters={clusters}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    base = results["parquet"]
    print(
        f"A month of FOCUS rows: {workloads:,} workloads x {days} days = {base['rows']:,} rows, "
        f"{clusters} cluster(s)"
    )
    print(
        f"{'write':<28} {'seconds':>8} {'CPU s':>7} {'rows/s':>10} {'x Parquet':>10} "
        f"{'RSS rows MiB':>13} {'RSS peak MiB':>13} {'on disk MiB':>12}"
    )
    labels = {
        "parquet": "Parquet file (baseline)",
        "iceberg": "Iceberg, new table",
        "iceberg-again": "Iceberg, same month again",
    }
    for name, r in results.items():
        print(
            f"{labels[name]:<28} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} "
            f"{r['rows'] / r['seconds']:>10,.0f} "
            f"{r['cpu_seconds'] / base['cpu_seconds']:>10.2f} {r['rss_rows_mib']:>13,.0f} "
            f"{r['rss_peak_mib']:>13,.0f} {r['bytes'] / 2**20:>12.1f}"
        )
    print(
        "x Parquet: CPU seconds over the baseline's (wall seconds vary with a shared machine's "
        "load). RSS rows: the process's peak after building the rows (the command holds them "
        "too); RSS peak: after the write."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo_parser = sub.add_parser("demo")
    demo_parser.add_argument("--warehouse", type=Path, default=ROOT / ".cache" / "lakehouse-demo")
    for name in ("bench", "phase"):
        p = sub.add_parser(name)
        if name == "phase":
            p.add_argument("name", choices=("parquet", "iceberg", "iceberg-again"))
        p.add_argument("--workloads", type=int, default=20_000)
        p.add_argument("--days", type=int, default=31)
        p.add_argument("--clusters", type=int, default=1)
    args = parser.parse_args()
    if args.command == "demo":
        demo(args.warehouse.resolve())
    elif args.command == "bench":
        bench(args.workloads, args.days, args.clusters)
    else:
        phase(args.name, args.workloads, args.days, args.clusters)


if __name__ == "__main__":
    main()
