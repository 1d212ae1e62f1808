"""The ReplicaSet controller: keeps `spec.replicas` pods of the template alive and reports their readiness."""

from __future__ import annotations

from .controller import Controller
from .workloads import active, by_controller, pod_from_template, ready_count, scale_down_order

COMPONENT = "replicaset-controller"


class ReplicaSetController(Controller):
    watches = ("replicasets", "pods")

    async def reconcile(self) -> float | None:
        cluster = self.cluster
        pods = by_controller(await cluster.list("pods"))
        for rs in await cluster.list("replicasets"):
            if rs["metadata"].get("deletionTimestamp"):
                continue
            owned = active(pods.get(rs["metadata"]["uid"], []))
            wanted = int(rs["spec"].get("replicas", 1))
            for _ in range(wanted - len(owned)):
                pod = pod_from_template(
                    rs, rs["spec"]["template"], generate_name=f"{rs['metadata']['name']}-"
                )
                owned.append(await cluster.create_pod(rs, pod, COMPONENT))
            if len(owned) > wanted:
                for victim in sorted(owned, key=scale_down_order)[: len(owned) - wanted]:
                    await cluster.delete("pods", victim)
                    owned.remove(victim)
                    await cluster.events.record(
                        rs,
                        "Normal",
                        "SuccessfulDelete",
                        f"Deleted pod: {victim['metadata']['name']}",
                        component=COMPONENT,
                    )
            ready = ready_count(owned)
            status = {
                "replicas": len(owned),
                "fullyLabeledReplicas": len(owned),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": rs["metadata"].get("generation", 1),
            }
            await cluster.sync_status("replicasets", rs, status)
        return None
