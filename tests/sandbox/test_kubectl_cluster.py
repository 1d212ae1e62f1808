"""The real kubectl against the simulated cluster: the seed failures look as they would on a real one."""

from __future__ import annotations

import json

import pytest

from smart_sre_harness.testing import RunningSandbox

pytestmark = pytest.mark.kubectl

# A second Redis, created by the user as a Deployment and a Service named "cache".
CACHE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, labels: {app: cache}}
spec:
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers:
        - name: redis
          image: redis:7
          ports: [{containerPort: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: cache}
spec:
  selector: {app: cache}
  ports: [{port: 6379}]
"""


def pod_rows(sandbox: RunningSandbox) -> dict[str, list[str]]:
    """`kubectl get pods` as {name: [READY, STATUS, RESTARTS...]}."""
    lines = sandbox.kubectl("get", "pods", "--no-headers").stdout.splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines}


def named(sandbox: RunningSandbox, prefix: str) -> str:
    return sandbox.wait_for(
        lambda: next((name for name in pod_rows(sandbox) if name.startswith(prefix)), None)
    )


def test_seed_failures_show_as_crash_loop_and_pending_with_their_events_and_logs(
    sandbox: RunningSandbox,
) -> None:
    sandbox.apply("seed-crashloop")
    sandbox.apply("seed-pending")
    checkout, reports = named(sandbox, "checkout-"), named(sandbox, "report-generator-")
    sandbox.wait_for(lambda: pod_rows(sandbox)[checkout][1] == "CrashLoopBackOff", timeout=20)
    rows = pod_rows(sandbox)
    assert rows[checkout][0] == "0/1"
    assert int(rows[checkout][2]) >= 1
    assert rows[reports][:3] == ["0/1", "Pending", "0"]

    described = sandbox.kubectl("describe", "pod", reports).stdout
    assert "FailedScheduling" in described
    assert (
        "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: "
        "3 No preemption victims found for incoming pod." in described
    )
    crash = sandbox.kubectl("describe", "pod", checkout).stdout
    assert "Back-off restarting failed container app in pod" in crash
    assert "Last State:     Terminated" in crash

    previous = sandbox.kubectl("logs", checkout, "--previous").stdout
    assert "Connection refused to redis:6379" in previous
    # The current run may have just started: it has logged its banner at least.
    assert "Starting api-client 2.3" in sandbox.kubectl("logs", "deployment/checkout", "--tail=5").stdout


def test_strategic_patch_of_redis_host_makes_the_new_pod_ready(sandbox: RunningSandbox) -> None:
    sandbox.apply("seed-crashloop")
    named(sandbox, "checkout-")
    sandbox.kubectl("apply", "-f", "-", input=CACHE)
    # The app dials the cache once at start-up: a cache still starting would crash it once, as it would
    # on a real cluster, so the user waits for the cache before pointing the app at it.
    sandbox.kubectl("rollout", "status", "deployment/cache", "--timeout=30s")
    sandbox.wait_for(
        lambda: (
            sandbox.kubectl(
                "get", "endpoints", "cache", "-o", "jsonpath={.subsets[*].addresses[*].ip}"
            ).stdout
        )
    )
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "env": [{"name": "REDIS_HOST", "value": "cache"}]}]}
            }
        }
    }
    sandbox.kubectl("patch", "deployment", "checkout", "--type", "strategic", "-p", json.dumps(patch))
    sandbox.kubectl("rollout", "status", "deployment/checkout", "--timeout=30s")
    rows = sandbox.wait_for(
        lambda: (r := pod_rows(sandbox)) and len([n for n in r if n.startswith("checkout-")]) == 1 and r
    )
    checkout = next(name for name in rows if name.startswith("checkout-"))
    assert rows[checkout][:3] == ["1/1", "Running", "0"]
    env = json.loads(sandbox.kubectl("get", "pod", checkout, "-o", "json").stdout)["spec"]["containers"][0][
        "env"
    ]
    assert {"name": "REDIS_HOST", "value": "cache"} in env


def test_deleting_a_deployment_garbage_collects_its_replica_sets_and_pods(sandbox: RunningSandbox) -> None:
    sandbox.apply("seed-crashloop")
    named(sandbox, "checkout-")
    sandbox.kubectl("delete", "deployment", "checkout")
    sandbox.wait_for(lambda: not any(name.startswith("checkout-") for name in pod_rows(sandbox)))
    assert "checkout" not in sandbox.kubectl("get", "replicasets").stdout
    assert any(name.startswith("redis-master-") for name in pod_rows(sandbox))


def test_nodes_look_like_real_nodes(sandbox: RunningSandbox) -> None:
    lines = sandbox.kubectl("get", "nodes", "--no-headers").stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [[f"sandbox-worker-{i}", "Ready"] for i in (1, 2, 3)]
    described = sandbox.kubectl("describe", "node", "sandbox-worker-1").stdout
    assert "disktype=ssd" in described
    assert "Allocatable:" in described
