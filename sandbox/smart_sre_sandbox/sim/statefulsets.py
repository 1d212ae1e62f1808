"""The StatefulSet controller: pods name-0..N-1 with stable names and claims, created and updated in order.

With the default OrderedReady policy, a pod that is not Running and Ready blocks every later step, the
way the real controller stalls on a broken pod until someone deletes it.
"""

from __future__ import annotations

import copy

from ..errors import ApiError
from .controller import Controller
from .endpoints import is_ready
from .workloads import active, by_controller, pod_from_template, template_hash

COMPONENT = "statefulset-controller"
REVISION_LABEL = "controller-revision-hash"


def _ordinal(pod: dict, name: str) -> int:
    suffix = pod["metadata"]["name"][len(name) + 1 :]
    return int(suffix) if suffix.isdigit() else -1


class StatefulSetController(Controller):
    watches = ("statefulsets", "pods")

    async def reconcile(self) -> float | None:
        pods = by_controller(await self.cluster.list("pods"))
        for sts in await self.cluster.list("statefulsets"):
            if not sts["metadata"].get("deletionTimestamp"):
                await self._sync(sts, active(pods.get(sts["metadata"]["uid"], [])))
        return None

    async def _sync(self, sts: dict, owned: list[dict]) -> None:
        name, spec = sts["metadata"]["name"], sts["spec"]
        revision = f"{name}-{template_hash(spec['template'])}"
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        by_ordinal = {_ordinal(p, name): p for p in owned}
        for ordinal in range(replicas):
            pod = by_ordinal.get(ordinal)
            if pod is None:
                await self._create(sts, ordinal, revision)
                if ordered:
                    break
            elif ordered and not (is_ready(pod) and (pod.get("status") or {}).get("phase") == "Running"):
                break
        else:
            condemned = sorted((o for o in by_ordinal if o >= replicas), reverse=True)
            if condemned:
                await self._delete(sts, by_ordinal[condemned[0]])
            else:
                outdated = [
                    o
                    for o in sorted(by_ordinal, reverse=True)
                    if (by_ordinal[o]["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision
                ]
                if (
                    outdated
                    and (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
                ):
                    await self._delete(sts, by_ordinal[outdated[0]])
        current = [p for p in owned if 0 <= _ordinal(p, name) < replicas]
        updated = [p for p in current if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision]
        ready = sum(1 for p in current if is_ready(p))
        status = {
            "replicas": len(current),
            "readyReplicas": ready,
            "currentReplicas": len(updated),
            "updatedReplicas": len(updated),
            "availableReplicas": ready,
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
            "observedGeneration": sts["metadata"].get("generation", 1),
        }
        await self.cluster.sync_status("statefulsets", sts, status)

    async def _create(self, sts: dict, ordinal: int, revision: str) -> None:
        name, namespace = sts["metadata"]["name"], sts["metadata"]["namespace"]
        pod_name = f"{name}-{ordinal}"
        pod = pod_from_template(sts, sts["spec"]["template"], name=pod_name)
        pod["metadata"]["labels"] = {
            **pod["metadata"]["labels"],
            REVISION_LABEL: revision,
            "statefulset.kubernetes.io/pod-name": pod_name,
            "apps.kubernetes.io/pod-index": str(ordinal),
        }
        pod["spec"].setdefault("hostname", pod_name)
        if sts["spec"].get("serviceName"):
            pod["spec"].setdefault("subdomain", sts["spec"]["serviceName"])
        volumes = pod["spec"].setdefault("volumes", [])
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            claim_name = f"{template['metadata']['name']}-{pod_name}"
            volumes.append(
                {"name": template["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}}
            )
            claim = copy.deepcopy(template)
            claim["metadata"] = {
                "name": claim_name,
                "namespace": namespace,
                "labels": dict((sts["spec"].get("selector") or {}).get("matchLabels") or {}),
            }
            try:
                await self._created(
                    sts,
                    "persistentvolumeclaims",
                    claim,
                    f"create Claim {claim_name} Pod {pod_name} in StatefulSet {name} success",
                )
            except ApiError as error:
                if error.code != 409:
                    raise
        await self._created(sts, "pods", pod, f"create Pod {pod_name} in StatefulSet {name} successful")

    async def _created(self, sts: dict, resource: str, obj: dict, message: str) -> None:
        """Create `obj` for `sts`; a claim that already exists (409) raises before any event."""
        await self.cluster.create(
            resource, obj, about=sts, reason="SuccessfulCreate", message=message, component=COMPONENT
        )

    async def _delete(self, sts: dict, pod: dict) -> None:
        await self.cluster.delete("pods", pod)
        await self.cluster.events.record(
            sts,
            "Normal",
            "SuccessfulDelete",
            f"delete Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} successful",
            component=COMPONENT,
        )
