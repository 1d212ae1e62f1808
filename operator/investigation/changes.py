"""What changed: the failing pod's template against the last revision of its workload that ran healthy.

`evidence.gather` calls `what_changed` once per investigation; the changes analyzer
(`analyzers/changes.py`) turns each changed field into a candidate cause with its revert, and
`report_changes` is what the report's `status.changes` shows (`kubectl sre show`).

A workload keeps its history the way its controller does: a Deployment as ReplicaSets (annotation
`deployment.kubernetes.io/revision`), a StatefulSet or DaemonSet as ControllerRevisions (`revision`,
and `data` = `{"spec": {"template": {"$patch": "replace", ...}}}`, the whole template). "Healthy" is
decided from what the cluster shows now, and the evidence says which rule decided it:

1. the newest older revision with pods Ready now (a ReplicaSet's readyReplicas or availableReplicas,
   the pods labelled with a ControllerRevision's hash);
2. else a StatefulSet's `status.currentRevision`, if older: its rolling update completed, so all its
   pods were updated and Ready;
3. else, assumed, the revision just before the failing one; nothing proves it ran healthy.

Fields the controllers write (pod-template-hash, controller-revision-hash, the restartedAt that
`kubectl rollout restart` sets) are not changes. Values are redacted here: the env names a revision
takes from Secrets are taught to the redactor first, so a secret inlined in one revision is masked.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonpointer

from smart_sre.api.diagnosticreport import MAX_CHANGED_FIELDS, ChangedField, TemplateChanges
from smart_sre.investigation.redaction import Redactor, secret_env_refs
from smart_sre.investigation.secret_kinds import REDACTED
from smart_sre.investigation.tools.base import ToolContext, cut
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.owners import controller_ref

logger = logging.getLogger(__name__)

DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
REVISION_HASH = "controller-revision-hash"  # on a revision's pods (and a DaemonSet revision's own label)
# Written by the controllers or `kubectl rollout restart`, never a cause: (metadata field, key).
_NOISE = (
    ("labels", "pod-template-hash"),
    ("labels", REVISION_HASH),
    ("annotations", "kubectl.kubernetes.io/restartedAt"),
)
# Lists matched item by item by name when both sides name the same items; other lists change whole.
# Containers are compared field by field; an env var or volume only whole (a half-reverted one is invalid).
_CONTAINER_LISTS = ("containers", "initContainers")
_NAMED_LISTS = {"containers": "container", "initContainers": "container", "env": "item", "volumes": "item"}
# String maps whose new keys are each a change, even where the map itself is new.
_MAPS = frozenset({"labels", "annotations", "nodeSelector"})
# Objects compared whole: reverting part of a probe (its port, not its handler) can leave it invalid.
_WHOLE = frozenset({"item", "livenessProbe", "readinessProbe", "startupProbe", "affinity", "lifecycle"})
MAX_FIELDS = 16
VALUE_CHARS = 200


@dataclass(frozen=True)
class Revision:
    """One revision of a workload's pod template."""

    number: int
    keys: frozenset[str]  # what its pods name it by: the ReplicaSet's or revision's name, its hash
    template: dict  # without the controllers' own labels and annotations
    ready: int  # its pods Ready now


@dataclass(frozen=True)
class FieldChange:
    """One field of the pod template (a JSON Pointer into it) that differs from the healthy revision."""

    path: str
    subject: str  # the field as people name it: "container api's image"
    old: Any  # None: unset
    new: Any
    old_text: str | None  # redacted and cut, for people and the model; None: unset
    new_text: str | None
    old_redacted: bool  # the old value looks like a secret: it is never written into a patch
    revision: int  # the revision that made the change


@dataclass(frozen=True)
class WhatChanged:
    """The diff of the failing pod's template against the last revision that ran healthy."""

    revision: int  # the failing pod's
    healthy_revision: int
    healthy: str  # how "healthy" was decided
    observed: bool  # pods were seen healthy on it (Ready now, a completed StatefulSet rollout), not assumed
    fields: tuple[FieldChange, ...]
    omitted: int  # changed fields beyond MAX_FIELDS
    failing_ready: int  # pods of the failing revision Ready now: where they are, the change runs


