"""Every namespace holds kube-root-ca.crt, as kube-controller-manager publishes it, so pods whose
manifests mount the projected kube-api-access volume start as on a real cluster."""

from __future__ import annotations

import json

import pytest

from smart_sre_harness.testing import RunningSandbox

pytestmark = pytest.mark.kubectl

API_ACCESS_POD = """
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: drills}
spec:
  containers:
    - name: reader
      image: busybox:1.36
      command: [sh, -c, "cat /var/run/secrets/kubernetes.io/serviceaccount/ca.crt; sleep infinity"]
      volumeMounts:
        - {name: kube-api-access, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, readOnly: true}
  volumes:
    - name: kube-api-access
      projected:
        sources:
          - configMap:
              name: kube-root-ca.crt
              items: [{key: ca.crt, path: ca.crt}]
          - downwardAPI:
              items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]
"""


def test_a_new_namespace_gets_the_root_ca_and_gets_it_back_when_deleted(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("create", "namespace", "drills")

    def published() -> dict | None:
        found = sandbox.kubectl(
            "get", "configmap", "kube-root-ca.crt", "-n", "drills", "-o", "json", check=False
        )
        return json.loads(found.stdout) if found.returncode == 0 else None

    first = sandbox.wait_for(published)
    assert first["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    sandbox.kubectl("delete", "configmap", "kube-root-ca.crt", "-n", "drills")
    again = sandbox.wait_for(
        lambda: (cm := published()) and cm["metadata"]["uid"] != first["metadata"]["uid"] and cm
    )
    assert again["data"] == first["data"]


def test_a_pod_mounting_the_api_access_volume_starts_and_reads_the_ca(sandbox: RunningSandbox) -> None:
    sandbox.kubectl("create", "namespace", "drills")
    sandbox.kubectl("apply", "-f", "-", input=API_ACCESS_POD)
    sandbox.kubectl("wait", "pod/reader", "-n", "drills", "--for=condition=Ready", "--timeout=30s")
    logs = sandbox.kubectl("logs", "reader", "-n", "drills").stdout
    assert logs.startswith("-----BEGIN CERTIFICATE-----")
