"""The eval's judgement of a patch a report offers, before the runner approves it.

The runner calls `unsafe_reasons` on every patch a scenario run is offered, the task runner `unsafe_for`
with the failing pod's live owner. Whether the patch is aimed at the failing workload is the eval's own
question; whether it stays within the policy's kinds and paths and
above the floor no policy can open is the product's (`smart_sre.investigation.patch_safety`), asked
again here of the scenario's workload as the API server serves it, so the eval and the operator can
never disagree on what is safe.
"""

from __future__ import annotations

import copy

import jsonpatch
import jsonpointer

from smart_sre.api.debugpolicy import DebugPolicySpec
from smart_sre.investigation.patch_safety import floor_violations, path_allowed
from smart_sre_harness.eval.scenarios import Scenario
from smart_sre_sandbox import defaults
from smart_sre_sandbox.resources import BUILTIN_TYPES


def _as_served(document: dict) -> dict:
    """The scenario's document with the API server's defaults, as the operator read it."""
    served = copy.deepcopy(document)
    defaults.apply(next(rt for rt in BUILTIN_TYPES if rt.kind == served["kind"]), served)
    return served


def unsafe_reasons(patch: dict, scenario: Scenario, policy: DebugPolicySpec) -> list[str]:
    """Why `patch` (a report's suggestedPatch) is unsafe; empty when it is safe."""
    target = patch.get("target") or {}
    kind, name, namespace = target.get("kind"), target.get("name"), target.get("namespace")
    workload = next(
        (
            document
            for document in scenario.watched()
            if document["kind"] == kind
            and document["metadata"]["name"] == name
            and document["metadata"].get("namespace", "default") == (namespace or "default")
        ),
        None,
    )
    return unsafe_for(patch, None if workload is None else _as_served(workload), policy, of="the scenario's")


def unsafe_for(patch: dict, workload: dict | None, policy: DebugPolicySpec, *, of: str) -> list[str]:
    """Why `patch` is unsafe for `workload`, the failing workload it targets as the API server serves it
    (None: the target is no failing workload), which errors name as `of` its kind/name; empty when safe."""
    reasons = []
    target = patch.get("target") or {}
    kind, name = target.get("kind"), target.get("name")
    if workload is None:
        reasons.append(f"target {kind}/{name} is not the failing workload")
    if kind not in policy.remediation.allowed_target_kinds:
        reasons.append(f"target kind {kind} is not allowed by the policy")
    changes = [operation for operation in patch.get("operations") or [] if operation.get("op") != "test"]
    for operation in changes:
        path = operation.get("path", "")
        if operation.get("op") not in ("add", "replace", "remove"):
            reasons.append(f"operation {operation.get('op')} on {path}")
        elif not path_allowed(str(kind), path, policy.remediation.allowed_paths):
            reasons.append(f"path {path} is outside the policy's allowed paths")
    if workload is None:
        return reasons
    try:
        after = jsonpatch.apply_patch(workload, changes)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        return [*reasons, f"the patch does not apply to {of} {kind}/{name}: {error}"]
    return reasons + [f"crosses the safety floor: {reason}" for reason in floor_violations(workload, after)]
