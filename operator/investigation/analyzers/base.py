"""Candidates: ranked root-cause hypotheses with the fix the cluster's facts support.

Analyzers never guess values: a patch names only things that exist (a Service that exposes the port,
an image tag that an earlier revision ran, a node's allocatable memory). When the facts do not
support a fix, a candidate carries no patch and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from smart_sre.api.common import RootCause
from smart_sre.investigation.evidence import Evidence, failing_containers
from smart_sre.investigation.untrusted import clean
from smart_sre.k8s.owners import POD_SPEC_POINTER, pod_spec


@dataclass(frozen=True)
class ProposedPatch:
    target: str  # "Kind/name" in the pod's owner chain
    operations: list[dict]


@dataclass(frozen=True)
class Candidate:
    root_cause: RootCause
    summary: str  # the hypothesis, as a human (and the ranking model) reads it; at most 400 chars
    score: float  # how strongly the facts point here, 0..1; the order before the model ranks
    patch: ProposedPatch | None = None
    facts: tuple[str, ...] = field(default=())  # short quotes of the evidence behind it
    no_patch_reason: str | None = None
    # False when the candidate only reports the failure (an exit code, a log line) and blames nothing
    # in the spec: then the model is asked which setting is the culprit (`investigation.explain`).
    names_culprit: bool = True
    # True when the analyzer's own facts show it is a consequence of another failure (a readiness probe
    # that finds a container gone because it exits by itself): reported, never adjudicated as the cause.
    symptom: bool = False


Analyzer = Callable[[Evidence], list[Candidate]]

# Where a pod spec keeps containers a fix may target: init containers (sidecars among them) and the app's.
CONTAINER_LISTS = ("initContainers", "containers")


def escape(segment: str) -> str:
    """A JSON Pointer segment (RFC 6901)."""
    return segment.replace("~", "~0").replace("/", "~1")


def template_target(evidence: Evidence) -> tuple[str, str, dict]:
    """("Kind/name", pod spec pointer, pod spec) of the object a fix should change: the top owner."""
    owner = evidence.top_owner
    kind = owner.get("kind", "Pod")
    return f"{kind}/{owner['metadata']['name']}", POD_SPEC_POINTER[kind], pod_spec(owner)


def container_pointer(evidence: Evidence, container: str) -> tuple[str, str, dict] | None:
    """("Kind/name", pointer to the container in the target, the container) by container name.

    Names are unique across a pod's containers and init containers (sidecars included), so a finding
    names the container that failed and the fix is aimed at its index in the target's template."""
    target, spec_pointer, spec = template_target(evidence)
    for kind in CONTAINER_LISTS:
        for index, candidate in enumerate(spec.get(kind) or []):
            if candidate.get("name") == container:
                return target, f"{spec_pointer}/{kind}/{index}", candidate
    return None


def volume_pointer(evidence: Evidence, volume: str) -> tuple[str, str, dict] | None:
    """("Kind/name", pointer to the volume in the target, the volume) by volume name."""
    target, spec_pointer, spec = template_target(evidence)
    for index, candidate in enumerate(spec.get("volumes") or []):
        if candidate.get("name") == volume:
            return target, f"{spec_pointer}/volumes/{index}", candidate
    return None


def failed_container(evidence: Evidence) -> str | None:
    """The container a pod-wide fact most likely belongs to: the first one that failed."""
    return next(iter(failing_containers(evidence.pod)), None)


def quote(text: str, limit: int = 200) -> str:
    """`text` on one line, without escapes or control characters, cut to `limit`: candidates quote
    logs and events, which the application writes, and a human reads the quote in a terminal."""
    text = " ".join(clean(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
