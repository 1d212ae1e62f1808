"""Images that cannot be pulled (`analyzers.candidates` calls `analyze` for every investigation).

What the registry said decides what a fix may be. A tag that does not exist is replaced only by an image
the facts show pullable, preferring this workload's own history: the image the last healthy revision ran
(the "what changed" evidence), then an image an older revision of this workload ran, then one of the same
repository that a Ready workload or a running pod uses now. A repository that does not exist or needs
credentials has no other tag to go to: only a revert to what a healthy revision ran, or, where nothing
says the repository exists, a closely named repository that runs here (a typo in the name). A registry
that refuses the credentials, or cannot be reached, gets findings only, saying what is missing.

`concerns`, `container_changes`, `field_name`, `ready_containers`, `template_path` and `title` are
shared with `app_errors` (start errors).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    CONTAINER_LISTS,
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.changes import DEPLOYMENT_REVISION, FieldChange
from smart_sre.investigation.evidence import Evidence
from smart_sre.k8s.owners import controller_ref, pod_spec

_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
_DOCKER_HUB = ("docker.io/library/", "docker.io/", "index.docker.io/library/", "index.docker.io/")

# What registries and containerd say, checked in this order (a message may hold several wordings:
# Docker Hub's answer for a repository it does not have reads "pull access denied ... authorization
# failed", and every containerd error "failed to resolve reference").
_VERDICTS = (
    (
        "repository",
        re.compile(
            r"pull access denied|repository does not exist|requested access to the resource is denied"
            r"|name unknown|repository name not known",
            re.IGNORECASE,
        ),
    ),
    (
        "credentials",
        re.compile(
            r"unauthori[sz]ed|forbidden|no basic auth credentials|authentication required"
            r"|failed to authorize|\bdenied\b",
            re.IGNORECASE,
        ),
    ),
    (
        "registry",
        re.compile(
            r"no such host|i/o timeout|connection refused|network is unreachable|x509:|certificate"
            r"|toomanyrequests|too many requests|server misbehaving|TLS handshake",
            re.IGNORECASE,
        ),
    ),
    ("tag", re.compile(r"manifest unknown|not found|failed to resolve reference", re.IGNORECASE)),
)

# Scores: how directly the facts show the replacement image pullable.
HEALTHY_REVISION = 0.95
_OWN_REVISION_READY = 0.9
_RUNNING_ELSEWHERE = 0.85
_OWN_REVISION = 0.8
_SIMILAR_NAME = 0.75
_NO_FIX = 0.9


@dataclass(frozen=True)
class _Choice:
    image: str
    score: float
    why: str  # the fact that shows it pullable, as a sentence's end


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag or digest) of an image reference; tag "latest" when none is given."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        return repository, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, "latest"


def _canonical(repository: str) -> str:
    """The repository as registries name it: `nginx` and `docker.io/library/nginx` are one."""
    for prefix in _DOCKER_HUB:
        if repository.startswith(prefix):
            return repository[len(prefix) :]
    return repository


def _registry(repository: str) -> str:
    first, _, rest = repository.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else "docker.io"


def _same_image_as(spec_repository: str, image: str) -> str:
    """`image` spelled with the spec's repository (the same repository; only the tag or digest is new)."""
    _, tag = split_image(image)
    return spec_repository + tag if tag.startswith("@") else f"{spec_repository}:{tag}"


def title(evidence: Evidence, container: str) -> str:
    """The container as a finding names it: Container api, Init container migrate."""
    init = any(c.get("name") == container for c in pod_spec(evidence.pod).get("initContainers") or [])
    return f"{'Init container' if init else 'Container'} {container}"


def field_name(evidence: Evidence, container: str, field: str) -> str:
    """The field as a pod spec names it: `containers[1].command`, `initContainers[0].image`."""
    path = template_path(evidence, container)
    if path is None:
        return field
    _, _, kind, index = path.split("/")
    return f"{kind}[{index}].{field}"


def template_path(evidence: Evidence, container: str) -> str | None:
    """The container's pointer in the pod template as the "what changed" diff names it: `/spec/containers/1`
    (the diff indexes containers as the failing revision's template lists them, as its pod does)."""
    for kind in CONTAINER_LISTS:
        for index, candidate in enumerate(pod_spec(evidence.pod).get(kind) or []):
            if candidate.get("name") == container:
                return f"/spec/{kind}/{index}"
    return None


def container_changes(evidence: Evidence, container: str) -> dict[str, FieldChange]:
    """This container's own fields that changed since the last healthy revision, by field name."""
    path = template_path(evidence, container)
    if evidence.changes is None or path is None:
        return {}
    return {
        change.path[len(path) + 1 :]: change
        for change in evidence.changes.fields
        if change.path.startswith(path + "/") and "/" not in change.path[len(path) + 1 :]
    }


