"""Workloads that Argo CD, Flux or Helm deploy: how to tell, and their fix as a change to commit.

Such a tool writes what its source (Git, a chart) says back over the live object: Argo CD shows a live
change as drift (OutOfSync) and reverts it at the next sync when self-heal is on, Flux applies its
source again at every reconciliation, and the next `helm upgrade` writes the chart's values back. A
live patch to such a workload does not last, so the analysis says who deploys the patch target
(`status.managedBy`), the approver refuses a live apply unless the policy allows it
(`spec.remediation.gitOpsManaged`), and `kubectl sre show NAME --as-kustomize-patch|--as-json6902`
prints the same vetted change as a file to commit.

Each tool is recognised by the marks it leaves on what it applies:

| mark | means |
|---|---|
| annotation `argocd.argoproj.io/tracking-id` (`app:group/Kind:namespace/name`) | Argo CD Application `app` (`namespace_app` outside Argo CD's namespace) |
| labels `kustomize.toolkit.fluxcd.io/name`, `/namespace` | Flux Kustomization |
| labels `helm.toolkit.fluxcd.io/name`, `/namespace` | Flux HelmRelease |
| annotations `meta.helm.sh/release-name`, `/release-namespace` | a release installed with helm |
| label `app.kubernetes.io/managed-by: Helm` | may be a Helm release: charts set it themselves, so `helm template` output deployed by other means (Argo CD renders charts so) carries it too |
| label `app.kubernetes.io/instance` | may be an Argo CD Application (its tracking label before Argo CD 3.0), but Helm charts and people set it too |

Only the first four are certain; the approver refuses a live apply on those alone. Labels and
annotations are written by whoever may edit the workload: a mark's value is kept only when it is a
valid Kubernetes name, and the evidence names the mark's key and the object, never the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from smart_sre.api.common import DnsLabel, DnsSubdomain
from smart_sre.api.debugpolicy import GitOpsManaged
from smart_sre.api.diagnosticreport import (
    GitOpsKind,
    GitOpsTool,
    ManagedBy,
    Management,
    PatchOp,
    PatchOperation,
    PatchTarget,
)
from smart_sre.k8s.cluster import KINDS, ClusterReader
from smart_sre.k8s.owners import owner_chain

ARGO_TRACKING_ID = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
# Flux's controllers label what they apply with `<group>/name` and `<group>/namespace` of their object.
FLUX_GROUPS = {
    "kustomize.toolkit.fluxcd.io": GitOpsKind.KUSTOMIZATION,
    "helm.toolkit.fluxcd.io": GitOpsKind.HELM_RELEASE,
}

_NAME: TypeAdapter[str] = TypeAdapter(DnsSubdomain)
_NAMESPACE: TypeAdapter[str] = TypeAdapter(DnsLabel)
_TOOL = {GitOpsTool.ARGO_CD: "Argo CD", GitOpsTool.FLUX: "Flux", GitOpsTool.HELM: "Helm"}
_REVERTS = {
    GitOpsTool.ARGO_CD: "Argo CD shows a live change as drift (OutOfSync) and reverts it at the next sync "
    "when self-heal is on",
    GitOpsTool.FLUX: "Flux applies its source again at every reconciliation, reverting a live change",
    GitOpsTool.HELM: "the next helm upgrade writes the chart's values back over a live change",
}
MAX_NOTE_CHARS = 1024


def _valid(adapter: TypeAdapter[str], value: object) -> str | None:
    """`value` when it is a valid name of that kind: a mark may hold anything, and nothing else is kept."""
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _texts(value: object) -> dict[str, str]:
    return {str(key): str(text) for key, text in value.items()} if isinstance(value, Mapping) else {}


def _argo_application(instance: str) -> tuple[str, str | None]:
    """(name, namespace) of the Application an Argo CD instance name stands for: `namespace_name` for an
    Application outside Argo CD's own namespace, else the bare name."""
    namespace, separator, name = instance.partition("_")
    return (name, namespace) if separator else (instance, None)


