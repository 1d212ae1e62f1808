"""Every check a suggested patch passes before a human ever sees it.

A patch that does not apply, touches something it should not, or would clobber a change made since,
is worse than none. So a patch is offered only when: its target is in the failing pod's owner chain
and of an allowed kind; every path matches the policy's allowed patterns and none names a forbidden
field; it applies with `jsonpatch` to the live object; the API server accepts it in a dry run. Guard
`test` operations on the current value of every changed field are prepended, so applying it later
fails instead of overwriting a newer change; the inverse patch is kept for rollback.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import jsonpatch
import jsonpointer
from pydantic import ValidationError

from smart_sre.api.debugpolicy import FORBIDDEN_PATH_WORDS, Remediation
from smart_sre.api.diagnosticreport import (
    DryRun,
    Patch,
    PatchOperation,
    PatchTarget,
    SuggestedPatch,
    patch_sha256,
)
from smart_sre.k8s.cluster import ClusterError, ClusterReader
from smart_sre.k8s.owners import POD_SPEC_POINTER

logger = logging.getLogger(__name__)

# Policy path patterns are written for a workload's pod template; a Pod keeps its spec one level up.
_TEMPLATE_SPEC = "/spec/template/spec"
# A parent pinned as a guard must stay small: the report bounds each patch value (1024 chars of JSON).
_MAX_GUARD_CHARS = 512
_MODEL_OPS = frozenset({"add", "replace", "remove"})
# Never patched, whatever a policy allows: RBAC and identity live in other objects, this is defence in depth.
_FORBIDDEN_SEGMENTS = frozenset(word.lower() for word in FORBIDDEN_PATH_WORDS) | {"metadata", "status"}


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
    """The path lies at or under one allowed pattern ('*' matches one segment) and names nothing forbidden."""
    segments = _segments(path)
    if any(segment.lower() in _FORBIDDEN_SEGMENTS for segment in segments):
        return False
    if any(word.lower() in segment.lower() for segment in segments for word in FORBIDDEN_PATH_WORDS):
        return False
    for pattern in patterns:
        wanted = _segments(_pattern_for(kind, pattern))
        if len(segments) >= len(wanted) and all(
            w in ("*", s) for w, s in zip(wanted, segments, strict=False)
        ):
            return True
    return False


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
    guarded = guard_operations(live, operations) + operations
    try:
        await cluster.dry_run_patch(kind, namespace, name, guarded)
    except ClusterError as error:
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
    return SafePatch(
        suggested=SuggestedPatch(
            target=PatchTarget(
                api_version=live.get("apiVersion") or _api_version(kind),
                kind=kind,
                namespace=namespace,
                name=name,
                uid=live["metadata"].get("uid"),
                resource_version=live["metadata"].get("resourceVersion"),
            ),
            operations=models,
            sha256=patch_sha256(models),
            dry_run=DryRun(passed=True, message="accepted by the API server with dryRun=All"),
        ),
        rollback=Patch(operations=rollback, sha256=patch_sha256(rollback)),
    )


def _api_version(kind: str) -> str:
    return {"Pod": "v1", "Job": "batch/v1"}.get(kind, "apps/v1")