def _runs_ready(workload: dict) -> bool:
    """Pods of exactly this template are Ready now (a rollout in progress may show the old ones)."""
    status = workload.get("status") or {}
    kind = workload.get("kind")
    if kind == "ReplicaSet":
        return max(int(status.get("readyReplicas") or 0), int(status.get("availableReplicas") or 0)) > 0
    if kind == "StatefulSet":
        updated = status.get("currentRevision") == status.get("updateRevision")
        return int(status.get("readyReplicas") or 0) > 0 and updated
    if kind == "DaemonSet":
        return int(status.get("numberReady") or 0) > 0 and not status.get("numberUnavailable")
    if kind == "Deployment":
        ready = int(status.get("readyReplicas") or 0)
        return ready > 0 and int(status.get("updatedReplicas") or 0) == ready == int(
            status.get("replicas") or 0
        )
    return False


def ready_containers(evidence: Evidence) -> Iterator[tuple[str, dict]]:
    """("Kind/name", container) of every workload template in the namespace whose pods run Ready now."""
    for workload in evidence.workloads:
        if _runs_ready(workload):
            name = f"{workload.get('kind')}/{workload['metadata']['name']}"
            spec = pod_spec(workload)
            for kind in CONTAINER_LISTS:
                for container in spec.get(kind) or []:
                    yield name, container


def _own_revisions(evidence: Evidence, container: str) -> Iterator[tuple[int, bool, str]]:
    """(revision, Ready now, image) of this container in the failing workload's other ReplicaSets."""
    uid = evidence.top_owner["metadata"].get("uid")
    current = evidence.chain[1]["metadata"]["name"] if len(evidence.chain) > 2 else None
    for workload in evidence.workloads:
        meta = workload["metadata"]
        if workload.get("kind") != "ReplicaSet" or meta["name"] == current:
            continue
        if uid is None or (controller_ref(workload) or {}).get("uid") != uid:
            continue
        revision = str((meta.get("annotations") or {}).get(DEPLOYMENT_REVISION, ""))
        number = int(revision) if revision.isdigit() else 0
        spec = pod_spec(workload)
        for kind in CONTAINER_LISTS:
            for candidate in spec.get(kind) or []:
                if candidate.get("name") == container and candidate.get("image"):
                    yield number, _runs_ready(workload), candidate["image"]


def _choices(evidence: Evidence, container: str, image: str, verdict: str) -> list[_Choice]:
    """Images that can replace `image`, best first; each one a fact shows pullable."""
    if verdict in ("credentials", "registry"):
        return []
    found = _healthy_revision(evidence, container, image, verdict)
    if verdict in ("tag", "unknown"):
        found += _same_repository(evidence, container, image)
    if verdict in ("repository", "unknown") and not found:
        found = _similar(evidence, image)
    unique: dict[str, _Choice] = {}
    for choice in found:
        unique.setdefault(choice.image, choice)
    return [choice for name, choice in unique.items() if name != image]


def _healthy_revision(evidence: Evidence, container: str, image: str, verdict: str) -> list[_Choice]:
    """The image the last healthy revision ran, from the "what changed" evidence; for a repository
    nobody can pull, only an image of another repository (an older tag of it is no better)."""
    change = container_changes(evidence, container).get("image")
    if change is None or evidence.changes is None or not isinstance(change.old, str):
        return []
    if verdict == "repository" and _canonical(split_image(change.old)[0]) == _canonical(
        split_image(image)[0]
    ):
        return []
    running = {c.get("image") for _, c in ready_containers(evidence)} | set(evidence.running_images)
    healthy = f"revision {evidence.changes.healthy_revision} ran it healthy"
    return [
        _Choice(
            change.old,
            HEALTHY_REVISION if change.old in running else _OWN_REVISION_READY,
            f"{healthy} ({quote(evidence.changes.healthy, 90)})",
        )
    ]


def _same_repository(evidence: Evidence, container: str, image: str) -> list[_Choice]:
    """Other tags of the image's repository: this workload's other revisions (Ready ones, then the
    newest first), then what Ready workloads of the namespace and running pods anywhere run."""
    repository, _ = split_image(image)
    same = _canonical(repository)
    found = [
        _Choice(
            theirs,
            _OWN_REVISION_READY if ready else _OWN_REVISION,
            f"revision {number} of this workload ran it" + (" and runs Ready now" if ready else ""),
        )
        for number, ready, theirs in sorted(
            _own_revisions(evidence, container), key=lambda item: (not item[1], -item[0])
        )
        if _canonical(split_image(theirs)[0]) == same
    ]
    running = [(f"{name} runs it Ready now", c.get("image", "")) for name, c in ready_containers(evidence)]
    running += [("a running pod in the cluster has pulled it", other) for other in evidence.running_images]
    return found + [
        _Choice(_same_image_as(repository, theirs), _RUNNING_ELSEWHERE, why)
        for why, theirs in running
        if _canonical(split_image(theirs)[0]) == same
    ]


