"""Analyzers, one per root-cause family: evidence in, ranked candidate root causes (and fixes) out.

`investigation` calls `candidates` once per investigation. The mechanism analyzers say how the pod fails;
the changes analyzer offers to revert each field changed since the workload last ran healthy. Where both
touch one field, `proven_values` decides whose value the mechanism's fix writes.
"""

from __future__ import annotations

import json
from dataclasses import replace

import jsonpatch
import jsonpointer

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers import (
    app_errors,
    changes,
    config,
    dependency,
    image_pull,
    oom,
    probes,
    scheduling,
)
from smart_sre.investigation.analyzers.base import Analyzer, Candidate, ProposedPatch, quote
from smart_sre.investigation.changes import FieldChange, WhatChanged, value_at
from smart_sre.investigation.evidence import Evidence, referenced_names
from smart_sre.k8s import quantity

# The mechanisms; the changes analyzer's reverts join them in `candidates`.
ANALYZERS: tuple[Analyzer, ...] = (
    scheduling.analyze,
    image_pull.analyze,
    config.analyze,
    oom.analyze,
    dependency.analyze,
    probes.analyze,
    app_errors.analyze,
)

MAX_CANDIDATES = 4


def distinct_fixes(ranked: list[Candidate]) -> list[Candidate]:
    """One candidate per fix: where two propose the same patch (a mechanism's fix and the revert of the
    same field), the stronger keeps it, with its own summary (it names the mechanism) and both's facts."""
    kept: dict[str, int] = {}
    result: list[Candidate] = []
    for candidate in ranked:
        key = candidate.patch and json.dumps(
            [candidate.patch.target, candidate.patch.operations], sort_keys=True
        )
        if key and key in kept:
            first = result[kept[key]]
            result[kept[key]] = replace(first, facts=tuple(dict.fromkeys((*first.facts, *candidate.facts))))
            continue
        if key:
            kept[key] = len(result)
        result.append(candidate)
    return result


def _within(path: str, field: str) -> bool:
    """JSON Pointer `path` is `field` or lies inside it."""
    return path == field or path.startswith(field + "/")


def _missing_reference(evidence: Evidence, undo: dict) -> str | None:
    """A ConfigMap, Secret or claim the revert would name again that is not there now."""
    owner = evidence.top_owner
    try:
        after = jsonpatch.apply_patch(owner, [undo])
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        return "it no longer applies to the template"
    present = {
        "ConfigMap": set(evidence.config_keys),
        "Secret": set(evidence.secret_key_names),
        "PersistentVolumeClaim": {name for name, claim in evidence.pvcs.items() if claim},
    }
    before = referenced_names(owner)
    for kind, names in referenced_names(after).items():
        for name in sorted(names - before[kind] - present[kind]):
            return f"it names {kind} {name}, which the evidence does not show there now"
    return None


def _below_raise(operation: dict, change: FieldChange, relative: str) -> str | None:
    """Where the mechanism raises a resource quantity, the healthy revision's lower value would undo the
    need the mechanism saw: the value written is the higher of the two, so then the mechanism's."""
    parts = jsonpointer.JsonPointer(operation["path"]).parts
    wanted, old, new = operation.get("value"), value_at(change.old, relative), value_at(change.new, relative)
    if parts[-3:-2] != ["resources"] or parts[-2] not in ("limits", "requests") or old is None:
        return None
    try:
        raised = quantity.parse(wanted) > quantity.parse(new) and quantity.parse(old) < quantity.parse(wanted)
    except (ValueError, TypeError, AttributeError):
        return "its quantity does not compare"
    return f"below the {wanted} the facts call for" if raised else None


def _doubt(
    evidence: Evidence,
    history: WhatChanged,
    mechanism: Candidate,
    change: FieldChange,
    undo: dict,
    inside: list[dict],
) -> str | None:
    """Why the healthy revision's value should not replace the mechanism's; None when nothing says so."""
    old = changes.distinct_strings(change.old, change.new)
    named = [text for text in (mechanism.summary, *mechanism.facts) if any(word in text for word in old)]
    if not changes.observed(history):
        return f"revision {history.healthy_revision} is only assumed healthy"
    if history.failing_ready:
        return f"pods of revision {history.revision} run Ready with the new value"
    if named:
        return f"the facts name it: {quote(named[0], 80)}"
    if missing := _missing_reference(evidence, undo):
        return missing
    below = (_below_raise(op, change, op["path"][len(undo["path"]) :]) for op in inside)
    return next(filter(None, below), None)


