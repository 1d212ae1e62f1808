"""Defaults a real API server fills in, as `kubectl describe` and `kubectl get -o json` show them."""

from __future__ import annotations

import json
import re

import pytest

from smart_sre_harness.testing import RunningSandbox

pytestmark = pytest.mark.kubectl

PROBED = """
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: app
      image: nginx:1.27
      ports: [{containerPort: 80}]
      env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
      livenessProbe:
        httpGet: {port: 80}
      readinessProbe:
        tcpSocket: {port: 80}
        periodSeconds: 5
    - name: sidecar
      image: busybox
      command: ["sh", "-c", "sleep 3600"]
"""

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: busybox:1.36
          command: ["sh", "-c", "echo applying; echo done"]
"""


def test_describe_shows_probe_and_pod_defaults(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=PROBED)
    described = sandbox.kubectl("describe", "pod", "web").stdout
    # Column widths follow the longest key in each block (which depends on the container's state).
    liveness = r"Liveness:\s+http-get http://:80/ delay=0s timeout=1s period=10s successThreshold=1 failureThreshold=3"
    readiness = (
        r"Readiness:\s+tcp-socket :80 delay=0s timeout=1s period=5s successThreshold=1 failureThreshold=3"
    )
    assert re.search(liveness, described), described
    assert re.search(readiness, described), described
    assert "POD_NAME:  web (v1:metadata.name)" in described
    assert re.search(r"Port:\s+80/TCP", described), described
    assert "Service Account:  default" in described
    assert "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s" in described
    assert "node.kubernetes.io/unreachable:NoExecute op=Exists for 300s" in described
    spec = json.loads(sandbox.kubectl("get", "pod", "web", "-o", "json").stdout)["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["schedulerName"]) == (
        "Always",
        "ClusterFirst",
        "default-scheduler",
    )
    assert spec["terminationGracePeriodSeconds"] == 30
    app, sidecar = spec["containers"]
    assert (app["imagePullPolicy"], sidecar["imagePullPolicy"]) == ("IfNotPresent", "Always")
    assert app["terminationMessagePath"] == "/dev/termination-log"
    assert app["livenessProbe"]["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}


def test_a_job_selects_its_pods_by_its_uid_and_labels_them_with_its_name(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("apply", "-f", "-", input=JOB)
    job = json.loads(sandbox.kubectl("get", "job", "migrate", "-o", "json").stdout)
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "migrate",
        "controller-uid": uid,
        "job-name": "migrate",
    }
    sandbox.kubectl("wait", "--for=condition=complete", "job/migrate", "--timeout=20s")
    pods = sandbox.kubectl("get", "pods", "-l", f"controller-uid={uid},job-name=migrate", "-o", "name")
    assert len(pods.stdout.split()) == 1
    # kubectl finds a Job's pods through its selector.
    assert sandbox.kubectl("logs", "job/migrate").stdout == "applying\ndone\n"
