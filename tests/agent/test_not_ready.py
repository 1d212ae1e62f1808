"""A pod that runs but never gets Ready (issue #15): the NotReady trigger fires on it, the evidence reads the
current run's logs of the containers that are not Ready (readiness restarts nothing, so there is no previous
run to read), and the probe analyzer aims a readiness probe on the wrong port at the port the app logs it
listens on. Over varied names, namespaces, runtimes, handlers and kubelet wordings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from smart_sre.api.common import RootCause, Trigger
from smart_sre.lifecycle.triggers import evaluate
from smart_sre_harness import builders

from .fakes import FakeCluster
from .pods import deployed, investigate, on_sandbox, pod_event, vetted
from .scenarios import NODES

STARTED = "2026-01-05T10:00:00Z"
LATER = datetime(2026, 1, 5, 10, 6, tzinfo=UTC)


def _not_ready(name: str, namespace: str, containers: list[dict], unready: str) -> tuple[dict, ...]:
    """Deployment -> ReplicaSet -> Pod, Running, every container started and only `unready` not Ready."""
    run = {"started": True, "restartCount": 0, "state": {"running": {"startedAt": STARTED}}}
    statuses = [{"name": c["name"], "ready": c["name"] != unready, **run} for c in containers]
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "ContainersNotReady",
        "message": f"containers with unready status: [{unready}]",
        "lastTransitionTime": STARTED,
    }
    return deployed(
        name,
        namespace,
        {"containers": containers},
        {"containerStatuses": statuses, "conditions": [condition]},
    )


async def _investigated(
    objects: tuple[dict, ...], events: list[dict], current: dict[str, str], previous=None
):
    """Detect the pod's trigger as the controller would, then investigate it: (cluster, chain, evidence,
    candidates). `current` and `previous` are the container logs of the current and the previous run."""
    pod = objects[-1]
    verdict = evaluate(pod, frozenset(Trigger), pending_grace=timedelta(minutes=5), now=LATER)
    assert verdict.detection is not None
    assert verdict.detection.trigger is Trigger.NOT_READY
    cluster = FakeCluster([*NODES, *objects, *events])
    name = pod["metadata"]["name"]
    cluster.logs_by_run.update({(name, container, False): text for container, text in current.items()})
    return await investigate([], pod, verdict.detection.trigger, previous, cluster)


def _refused(handler: str, port: int, path: str = "/ready") -> str:
    """The kubelet's failure text for a port nothing listens on."""
    dial = f"dial tcp 10.244.2.7:{port}: connect: connection refused"
    return f'Get "http://10.244.2.7:{port}{path}": {dial}' if handler == "httpGet" else dial


@pytest.mark.parametrize(
    ("namespace", "container", "handler", "probe_port", "log", "listens"),
    [
        ("billing", "invoices", "httpGet", 8080, "INFO:     Uvicorn running on http://0.0.0.0:8000", 8000),
        ("shop", "cart", "httpGet", 8080, "Listening and serving HTTP on :8088", 8088),
        ("media", "thumbs", "tcpSocket", 80, "Server listening on port 3000", 3000),
        ("hr", "payroll", "httpGet", 8080, "Tomcat started on port(s): 9000 (http)", 9000),
        ("crm", "leads", "tcpSocket", 5000, "Now listening on: http://[::]:5001", 5001),
        ("ruby", "storefront", "httpGet", 3000, "* Listening on http://0.0.0.0:9292", 9292),
    ],
)
async def test_a_readiness_probe_on_the_wrong_port_of_a_running_pod_is_aimed_at_the_logged_port(
    namespace: str, container: str, handler: str, probe_port: int, log: str, listens: int
) -> None:
    action = {"port": probe_port, **({"path": "/ready"} if handler == "httpGet" else {})}
    app = {
        "name": container,
        "image": f"registry.local/{container}:2.1",
        "livenessProbe": {"exec": {"command": ["true"]}},
        "readinessProbe": {handler: action, "periodSeconds": 5},
    }
    proxy = {"name": "proxy", "image": "registry.local/envoy:1.30"}
    objects = _not_ready(container, namespace, [proxy, app], container)
    event = pod_event(
        objects[-1], "Unhealthy", f"Readiness probe failed: {_refused(handler, probe_port)}", container
    )
    event["count"] = 70
    cluster, chain, evidence, found = await _investigated(objects, [event], {container: f"booting\n{log}"})

    assert list(evidence.logs) == [container]  # the one not Ready; the proxy's logs do not matter
    assert f"logs of {container} (current run, last lines)" in evidence.observation
    probe = found[0]
    assert probe.root_cause == RootCause.PROBE_FAILURE
    assert probe.score >= 0.85
    assert probe.patch is not None, probe.no_patch_reason
    assert probe.patch.operations == [
        {
            "op": "replace",
            "path": f"/spec/template/spec/containers/1/readinessProbe/{handler}/port",
            "value": listens,
        }
    ]
    assert probe.summary.startswith(f"container {container}: readinessProbe.{handler}.port {probe_port}")
    assert f"listens on {listens}" in probe.summary
    await vetted(cluster, chain, probe)


