"""Through the real kubectl, what a user sees when a pod's containers clash over a port, when a hostPort is
taken on the only node, when a non-root user writes to the image, and when a subPath names a key the
ConfigMap lacks: the kubelet's and the programs' own words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smart_sre_harness.testing import DEFAULT_TIME_SCALE, RunningSandbox

TWO_SERVERS = """
apiVersion: v1
kind: Pod
metadata: {name: clash}
spec:
  containers:
    - {name: api, image: "sandbox/web:1.0", env: [{name: PORT, value: "8080"}]}
    - {name: admin, image: "sandbox/web:1.1", env: [{name: PORT, value: "8080"}]}
"""


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"time_scale": DEFAULT_TIME_SCALE, "nodes": [{"name": "solo", "cpu": "4", "memory": "8Gi"}]}


def statuses(sandbox: RunningSandbox, pod: str) -> dict[str, dict]:
    found = sandbox.get("pods", "default", pod).get("status", {}).get("containerStatuses") or []
    return {status["name"]: status for status in found}


def test_the_second_container_binding_a_port_of_the_pod_crash_loops_with_address_in_use(
    sandbox: RunningSandbox,
) -> None:
    sandbox.kubectl("apply", "-f", "-", input=TWO_SERVERS)
    sandbox.wait_for(
        lambda: statuses(sandbox, "clash").get("admin", {}).get("restartCount", 0) >= 1, timeout=20
    )
    previous = sandbox.kubectl("logs", "clash", "-c", "admin", "--previous").stdout
    assert 'error="listen tcp :8080: bind: address already in use"' in previous
    assert statuses(sandbox, "clash")["api"]["state"].get("running")
    assert "1/2" in sandbox.kubectl("get", "pod", "clash", "--no-headers").stdout


def host_port_pod(name: str, port: int) -> str:
    container = {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "hostPort": port}]}
    return json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}
    )


def test_a_host_port_taken_on_the_only_node_keeps_the_next_pod_pending(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=host_port_pod("first", 8080))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/first", "--timeout=20s")
    sandbox.kubectl("apply", "-f", "-", input=host_port_pod("second", 8080))
    sandbox.kubectl("apply", "-f", "-", input=host_port_pod("third", 8081))
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/third", "--timeout=20s")
    message = sandbox.wait_for(
        lambda: (
            sandbox.kubectl(
                "get",
                "events",
                "--field-selector",
                "reason=FailedScheduling,involvedObject.name=second",
                "-o",
                "jsonpath={.items[*].message}",
            ).stdout
        ),
        timeout=20,
    )
    assert message == (
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
    assert "Pending" in sandbox.kubectl("get", "pod", "second", "--no-headers").stdout
    sandbox.kubectl("delete", "pod", "first", "--wait=false")
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/second", "--timeout=30s")


def test_a_non_root_user_cannot_write_the_images_directories_but_tmp_and_volumes(
    sandbox: RunningSandbox,
) -> None:
    overrides = {
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [
                {
                    "name": "writer",
                    "image": "busybox:1.36",
                    "command": [
                        "sh",
                        "-c",
                        "touch /var/lib/marker; touch /tmp/ok /data/ok && echo written; sleep infinity",
                    ],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
        }
    }
    sandbox.kubectl("run", "writer", "--image=busybox:1.36", f"--overrides={json.dumps(overrides)}")
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/writer", "--timeout=20s")
    logs = sandbox.wait_for(lambda: sandbox.kubectl("logs", "writer").stdout, timeout=10)
    assert logs == "touch: /var/lib/marker: Permission denied\nwritten\n"


SUBPATH = """
apiVersion: v1
kind: ConfigMap
metadata: {name: relay-config}
data: {relay.yml: "port: 4318"}
---
apiVersion: v1
kind: Pod
metadata: {name: relay}
spec:
  restartPolicy: Never
  volumes: [{name: config, configMap: {name: relay-config}}]
  containers:
    - name: relay
      image: busybox:1.36
      command: ["sh", "-c", "test -d /etc/relay/relay.yaml && echo directory; cat /etc/relay/relay.yaml"]
      volumeMounts: [{name: config, mountPath: /etc/relay/relay.yaml, subPath: relay.yaml}]
"""


def test_a_subpath_naming_a_key_the_config_map_lacks_mounts_an_empty_directory(
    sandbox: RunningSandbox,
) -> None:
    sandbox.kubectl("apply", "-f", "-", input=SUBPATH)
    sandbox.kubectl("wait", "--for=jsonpath={.status.phase}=Failed", "pod/relay", "--timeout=20s")
    assert sandbox.kubectl("logs", "relay").stdout == "directory\ncat: read error: Is a directory\n"
    reasons = sandbox.kubectl("get", "events", "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "Started" in reasons
    assert "FailedMount" not in reasons  # the kubelet mounts it without a word
