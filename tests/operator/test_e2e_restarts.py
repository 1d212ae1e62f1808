"""End to end with real Kopf and the real kubectl: a kill mid-apply, the cooldown, the retention clean-up.

No model: the operator opens the report itself, then the report is put in AwaitingApproval with a
vetted patch while the operator is stopped (see seeding.py), and the operator is started again.
Cooldown and retention run on the operator's wall clock; housekeeping runs every second here
(SMART_SRE_HOUSEKEEPING_INTERVAL) so a policy's status and the clean-up follow within a second.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import pytest

from smart_sre_harness.processes import Operator
from smart_sre_sandbox.errors import ApiError
from smart_sre_sandbox.patching import JSON_PATCH

from . import scenario
from .reading import condition, report_now, reports
from .seeding import admin_approval, open_and_seed

pytestmark = [
    pytest.mark.usefixtures("kubectl_plugin", "fast_housekeeping"),
    pytest.mark.e2e,
    pytest.mark.kubectl,
    pytest.mark.slow,
]

POLICY = "protect-critical-services"
LABEL_OCCURRENCE = "smartsre.io/occurrence"
LABEL_PROBLEM = "smartsre.io/problem"


@pytest.fixture
def fast_housekeeping(operator_process: Operator) -> None:
    operator_process.env["SMART_SRE_HOUSEKEEPING_INTERVAL"] = "1s"


def phase(sandbox, name: str) -> str | None:
    return (report_now(sandbox, name).get("status") or {}).get("phase")


def event_reasons(sandbox, name: str) -> dict[str, str]:
    """The reasons of the Events posted on report `name`, with the latest message of each."""
    events = sandbox.list("events", "default")
    return {
        event["reason"]: event["message"]
        for event in sorted(events, key=lambda e: e["metadata"]["resourceVersion"])
        if event["involvedObject"].get("kind") == "DiagnosticReport"
        and event["involvedObject"]["name"] == name
    }


def open_reports(sandbox) -> int | None:
    return (sandbox.get("debugpolicies", None, POLICY).get("status") or {}).get("openReports")


def timing(report: dict, key: str) -> datetime:
    return datetime.fromisoformat(report["status"]["timings"][key])


class DeploymentPatches:
    """What the sandbox's API server does with JSON patches to one Deployment, and a way to hold one.

    `outcomes` lists every such patch that reached the store, in order: "applied", or the refusal.
    After `hold_next()`, the next one waits inside the API server, received but not yet applied,
    until `release()`: a request in flight, which still lands if its client died meanwhile (aiohttp
    does not cancel a handler whose client went away).
    """

    def __init__(self, sandbox, monkeypatch: pytest.MonkeyPatch, deployment: str) -> None:
        self._loop = sandbox.loop
        self._gate = asyncio.Event()
        self._armed = False
        self.held = False
        self.outcomes: list[str] = []
        store = sandbox.store
        original = store.patch

        async def patch(rt, namespace, name, patch_type, body, **options: Any) -> dict:
            ours = rt.plural == "deployments" and name == deployment and patch_type.startswith(JSON_PATCH)
            if not ours or options.get("dry_run"):
                return await original(rt, namespace, name, patch_type, body, **options)
            if self._armed:
                self._armed, self.held = False, True
                await self._gate.wait()
            try:
                patched = await original(rt, namespace, name, patch_type, body, **options)
            except ApiError as error:
                self.outcomes.append(f"refused: {error.message}")
                raise
            self.outcomes.append("applied")
            return patched

        monkeypatch.setattr(store, "patch", patch)

    def hold_next(self) -> None:
        self._armed = True

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._gate.set)


@pytest.fixture
def ledger_patches(sandbox, monkeypatch: pytest.MonkeyPatch) -> DeploymentPatches:
    return DeploymentPatches(sandbox, monkeypatch, "ledger")


@pytest.mark.parametrize("lands", ["while-the-operator-is-down", "after-the-restart-applied-it"])
def test_operator_killed_mid_apply_applies_the_patch_exactly_once(
    sandbox, operator_process, ledger_patches, lands
):
    """SIGKILL while the operator's PATCH of the Deployment is in flight, in both possible orders.

    The API server holds the operator's PATCH (received, not applied) while the report is Applying;
    the operator is SIGKILLed, so it never learns whether the patch landed. Then, deterministically:

    - while-the-operator-is-down: the held PATCH lands before the restart. The restarted operator
      finds the report Applying, sees the target already carries the patch, and records it as
      applied ("already carries the patch") without sending it again.
    - after-the-restart-applied-it: the restarted operator patches the target itself first; the old
      PATCH lands only afterwards and its `test` guard (memory still 64Gi) makes the API server
      refuse it, so the change is made once.

    (The sandbox's latency fault matches on the path only, so it would also delay the operator's GET
    of the Deployment before its PATCH: a kill "during the latency" could land during either.)
    """
    policy = scenario.policy(triggers=["Pending"], pendingGracePeriod="1s")
    report = open_and_seed(sandbox, operator_process, [policy, scenario.memory_hungry()])
    name, sha = report["metadata"]["name"], report["status"]["suggestedPatch"]["sha256"]
    generation = sandbox.get("deployments", "default", "ledger")["metadata"]["generation"]

    ledger_patches.hold_next()
    sandbox.kubectl("patch", "dr", name, "--type", "merge", "-p", json.dumps(admin_approval(sha)))
    sandbox.wait_for(lambda: ledger_patches.held, timeout=30)
    assert phase(sandbox, name) == "Applying"
    operator_process.stop(kill=True)

    if lands == "while-the-operator-is-down":
        ledger_patches.release()
        sandbox.wait_for(lambda: ledger_patches.outcomes == ["applied"])
        operator_process.start().wait_alive()
        sandbox.wait_for(lambda: phase(sandbox, name) == "Applied", timeout=30)
        assert ledger_patches.outcomes == ["applied"]  # the restarted operator sent none
        recorded = "Deployment/ledger already carries the patch"
    else:
        operator_process.start().wait_alive()
        sandbox.wait_for(lambda: phase(sandbox, name) == "Applied", timeout=30)
        assert ledger_patches.outcomes == ["applied"]  # the restarted operator's own patch
        ledger_patches.release()
        sandbox.wait_for(lambda: len(ledger_patches.outcomes) == 2)
        assert ledger_patches.outcomes[1].startswith("refused:"), ledger_patches.outcomes
        assert "64Gi" in ledger_patches.outcomes[1]  # the guard of the old request
        recorded = "patched Deployment/ledger"
    assert recorded in condition(report_now(sandbox, name), "PatchApplied")["message"]

    verified = sandbox.wait_for(lambda: report_now(sandbox, name)["status"].get("verification"), timeout=60)
    assert verified["result"] == "Verified", verified
    deployment = sandbox.get("deployments", "default", "ledger")
    assert deployment["metadata"]["generation"] == generation + 1
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] == "256Mi"
    )
    assert [r["metadata"]["uid"] for r in reports(sandbox)] == [report["metadata"]["uid"]]
    events = sandbox.wait_for(
        lambda: (e := event_reasons(sandbox, name)) and {"ApplyApplied", "Verified"} <= e.keys() and e,
        timeout=30,
    )
    assert recorded in events["ApplyApplied"]
    sandbox.wait_for(lambda: open_reports(sandbox) == 0, timeout=10)


def test_cooldown_holds_back_the_next_report_until_it_has_passed(sandbox, operator_process):
    """After a rejection the pod keeps crash-looping; occurrence 2 opens only once `cooldown` has passed."""
    cooldown = 60  # the shortest a policy may set
    policy = scenario.policy(triggers=["CrashLoopBackOff"], cooldown=f"{cooldown}s")
    crashing = scenario.deployment(
        "checkout-api", image="sandbox/api-client:1.0", env={"REDIS_HOST": "redis"}, memory="128Mi"
    )
    first = open_and_seed(sandbox, operator_process, [policy, crashing])
    name = first["metadata"]["name"]
    assert first["metadata"]["labels"][LABEL_OCCURRENCE] == "1"
    pod = first["spec"]["podRef"]["name"]

    def container() -> dict:
        return sandbox.get("pods", "default", pod)["status"]["containerStatuses"][0]

    assert "rejected" in sandbox.kubectl("sre", "reject", name).stdout
    sandbox.wait_for(lambda: phase(sandbox, name) == "Rejected", timeout=30)
    restarts = container()["restartCount"]
    closed = timing(report_now(sandbox, name), "finishedAt")
    sandbox.wait_for(lambda: open_reports(sandbox) == 0, timeout=10)
    sandbox.wait_for(lambda: "Rejected" in event_reasons(sandbox, name), timeout=10)

    # The pod crashes and enters CrashLoopBackOff again within the cooldown (its back-off is at most
    # 10 s at this time scale): a pod event that would open a report if there were no cooldown.
    sandbox.wait_for(
        lambda: (
            (status := container())["restartCount"] > restarts
            and ((status["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff")
        ),
        timeout=cooldown,
    )
    assert time.time() < closed.timestamp() + cooldown
    assert [r["metadata"]["name"] for r in reports(sandbox)] == [name]

    second = sandbox.wait_for(
        lambda: next(
            (
                r
                for r in reports(sandbox)
                if r["metadata"]["name"] != name and "timings" in r.get("status", {})
            ),
            None,
        ),
        timeout=cooldown,
    )
    assert sorted(r["metadata"]["name"] for r in reports(sandbox)) == [name, f"{name}-2"]
    assert second["metadata"]["name"] == f"{name}-2"
    assert second["metadata"]["labels"][LABEL_OCCURRENCE] == "2"
    assert second["metadata"]["labels"][LABEL_PROBLEM] == first["metadata"]["labels"][LABEL_PROBLEM]
    assert second["spec"]["trigger"] == "CrashLoopBackOff"
    assert (timing(second, "startedAt") - closed).total_seconds() >= cooldown
    assert phase(sandbox, name) == "Rejected"
    sandbox.wait_for(lambda: open_reports(sandbox) == 1, timeout=10)


def test_pending_pod_reopens_after_the_cooldown_and_the_closed_report_goes_after_its_retention(
    sandbox, operator_process
):
    """A report of a pod that stays Pending is rejected. The pod sends no further event, yet occurrence 2
    opens once `cooldown` has passed; the rejected report is deleted once `reportRetention` has passed,
    not before."""
    cooldown, retention = 60, 60  # the shortest cooldown a policy may set; retention at least as long
    policy = scenario.policy(
        triggers=["Pending"],
        pendingGracePeriod="1s",
        cooldown=f"{cooldown}s",
        reportRetention=f"{retention}s",
    )
    report = open_and_seed(sandbox, operator_process, [policy, scenario.memory_hungry()])
    name, uid = report["metadata"]["name"], report["metadata"]["uid"]

    # Open reports are kept however old they are.
    created = datetime.fromisoformat(report["metadata"]["creationTimestamp"]).timestamp()
    time.sleep(max(0.0, created + retention + 2 - time.time()))
    assert phase(sandbox, name) == "AwaitingApproval"

    rejection = {"spec": {"approval": {"decision": "Rejected"}}}
    sandbox.kubectl("patch", "dr", name, "--type", "merge", "-p", json.dumps(rejection))
    sandbox.wait_for(lambda: phase(sandbox, name) == "Rejected", timeout=30)
    closed = timing(report_now(sandbox, name), "finishedAt")

    second = sandbox.wait_for(
        lambda: next((r for r in reports(sandbox) if r["metadata"]["name"] == f"{name}-2"), None),
        timeout=cooldown + 20,
    )
    assert second["metadata"]["labels"][LABEL_OCCURRENCE] == "2"
    assert second["spec"]["trigger"] == "Pending"
    second = sandbox.wait_for(
        lambda: "timings" in (s := report_now(sandbox, f"{name}-2")).get("status", {}) and s
    )
    assert (timing(second, "startedAt") - closed).total_seconds() >= cooldown

    sandbox.wait_for(
        lambda: uid not in {r["metadata"]["uid"] for r in reports(sandbox)}, timeout=retention + 20
    )
    assert time.time() >= closed.timestamp() + retention
    assert "Rejected" in event_reasons(sandbox, name)
    assert [r["metadata"]["name"] for r in reports(sandbox)] == [f"{name}-2"]