def _similar(evidence: Evidence, image: str) -> list[_Choice]:
    """An image of a closely named repository that runs here (a typo), the same tag first."""
    repository, tag = split_image(image)
    running = [*evidence.running_images, *(c.get("image", "") for _, c in ready_containers(evidence))]
    by_repository: dict[str, list[str]] = {}
    for other in running:
        by_repository.setdefault(_canonical(split_image(other)[0]), []).append(other)
    names = [name for name in by_repository if name != _canonical(repository)]
    close = difflib.get_close_matches(_canonical(repository), names, n=1, cutoff=0.8)
    choices = sorted(
        (other for name in close for other in by_repository[name]),
        key=lambda other: split_image(other)[1] != tag,
    )
    return [
        _Choice(
            other, _SIMILAR_NAME, f"it runs here, and {repository} reads like a misspelling of its repository"
        )
        for other in choices
    ]


def concerns(event: dict, container: str) -> bool:
    """The event is about this container (its field path names it) or about the pod as a whole."""
    path = (event.get("involvedObject") or {}).get("fieldPath") or ""
    return not path or path.endswith("{" + container + "}")


def _verdict(texts: list[str]) -> str:
    """What the registry's answer says failed: repository, credentials, registry, tag, else unknown."""
    for verdict, pattern in _VERDICTS:
        if any(pattern.search(text) for text in texts):
            return verdict
    return "unknown"


def _said(evidence: Evidence, container: str, image: str, waiting: dict) -> list[str]:
    """The kubelet's words on this pull: the waiting message, then the events about this image."""
    texts = [waiting.get("message") or ""]
    texts += [
        event.get("message", "")
        for event in evidence.events
        if concerns(event, container) and image in event.get("message", "")
    ]
    return [text for text in texts if text]


def _what(verdict: str, image: str) -> str:
    """What the registry's answer says, as the finding's first words."""
    repository, tag = split_image(image)
    registry = _registry(_canonical(repository))
    named = f"digest {tag[1:]}" if tag.startswith("@") else f"tag {tag}"
    return {
        "tag": f"{named} of {repository} does not exist",
        "repository": f"the repository {repository} does not exist on {registry} or needs credentials",
        "credentials": f"the registry {registry} refuses the pull of {repository}",
        "registry": f"the registry {registry} cannot be reached",
    }.get(verdict, f"{named} of {repository} cannot be pulled")


def _missing(evidence: Evidence, image: str, verdict: str) -> str:
    """What a fix would need that the facts do not show, after `_what`."""
    repository, _ = split_image(image)
    secrets = [str(ref.get("name")) for ref in pod_spec(evidence.pod).get("imagePullSecrets") or []]
    named = (
        f"the pod's imagePullSecrets ({', '.join(secrets)}) are not accepted for it"
        if secrets
        else "the pod names no imagePullSecrets (its service account may add some)"
    )
    if verdict == "credentials":
        return f"credentials for it are missing: {named}"
    if verdict == "repository":
        return (
            f"{named}, and no similarly named repository runs here: fix the image name or add a pull secret"
        )
    if verdict == "registry":
        return "another tag would not help: check the registry's address, the network and its certificate"
    return (
        f"no other tag of {repository} is known to have run here (no earlier revision of this workload, no "
        "running pod): set one that exists in the registry"
    )


def _candidate(evidence: Evidence, container: str, image: str, waiting: dict) -> Candidate:
    texts = _said(evidence, container, image, waiting)
    verdict = _verdict(texts) if waiting.get("reason") != "ErrImageNeverPull" else "unknown"
    located = container_pointer(evidence, container)
    facts = [quote(text) for text in texts[:2]]
    patch, score, choices = None, _NO_FIX, _choices(evidence, container, image, verdict)
    what = _what(verdict, image)
    if located is not None and located[2].get("image") != image:
        ending = f"the workload's template no longer runs {image}: it changed since this pod was created"
    elif located is not None and choices:
        best, (target, pointer, _) = choices[0], located
        patch = ProposedPatch(target, [{"op": "replace", "path": f"{pointer}/image", "value": best.image}])
        score, ending = best.score, f"use {best.image}: {best.why}"
        facts.append(f"{best.image}: {best.why}")
    else:
        ending = _missing(evidence, image, verdict)
    return Candidate(
        root_cause=RootCause.IMAGE_PULL,
        summary=quote(
            f"{title(evidence, container)} cannot pull its {field_name(evidence, container, 'image')} {image}: "
            f"{what}; {ending}.",
            400,
        ),
        score=score,
        patch=patch,
        facts=tuple(facts),
        no_patch_reason=None if patch else f"{what}; {ending}",
    )


def analyze(evidence: Evidence) -> list[Candidate]:
    candidates = []
    status = evidence.pod.get("status") or {}
    spec = pod_spec(evidence.pod)
    images = {c["name"]: c.get("image", "") for kind in CONTAINER_LISTS for c in spec.get(kind) or []}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _PULL_REASONS:
            candidates.append(_candidate(evidence, cs["name"], images.get(cs["name"], ""), waiting))
    return candidates