def _marks(obj: Mapping[str, Any]) -> list[Management]:
    """Every management the labels and annotations of `obj` show, the tools' own marks first."""
    metadata = obj.get("metadata") or {}
    labels, annotations = _texts(metadata.get("labels")), _texts(metadata.get("annotations"))
    where = f"{str(obj.get('kind'))[:63]} {str(metadata.get('name'))[:253]}"

    def mark(
        tool: GitOpsTool,
        kind: GitOpsKind,
        key: str,
        name: str | None,
        namespace: str | None,
        *,
        certain: bool,
    ) -> Management:
        return Management(
            tool=tool,
            kind=kind,
            name=_valid(_NAME, name),
            namespace=_valid(_NAMESPACE, namespace),
            certain=certain,
            evidence=f"{key} on {where}",
        )

    found = []
    if ARGO_TRACKING_ID in annotations:
        app, namespace = _argo_application(annotations[ARGO_TRACKING_ID].partition(":")[0])
        key = f"annotation {ARGO_TRACKING_ID}"
        found.append(mark(GitOpsTool.ARGO_CD, GitOpsKind.APPLICATION, key, app, namespace, certain=True))
    for group, kind in FLUX_GROUPS.items():
        if f"{group}/name" in labels:
            name, namespace = labels[f"{group}/name"], labels.get(f"{group}/namespace")
            found.append(mark(GitOpsTool.FLUX, kind, f"label {group}/name", name, namespace, certain=True))
    if HELM_RELEASE_NAME in annotations:
        release, namespace = annotations[HELM_RELEASE_NAME], annotations.get(HELM_RELEASE_NAMESPACE)
        key = f"annotation {HELM_RELEASE_NAME}"
        found.append(mark(GitOpsTool.HELM, GitOpsKind.RELEASE, key, release, namespace, certain=True))
    instance = labels.get(INSTANCE_LABEL)
    if labels.get(MANAGED_BY_LABEL) == "Helm":  # a chart's convention: the instance label is its release
        key = f"label {MANAGED_BY_LABEL}=Helm"
        found.append(mark(GitOpsTool.HELM, GitOpsKind.RELEASE, key, instance, None, certain=False))
    elif instance is not None:
        app, namespace = _argo_application(instance)
        key = f"label {INSTANCE_LABEL}"
        found.append(mark(GitOpsTool.ARGO_CD, GitOpsKind.APPLICATION, key, app, namespace, certain=False))
    return found


def detect(objects: Sequence[Mapping[str, Any]]) -> Management | None:
    """Who deploys the first of `objects` (the patch target, then the owners above it), or None.

    A tool's own mark on any of them wins over a mark others write too; among equals, the target's
    before its owners', and in the order of the table above.
    """
    found = [management for obj in objects for management in _marks(obj)]
    return next((management for management in found if management.certain), next(iter(found), None))


async def managed(cluster: ClusterReader, target: PatchTarget) -> Management | None:
    """Who deploys `target`, read from the live object and the owners above it; None when no mark shows
    one, or the target is gone."""
    if target.kind not in KINDS:
        return None
    live = await cluster.get(target.kind, target.namespace, target.name)
    if live is None:
        return None
    return detect(await owner_chain(cluster, {**live, "kind": target.kind}))


def describe(management: Management) -> str:
    """The managing object as a reviewer names it, e.g. `Argo CD Application argocd/shop`."""
    kind = "release" if management.kind is GitOpsKind.RELEASE else management.kind.value
    if management.name is None:
        named = "(its name is not a valid Kubernetes name)"
    else:
        named = f"{management.namespace}/{management.name}" if management.namespace else management.name
    return f"{_TOOL[management.tool]} {kind} {named}"


def _commit(report: str) -> str:
    return f"kubectl sre show {report} --as-kustomize-patch"


async def managed_by(
    cluster: ClusterReader, target: PatchTarget, *, mode: GitOpsManaged, policy: str, report: str
) -> ManagedBy | None:
    """`status.managedBy` of a report suggesting a patch to `target`: who deploys it, and what that
    means for the fix under the report's policy (`mode`); None when nothing shows a tool."""
    management = await managed(cluster, target)
    if management is None:
        return None
    if not management.certain:
        advice = (
            f"that label is also set by charts and by hand, so an approved fix is still applied live; if "
            f"{_TOOL[management.tool]} does deploy it, commit the fix instead ({_commit(report)})"
        )
    elif mode is GitOpsManaged.SUGGEST:
        advice = (
            f"smart-sre does not apply the fix live (policy {policy}: remediation.gitOpsManaged Suggest); "
            f"commit it to Git instead ({_commit(report)})"
        )
    else:
        advice = (
            f"policy {policy} allows applying it live (remediation.gitOpsManaged Apply); commit it to Git as "
            f"well ({_commit(report)}) or it will not last"
        )
    known = "Managed" if management.certain else "May be managed"
    note = (
        f"{known} by {describe(management)} ({management.evidence}): {_REVERTS[management.tool]}; {advice}."
    )
    return ManagedBy(**management.model_dump(), note=note[:MAX_NOTE_CHARS])


