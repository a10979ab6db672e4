"""The config file's attribution and shared-cost blocks as the cost model's policy."""

from __future__ import annotations

from unitcost.config.file import Config
from unitcost.costmodel.allocation import AllocationPolicy
from unitcost.costmodel.attribution import AttributionRules, NamespaceDefault


def attribution_rules(config: Config) -> AttributionRules:
    a = config.attribution
    return AttributionRules(
        team=tuple(s.to_rule() for s in a.team),
        org=tuple(s.to_rule() for s in a.org),
        cost_center=tuple(s.to_rule() for s in a.cost_center),
        namespace_defaults=tuple(
            NamespaceDefault(d.pattern, d.team, d.org, d.cost_center) for d in a.namespace_defaults
        ),
        shared_namespaces=tuple(config.shared_cost.namespaces),
        shared_team=config.shared_cost.team,
        pod_label_allowlist=tuple(a.pod_label_allowlist),
    )


def allocation_policy(config: Config) -> AllocationPolicy:
    return AllocationPolicy(
        attribution_rules(config),
        config.shared_cost.strategy,
        config.gpu_idle.window_seconds,
        config.gpu.mig_share_basis,
    )
