"""Apply the `actions:` policy to recommendations, behind every safety rail.

For each rule and each matching recommendation, in this order (the first that stops it is
the audited result): the namespace must carry the opt-in label; the target must exist and
the action must fit its kind; an object annotated `unitcost.io/actions: disabled` is left
alone; an object already in the wanted state is a no-op (no token spent); a token must be
left in the rate limiter; then, unless dry-run, the merge patch is sent. Every decision is
one audit line and one increment of unitcost_actions_total.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from unitcost.config.actions import ActionRule, ActionsSettings
from unitcost.history.actions.audit import AuditLog, AuditRecord, now_iso
from unitcost.history.actions.kube import Json, Kube, NotFound, Target
from unitcost.history.actions.ratelimit import TokenBucket
from unitcost.history.recommend.maths import Recommendation

log = logging.getLogger(__name__)

PREFIX = "unitcost.io/"
OPT_OUT = PREFIX + "actions"  # = "disabled" on an object: never touch it
RECOMMENDATION = PREFIX + "recommendation"
SAVINGS = PREFIX + "savings-dollars-per-month"
SCALED_FROM = PREFIX + "scaled-down-from-replicas"
SCALABLE = ("Deployment", "StatefulSet")


@dataclass(frozen=True, slots=True)
class Decision:
    result: str
    reason: str
    target: Target | None = None


class Controller:
    def __init__(
        self,
        kube: Kube,
        settings: ActionsSettings,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.audit = audit
        self.clock = clock
        self.bucket = TokenBucket(settings.rate_limit.actions_per_hour, clock)

    def apply(self, recs: list[Recommendation]) -> list[AuditRecord]:
        """One pass of the policy over `recs` (biggest savings first, as recommend sorts).
        Recommendations of other clusters (a fleet's global tier) are not this controller's:
        only those of `actions.cluster` and those without a cluster are considered."""
        own = ("", self.settings.cluster)
        others = sum(1 for r in recs if r.cluster not in own)
        if others:
            log.debug("%d recommendation(s) of other clusters left alone", others)
        recs = [r for r in recs if r.cluster in own]
        opted_in: dict[str, Decision | None] = {}  # per namespace, read once per pass
        records = []
        for rule in self.settings.rules:
            for rec in recs:
                if (
                    rec.kind != rule.recommendation
                    or rec.savings_dollars_per_month < rule.min_savings_dollars_per_month
                ):
                    continue
                ns = rec.workload.namespace
                if ns not in opted_in:
                    opted_in[ns] = self._namespace_gate(ns)
                gate = opted_in[ns]
                decisions = [gate] if gate else self._decide(rule, rec)
                for d in decisions:
                    records.append(self._record(rule, rec, d))
        return records

    # -- gates ----------------------------------------------------------------------------------
    def _namespace_gate(self, namespace: str) -> Decision | None:
        key, value = self.settings.label_key_value
        try:
            labels = self.kube.namespace_labels(namespace)
        except NotFound:
            return Decision("not-found", f"namespace {namespace} not found")
        except client.ApiException as exc:
            return Decision("failed", f"reading namespace {namespace}: {_api_error(exc)}")
        if labels.get(key) != value:
            return Decision("not-opted-in", f"namespace {namespace} lacks label {key}={value}")
        return None

    def _decide(self, rule: ActionRule, rec: Recommendation) -> list[Decision]:
        try:
            targets = self._targets(rule, rec)
        except client.ApiException as exc:
            return [Decision("failed", f"resolving the target: {_api_error(exc)}")]
        if isinstance(targets, Decision):
            return [targets]
        return [self._act(rule, rec, t) for t in targets]

    def _targets(self, rule: ActionRule, rec: Recommendation) -> list[Target] | Decision:
        w = rec.workload
        if rule.action == "deactivate-workload":
            owners = {(w.kind, w.name)}
            owners |= {("Job", j) for j in self.kube.job_owners_of_pods(w.namespace, rec.pods)}
            found = self.kube.kueue_workloads(w.namespace, owners)
            return found or Decision("not-found", f"no Kueue Workload owned by {w.kind} {w.name}")
        if rule.action == "scale-to-zero" and w.kind not in SCALABLE:
            return Decision("unsupported", f"scale-to-zero needs a Deployment, not a {w.kind}")
        if not self.kube.supports(w.kind):
            return Decision("unsupported", f"{rule.action} does not support kind {w.kind}")
        return [self.kube.target(w.kind, w.namespace, w.name)]

    # -- one target -----------------------------------------------------------------------------
    def _act(self, rule: ActionRule, rec: Recommendation, target: Target) -> Decision:
        try:
            obj = self.kube.read(target)
            meta = obj.get("metadata", {})
            if (meta.get("annotations") or {}).get(OPT_OUT) == "disabled":
                return Decision("opted-out", f"{OPT_OUT}: disabled on the object", target)
            change = self._change(rule, rec, target, obj)
            if change is None:
                return Decision("noop", "already in the wanted state", target)
            if not self.bucket.take():
                limit = self.settings.rate_limit.actions_per_hour
                return Decision("rate-limited", f"limit of {limit} actions per hour", target)
            if self.settings.dry_run:
                return Decision("would-apply", f"dry run: {change[0]}", target)
            change[1]()
            return Decision("applied", change[0], target)
        except NotFound:
            return Decision("not-found", f"{target} not found", target)
        except client.ApiException as exc:
            return Decision("failed", _api_error(exc), target)

    def _change(
        self, rule: ActionRule, rec: Recommendation, target: Target, obj: Json
    ) -> tuple[str, Callable[[], None]] | None:
        """(what, do it), or None when the object is already as wanted."""
        meta = obj.get("metadata", {})
        savings = f"{rec.savings_dollars_per_month:.2f}"
        if rule.action == "annotate":
            wanted = {RECOMMENDATION: rec.kind, SAVINGS: savings}
            have = meta.get("annotations") or {}
            if have.get(RECOMMENDATION) == rec.kind:
                return None
            patch: Json = {"metadata": {"annotations": wanted}}
            return f"annotate {wanted}", lambda: self.kube.merge_patch(target, patch)
        if rule.action == "label":
            if (meta.get("labels") or {}).get(RECOMMENDATION) == rec.kind:
                return None
            patch = {"metadata": {"labels": {RECOMMENDATION: rec.kind}}}
            return f"label {RECOMMENDATION}={rec.kind}", lambda: self.kube.merge_patch(
                target, patch
            )
        if rule.action == "deactivate-workload":
            if obj.get("spec", {}).get("active") is False:
                return None
            patch = {"spec": {"active": False}}
            return "set spec.active false", lambda: self.kube.merge_patch(target, patch)
        replicas = self.kube.replicas(target)  # scale-to-zero
        if replicas == 0:
            return None

        def scale_down() -> None:
            # Remember the replica count first, so a person can scale back up.
            note: Json = {"metadata": {"annotations": {SCALED_FROM: str(replicas)}}}
            self.kube.merge_patch(target, note)
            self.kube.scale(target, 0)

        return f"scale {replicas} -> 0 replicas", scale_down

    def _record(self, rule: ActionRule, rec: Recommendation, d: Decision) -> AuditRecord:
        w = rec.workload
        record = AuditRecord(
            time=now_iso(self.clock()),
            action=rule.action,
            result=d.result,
            dry_run=self.settings.dry_run,
            recommendation=rec.kind,
            namespace=w.namespace,
            workload_kind=w.kind,
            workload=w.name,
            target=str(d.target) if d.target else "",
            savings_dollars_per_month=round(rec.savings_dollars_per_month, 2),
            reason=d.reason,
        )
        self.audit.write(record)
        if d.result in ("applied", "failed"):
            log.info("%s %s %s: %s (%s)", rule.action, d.result, record.target, d.reason, w)
        return record


def _api_error(exc: Any) -> str:
    return f"HTTP {exc.status} {exc.reason}".strip()