def refusal(management: Management, *, target: PatchTarget, policy: str, report: str) -> str:
    """Why an approval is not applied live (reason GitOpsManaged), and what to do instead."""
    return (
        f"{describe(management)} deploys {target.kind} {target.namespace}/{target.name} "
        f"({management.evidence}): {_REVERTS[management.tool]}. Policy {policy} has "
        "remediation.gitOpsManaged Suggest, so smart-sre does not patch it live; nothing was applied. Commit "
        f"the fix to Git instead: `{_commit(report)}` prints it as a kustomize patch; then close this report "
        f"with `kubectl sre reject {report}`. To apply it live anyway, set the policy's "
        "spec.remediation.gitOpsManaged to Apply and approve again"
    )


# --- The fix as a file to commit ---------------------------------------------------------------------------


def committed_operations(operations: Sequence[PatchOperation]) -> list[dict[str, Any]]:
    """The change to commit: the vetted operations without their `test` guards.

    The guards pin the live object: its uid and generation, which no manifest in Git has, and the
    current value of each field the patch changes, server-set defaults included, where Git may hold the
    value before kustomize's own transformers (images, namespace) or a chart's templates make it. In Git
    they would fail the build of a correct change; there the review of the commit is the guard.
    """
    return [
        operation.model_dump(mode="json", by_alias=True, exclude_none=True)
        for operation in operations
        if operation.op is not PatchOp.TEST
    ]


def json6902_file(operations: Sequence[PatchOperation]) -> str:
    """The operations to commit as a JSON 6902 file (ASCII only, so it cannot drive a terminal)."""
    return json.dumps(committed_operations(operations), indent=2) + "\n"


class _Quoted(str):
    """A string written in double quotes."""


class _Block(str):
    """A multi-line string written as a literal block, as kustomize's documentation writes a `patch`."""


class _Dumper(yaml.SafeDumper):
    """Writes every string value in double quotes: kustomize reads a patch as YAML 1.1, where a plain
    `y`, `on` or `1e3` is a boolean or a number, not the string the patch sets. Non-ASCII and control
    characters come out escaped."""


_Dumper.add_representer(
    _Quoted, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
)
_Dumper.add_representer(
    _Block, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
)
# A key stays plain when no YAML 1.1 reader could take it for anything but a string.
_PLAIN_KEY = re.compile(r"[A-Za-z][-A-Za-z0-9_./]*")
_YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML11_WORDS else _Quoted(key)


def _typed(value: Any) -> Any:
    if isinstance(value, _Block):
        return value
    if isinstance(value, str):
        return _Quoted(value)
    if isinstance(value, Mapping):
        return {_key(str(key)): _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return value


def _yaml(document: Any) -> str:
    return yaml.dump(_typed(document), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=2**20)


# Printed above every kustomize patch: where it goes, and what differs from the live patch.
_KUSTOMIZE_HOW_TO = (
    "Add the entry under `patches:` to the kustomization.yaml that builds this workload (its resources",
    "include the manifest), or to an Argo CD Application's spec.source.kustomize.patches, a Flux",
    "Kustomization's spec.patches or a HelmRelease's spec.postRenderers[].kustomize.patches; review, commit.",
    "The live patch's `test` guards are left out: they pin the live object's uid and current values, which",
    "the manifest in Git need not hold as such. Paths are the live object's: check that list indexes",
    "(containers/0) point at the same entries in Git. If the manifest has no metadata.namespace (the",
    "kustomization, Argo CD or Flux sets it), delete `namespace` from the target: kustomize patches before",
    "it sets namespaces, and a target that matches nothing changes nothing.",
)


def kustomize_patch(
    target: PatchTarget, operations: Sequence[PatchOperation], *, header: Sequence[str] = ()
) -> str:
    """A kustomization.yaml whose one `patches` entry makes the change to `target`: the operations
    inline as YAML, the target by group, version, kind, name and namespace. `header` lines (already
    escaped for a terminal) come first, as comments."""
    group, _, version = target.api_version.rpartition("/")
    selector = {"group": group, "version": version, "kind": target.kind, "name": target.name}
    selector = {key: value for key, value in selector.items() if value} | {"namespace": target.namespace}
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "patches": [
            {"target": selector, "patch": _Block(_yaml(committed_operations(operations)).rstrip("\n"))}
        ],
    }
    comments = "".join(f"# {' '.join(line.splitlines())}\n" for line in (*header, *_KUSTOMIZE_HOW_TO))
    return comments + _yaml(document)
