"""What every `unitcost` command shares: options, the error exit, the missing-extra exit, and
serving a periodic service (forecast, recommend, controller)."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

import click

from unitcost.config.otlp import OtlpSettings, with_flags
from unitcost.metrics.family import MetricFamily
from unitcost.runtime.collected import Collected, collect_every
from unitcost.runtime.server import ExporterServer, Serving, parse_listen, serving_until_stopped

log = logging.getLogger("unitcost")

CONFIG_HELP = "Config file (docs/config.md). Default: every field's default."

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


#: What each extra of pyproject.toml provides, as the modules unitcost imports from it.
EXTRAS: dict[str, tuple[str, ...]] = {
    "cloud": ("boto3", "google.cloud.monitoring_v3"),
    "gpu": ("pynvml", "pyroute2"),
    "forecast": ("statsmodels", "matplotlib"),
    "chargeback": ("pyarrow", "jinja2"),
    "lakehouse": ("pyiceberg", "pyarrow"),
    "otlp": (
        "opentelemetry.sdk.metrics",
        "opentelemetry.exporter.otlp.proto.grpc",
        "opentelemetry.exporter.otlp.proto.http",
    ),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def require_extra(extra: str, *modules: str) -> None:
    """Exit 2 with one line naming the extra to install when any of `modules` (default: all
    of the extra's) is missing. Called in a command's body, after its options are parsed, so
    `--help` works without the extra; nothing is imported here."""
    if all(_installed(m) for m in modules or EXTRAS[extra]):
        return
    ctx = click.get_current_context(silent=True)
    prog = f"unitcost {ctx.info_name}" if ctx is not None and ctx.parent is not None else "unitcost"
    fail(f"needs the '{extra}' extra: pip install 'unitcost[{extra}]'", prog=prog)


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


F = TypeVar("F", bound=Callable[..., Any])


def _endpoint(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"must start with http:// or https:// (got {value!r})")
    return value


def otlp_options(command: F) -> F:
    """`--otlp-endpoint URL --otlp-protocol grpc|http`, overriding the config's `otlp:`."""
    command = click.option(
        "--otlp-protocol",
        type=click.Choice(["grpc", "http"]),
        help="OTLP transport: grpc (port 4317) or http/protobuf (port 4318). Default: grpc.",
    )(command)
    command = click.option(
        "--otlp-endpoint",
        callback=_endpoint,
        help="Also push the metrics to this OpenTelemetry collector (docs/otlp.md).",
    )(command)
    return command


def otlp_settings(
    settings: OtlpSettings, endpoint: str | None, protocol: str | None
) -> OtlpSettings:
    """The config's `otlp:` with the flags applied. Called before anything starts, so OTLP
    turned on without the 'otlp' extra exits at once, naming it."""
    settings = with_flags(settings, endpoint, protocol)
    if settings.endpoint:
        require_extra("otlp")
    return settings


def start_otlp_for(
    settings: OtlpSettings, current: Callable[[], Collected | None]
) -> object | None:
    """Start pushing `current()` (a Collector's latest collect) over OTLP when configured.

    Shutdown (a last export) is registered for process exit, after the exporter has stopped,
    so serve and demo need one line each. The SDK is imported only when OTLP is on."""
    if not settings.endpoint:
        return None
    import atexit

    from unitcost.sinks.otlp import start_otlp

    publisher = start_otlp(settings, lambda: _families(current()))
    if publisher is not None:
        atexit.register(publisher.shutdown)
    return publisher


def _families(collected: Collected | None) -> tuple[MetricFamily, ...]:
    return collected.families if collected is not None else ()
