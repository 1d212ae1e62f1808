"""The kubectl features an SRE's runbook leans on, with the real kubectl: wait, jsonpath, event
selection and sorting, describe of every served kind, and logs by selector. The seed scenario gives a
Deployment that runs (redis-master) and one that crash-loops (checkout)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from smart_sre_harness.testing import RunningSandbox, kubectl_path

pytestmark = pytest.mark.kubectl

REPO = Path(__file__).resolve().parents[2]

# One of each workload and storage kind the seed does not have, so that `describe` meets them all.
WORKLOADS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: cache, image: "redis:7"}
        - {name: sidecar, image: busybox, command: [sh, -c, "echo sidecar ready; sleep 3600"]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: redis, image: "redis:7"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: busybox, command: [sh, -c, "echo agent up; sleep 3600"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: hello}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: hello, image: busybox, command: [sh, -c, "echo hello"]}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""


def running_pod(sandbox: RunningSandbox, selector: str) -> str:
    """The name of the first pod ``selector`` picks once kubectl lists it."""
    return sandbox.wait_for(
        lambda: (
            sandbox.kubectl("get", "pods", "-l", selector, "-o", "jsonpath={.items[0].metadata.name}").stdout
        ),
    )


def column(sandbox: RunningSandbox, *args: str) -> list[str]:
    """One custom column of ``kubectl get``, top to bottom."""
    return sandbox.kubectl("get", *args, "--no-headers").stdout.split()


@pytest.fixture
def seeded(sandbox: RunningSandbox) -> RunningSandbox:
    """The seed: redis-master serving, checkout crash-looping, report-generator unschedulable."""
    sandbox.apply("seed-crashloop")
    sandbox.apply("seed-pending")
    sandbox.kubectl("wait", "--for=condition=Available", "deployment/redis-master", "--timeout=30s")
    return sandbox


def test_wait_for_conditions_jsonpath_and_deletion(seeded: RunningSandbox) -> None:
    sandbox = seeded
    redis = running_pod(sandbox, "app=redis")
    assert sandbox.kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=redis").stdout.strip() == (
        f"pod/{redis} condition met"
    )
    ran = sandbox.kubectl("wait", "--for=jsonpath={.status.phase}=Running", f"pod/{redis}", "--timeout=10s")
    assert ran.stdout.strip() == f"pod/{redis} condition met"
    unavailable = sandbox.kubectl(
        "wait", "--for=condition=Available=False", "deployment/checkout", "--timeout=20s"
    )
    assert unavailable.stdout.strip() == "deployment.apps/checkout condition met"

    # A crash-looping pod never becomes Ready: the wait times out and says on what.
    checkout = running_pod(sandbox, "component=checkout")
    never = sandbox.kubectl("wait", "--for=condition=Ready", f"pod/{checkout}", "--timeout=1s", check=False)
    assert never.returncode == 1
    assert f"timed out waiting for the condition on pods/{checkout}" in never.stderr

    # A finalizer holds the object in Terminating until it is removed, so the wait sees the deletion.
    held = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
    }
    sandbox.kubectl("apply", "-f", "-", input=json.dumps(held))
    sandbox.kubectl("delete", "configmap", "held", "--wait=false")
    waiting = subprocess.Popen(
        [kubectl_path(), "wait", "--for=delete", "configmap/held", "--timeout=30s"],
        env={**os.environ, **sandbox.kubectl_env()},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)
        assert waiting.poll() is None, "the wait ended while the object was still terminating"
        sandbox.kubectl(
            "patch", "configmap", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
        )
        out, _ = waiting.communicate(timeout=30)
    finally:
        waiting.kill()
    assert waiting.returncode == 0
    assert out.strip() == "configmap/held condition met"


def test_jsonpath_ranges_and_filters_see_the_pods_as_get_does(seeded: RunningSandbox) -> None:
    sandbox = seeded
    running_pod(sandbox, "app=critical-app,component=reports")
    names = column(seeded, "pods", "-o", "custom-columns=NAME:.metadata.name")
    ranged = sandbox.kubectl("get", "pods", "-o", 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}')
    assert ranged.stdout.splitlines() == names

    # A crash-looping pod is still in phase Running; the unschedulable one is Pending.
    running = sandbox.kubectl(
        "get", "pods", "-o", 'jsonpath={.items[?(@.status.phase=="Running")].metadata.name}'
    )
    assert sorted(running.stdout.split()) == sorted(
        name for name in names if name.startswith(("checkout-", "redis-master-"))
    )
    pending = sandbox.kubectl(
        "get",
        "pods",
        "-o",
        'jsonpath={range .items[?(@.status.phase=="Pending")]}{.spec.nodeName}{"|"}{.metadata.name}{"\\n"}{end}',
    )
    assert [line.split("|") for line in pending.stdout.splitlines()] == [
        ["", name] for name in names if name.startswith("report-generator-")
    ]


def test_events_by_field_selector_and_sorted(seeded: RunningSandbox) -> None:
    sandbox = seeded
    checkout = running_pod(sandbox, "component=checkout")
    selector = f"reason=BackOff,involvedObject.name={checkout}"
    backoffs = sandbox.wait_for(lambda: column(sandbox, "events", "--field-selector", selector), timeout=20)
    events = sandbox.kubectl(
        "get", "events", "--field-selector", selector, "--no-headers"
    ).stdout.splitlines()
    assert all(line.split()[1:4] == ["Warning", "BackOff", f"pod/{checkout}"] for line in events), backoffs
    assert "Back-off restarting failed container app in pod" in events[0]

    # `source` is the reporting component: the kubelet's events and none of the controllers'.
    by_kubelet = column(
        sandbox,
        "events",
        "--field-selector",
        "source=kubelet",
        "-o",
        "custom-columns=FROM:.source.component,R:.reason",
    )
    assert set(by_kubelet[::2]) == {"kubelet"}
    assert {"Pulled", "Created", "Started", "BackOff"} <= set(by_kubelet[1::2])
    warnings = column(sandbox, "events", "--field-selector", "type=Warning", "-o", "custom-columns=R:.reason")
    assert set(warnings) >= {"BackOff", "FailedScheduling"}
    assert "Scheduled" not in warnings

    unsupported = sandbox.kubectl("get", "events", "--field-selector", "message=x", check=False)
    assert unsupported.returncode == 1
    assert "field label not supported: message" in unsupported.stderr

    for key in (".lastTimestamp", ".metadata.creationTimestamp"):
        stamps = column(sandbox, "events", f"--sort-by={key}", "-o", f"custom-columns=T:{key}")
        assert len(stamps) > 5, key
        assert stamps == sorted(stamps), key


def test_describe_every_served_kind(seeded: RunningSandbox) -> None:
    sandbox = seeded
    sandbox.kubectl("apply", "-f", "-", input=WORKLOADS)
    sandbox.kubectl("apply", "-f", str(REPO / "crds"))
    sandbox.kubectl("wait", "--for=condition=Established", "crd/debugpolicies.smartsre.io")
    sandbox.kubectl("apply", "-f", str(REPO / "deploy/examples/debugpolicy-seed.yaml"))
    sandbox.kubectl("wait", "--for=condition=Complete", "job/hello", "--timeout=30s")
    sandbox.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=30s")
    kinds = [
        "pod",
        "deployment",
        "replicaset",
        "statefulset",
        "daemonset",
        "job",
        "service",
        "endpoints",
        "configmap",
        "secret",
        "node",
        "namespace",
        "pvc",
        "pv",
        "storageclass",
        "event",
        "crd",
        "debugpolicy",
    ]
    for kind in kinds:
        described = sandbox.kubectl("describe", kind)
        assert described.stdout.startswith("Name:"), kind
        assert not described.stderr, (kind, described.stderr)

    # describe finds each object's events with an involvedObject field selector.
    checkout = sandbox.kubectl("describe", "deployment", "checkout").stdout
    assert "ScalingReplicaSet" in checkout
    assert "Scaled up replica set checkout-" in checkout
    job = sandbox.kubectl("describe", "job", "hello").stdout
    assert "Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed" in job
    assert "Created pod: hello-" in job
    pvc = sandbox.kubectl("describe", "pvc", "data").stdout
    assert "Status:        Bound" in pvc
    secret = sandbox.kubectl("describe", "secret", "creds").stdout
    assert "password:  7 bytes" in secret
    assert "hunter2" not in secret


def test_logs_by_selector_all_containers_and_workload(seeded: RunningSandbox) -> None:
    sandbox = seeded
    sandbox.kubectl("apply", "-f", "-", input=WORKLOADS)
    sandbox.kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")
    web, redis = running_pod(sandbox, "app=web"), running_pod(sandbox, "app=redis")

    prefixed = sandbox.kubectl("logs", "-l", "app in (redis,web)", "--all-containers", "--prefix").stdout
    prefixes = {line.split("] ")[0] + "]" for line in prefixed.splitlines()}
    assert prefixes == {f"[pod/{redis}/redis]", f"[pod/{web}/cache]", f"[pod/{web}/sidecar]"}
    assert f"[pod/{web}/sidecar] sidecar ready" in prefixed.splitlines()

    # Without -c, kubectl picks the first container and says so.
    first = sandbox.kubectl("logs", "deploy/web")
    assert first.stderr == 'Defaulted container "cache" out of: cache, sidecar\n'
    assert "Ready to accept connections" in first.stdout
    assert sandbox.kubectl("logs", "deploy/web", "-c", "sidecar").stdout == "sidecar ready\n"
    both = sandbox.kubectl("logs", "deploy/web", "--all-containers").stdout
    assert "sidecar ready" in both
    assert "Ready to accept connections" in both


def test_field_selectors_on_unset_flags_match_as_false(sandbox: RunningSandbox) -> None:
    """The server formats booleans with FormatBool, so an unset spec.unschedulable selects as "false"."""
    names = "custom-columns=NAME:.metadata.name"
    nodes = column(sandbox, "nodes", "-o", names)
    sandbox.kubectl("cordon", nodes[0])
    assert column(sandbox, "nodes", "--field-selector", "spec.unschedulable=true", "-o", names) == nodes[:1]
    assert column(sandbox, "nodes", "--field-selector", "spec.unschedulable=false", "-o", names) == nodes[1:]
