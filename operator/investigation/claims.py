"""Why a pod's PersistentVolumeClaims hold it Pending: kube-scheduler's volume binding, recomputed from
the claims, the StorageClasses and the PersistentVolumes so the finding names what is missing.

`evidence.gather` reads the classes and volumes (`storage`) when a claim the pod mounts is not Bound;
the scheduling analyzer words each `ClaimProblem` as a finding. A claim's spec (its class, its size) is
immutable once created and a pod's volumes are outside what smart-sre may patch, so the remedy is for a
human: which claim to recreate, and with which class, or which volume to create.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from smart_sre.investigation.tools.base import ToolContext
from smart_sre.k8s import quantity
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.owners import pod_spec

logger = logging.getLogger(__name__)

_DEFAULT_CLASS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
_NO_PROVISIONER = "kubernetes.io/no-provisioner"  # static volumes only: claims bind to existing PVs


@dataclass(frozen=True)
class Storage:
    """The cluster's StorageClasses and PersistentVolumes; None where they could not be read."""

    classes: tuple[dict, ...] | None = None
    volumes: tuple[dict, ...] | None = None


@dataclass(frozen=True)
class ClaimProblem:
    claim: str
    problem: str  # what blocks binding, with the names and sizes involved
    remedy: str  # what a human does about it


def default_class(classes: tuple[dict, ...]) -> dict | None:
    """The class marked default (the newest wins when several are, as the API server picks)."""
    marked = [
        c
        for c in classes
        if any((c["metadata"].get("annotations") or {}).get(a) == "true" for a in _DEFAULT_CLASS)
    ]
    return max(marked, key=lambda c: c["metadata"].get("creationTimestamp") or "", default=None)


def _size(claim: dict) -> str:
    return ((claim.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", "0")


def _volume_misfit(volume: dict, claim: dict, class_name: str) -> str | None:
    """Why this PersistentVolume cannot bind the claim, or None when it can."""
    spec, name = volume.get("spec") or {}, volume["metadata"]["name"]
    ref = spec.get("claimRef") or {}
    if ref and ref.get("name") != claim["metadata"]["name"]:
        return f"{name} is bound to {ref.get('namespace', '')}/{ref.get('name')}"
    if (spec.get("storageClassName") or "") != class_name:
        return f"{name} is of class {spec.get('storageClassName') or '(none)'}"
    wanted_modes = set((claim.get("spec") or {}).get("accessModes") or [])
    if not wanted_modes <= set(spec.get("accessModes") or []):
        return f"{name} offers {', '.join(spec.get('accessModes') or []) or 'no access modes'}"
    capacity = (spec.get("capacity") or {}).get("storage", "0")
    if quantity.parse(capacity) < quantity.parse(_size(claim)):
        return f"{name} holds {capacity}, the claim asks {_size(claim)}"
    return None


def _static(name: str, claim: dict, class_name: str, volumes: tuple[dict, ...] | None) -> ClaimProblem | None:
    if volumes is None:
        return None
    wanted_volume = (claim.get("spec") or {}).get("volumeName")
    candidates = [v for v in volumes if not wanted_volume or v["metadata"]["name"] == wanted_volume]
    misfits = [_volume_misfit(v, claim, class_name) for v in candidates]
    if any(misfit is None for misfit in misfits):
        return None
    shown = "; ".join(m for m in misfits if m)[:160] or "there are none"
    label = f"class {class_name}" if class_name else "no class"
    where = f" named {wanted_volume}" if wanted_volume else ""
    return ClaimProblem(
        name,
        f"no PersistentVolume{where} of {label} with {_size(claim)} can bind it ({shown})",
        f"create a PersistentVolume of {label} with at least {_size(claim)}",
    )


def claim_problems(pod: dict, pvcs: dict[str, dict | None], storage: Storage) -> list[ClaimProblem]:
    """What keeps each claim the pod mounts from binding; a claim that waits for the pod's node
    (WaitForFirstConsumer with a provisioner) is no problem, it binds once the pod is scheduled."""
    problems = []
    mounted = [
        (v.get("persistentVolumeClaim") or {}).get("claimName") for v in pod_spec(pod).get("volumes") or []
    ]
    for name in [n for n in mounted if n]:
        claim = pvcs.get(name)
        if claim is None:
            problems.append(ClaimProblem(name, "it does not exist", "create the claim the pod mounts"))
            continue
        phase = (claim.get("status") or {}).get("phase")
        if phase == "Bound":
            continue
        problem = _unbound(name, claim, storage)
        if problem is not None:
            problems.append(problem)
    return problems


def _unbound(name: str, claim: dict, storage: Storage) -> ClaimProblem | None:
    class_name = (claim.get("spec") or {}).get("storageClassName")
    if storage.classes is None:
        return ClaimProblem(
            name, f"it is {(claim.get('status') or {}).get('phase', 'Pending')}", "bind the claim"
        )
    by_name = {c["metadata"]["name"]: c for c in storage.classes}
    fallback = default_class(storage.classes)
    if class_name and class_name not in by_name:
        existing = ", ".join(sorted(by_name)) or "none"
        if fallback is not None:
            remedy = (
                f"recreate the claim with storageClassName {fallback['metadata']['name']}, the cluster's default "
                "class (a claim's class cannot be changed in place)"
            )
        else:
            remedy = f"create StorageClass {class_name}, or recreate the claim with one of: {existing}; none is default"
        return ClaimProblem(name, f"StorageClass {class_name} does not exist (classes: {existing})", remedy)
    # "" asks for a volume without a class; unset means the default class, if one exists.
    storage_class = fallback if class_name is None else by_name.get(class_name)
    if storage_class is None or storage_class.get("provisioner") == _NO_PROVISIONER:
        return _static(name, claim, class_name or "", storage.volumes)
    if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
        return None
    return ClaimProblem(
        name,
        f"it is Pending although class {storage_class['metadata']['name']} provisions dynamically "
        f"({storage_class.get('provisioner')})",
        "look at the claim's events for the provisioner's error",
    )


async def storage(ctx: ToolContext, pvcs: dict[str, dict | None]) -> Storage:
    """The classes and volumes, read only when a claim is not Bound (the common case reads nothing)."""
    if all(claim and (claim.get("status") or {}).get("phase") == "Bound" for claim in pvcs.values()):
        return Storage()
    found: dict[str, tuple[dict, ...] | None] = {}
    for kind in ("StorageClass", "PersistentVolume"):
        try:
            found[kind] = tuple(await ctx.cluster.list(kind))
        except ClusterError as error:  # an older install's RBAC: say less, never guess
            if error.status not in (403, 404):
                raise
            logger.info("cannot list %s status=%s: claim binding explained less", kind, error.status)
            found[kind] = None
    return Storage(found["StorageClass"], found["PersistentVolume"])
