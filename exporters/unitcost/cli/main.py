"""`unitcost`: the command group; each command lives in its own module of this package,
imported only when it runs (cli/lazy.py)."""

from __future__ import annotations

import logging
import sys

import click

from unitcost import __version__
from unitcost.cli.lazy import LazyCommand, LazyGroup

COMMANDS = {
    "serve": LazyCommand(
        "unitcost.cli.exporter:serve", "Serve /metrics for the configured source until SIGTERM."
    ),
    "demo": LazyCommand(
        "unitcost.cli.exporter:demo", "The exporter on a simulated cluster, with a live table."
    ),
    "report": LazyCommand(
        "unitcost.cli.exporter:report", "Read the source once and print cost per team."
    ),
    "validate": LazyCommand(
        "unitcost.cli.exporter:validate", "Check config, price books and which cluster serve reads."
    ),
    "gpu-agent": LazyCommand(
        "unitcost.cli.gpu_agent:gpu_agent", "Per-node GPU exporter: NVML, pods, MIG, idle dollars."
    ),
    "recommend": LazyCommand(
        "unitcost.cli.recommend:recommend", "Right-sizing and idle resources, with dollar savings."
    ),
    "controller": LazyCommand(
        "unitcost.cli.controller:controller", "Act on recommendations by the `actions:` policy."
    ),
    "chargeback": LazyCommand(
        "unitcost.cli.chargeback:chargeback", "A month's charges per team: FOCUS CSV/Parquet, HTML."
    ),
    "forecast": LazyCommand(
        "unitcost.cli.forecast:forecast", "Capacity demand per node pool, and when it runs out."
    ),
}


@click.group(
    "unitcost",
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="unitcost")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Log verbosity (logs go to stderr).",
)
def main(log_level: str) -> None:
    """unitcost: what every workload costs, per team and queue, how much is waste, and whether
    budgets hold. Exports cost-enriched metrics for Prometheus.

    Start with `unitcost demo` (a simulated multi-cloud cluster, nothing to configure).
    """
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