async def test_the_current_run_is_read_not_an_earlier_one() -> None:
    """A container that restarted once (another cause, long ago) and now only fails its readiness probe:
    the port comes from the run that fails the probe now."""
    app = {
        "name": "api",
        "image": "registry.local/api:4.0",
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
    }
    objects = _not_ready("orders", "fulfilment", [app], "api")
    objects[-1]["status"]["containerStatuses"][0]["restartCount"] = 1
    event = pod_event(
        objects[-1], "Unhealthy", f"Readiness probe failed: {_refused('httpGet', 8080, '/healthz')}", "api"
    )
    _, _, evidence, found = await _investigated(
        objects,
        [event],
        {"api": 'level=info msg="http server listening" addr=:9090'},
        previous={"api": "Server listening on port 7070\npanic: out of memory"},
    )
    assert "7070" not in evidence.log_text()
    assert "logs of api (current run, last lines)" in evidence.observation
    assert found[0].patch is not None
    assert found[0].patch.operations[0]["value"] == 9090


async def test_without_a_logged_port_the_report_says_what_is_missing() -> None:
    app = {
        "name": "worker",
        "image": "registry.local/worker:1",
        "readinessProbe": {"tcpSocket": {"port": 6000}},
    }
    objects = _not_ready("queue", "batch", [app], "worker")
    event = pod_event(
        objects[-1], "Unhealthy", f"Readiness probe failed: {_refused('tcpSocket', 6000)}", "worker"
    )
    _, _, _, found = await _investigated(objects, [event], {"worker": "consuming jobs from the queue"})
    probe = next(c for c in found if c.root_cause == RootCause.PROBE_FAILURE)
    assert probe.patch is None
    assert "do not show which port the app listens on" in (probe.no_patch_reason or "")


# --- On the sandbox --------------------------------------------------------------------------------------------


@pytest.mark.kubectl
def test_a_readiness_path_that_answers_404_is_fixed_and_the_pod_gets_ready_on_the_sandbox(sandbox) -> None:
    """Liveness passes, so the pod runs and never restarts; its readiness path answers 404, so it is never
    Ready. The NotReady trigger fires, the baseline investigation aims the readiness probe at the path the
    passing liveness probe uses, and once patched the pod becomes Ready."""
    image = {
        "apiVersion": "sandbox.smartsre.io/v1alpha1",
        "kind": "SandboxImage",
        "metadata": {"name": "registry.local/catalog"},
        "spec": {"tags": ["2.4"], "language": "python", "port": 8000, "httpPaths": ["/", "/livez"]},
    }
    deployment = builders.deployment("catalog", image="registry.local/catalog:2.4", labels={"app": "catalog"})
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container.update(
        ports=[{"containerPort": 8000}],
        livenessProbe={"httpGet": {"path": "/livez", "port": 8000}, "periodSeconds": 5},
        readinessProbe={"httpGet": {"path": "/ready", "port": 8000}, "periodSeconds": 5},
    )
    sandbox.apply([image, deployment])

    def not_ready() -> dict | None:
        for pod in sandbox.list("pods", "default", label_selector="app=catalog"):
            verdict = evaluate(pod, {Trigger.NOT_READY}, pending_grace=timedelta(0), now=datetime.now(UTC))
            if verdict.detection is not None and _readiness_failures(sandbox, pod) >= 6:
                return pod
        return None

    pod = sandbox.wait_for(not_ready, timeout=30)
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    conclusion = on_sandbox(sandbox, pod, Trigger.NOT_READY)
    assert conclusion.findings.root_cause == RootCause.PROBE_FAILURE
    assert "container app: readinessProbe.httpGet.path /ready answers 404" in conclusion.findings.summary
    patch = conclusion.suggested_patch
    assert patch is not None, conclusion.no_patch_reason
    fix = [op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in patch.operations]
    assert fix[-1] == {  # after the `test` guards of what the fix relies on
        "op": "replace",
        "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path",
        "value": "/livez",
    }
    sandbox.kubectl("patch", "deployment/catalog", "-n", "default", "--type=json", "-p", json.dumps(fix))
    rolled = sandbox.kubectl("rollout", "status", "deployment/catalog", "-n", "default", "--timeout=60s")
    assert "successfully rolled out" in rolled.stdout

    def ready_with_the_fix() -> dict | None:
        for pod in sandbox.list("pods", "default", label_selector="app=catalog"):
            fixed = pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/livez"
            conditions = (pod.get("status") or {}).get("conditions") or []
            if fixed and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return pod
        return None

    patched = sandbox.wait_for(ready_with_the_fix, timeout=30)
    assert patched["status"]["containerStatuses"][0]["restartCount"] == 0


def _readiness_failures(sandbox, pod: dict) -> int:
    """How often the kubelet has reported the pod's readiness probe failing (its Unhealthy events' count)."""
    return sum(
        event.get("count") or 1
        for event in sandbox.list("events", "default")
        if (event.get("involvedObject") or {}).get("name") == pod["metadata"]["name"]
        and (event.get("message") or "").startswith("Readiness probe failed:")
    )
