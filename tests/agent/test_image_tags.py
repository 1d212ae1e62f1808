"""Image tags that cannot be pulled: the fix is an image the facts show pullable (what the last healthy
revision ran first, then an older revision of the workload, then the same repository running Ready here),
never a tag made up; a repository that is unknown or refuses the credentials, or a registry out of reach,
gets findings only that say what is missing."""

from __future__ import annotations

import copy
import json

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.investigation.analyzers import image_pull

from .pods import deployed, investigate, on_sandbox, pod_event, vetted
from .test_changes import (
    conclude,
    controller_history,
    deployment_history,
    operations,
    policy,
    template,
)
from .test_sandbox_agent import _deployment, _failing_pod, _ready

PULL = Trigger.IMAGE_PULL_BACK_OFF


def _not_found(image: str) -> str:
    """containerd's words for a tag the registry does not have."""
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": failed to resolve '
        f'reference "{image}": {image}: not found'
    )


def _pull_failing(container: str, image: str, *, init: bool = False) -> dict:
    entry = {
        "name": container,
        "image": image,
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}},
    }
    return {"phase": "Pending", "initContainerStatuses" if init else "containerStatuses": [entry]}


def _peer(name: str, namespace: str, image: str) -> dict:
    """A Deployment of `image` whose pods all run Ready."""
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}},
        "status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1},
    }


def _running_pod(name: str, namespace: str, image: str, *, state: str = "ready") -> dict:
    """A Running pod elsewhere whose container has `image`: Ready (as the kubelet reports it), running
    but not Ready yet (`state="started"`), or waiting to restart (`state="waiting"`)."""
    status = {"name": "main", "image": image, "ready": state == "ready"}
    if state != "ready":
        status["state"] = (
            {"running": {}} if state == "started" else {"waiting": {"reason": "CrashLoopBackOff"}}
        )
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"containers": [{"name": "main", "image": image}]},
        "status": {"phase": "Running", "containerStatuses": [status]},
    }


# --- Another tag that ran: the workload's own history ------------------------------------------------------


async def test_a_deployment_goes_back_to_the_tag_its_healthy_revision_ran() -> None:
    objects, pod = deployment_history(
        [template(), template(image="registry.local/api:2.0")],
        [1, 0],
        _pull_failing("api", "registry.local/api:2.0"),
    )
    objects += [
        pod_event(pod, "Failed", f'Failed to pull image "registry.local/api:2.0": {_not_found("x")}', "api")
    ]
    objects.append(_peer("other", pod["metadata"]["namespace"], "registry.local/api:1.9"))  # the history wins
    conclusion = await conclude(objects, pod, PULL)
    assert conclusion.findings.root_cause == RootCause.IMAGE_PULL
    assert "containers[0].image registry.local/api:2.0: tag 2.0 of registry.local/api does not exist" in (
        conclusion.findings.summary
    )
    assert "use registry.local/api:1.0: revision 1 ran it healthy" in conclusion.findings.summary
    assert operations(conclusion)[-1] == {
        "op": "replace",
        "path": "/spec/template/spec/containers/0/image",
        "value": "registry.local/api:1.0",
    }
    assert conclusion.candidates[0].score == image_pull.HEALTHY_REVISION
    reverts = [
        c for c in conclusion.candidates if c.patch and c.patch.operations[0]["value"].endswith(":1.0")
    ]
    assert reverts == [conclusion.candidates[0]]  # the "what changed" revert is the same fix: offered once


async def test_a_statefulset_goes_back_to_its_controller_revision_s_image() -> None:
    objects, pod = controller_history(
        "StatefulSet",
        [template(image="registry.local/api:3.2"), template(image="registry.local/api:3.3-rc1")],
        [1, 0],
        _pull_failing("api", "registry.local/api:3.3-rc1"),
        currentRevision="api-5d1f",
        updateRevision="api-5d2f",
    )
    pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = _not_found(
        "registry.local/api:3.3-rc1"
    )
    conclusion = await conclude(objects, pod, PULL)
    assert conclusion.suggested_patch.target.kind == "StatefulSet"
    assert operations(conclusion)[-1]["value"] == "registry.local/api:3.2"


# --- Another tag that runs: the same repository elsewhere ---------------------------------------------------