async def what_changed(ctx: ToolContext, chain: list[dict], workloads: list[dict]) -> WhatChanged | None:
    """The failing pod's template changes since the last healthy revision; None without a history.

    `workloads` are the namespace's workload objects the evidence listed (its ReplicaSets among them).
    """
    owner = chain[-1]
    try:
        if owner.get("kind") == "Deployment" and len(chain) >= 3:
            revisions = _replica_set_revisions(owner, workloads)
            failing_key = chain[1]["metadata"]["name"]
        elif owner.get("kind") in ("StatefulSet", "DaemonSet"):
            revisions = await _controller_revisions(ctx, owner)
            failing_key = (chain[0]["metadata"].get("labels") or {}).get(REVISION_HASH, "")
        else:
            return None
    except ClusterError as error:
        if error.status not in (403, 404):  # no RBAC for ControllerRevisions: no history, not no evidence
            raise
        logger.warning("cannot read the revision history of %s: %s", owner["metadata"]["name"], error)
        return None
    failing = next((revision for revision in revisions if failing_key in revision.keys), None)
    if failing is None:
        return None
    found = _healthy(owner, revisions, failing)
    if found is None:
        return None
    healthy, basis, seen = found
    for revision in revisions:
        _learn_secret_envs(revision.template, ctx.redactor)
    later = [revision for revision in revisions if healthy.number < revision.number <= failing.number]
    diffs = list(_diff(healthy.template, failing.template, "", None))
    fields = tuple(
        _field_change(path, old, new, failing, later, ctx.redactor) for path, old, new in diffs[:MAX_FIELDS]
    )
    omitted = max(0, len(diffs) - MAX_FIELDS)
    return WhatChanged(failing.number, healthy.number, basis, seen, fields, omitted, failing.ready)


def _replica_set_revisions(owner: dict, workloads: list[dict]) -> list[Revision]:
    uid = owner["metadata"].get("uid")
    revisions = []
    for replica_set in workloads:
        if replica_set.get("kind") != "ReplicaSet" or (controller_ref(replica_set) or {}).get("uid") != uid:
            continue
        number = (replica_set["metadata"].get("annotations") or {}).get(DEPLOYMENT_REVISION, "")
        if not number.isdigit():
            continue
        status = replica_set.get("status") or {}
        ready = max(int(status.get("readyReplicas") or 0), int(status.get("availableReplicas") or 0))
        template = (replica_set.get("spec") or {}).get("template") or {}
        revisions.append(
            Revision(int(number), frozenset({replica_set["metadata"]["name"]}), _clean(template), ready)
        )
    return sorted(revisions, key=lambda revision: revision.number)


async def _controller_revisions(ctx: ToolContext, owner: dict) -> list[Revision]:
    uid = owner["metadata"].get("uid")
    pods = [
        pod
        for pod in await ctx.cluster.list("Pod", ctx.namespace)
        if (controller_ref(pod) or {}).get("uid") == uid and _ready(pod)
    ]
    revisions = []
    for stored in await ctx.cluster.list("ControllerRevision", ctx.namespace):
        template = (((stored.get("data") or {}).get("spec") or {}).get("template")) or None
        if (controller_ref(stored) or {}).get("uid") != uid or not isinstance(template, dict):
            continue
        meta = stored["metadata"]
        keys = frozenset({meta["name"], (meta.get("labels") or {}).get(REVISION_HASH, meta["name"])})
        ready = sum(1 for pod in pods if (pod["metadata"].get("labels") or {}).get(REVISION_HASH) in keys)
        revisions.append(Revision(int(stored.get("revision") or 0), keys, _clean(template), ready))
    return sorted(revisions, key=lambda revision: revision.number)


def _ready(pod: dict) -> bool:
    return any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in (pod.get("status") or {}).get("conditions") or []
    )


