"""The `otlp:` config block and the `--otlp-*` flags of `serve` and `demo` (docs/otlp.md).

Kept apart from sinks/otlp.py so loading a config never imports the OpenTelemetry SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import click
from pydantic import BaseModel, ConfigDict, Field, field_validator

F = TypeVar("F", bound=Callable[..., Any])
Protocol = Literal["grpc", "http"]


class OtlpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Collector URL: grpc `http://host:4317`, http `http://host:4318` (/v1/metrics is added
    #: when the URL has no path). Empty: OTLP off.
    endpoint: str = ""
    protocol: Protocol = "grpc"
    interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 60.0
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 10.0
    #: The `k8s.cluster.name` resource attribute (omitted when empty).
    cluster_name: str = ""
    service_name: str = "unitcost"
    #: Extra request headers (e.g. an API key for a hosted collector).
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value


def with_flags(settings: OtlpSettings, endpoint: str | None, protocol: str | None) -> OtlpSettings:
    """The config block with the command-line flags laid over it."""
    updates: dict[str, Any] = {}
    if endpoint is not None:
        updates["endpoint"] = OtlpSettings(endpoint=endpoint).endpoint  # validated
    if protocol is not None:
        updates["protocol"] = protocol
    return settings.model_copy(update=updates)


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


def start_otlp_for(
    settings: OtlpSettings, endpoint: str | None, protocol: str | None, current: Any
) -> object | None:
    """Start pushing `current()` (a Collector's latest collect) over OTLP when configured.

    Shutdown (a last export) is registered for process exit, after the exporter has stopped,
    so serve and demo need one line each. The SDK is imported only when OTLP is on."""
    settings = with_flags(settings, endpoint, protocol)
    if not settings.endpoint:
        return None
    import atexit

    from unitcost.sinks.otlp import start_otlp

    publisher = start_otlp(settings, current)
    if publisher is not None:
        atexit.register(publisher.shutdown)
    return publisher
