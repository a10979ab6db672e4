"""The `actions:` config block: which recommendations the controller acts on, and its safety
rails. Pure schema (docs/recommendations.md, "Actions")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ActionKind = Literal["annotate", "label", "deactivate-workload", "scale-to-zero"]
#: Recommendations an action may be taken on (idle quota is cluster-scoped: no namespace can
#: opt in, so it is never acted on).
ActionableKind = Literal["rightsize", "idle-gpu", "abandoned"]
#: Actions that stop work: only for workloads that are idle anyway.
STOPPING: frozenset[str] = frozenset({"deactivate-workload", "scale-to-zero"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionRule(_Strict):
    recommendation: ActionableKind
    action: ActionKind
    #: Only recommendations saving at least this much.
    min_savings_dollars_per_month: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0

    @model_validator(mode="after")
    def _stopping_only_when_idle(self) -> ActionRule:
        if self.action in STOPPING and self.recommendation == "rightsize":
            raise ValueError(
                f"action {self.action!r} stops a workload; it is only allowed for "
                "'idle-gpu' and 'abandoned' recommendations"
            )
        return self


class RateLimit(_Strict):
    #: Token bucket: up to this many actions in a burst, refilled at this many per hour.
    #: Dry runs draw tokens too, so a dry run shows what the limit would let through.
    actions_per_hour: Annotated[int, Field(ge=0, le=10000)] = 10


class ActionsSettings(_Strict):
    #: Log and count what would be done, change nothing. Set false to act.
    dry_run: bool = True
    #: Namespaces must carry this label (key=value) for anything in them to be touched.
    namespace_label: str = "unitcost.io/actions=enabled"
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    #: Audit log: JSON lines appended to this file; "-" is standard output.
    audit_log: str = "-"
    #: This cluster's `cluster` label in the history, for a controller reading a fleet's global
    #: tier: it acts only on recommendations of its own cluster and on those without one.
    cluster: str = ""
    #: The Kueue API version of Workload objects.
    kueue_version: str = "v1beta1"
    #: What to do with which recommendation; empty: nothing (the controller only reports).
    rules: list[ActionRule] = Field(default_factory=list)

    @field_validator("namespace_label")
    @classmethod
    def _key_value(cls, value: str) -> str:
        key, sep, val = value.partition("=")
        if not sep or not key or not val:
            raise ValueError(f"must be key=value, e.g. unitcost.io/actions=enabled (got {value!r})")
        return value

    @property
    def label_key_value(self) -> tuple[str, str]:
        key, _, value = self.namespace_label.partition("=")
        return key, value