def _healthy(owner: dict, revisions: list[Revision], failing: Revision) -> tuple[Revision, str, bool] | None:
    """The last revision before the failing one that ran healthy, how that was decided, and whether it
    was seen (False: only assumed)."""
    older = [revision for revision in revisions if revision.number < failing.number]
    if not older:
        return None
    with_ready = [revision for revision in older if revision.ready]
    if with_ready:
        newest = with_ready[-1]
        pods = "1 pod" if newest.ready == 1 else f"{newest.ready} pods"
        return newest, f"{pods} of revision {newest.number} Ready now", True
    current = (owner.get("status") or {}).get("currentRevision")
    if owner.get("kind") == "StatefulSet" and current:
        for revision in reversed(older):
            if current in revision.keys:
                basis = (
                    f"revision {revision.number} is the StatefulSet's currentRevision: its rolling update "
                    "completed with every pod Ready"
                )
                return revision, basis, True
    basis = (
        f"assumed: revision {older[-1].number} is the one before {failing.number}; no pod of it is Ready "
        "now to show that it ran healthy"
    )
    return older[-1], basis, False


def _clean(template: dict) -> dict:
    """The template without `$patch` and what controllers write into it."""
    template = {key: value for key, value in copy.deepcopy(template).items() if key != "$patch"}
    metadata = template.get("metadata") or {}
    metadata.pop("creationTimestamp", None)
    for field, key in _NOISE:
        (metadata.get(field) or {}).pop(key, None)
        if field in metadata and not metadata[field]:
            del metadata[field]
    return template


def _by_name(items: list) -> dict[str, Any] | None:
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if None in names or len(set(names)) != len(names):
        return None
    return dict(zip(names, items, strict=True))


def _diff(old: Any, new: Any, path: str, field: str | None) -> Iterator[tuple[str, Any, Any]]:
    """(pointer, old, new) of each changed field, at the highest level where one side is missing."""
    if old == new:
        return
    if old is None and isinstance(new, dict) and field in _MAPS:
        old = {}  # a map that is new is a key or two added to it; its revert removes just those
    if isinstance(old, dict) and isinstance(new, dict) and field not in _WHOLE:
        for key in sorted(old.keys() | new.keys()):
            yield from _diff(old.get(key), new.get(key), f"{path}/{jsonpointer.escape(key)}", key)
        return
    if isinstance(old, list) and isinstance(new, list) and field in _NAMED_LISTS:
        old_named, new_named = _by_name(old), _by_name(new)
        if old_named is not None and new_named is not None and old_named.keys() == new_named.keys():
            for index, (name, item) in enumerate(new_named.items()):
                yield from _diff(old_named[name], item, f"{path}/{index}", _NAMED_LISTS[field])
            return
    yield path, old, new


def value_at(template: dict, path: str) -> Any:
    """The value at `path`, None when absent."""
    return jsonpointer.resolve_pointer(template, path, None)


def _field_change(
    path: str, old: Any, new: Any, failing: Revision, later: list[Revision], redactor: Redactor
) -> FieldChange:
    introduced = failing.number
    for revision in reversed(later):  # the first revision from which on the field has its new value
        if value_at(revision.template, path) != new:
            break
        introduced = revision.number
    old_text, old_redacted = _shown(old, path, redactor)
    new_text, _ = _shown(new, path, redactor)
    return FieldChange(
        path=path,
        subject=subject(path, failing.template),
        old=old,
        new=new,
        old_text=old_text,
        new_text=new_text,
        old_redacted=old_redacted,
        revision=introduced,
    )


def _shown(value: Any, path: str, redactor: Redactor) -> tuple[str | None, bool]:
    """(the value as people read it, redacted and cut; whether anything in it was masked)."""
    if value is None:
        return None, False
    parts = jsonpointer.JsonPointer(path).parts
    key = "env[]" if parts[-2:-1] == ["env"] and parts[-1].isdigit() else parts[-1] if parts else None
    readable, masked = _readable(value, key, redactor)
    text = (
        readable if isinstance(readable, str) else json.dumps(readable, separators=(",", ":"), sort_keys=True)
    )
    shown = redactor.redact(text)
    return cut(shown, VALUE_CHARS), masked or shown != text


