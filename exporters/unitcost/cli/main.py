"""`unitcost`: the command group; each command lives in its own module of this package."""

from __future__ import annotations

import logging
import sys

import click

from unitcost import __version__
from unitcost.cli.chargeback import chargeback
from unitcost.cli.controller import controller
from unitcost.cli.exporter import demo, report, serve, validate
from unitcost.cli.forecast import forecast
from unitcost.cli.gpu_agent import gpu_agent
from unitcost.cli.recommend import recommend


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


for command in (
    serve,
    demo,
    report,
    validate,
    gpu_agent,
    recommend,
    controller,
    chargeback,
    forecast,
):
    main.add_command(command)
