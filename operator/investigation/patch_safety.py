"""Every check a suggested patch passes before a human ever sees it.

The investigation calls `vet_patch` on the fix it chose; the eval's safety check calls `path_allowed`
and `floor_violations` on every patch a report offers, so both judge by the same rules.

A patch that does not apply, touches something it should not, or would clobber a change made since,
is worse than none. So a patch is offered only when: its target is in the failing pod's owner chain
and of an allowed kind; every path matches the policy's allowed patterns; it applies with `jsonpatch`
to the live object; what it changes stays above the floor no policy can open; the API server accepts
it in a dry run. Guard `test` operations on the current value of every changed field are prepended, so
applying it later fails instead of overwriting a newer change; the inverse patch is kept for rollback.
A fix to the template of a workload whose controller leaves stuck pods alone (a StatefulSet with
OrderedReady, or OnDelete) says that approving it also deletes them (`smart_sre.k8s.stuck_pods`).

The floor is judged by meaning, not by path: the object before and after the patch are compared, so a
field set directly, inside a whole container or pod spec added or replaced, or moved or copied into
place, is seen the same way. Whatever a policy allows, a patch may not add containers, volumes or
volume mounts (re-pointing a volume at another ConfigMap or Secret, or at other keys, changes a reference,
judged like env's), grant privilege (privileged, added capabilities, privilege escalation, root, an unmasked
/proc, unconfined seccomp or AppArmor, a Windows host process, SELinux options, sysctls), host
namespaces or host ports, change the service account, node, runtime class, priority or lifecycle
hooks, reference a Secret the workload did not already use, scale the workload to zero, or change
anything outside its spec or its pod template's labels and annotations.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer
from pydantic import ValidationError

from smart_sre.api.debugpolicy import Remediation
from smart_sre.api.diagnosticreport import (
    DryRun,
    Patch,
    PatchOperation,
    PatchTarget,
    SuggestedPatch,
    patch_sha256,
)
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre.k8s.owners import POD_SPEC_POINTER, pod_spec
from smart_sre.k8s.stuck_pods import disclosure

logger = logging.getLogger(__name__)

# Policy path patterns are written for a workload's pod template; a Pod keeps its spec one level up.
_TEMPLATE_SPEC = "/spec/template/spec"
# A parent pinned as a guard must stay small: the report bounds each patch value (1024 chars of JSON).
_MAX_GUARD_CHARS = 512
_MODEL_OPS = frozenset({"add", "replace", "remove"})


class PatchRejected(ValueError):
    """The patch failed a safety check; the message says which and why, for the report."""


@dataclass(frozen=True)
class SafePatch:
    """A patch that passed every check: the guarded operations, their digest, and the way back."""

    suggested: SuggestedPatch
    rollback: Patch


def _segments(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


def _pattern_for(kind: str, pattern: str) -> str:
    if kind == "Pod" and pattern.startswith(_TEMPLATE_SPEC):
        return POD_SPEC_POINTER["Pod"] + pattern[len(_TEMPLATE_SPEC) :]
    return pattern


def path_allowed(kind: str, path: str, patterns: Sequence[str]) -> bool:
    """The path lies at or under one allowed pattern ('*' matches one segment); the floor judges the rest."""
    segments = _segments(path)
    for pattern in patterns:
        wanted = _segments(_pattern_for(kind, pattern))
        if len(segments) >= len(wanted) and all(
            w in ("*", s) for w, s in zip(wanted, segments, strict=False)
        ):
            return True
    return False


# --- The floor no policy can open ------------------------------------------------------------------

# How far a setting lets a container reach, for settings a fix may keep or tighten but never loosen:
# each ranks a value, 0 the tightest; a patch whose value ranks higher than before crosses the floor.
Rank = Callable[[Any], int]


def _granted_when_true(value: Any) -> int:
    """privileged, hostNetwork: off unless set to true."""
    return int(value is True)


def _granted_unless_false(value: Any) -> int:
    """allowPrivilegeEscalation, automountServiceAccountToken: on by default, off only when false."""
    return 0 if value is False else 1 if value is None else 2


def _enforced_when_true(value: Any) -> int:
    """runAsNonRoot: enforced when true, left to the image when unset, given up when false."""
    return 0 if value is True else 1 if value is None else 2


def _user_id(value: Any) -> int:
    """runAsUser, runAsGroup: a fixed non-root id, else the image's choice, else root (0)."""
    return 1 if value is None else 2 if value == 0 else 0


