"""LimitRanges and ResourceQuotas are served like on a cluster, so the operator can read the bounds a
resource fix must respect (the sandbox stores them; it does not enforce them at pod creation)."""

from __future__ import annotations

import pytest

from smart_sre_harness.testing import RunningSandbox

pytestmark = pytest.mark.kubectl

BOUNDS = """
apiVersion: v1
kind: LimitRange
metadata: {name: container-bounds, namespace: default}
spec:
  limits:
    - type: Container
      max: {memory: 2Gi}
      default: {memory: 512Mi}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: team-quota, namespace: default}
spec:
  hard: {requests.memory: 4Gi, limits.memory: 8Gi}
"""


def test_limit_ranges_and_quotas_are_served_under_their_short_names(sandbox: RunningSandbox) -> None:
    applied = sandbox.kubectl("apply", "-f", "-", input=BOUNDS).stdout
    assert applied.splitlines() == ["limitrange/container-bounds created", "resourcequota/team-quota created"]
    listed = sandbox.kubectl("get", "limits,quota", "-o", "name").stdout.split()
    assert listed == ["limitrange/container-bounds", "resourcequota/team-quota"]
    stored = sandbox.get("limitranges", "default", "container-bounds")
    assert stored["spec"]["limits"][0]["max"] == {"memory": "2Gi"}
