"""The namespace's resource bounds: LimitRanges and ResourceQuotas, which the API server's admission
applies to every pod a workload creates.

A resource fix outside them is rejected when the controller creates the next pod (the rollout stalls
with FailedCreate), so the OOM and the scheduling analyzers check each proposal here before offering it,
and their summaries name the bound that applies. `evidence.gather` reads them once per investigation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from smart_sre.investigation.scheduling import format_quantity
from smart_sre.investigation.tools.base import ToolContext
from smart_sre.k8s import quantity
from smart_sre.k8s.cluster import ClusterError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bound:
    """One bound and where it comes from, worded for a summary."""

    value: Decimal
    source: str  # "LimitRange limits max memory 1Gi per container"


@dataclass(frozen=True)
class Change:
    """One container's resource after a proposed fix, and what it adds to the pod and the namespace."""

    resource: str
    request: Decimal  # the effective request (a limit without a request is also the request)
    limit: Decimal | None
    pod_request: Decimal  # the pod's total after the change
    pod_limit: Decimal | None
    added_request: Decimal  # per pod, against what it asks now (negative when lowered)
    added_limit: Decimal
    replicas: int
    surge: bool  # the controller creates the new pod before it deletes an old one (a Deployment)


@dataclass(frozen=True)
class Bounds:
    limit_ranges: tuple[dict, ...] = ()
    quotas: tuple[dict, ...] = ()

    def _items(self, kind: str) -> list[tuple[str, dict]]:
        return [
            (lr["metadata"]["name"], item)
            for lr in self.limit_ranges
            for item in (lr.get("spec") or {}).get("limits") or []
            if item.get("type") == kind
        ]

    def _bounds(self, kind: str, field: str, resource: str, what: str) -> list[Bound]:
        found = []
        for name, item in self._items(kind):
            raw = (item.get(field) or {}).get(resource)
            if raw is not None:
                value = quantity.parse(raw)
                shown = raw if field == "maxLimitRequestRatio" else format_quantity(resource, value)
                found.append(Bound(value, f"LimitRange {name} {what} {shown} per {kind.lower()}"))
        return found

    def limit_max(self, resource: str) -> Bound | None:
        """The tightest per-container max: a container's limit (and request) may not exceed it."""
        found = self._bounds("Container", "max", resource, f"allows at most {resource}")
        return min(found, key=lambda bound: bound.value, default=None)

    def request_min(self, resource: str) -> Bound | None:
        """The highest per-container min: a container's request (and limit) may not be below it."""
        found = self._bounds("Container", "min", resource, f"requires at least {resource}")
        return max(found, key=lambda bound: bound.value, default=None)

    def ratio_max(self, resource: str) -> Bound | None:
        """The tightest maxLimitRequestRatio: limit / request may not exceed it."""
        found = self._bounds(
            "Container", "maxLimitRequestRatio", resource, f"caps {resource} limit/request at"
        )
        return min(found, key=lambda bound: bound.value, default=None)

    def violation(self, change: Change) -> str | None:
        """The first bound the change breaks, worded; None when admission would accept it."""
        resource = change.resource
        checks: list[tuple[Bound | None, Decimal | None, bool]] = [
            (self.limit_max(resource), change.limit, True),
            (self.limit_max(resource), change.request, True),
            (self.request_min(resource), change.request, False),
            (self.request_min(resource), change.limit, False),
        ]
        for bound in self._bounds("Pod", "max", resource, f"allows at most {resource}"):
            checks += [(bound, change.pod_limit, True), (bound, change.pod_request, True)]
        for bound in self._bounds("Pod", "min", resource, f"requires at least {resource}"):
            checks.append((bound, change.pod_request, False))
        for bound, value, is_max in checks:
            if (
                bound is not None
                and value is not None
                and (value > bound.value if is_max else value < bound.value)
            ):
                return bound.source
        ratio = self.ratio_max(resource)
        if (
            ratio
            and change.limit is not None
            and change.request > 0
            and change.limit / change.request > ratio.value
        ):
            return ratio.source
        return self._quota(change)

    def _quota(self, change: Change) -> str | None:
        resource = change.resource
        wanted = {
            f"requests.{resource}": (change.added_request, change.pod_request),
            resource: (change.added_request, change.pod_request),
            f"limits.{resource}": (change.added_limit, change.pod_limit or Decimal(0)),
        }
        for quota in self.quotas:
            status = quota.get("status") or {}
            hard, used = (
                status.get("hard") or (quota.get("spec") or {}).get("hard") or {},
                status.get("used") or {},
            )
            for key, (added, pod_total) in wanted.items():
                if key not in hard or added <= 0:
                    continue
                room = quantity.parse(hard[key]) - quantity.parse(used.get(key))
                # Every replica ends up with the increase; a surging rollout first adds one whole new pod.
                needed = max(added * change.replicas, pod_total if change.surge else Decimal(0))
                if needed > room:
                    return (
                        f"ResourceQuota {quota['metadata']['name']} has {format_quantity(resource, max(room, Decimal(0)))} "
                        f"of {key} left, the change needs {format_quantity(resource, needed)}"
                    )
        return None


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded up to a whole number of `step`s."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


async def namespace_bounds(ctx: ToolContext) -> Bounds:
    """The namespace's LimitRanges and ResourceQuotas; none where the operator may not read them."""
    found: dict[str, tuple[dict, ...]] = {}
    for kind in ("LimitRange", "ResourceQuota"):
        try:
            found[kind] = tuple(await ctx.cluster.list(kind, ctx.namespace))
        except ClusterError as error:  # an older install's RBAC, or an API server that serves neither
            if error.status not in (403, 404):
                raise
            logger.info(
                "cannot list %s namespace=%s status=%s: bounds unknown", kind, ctx.namespace, error.status
            )
            found[kind] = ()
    return Bounds(found["LimitRange"], found["ResourceQuota"])
