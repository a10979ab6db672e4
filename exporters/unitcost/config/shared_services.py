"""The `shared_services:` config block: platform services whose cost is split among the teams
(or namespaces) that use them, by a usage query (docs/shared-services.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SharedService(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The service's pods: this namespace, and these pod labels (empty: the whole namespace).
    namespace: Annotated[str, Field(min_length=1)]
    selector: dict[str, str] = Field(default_factory=dict)
    #: PromQL over metrics the service already exports, one series per consumer: e.g.
    #: `sum by (tenant) (rate(alluxio_bytes_read_total[1h]))`.
    usage_query: Annotated[str, Field(min_length=1)]
    #: The label of the query's result that names the consumer.
    consumer_label: Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
    #: What the consumer label holds: a team, or a namespace (whose team then pays).
    consumer_kind: Literal["team", "namespace"] = "team"
    #: Who keeps what usage cannot attribute (default: the team the service's pods belong to).
    owner_team: str = ""

    @field_validator("usage_query")
    @classmethod
    def _one_line_of_promql(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class SharedServicesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Prometheus to run the usage queries against (empty: shared services off).
    prometheus_url: str = ""
    #: Seconds between usage queries (the split is applied at every collect).
    interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 300.0
    #: Service name -> how to select and split it.
    services: dict[str, SharedService] = Field(default_factory=dict)