def _agrees(operation: dict, change: FieldChange, undo: dict) -> bool:
    """The operation leaves the field as the healthy revision had it (where it edits inside it)."""
    old = value_at(change.old, operation["path"][len(undo["path"]) :])
    return old is None if operation["op"] == "remove" else old == operation.get("value")


def _put_back(change: FieldChange, relative: str, healthy_revision: int, doubt: str | None) -> str:
    """The revert as the summary's sentence: taken, or (with the doubt) named as the alternative."""
    if change.old is None:
        what = f"unset {change.subject} again"
    else:
        part = value_at(change.old, relative) if relative else None  # None also where the old value lacks it
        field = change.subject
        if part is not None:
            field += "." + ".".join(jsonpointer.JsonPointer(relative).parts)
        shown = change.old if part is None else part
        text = shown if isinstance(shown, str) else json.dumps(shown, separators=(",", ":"))
        what = f"{field} back to {quote(text, 80)}"
    if doubt:
        return f"Alternative: {what}, as revision {healthy_revision} ran it ({doubt})."
    if change.old is None:
        return f"Instead, the fix unsets {change.subject} again, as revision {healthy_revision} ran healthy."
    return f"Instead, the fix sets {what}, the value revision {healthy_revision} ran healthy."


def proven_values(
    mechanism: Candidate, reverts: list[tuple[FieldChange, Candidate]], evidence: Evidence
) -> Candidate:
    """The mechanism's candidate, its fix writing the value the healthy revision ran wherever it edits a
    field (or part of one) that changed since: a value pods were seen running healthy with is better
    grounded than one derived from the failure (another probe's path, a limit from a guessed need, the
    nearest node label). The mechanism keeps its root cause and explanation; the summary says whose value
    the fix writes and the facts hold both. Where `_doubt` finds a reason (health only assumed, the old
    value named broken or gone, a raised quantity it would lower), the mechanism's value stays and the
    revert is named as the alternative."""
    history = evidence.changes
    if mechanism.patch is None or history is None:
        return mechanism
    operations, notes, facts = list(mechanism.patch.operations), [], list(mechanism.facts)
    for change, revert in reverts:
        if revert.patch is None or revert.patch.target != mechanism.patch.target:
            continue
        (undo,) = revert.patch.operations
        inside = [op for op in operations if _within(op["path"], undo["path"])]
        around = any(op not in inside and _within(undo["path"], op["path"]) for op in operations)
        if not around and all(_agrees(op, change, undo) for op in inside):
            continue  # nothing to weigh, or the mechanism writes the healthy revision's value already
        doubt = "the fix rewrites more than that field" if around else None
        doubt = doubt or _doubt(evidence, history, mechanism, change, undo, inside)
        relative = inside[0]["path"][len(undo["path"]) :] if inside else ""
        notes.append(_put_back(change, relative, history.healthy_revision, doubt))
        if doubt:
            continue
        first = operations.index(inside[0])
        operations = [
            undo if index == first else op for index, op in enumerate(operations) if op not in inside[1:]
        ]
        facts += revert.facts
    if not notes:
        return mechanism
    tail = quote(" ".join(notes), 220)
    return replace(
        mechanism,
        summary=f"{quote(mechanism.summary, 400 - len(tail) - 1)} {tail}",
        patch=ProposedPatch(mechanism.patch.target, operations),
        facts=tuple(dict.fromkeys(facts)),
    )


def candidates(evidence: Evidence) -> list[Candidate]:
    """Every analyzer's candidates, strongest first, and Unknown last so there is always an answer."""
    reverts = changes.reverts(evidence)
    found = [
        proven_values(candidate, reverts, evidence)
        for analyze in ANALYZERS
        for candidate in analyze(evidence)
    ]
    found += [revert for _, revert in reverts]
    found.sort(key=lambda candidate: -candidate.score)
    found = distinct_fixes(found)[: MAX_CANDIDATES - 1]
    found.append(
        Candidate(
            root_cause=RootCause.UNKNOWN,
            summary="The evidence does not point at a known cause; a human should look at the logs and events.",
            score=0.0,
            no_patch_reason="no cause was identified",
            names_culprit=False,
        )
    )
    return found