ELSEWHERE = [
    pytest.param(
        "identity", "containers", "docker.io/library/redis:8.0-rc1", "manifest unknown", [_peer("limiter", "identity", "redis:7.4")],
        "docker.io/library/redis:7.4", "Deployment/limiter runs it Ready now",
        id="same-repository-other-spelling",
    ),
    pytest.param(
        "docs", "containers", "nginx:1.28", _not_found("docker.io/library/nginx:1.28"), [_running_pod("preview", "web", "docker.io/library/nginx:1.27")],
        "nginx:1.27", "a running pod in the cluster has pulled it",
        id="running-in-another-namespace",
    ),
    pytest.param(
        "cache", "containers", "redis:8.0-rc1", "manifest unknown", [_running_pod("limiter", "ops", "redis:7.4", state="started")],
        "redis:7.4", "a running pod in the cluster has pulled it",
        id="started-not-ready-yet-still-proves-the-pull",
    ),
    pytest.param(
        "data", "initContainers", "registry.local/tools/migrate:9.9", "", [_peer("jobs", "data", "registry.local/tools/migrate:9.8")],
        "registry.local/tools/migrate:9.8", "Deployment/jobs runs it Ready now",
        id="init-container",
    ),
    pytest.param(
        "billing", "initContainers", "busybox:1.99", "manifest unknown", [_running_pod("probe", "ops", "busybox:1.36")],
        "busybox:1.36", "a running pod in the cluster has pulled it",
        id="init-container-running-in-another-namespace",
    ),
    pytest.param(
        "media", "containers", "ghcr.io/acme/resizer@sha256:00ff", "manifest unknown", [_peer("thumbs", "media", "ghcr.io/acme/resizer:2.4.1")],
        "ghcr.io/acme/resizer:2.4.1", "Deployment/thumbs runs it Ready now",
        id="digest-to-a-running-tag",
    ),
    pytest.param(
        "shop", "containers", "ngnix:1.27", "", [_running_pod("frontend", "web", "nginx:1.27")],
        "nginx:1.27", "reads like a misspelling",
        id="misspelled-repository",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("namespace", "kind", "image", "said", "others", "fixed", "why"), ELSEWHERE)
async def test_a_tag_that_does_not_exist_takes_one_the_same_repository_runs_here(
    namespace, kind, image, said, others, fixed, why
) -> None:
    container = {"name": "app", "image": image}
    spec = (
        {"containers": [container]}
        if kind == "containers"
        else {
            "initContainers": [container],
            "containers": [{"name": "main", "image": "registry.local/main:1.0"}],
        }
    )
    *objects, pod = deployed("site", namespace, spec, _pull_failing("app", image, init=kind != "containers"))
    objects += [
        pod,
        *others,
        *([pod_event(pod, "Failed", f'Failed to pull image "{image}": {said}', "app")] if said else []),
    ]
    cluster, chain, _, found = await investigate(objects, pod, PULL)
    best = found[0]
    assert best.root_cause == RootCause.IMAGE_PULL
    assert best.score >= 0.6
    who = "Container" if kind == "containers" else "Init container"
    assert f"{who} app cannot pull its {kind}[0].image {image}" in best.summary
    assert why in best.summary
    assert best.patch.operations == [
        {"op": "replace", "path": f"/spec/template/spec/{kind}/0/image", "value": fixed}
    ]
    await vetted(cluster, chain, best)


async def test_a_container_that_never_started_proves_no_pull() -> None:
    image = "redis:8.0-rc1"
    *objects, pod = deployed(
        "site", "cache", {"containers": [{"name": "app", "image": image}]}, _pull_failing("app", image)
    )
    objects += [pod, _running_pod("limiter", "ops", "redis:7.4", state="waiting")]
    _, _, _, found = await investigate(objects, pod, PULL)
    assert found[0].root_cause == RootCause.IMAGE_PULL
    assert found[0].patch is None
    assert "no other tag of redis is known to have run here" in found[0].no_patch_reason


# --- Findings only ---------------------------------------------------------------------------------------------

DENIED = [
    pytest.param(
        "registry.corp.example/payments/api:4.2", None,
        'failed to pull and unpack image "registry.corp.example/payments/api:4.2": failed to resolve reference '
        '"registry.corp.example/payments/api:4.2": failed to authorize: failed to fetch anonymous token: '
        "unexpected status from GET request to https://registry.corp.example/token: 401 Unauthorized",
        "the registry registry.corp.example refuses the pull of registry.corp.example/payments/api; credentials "
        "for it are missing: the pod names no imagePullSecrets", "registry.corp.example/payments/api:4.1",
        id="401-without-pull-secrets",
    ),
    pytest.param(
        "europe-docker.pkg.dev/acme/app/web:1.3", ["gar-reader"],
        "failed to authorize: failed to fetch oauth token: unexpected status: 403 Forbidden",
        "the pod's imagePullSecrets (gar-reader) are not accepted for it", "europe-docker.pkg.dev/acme/app/web:1.2",
        id="403-with-a-pull-secret",
    ),
    pytest.param(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:7", None, "no basic auth credentials",
        "refuses the pull of 123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders; credentials for it are missing",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:6",
        id="ecr-without-credentials",
    ),
    pytest.param(
        "acme/internal-billing:2.0", None,
        'failed to resolve reference "docker.io/acme/internal-billing:2.0": pull access denied, repository does '
        "not exist or may require authorization: server message: insufficient_scope: authorization failed",
        "the repository acme/internal-billing does not exist on docker.io or needs credentials",
        "acme/internal-billing:1.9",
        id="repository-unknown",
    ),
    pytest.param(
        "registry.corp.example/team/cache:5.0", None,
        'failed to do request: Head "https://registry.corp.example/v2/team/cache/manifests/5.0": dial tcp: '
        "lookup registry.corp.example: no such host",
        "the registry registry.corp.example cannot be reached", "registry.corp.example/team/cache:4.0",
        id="registry-unreachable",
    ),
    pytest.param(
        "registry.local/analytics:9.9", None, _not_found("registry.local/analytics:9.9"),
        "no other tag of registry.local/analytics is known to have run here", "registry.local/analytics-ui:9.8",
        id="no-tag-known-only-another-repository",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("image", "secrets", "said", "missing", "peer"), DENIED)
async def test_without_a_pullable_image_the_finding_says_what_is_missing(
    image, secrets, said, missing, peer
) -> None:
    spec = {"containers": [{"name": "app", "image": image}]}
    if secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in secrets]
    *objects, pod = deployed("svc", "team", spec, _pull_failing("app", image))
    # Another tag of the repository runs here: where the registry refuses it is no fix, and another
    # repository's tag is never borrowed.
    objects += [
        pod,
        _peer("peer", "team", peer),
        pod_event(pod, "Failed", f'Failed to pull image "{image}": {said}', "app"),
    ]
    _, _, _, found = await investigate(objects, pod, PULL)
    best = found[0]
    assert best.root_cause == RootCause.IMAGE_PULL
    assert best.patch is None
    assert best.score >= 0.6
    assert missing in best.no_patch_reason
    assert f"Container app cannot pull its containers[0].image {image}" in best.summary


# --- On the sandbox --------------------------------------------------------------------------------------------


@pytest.mark.kubectl
def test_a_rollout_to_a_tag_that_does_not_exist_is_undone_to_the_good_tag_on_the_sandbox(sandbox) -> None:
    healthy = _deployment("catalog", "sandbox/web:1.1")
    sandbox.apply([healthy])
    _failing_pod(sandbox, "catalog", _ready)
    broken = copy.deepcopy(healthy)
    broken["spec"]["template"]["spec"]["containers"][0]["image"] = "sandbox/web:9.9"
    sandbox.apply([broken])

    def pull_failing(pod: dict) -> bool:
        return any(
            ((s.get("state") or {}).get("waiting") or {}).get("reason") == "ImagePullBackOff"
            for s in (pod.get("status") or {}).get("containerStatuses") or []
        )

    pod = _failing_pod(sandbox, "catalog", pull_failing)
    conclusion = on_sandbox(sandbox, pod, PULL, policy=policy())
    assert "tag 9.9 of sandbox/web does not exist" in conclusion.findings.summary
    assert "use sandbox/web:1.1: revision 1 ran it healthy" in conclusion.findings.summary
    fix = operations(conclusion)
    assert fix[-1]["value"] == "sandbox/web:1.1"
    sandbox.kubectl("patch", "deployment/catalog", "-n", "default", "--type=json", "-p", json.dumps(fix))
    rolled = sandbox.kubectl("rollout", "status", "deployment/catalog", "-n", "default", "--timeout=60s")
    assert "successfully rolled out" in rolled.stdout
    images = {pod["spec"]["containers"][0]["image"] for pod in sandbox.list("pods", "default")}
    assert images == {"sandbox/web:1.1"}
