"""Command-line options shared by every `unitcost` command (cluster exporter and GPU agent)."""

from __future__ import annotations

from pathlib import Path

import click

CONFIG_HELP = "Config file (docs/config.md). Default: the embedded demo config (simulated cluster)."

pricebook_option = click.option(
    "--pricebook",
    "pricebooks",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Price book file layered over the bundled defaults (repeatable; docs/pricebook.md).",
)

duration_option = click.option(
    "--duration",
    default=0.0,
    type=click.FloatRange(min=0),
    show_default=True,
    help="Stop after this many seconds (0: run until SIGTERM or Ctrl-C).",
)
