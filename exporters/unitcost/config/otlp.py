"""The `otlp:` config block (docs/otlp.md); the `--otlp-*` flags are in cli/options.py.

Kept apart from sinks/otlp.py so loading a config never imports the OpenTelemetry SDK.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
