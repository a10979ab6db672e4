"""What every `unitcost` command shares: options, the error exit, and serving a periodic
service (forecast, recommend, controller)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, Protocol

import click

from unitcost.collector import Collected, collect_every
from unitcost.server import ExporterServer, Serving, parse_listen, serving_until_stopped

log = logging.getLogger("unitcost")

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


def fail(message: str, prog: str = "unitcost") -> NoReturn:
    """Exit 2 with one line on stderr: the convention of every command."""
    click.echo(f"{prog}: error: {message}", err=True)
    sys.exit(2)


class PeriodicService(Serving, Protocol):
    """A service recomputed on an interval and served as /metrics (forecast, recommend)."""

    def run_once(self) -> Collected: ...


def serve_periodically(
    service: PeriodicService,
    listen: str,
    *,
    interval: float,
    duration: float,
    param_hint: str,
    on_stop: Callable[[], None],
) -> None:
    """Run `service` now and every `interval` seconds, serving its latest exposition on
    `listen`, until SIGTERM or `duration`; then `on_stop` (close clients)."""
    try:
        address = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from exc
    service.run_once()  # real data from the first scrape
    try:
        server = ExporterServer(address, service)
    except OSError as exc:
        fail(f"cannot listen on {listen}: {exc.strerror or exc}")
    host, port = server.server_address[:2]
    try:
        with serving_until_stopped(server, duration) as stop:
            log.info("serving http://%s:%s/metrics (source %s)", host, port, service.source.name)
            stop.wait(interval)  # the first run happened before listening
            collect_every(interval, service.run_once, stop)
    finally:
        on_stop()
