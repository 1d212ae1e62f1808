"""Images that cannot be pulled: a tag or name that does not exist. A fix names only an image this
workload (an earlier revision) or a neighbour in the namespace has run with the same repository."""

from __future__ import annotations

import difflib

from smart_sre.api.common import RootCause
from smart_sre.investigation.analyzers.base import (
    Candidate,
    ProposedPatch,
    container_pointer,
    quote,
)
from smart_sre.investigation.evidence import Evidence
from smart_sre.k8s.owners import pod_spec

_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
_REVISION = "deployment.kubernetes.io/revision"


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


def _known_images(evidence: Evidence, repository: str, current: str) -> list[str]:
    """Pullable images to go back to: this repository in the namespace's templates (newest revision
    first), then this repository running anywhere, then a closely named repository running anywhere
    (a typo in the name)."""
    found: list[tuple[int, str]] = []
    for workload in evidence.workloads:
        revision = int(((workload.get("metadata") or {}).get("annotations") or {}).get(_REVISION, "0") or 0)
        for container in pod_spec(workload).get("containers") or []:
            image = container.get("image", "")
            if image != current and split_image(image)[0] == repository:
                found.append((revision, image))
    found.sort(key=lambda item: -item[0])
    ordered = [image for _, image in found]
    running = [image for image in evidence.running_images if image != current]
    ordered += [image for image in running if split_image(image)[0] == repository]
    if not ordered:
        repositories = {split_image(image)[0]: image for image in running}
        close = difflib.get_close_matches(repository, list(repositories), n=1, cutoff=0.8)
        ordered += [repositories[name] for name in close]
    return list(dict.fromkeys(ordered))


def analyze(evidence: Evidence) -> list[Candidate]:
    candidates = []
    for cs in (evidence.pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") not in _PULL_REASONS:
            continue
        located = container_pointer(evidence, cs["name"])
        spec_image = next(
            (
                c.get("image", "")
                for c in pod_spec(evidence.pod).get("containers") or []
                if c["name"] == cs["name"]
            ),
            "",
        )
        repository, tag = split_image(spec_image)
        known = _known_images(evidence, repository, spec_image)
        patch = None
        if located and known:
            target, pointer, _ = located
            patch = ProposedPatch(target, [{"op": "replace", "path": f"{pointer}/image", "value": known[0]}])
        message = waiting.get("message") or waiting["reason"]
        fix = f" {known[0]} of the same repository has run here; use it." if known else ""
        candidates.append(
            Candidate(
                root_cause=RootCause.IMAGE_PULL,
                summary=f"Container {cs['name']} cannot pull image {spec_image}: tag {tag} of {repository} cannot be pulled.{fix}",
                score=0.95,
                patch=patch,
                facts=(quote(message),),
                no_patch_reason=None if patch else f"no other tag of {repository} is known to this namespace",
            )
        )
    return candidates
