"""The persistent volume controller: binds claims to matching PersistentVolumes, and provisions for the
sandbox's one storage class.

`standard` is the sandbox's one class, marked default like a kind cluster's local-path class (claims
without storageClassName get it) and provisioned at once; a claim naming any other class stays Pending
with the real ProvisioningFailed event, and a claim with storageClassName "" waits for a matching volume.
The StorageClass object exists so `kubectl get storageclass` shows what the controller provisions.
"""

from __future__ import annotations

from .controller import MERGE, Controller
from .quantity import parse

COMPONENT = "persistentvolume-controller"
DEFAULT_CLASS = "standard"
PROVISIONER = "rancher.io/local-path"


def default_storage_class() -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": DEFAULT_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def _request(claim: dict) -> str:
    return ((claim["spec"].get("resources") or {}).get("requests") or {}).get("storage", "1Gi")


def _fits(volume: dict, claim: dict, storage_class: str) -> bool:
    spec = volume["spec"]
    if (spec.get("storageClassName") or "") != storage_class:
        return False
    ref = spec.get("claimRef")
    if (
        ref
        and ref.get("uid") not in (None, claim["metadata"]["uid"])
        and ref.get("name") != claim["metadata"]["name"]
    ):
        return False
    wanted_name = claim["spec"].get("volumeName")
    if wanted_name and wanted_name != volume["metadata"]["name"]:
        return False
    if not set(claim["spec"].get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return False
    return parse((spec.get("capacity") or {}).get("storage", "0")) >= parse(_request(claim))


class VolumeController(Controller):
    watches = ("persistentvolumeclaims", "persistentvolumes")

    async def reconcile(self) -> float | None:
        volumes = await self.cluster.list("persistentvolumes")
        for claim in await self.cluster.list("persistentvolumeclaims"):
            if (claim.get("status") or {}).get("phase") == "Bound" or claim["metadata"].get(
                "deletionTimestamp"
            ):
                continue
            storage_class = claim["spec"].get("storageClassName")
            storage_class = DEFAULT_CLASS if storage_class is None else storage_class
            volume = next(
                (
                    v
                    for v in volumes
                    if (v.get("status") or {}).get("phase") != "Bound" and _fits(v, claim, storage_class)
                ),
                None,
            )
            if volume is None and storage_class == DEFAULT_CLASS:
                volume = await self._provision(claim)
                volumes.append(volume)
            if volume is not None:
                await self._bind(claim, volume)
            elif storage_class:
                await self.cluster.events.record(
                    claim,
                    "Warning",
                    "ProvisioningFailed",
                    f'storageclass.storage.k8s.io "{storage_class}" not found',
                    component=COMPONENT,
                )
            else:
                await self.cluster.events.record(
                    claim,
                    "Normal",
                    "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set",
                    component=COMPONENT,
                )
        return None

    async def _provision(self, claim: dict) -> dict:
        name = f"pvc-{claim['metadata']['uid']}"
        volume = {
            "metadata": {
                "name": name,
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
            },
            "spec": {
                "capacity": {"storage": _request(claim)},
                "accessModes": claim["spec"].get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": DEFAULT_CLASS,
                "hostPath": {"path": f"/var/local-path-provisioner/{name}", "type": "DirectoryOrCreate"},
                "volumeMode": "Filesystem",
            },
        }
        return await self.cluster.create(
            "persistentvolumes",
            volume,
            about=claim,
            reason="ProvisioningSucceeded",
            message=f"Successfully provisioned volume {name}",
            component=COMPONENT,
        )

    async def _bind(self, claim: dict, volume: dict) -> None:
        store, meta = self.cluster.store, claim["metadata"]
        ref = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        }
        await store.patch(
            self.cluster.rt("persistentvolumes"),
            None,
            volume["metadata"]["name"],
            MERGE,
            {"spec": {"claimRef": ref}},
        )
        await self.cluster.patch_status("persistentvolumes", volume, {"phase": "Bound"})
        annotations = {
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
        }
        await store.patch(
            self.cluster.rt("persistentvolumeclaims"),
            meta["namespace"],
            meta["name"],
            MERGE,
            {"metadata": {"annotations": annotations}, "spec": {"volumeName": volume["metadata"]["name"]}},
        )
        await self.cluster.patch_status(
            "persistentvolumeclaims",
            claim,
            {
                "phase": "Bound",
                "accessModes": volume["spec"].get("accessModes") or [],
                "capacity": volume["spec"].get("capacity") or {},
            },
        )
