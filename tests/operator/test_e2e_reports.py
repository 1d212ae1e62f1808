"""End to end with real Kopf on the sandbox: exactly one report per problem, whatever happens around it.

The sidecar is down in these tests (nothing listens at SMART_SRE_INFERENCE_URL), which is itself a case
the operator must handle: the report waits as Pending with InferenceUnavailable, never fails.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from . import scenario
from .reading import condition, reports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_replicas_relists_and_restarts_make_exactly_one_report(sandbox, operator_process):
    sandbox.run(sandbox.sandbox.apply([scenario.policy(), scenario.crashing_client(replicas=3)]))
    sandbox.wait_for(
        lambda: (
            len([p for p in sandbox.list("pods", "default") if "CrashLoopBackOff" in str(p["status"])]) == 3
        ),
        timeout=60,
    )
    operator_process.start().wait_alive()

    report = sandbox.wait_for(lambda: reports(sandbox) and reports(sandbox)[0], timeout=30)
    assert report["spec"]["trigger"] == "CrashLoopBackOff"
    assert report["spec"]["workloadRef"]["kind"] == "Deployment"
    assert report["spec"]["workloadRef"]["name"] == "checkout-api"
    waiting = sandbox.wait_for(
        lambda: (c := condition(reports(sandbox)[0], "InferenceUnavailable")) and c["status"] == "True" and c,
        timeout=30,
    )
    assert "retrying" in waiting["message"]
    assert reports(sandbox)[0]["status"]["phase"] == "Pending"
    metrics = operator_process.metrics()
    assert 'smart_sre_reports_created_total{trigger="CrashLoopBackOff"} 1.0' in metrics
    assert "smart_sre_inference_unavailable_total" in metrics
    assert set(operator_process.wait_alive()["analyses"]) == {"running", "queued"}  # the liveness probe

    # Every watch stream dropped and its history forgotten: Kopf re-lists every pod and report.
    request = urllib.request.Request(
        sandbox.url + "/sandbox/faults",
        data=json.dumps({"dropWatches": True, "compactHistory": True}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()
    time.sleep(5)
    assert [r["metadata"]["name"] for r in reports(sandbox)] == [report["metadata"]["name"]]

    operator_process.stop(kill=True)
    operator_process.start().wait_alive()
    time.sleep(5)
    after = reports(sandbox)
    assert [r["metadata"]["name"] for r in after] == [report["metadata"]["name"]]
    assert after[0]["metadata"]["uid"] == report["metadata"]["uid"]
    assert after[0]["status"]["phase"] == "Pending"

    policy = sandbox.get("debugpolicies", None, "protect-critical-services")
    assert policy["status"]["matchedPods"] == 3
    assert policy["status"]["openReports"] == 1
    assert condition(policy, "Ready")["status"] == "True"

    events = sandbox.list("events", "default")
    opened = [e for e in events if e["reason"] == "DiagnosticReportOpened"]
    assert len(opened) == 1
    assert opened[0]["involvedObject"]["kind"] == "Pod"
    assert report["metadata"]["name"] in opened[0]["message"]