def _proc_mount(value: Any) -> int:
    return 0 if value in (None, "Default") else 1


def _confinement(value: Any) -> int:
    """seccompProfile, appArmorProfile: a profile, else the runtime's default, else Unconfined."""
    kind = (value or {}).get("type")
    return 2 if kind == "Unconfined" else 1 if kind is None else 0


def _host_process(value: Any) -> int:
    return int((value or {}).get("hostProcess") is True)


_SHARED_SECURITY: dict[str, Rank] = {
    "runAsUser": _user_id,
    "runAsGroup": _user_id,
    "runAsNonRoot": _enforced_when_true,
    "seccompProfile": _confinement,
    "appArmorProfile": _confinement,
    "windowsOptions": _host_process,
}
_CONTAINER_SECURITY: dict[str, Rank] = {
    **_SHARED_SECURITY,
    "privileged": _granted_when_true,
    "allowPrivilegeEscalation": _granted_unless_false,
    "procMount": _proc_mount,
}
_POD_SWITCHES: dict[str, Rank] = {
    "hostNetwork": _granted_when_true,
    "hostPID": _granted_when_true,
    "hostIPC": _granted_when_true,
    "shareProcessNamespace": _granted_when_true,
    "hostUsers": _granted_unless_false,
    "automountServiceAccountToken": _granted_unless_false,
}
# Who the pod runs as, where and with what precedence: any change at all crosses the floor.
_POD_IDENTITY = (
    "serviceAccountName",
    "serviceAccount",
    "nodeName",
    "runtimeClassName",
    "priorityClassName",
    "priority",
)
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _shown(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def _loosened(where: str, ranks: Mapping[str, Rank], before: Mapping, after: Mapping) -> Iterator[str]:
    for name, rank in ranks.items():
        old, new = before.get(name), after.get(name)
        if rank(new) > rank(old):
            yield f"{where}{name} {_shown(old)} -> {_shown(new)}"


def _security(where: str, ranks: Mapping[str, Rank], before: Mapping, after: Mapping) -> Iterator[str]:
    """A securityContext (pod or container) that grants more than before."""
    where = f"{where}securityContext."
    yield from _loosened(where, ranks, before, after)
    if before.get("seLinuxOptions") != after.get("seLinuxOptions"):
        yield f"{where}seLinuxOptions changed"
    for sysctl in _new_items(before.get("sysctls"), after.get("sysctls")):
        yield f"{where}sysctls {sysctl.get('name')} set"
    old_caps, new_caps = before.get("capabilities") or {}, after.get("capabilities") or {}
    if gained := set(new_caps.get("add") or ()) - set(old_caps.get("add") or ()):
        yield f"{where}capabilities.add gains {', '.join(sorted(gained))}"
    if lost := set(old_caps.get("drop") or ()) - set(new_caps.get("drop") or ()):
        yield f"{where}capabilities.drop no longer drops {', '.join(sorted(lost))}"


def _new_items(before: Sequence | None, after: Sequence | None) -> list[Any]:
    """Items of `after` that are not, unchanged, in `before`."""
    return [item for item in after or () if item not in (before or ())]


def _secrets(spec: Mapping) -> set[str]:
    """Every Secret the pod spec reads: env, envFrom, volumes (projected too) and image pull secrets."""
    names = {ref.get("name") for ref in spec.get("imagePullSecrets") or ()}
    for key in _CONTAINER_LISTS:
        for container in spec.get(key) or ():
            names |= {
                ((env.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
                for env in container.get("env") or ()
            }
            names |= {
                (source.get("secretRef") or {}).get("name") for source in container.get("envFrom") or ()
            }
    for volume in spec.get("volumes") or ():
        names.add((volume.get("secret") or {}).get("secretName"))
        for source in (volume.get("projected") or {}).get("sources") or ():
            names.add((source.get("secret") or {}).get("name"))
    return names - {None}


def _unreferenced(volume: Mapping) -> dict:
    """A volume without the names of the ConfigMaps and Secrets it reads and its items' keys and paths:
    all the rest (its kind, sources, modes, optional) a re-pointing fix must leave as it was."""

    def blank(source: Any) -> Any:
        if not isinstance(source, Mapping):
            return source
        items = [{**item, "key": None, "path": None} for item in source.get("items") or ()]
        return {**source, "name": None, "secretName": None, "items": items}

    blanked = {
        key: blank(value) if key in ("configMap", "secret") else value for key, value in volume.items()
    }
    if isinstance(volume.get("projected"), Mapping):
        sources = [
            {key: blank(value) if key in ("configMap", "secret") else value for key, value in source.items()}
            for source in volume["projected"].get("sources") or ()
        ]
        blanked["projected"] = {**volume["projected"], "sources": sources}
    return blanked


def _container(where: str, before: Mapping, after: Mapping) -> Iterator[str]:
    yield from _security(
        where, _CONTAINER_SECURITY, before.get("securityContext") or {}, after.get("securityContext") or {}
    )
    old_ports = {port.get("hostPort") for port in before.get("ports") or ()}
    for port in after.get("ports") or ():
        if port.get("hostPort") and port["hostPort"] not in old_ports:
            yield f"{where}hostPort {port['hostPort']} opened"
    if before.get("lifecycle") != after.get("lifecycle"):
        yield f"{where}lifecycle hooks changed"
    for mount in _new_items(before.get("volumeMounts"), after.get("volumeMounts")):
        yield f"{where}volume {mount.get('name')!r} mounted at {mount.get('mountPath')}"


def _pod_spec(before: Mapping, after: Mapping) -> Iterator[str]:
    for key in _CONTAINER_LISTS:
        old = {container.get("name"): container for container in before.get(key) or ()}
        for container in after.get(key) or ():
            name = container.get("name")
            if name not in old:
                yield f"adds {key[:-1]} {name!r}"
            else:
                yield from _container(f"{key[:-1]} {name!r}: ", old[name], container)
    yield from _security(
        "pod ", _SHARED_SECURITY, before.get("securityContext") or {}, after.get("securityContext") or {}
    )
    yield from _loosened("pod ", _POD_SWITCHES, before, after)
    for field in _POD_IDENTITY:
        if before.get(field) != after.get(field):
            yield f"pod {field} {_shown(before.get(field))} -> {_shown(after.get(field))}"
    old_volumes = {volume.get("name"): volume for volume in before.get("volumes") or ()}
    for volume in _new_items(before.get("volumes"), after.get("volumes")):
        old = old_volumes.get(volume.get("name"))
        if old is not None and _unreferenced(old) == _unreferenced(volume):
            continue  # only re-pointed at another ConfigMap or Secret (a Secret is judged below)
        kinds = sorted(set(volume) - {"name"})
        yield f"volume {volume.get('name')!r} ({', '.join(kinds) or 'empty'}) added or changed"
    for secret in sorted(_secrets(after) - _secrets(before)):
        yield f"references Secret {secret!r}, which the workload did not use"


def _outside_pod_spec(before: Mapping, after: Mapping) -> Iterator[str]:
    """The object around the pod spec: metadata and status, the template's labels, the replica count."""
    for key in sorted((set(before) | set(after)) - {"spec"}):
        if before.get(key) != after.get(key):
            yield f"changes {key}"
    old_spec, new_spec = before.get("spec") or {}, after.get("spec") or {}
    if before.get("kind", "Pod") != "Pod":
        if (old_spec.get("template") or {}).get("metadata") != (new_spec.get("template") or {}).get(
            "metadata"
        ):
            yield "changes the pod template's labels or annotations"
        if new_spec.get("replicas") == 0 and old_spec.get("replicas") != 0:
            yield "scales the workload to 0 replicas"


def floor_violations(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What turning `before` into `after` does that no policy may allow; empty when it does nothing such."""
    return [*_outside_pod_spec(before, after), *_pod_spec(pod_spec(dict(before)), pod_spec(dict(after)))]


def _resolve(obj: dict, path: str) -> tuple[bool, object]:
    try:
        return True, jsonpointer.resolve_pointer(obj, path)
    except jsonpointer.JsonPointerException:
        return False, None


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0]


def guard_operations(live: dict, operations: list[dict]) -> list[dict]:
    """`test` operations pinning the current value of every field the operations change.

    A field that does not exist yet is pinned through its parent when that is small, else through
    `metadata.generation` (which moves on any spec change); the uid is pinned so a deleted and
    recreated object is never patched.
    """
    guards: dict[str, object] = {}
    uid = (live.get("metadata") or {}).get("uid")
    if uid:
        guards["/metadata/uid"] = uid
    for operation in operations:
        path = operation["path"]
        exists, value = _resolve(live, path) if not path.endswith("/-") else (False, None)
        if not exists:
            path = _parent(path)
            exists, value = _resolve(live, path)
            if not exists:
                continue  # the patch itself will fail on the missing parent
            if len(json.dumps(value, separators=(",", ":"))) > _MAX_GUARD_CHARS:
                generation = (live.get("metadata") or {}).get("generation")
                if generation is not None:
                    guards["/metadata/generation"] = generation
                continue
        if any(path == kept or path.startswith(kept + "/") for kept in guards):
            continue
        for kept in [kept for kept in guards if kept.startswith(path + "/")]:
            del guards[kept]
        guards[path] = copy.deepcopy(value)
    return [{"op": "test", "path": path, "value": value} for path, value in guards.items()]


def inverse_operations(live: dict, patched: dict) -> list[dict]:
    """The rollback: guarded so it too fails rather than overwrite a change made after the fix."""
    undo = jsonpatch.make_patch(patched, live).patch
    return guard_operations(patched, undo) + undo


def _target_of(chain: list[dict], target: str) -> dict:
    kind, _, name = target.partition("/")
    for obj in chain:
        if obj.get("kind") == kind and obj["metadata"]["name"] == name:
            return obj
    owners = " -> ".join(f"{o.get('kind')}/{o['metadata']['name']}" for o in chain)
    raise PatchRejected(f"target {target} is not in the failing pod's owner chain ({owners})")


async def vet_patch(
    cluster: ClusterReader, chain: list[dict], target: str, operations: list[dict], remediation: Remediation
) -> SafePatch:
    """Run every check on the model's (or an analyzer's) patch; PatchRejected says which one failed."""
    owner = _target_of(chain, target)
    kind, name = owner["kind"], owner["metadata"]["name"]
    namespace = owner["metadata"].get("namespace")
    if kind not in remediation.allowed_target_kinds:
        allowed = ", ".join(remediation.allowed_target_kinds)
        raise PatchRejected(f"the policy does not allow patching a {kind} (allowed kinds: {allowed})")
    if not operations:
        raise PatchRejected("the patch has no operations")
    for operation in operations:
        if operation.get("op") not in _MODEL_OPS:
            raise PatchRejected(
                f"operation {operation.get('op')!r} is not offered; only add, replace and remove"
            )
        if not path_allowed(kind, operation.get("path", ""), remediation.allowed_paths):
            raise PatchRejected(f"path {operation.get('path')} is outside the policy's allowed paths")
    live = await cluster.get(kind, namespace, name)
    if live is None:
        raise PatchRejected(f"{kind}/{name} no longer exists")
    live.setdefault("kind", kind)
    try:
        patched = jsonpatch.apply_patch(live, operations)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise PatchRejected(f"the patch does not apply to the live {kind}/{name}: {error}") from error
    if crossed := floor_violations(live, patched):
        raise PatchRejected(
            f"the patch would do what no policy can allow ({'; '.join(crossed)}); "
            "make such a change by hand if it is really needed"
        )
    guarded = guard_operations(live, operations) + operations
    try:
        await cluster.dry_run_patch(kind, namespace, name, guarded)
    except ClusterError as error:
        if error.transient:  # not a verdict on the patch: the caller may ask again
            raise
        raise PatchRejected(f"the API server refused the patch in a dry run: {error}") from error
    try:
        models = [PatchOperation.model_validate(operation) for operation in guarded]
        rollback = [
            PatchOperation.model_validate(operation) for operation in inverse_operations(live, patched)
        ]
    except ValidationError as error:
        raise PatchRejected(
            f"the guarded patch cannot be stored in a report: {error.errors()[0]['msg']}"
        ) from error
    logger.info("patch vetted target=%s/%s operations=%d", kind, name, len(models))
    patch_target = PatchTarget(
        api_version=live.get("apiVersion") or _api_version(kind),
        kind=kind,
        namespace=namespace,
        name=name,
        uid=live["metadata"].get("uid"),
        resource_version=live["metadata"].get("resourceVersion"),
    )
    return SafePatch(
        suggested=SuggestedPatch(
            target=patch_target,
            operations=models,
            sha256=patch_sha256(models, patch_target),
            dry_run=DryRun(passed=True, message="accepted by the API server with dryRun=All"),
            deletes_stuck_pods=disclosure(live, patched),
        ),
        rollback=Patch(operations=rollback, sha256=patch_sha256(rollback, patch_target)),
    )


def _api_version(kind: str) -> str:
    return {"Pod": "v1", "Job": "batch/v1"}.get(kind, "apps/v1")