def _readable(value: Any, key: str | None, redactor: Redactor) -> tuple[Any, bool]:
    """`value` with each env var that has a value as NAME=value (NAME=<redacted> where the redactor
    masks any of it: the value's own bounds are known here, text redaction cannot know them)."""
    if key == "env[]" and isinstance(value, dict):
        if "valueFrom" in value:  # a reference: as JSON, never read like a value inlined in its place
            return value, False
        plain = f"{value.get('name', '')}={value.get('value', '')}"
        return (
            (plain, False)
            if redactor.redact(plain) == plain
            else (f"{value.get('name', '')}={REDACTED}", True)
        )
    if isinstance(value, dict):
        pairs = {name: _readable(item, name, redactor) for name, item in value.items()}
        return {name: pair[0] for name, pair in pairs.items()}, any(pair[1] for pair in pairs.values())
    if isinstance(value, list):
        items = [_readable(item, "env[]" if key == "env" else None, redactor) for item in value]
        return [item[0] for item in items], any(item[1] for item in items)
    return value, False


def subject(path: str, template: dict) -> str:
    """The field as people name it: "container api's image", "the pod's nodeSelector.disktype"."""
    parts = jsonpointer.JsonPointer(path).parts
    if parts[:1] == ["metadata"]:
        kind = {"labels": "label", "annotations": "annotation"}.get(parts[1] if len(parts) > 2 else "")
        return f"the pod template's {kind} {parts[2]}" if kind else f"the pod template's {'.'.join(parts)}"
    rest = parts[1:]
    owner = "the pod's"
    if len(rest) >= 2 and rest[0] in _CONTAINER_LISTS and rest[1].isdigit():
        container = value_at(template, f"/spec/{rest[0]}/{rest[1]}") or {}
        owner = (
            f"{'init container' if rest[0] == 'initContainers' else 'container'} {container.get('name')}'s"
        )
        rest = rest[2:]
    if len(rest) == 2 and rest[0] in ("env", "volumes") and rest[1].isdigit():
        item = value_at(template, path) or {}
        return f"{owner} {'env var' if rest[0] == 'env' else 'volume'} {item.get('name')}"
    return f"{owner} {'.'.join(rest) or 'spec'}"


def _learn_secret_envs(template: dict, redactor: Redactor) -> None:
    for ref in secret_env_refs({"spec": template.get("spec") or {}}):
        if ref.env and ref.key:
            redactor.add_secret_env(ref.env, secret=ref.secret, key=ref.key)


def change_lines(changes: WhatChanged | None) -> list[str]:
    """The evidence's lines on what changed (already redacted values)."""
    if changes is None:
        return []
    head = (
        f"changes since revision {changes.healthy_revision} (healthy: {changes.healthy}) "
        f"to revision {changes.revision}, the failing pod's:"
    )
    if not changes.fields:
        return [head, "  none in the pod template: the cause lies outside it"]
    lines = [head]
    if changes.failing_ready:
        lines.append(
            f"  {changes.failing_ready} pod(s) of revision {changes.revision} are Ready with these changes"
        )
    for change in changes.fields[:6]:
        lines.append(
            cut(
                f"  {change.subject} ({change.path}): {change.old_text or 'unset'} -> "
                f"{change.new_text or 'unset'} in revision {change.revision}",
                240,
            )
        )
    if more := max(0, len(changes.fields) - 6) + changes.omitted:
        lines.append(f"  and {more} more")
    return lines


def report_changes(changes: WhatChanged | None) -> TemplateChanges | None:
    """`status.changes`: the fields that fit the report's bounds, the rest counted."""
    if changes is None:
        return None
    shown = [
        ChangedField(path=change.path, from_=change.old_text, to=change.new_text, revision=change.revision)
        for change in changes.fields
        if len(change.path) <= 256
    ][:MAX_CHANGED_FIELDS]
    return TemplateChanges(
        revision=changes.revision,
        healthy_revision=changes.healthy_revision,
        healthy=cut(changes.healthy, 256),
        fields=shown,
        omitted=len(changes.fields) + changes.omitted - len(shown) or None,
    )
