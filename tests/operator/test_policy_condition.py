"""A report whose policy is missing or broken says so (PolicyReady=False), once, and is analysed when
the policy is Ready again; the controller runs against a fake API server whose writes come back as
watch events, as the real one's do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from smart_sre.api.debugpolicy import DebugPolicyStatus
from smart_sre.api.diagnosticreport import DiagnosticReportStatus, ObservedReport
from smart_sre.k8s.writer import merge_patch
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.controller import Controller, ControllerSettings
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.policies import PolicyBook

REPORT = {
    "apiVersion": "smartsre.io/v1alpha1",
    "kind": "DiagnosticReport",
    "metadata": {"name": "web-crashloopbackoff-1a2b3c", "namespace": "default", "uid": "uid-report"},
    "spec": {
        "podRef": {"name": "web-7d9c-abcde", "uid": "uid-web-7d9c-abcde"},
        "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web"},
        "trigger": "CrashLoopBackOff",
        "policyRef": {"name": "seed"},
    },
    "status": {"phase": "Pending"},
}


def policy(generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "seed", "generation": generation},
        "spec": {"rules": [{"namespaces": ["default"]}], **spec},
    }


class Cluster:
    """The report as the API server stores it; every status write is delivered back to the
    controller's report watch, and counted."""

    def __init__(self) -> None:
        self.report: dict[str, Any] = REPORT
        self.status_writes = 0
        self.controller: Controller | None = None

    async def read_report(self, namespace: str, name: str) -> ObservedReport:
        return ObservedReport.model_validate(self.report)

    async def patch_report_status(
        self, report: ObservedReport, status: DiagnosticReportStatus
    ) -> ObservedReport:
        self.status_writes += 1
        merged = {**self.report["status"], **merge_patch(status)}
        self.report = {**self.report, "status": {k: v for k, v in merged.items() if v is not None}}
        assert self.controller is not None
        asyncio.get_running_loop().create_task(self.controller.on_report("MODIFIED", self.report))
        return ObservedReport.model_validate(self.report)

    async def patch_policy_status(self, name: str, status: DebugPolicyStatus) -> None:
        pass

    def close(self) -> None:
        pass

    def policy_ready(self) -> dict[str, Any] | None:
        """The report's PolicyReady condition, as `kubectl get dr -o yaml` shows it."""
        conditions = self.report["status"].get("conditions") or []
        return next((c for c in conditions if c["type"] == "PolicyReady"), None)


class SidecarDown:
    """Records that an analysis started; the sidecar never answers, so it goes no further."""

    unavailable = (ConnectionError,)

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def ensure_ready(self) -> None:
        self.asked.set()
        raise ConnectionError("sidecar down")

    async def close(self) -> None:
        pass


def controller(cluster: Cluster, investigator: SidecarDown, *, listing_seconds: float = 0.0) -> Controller:
    made = Controller(
        cluster,  # type: ignore[arg-type]
        PolicyBook(),
        Metrics(),
        investigator,  # type: ignore[arg-type]
        ControllerSettings(policy_listing_seconds=listing_seconds),
        seal_key=SealKey(b"k" * 32),
    )
    cluster.controller = made
    return made


async def until(done: Callable[[], bool]) -> None:
    """Wait until `done` holds (2 s at most)."""
    for _ in range(200):
        await asyncio.sleep(0.01)
        if done():
            return
    raise AssertionError("never happened")


async def settled(controller: Controller, done: Callable[[], bool] = lambda: True) -> None:
    """Until `done` holds and no report task is left running."""
    await until(lambda: done() and all(task.done() for task in controller._tasks.values()))


async def test_a_report_naming_a_missing_policy_says_so_once() -> None:
    cluster, investigator = Cluster(), SidecarDown()
    operator = controller(cluster, investigator, listing_seconds=0.3)
    await operator.on_report(None, REPORT)
    await asyncio.sleep(0.1)
    assert cluster.policy_ready() is None  # the policy watch may still be listing it
    await settled(operator, lambda: cluster.policy_ready() is not None)

    shown = cluster.policy_ready()
    assert shown is not None
    assert (shown["status"], shown["reason"]) == ("False", "PolicyNotFound")
    assert "DebugPolicy 'seed' is not Ready: it does not exist; create it" in shown["message"]
    assert cluster.report["status"]["phase"] == "Pending"
    # A re-listed watch delivers the report again: nothing changed, so nothing is written.
    await operator.on_report(None, cluster.report)
    await settled(operator)
    assert cluster.status_writes == 1
    assert not investigator.asked.is_set()
    await operator.close()


async def test_a_broken_policy_is_named_with_its_reason_and_fixing_it_starts_the_analysis() -> None:
    cluster, investigator = Cluster(), SidecarDown()
    operator = controller(cluster, investigator)
    await operator.on_policy(None, policy(1, cooldown="10s"))  # below the 1m minimum
    await operator.on_report(None, REPORT)
    await settled(operator, lambda: cluster.policy_ready() is not None)
    shown = cluster.policy_ready()
    assert shown is not None
    assert (shown["status"], shown["reason"]) == ("False", "InvalidSpec")
    assert "spec.cooldown: 10s is out of range" in shown["message"]
    assert "Fix the spec" in shown["message"]
    assert not investigator.asked.is_set()

    await operator.on_policy("MODIFIED", policy(2))
    await asyncio.wait_for(investigator.asked.wait(), timeout=2)
    shown = cluster.policy_ready()
    assert shown is not None
    assert (shown["status"], shown["reason"]) == ("True", "Active")
    assert "DebugPolicy 'seed' is Ready" in shown["message"]
    # The analyst's own conditions were written on top of it, not over it.
    await until(lambda: "InferenceUnavailable" in str(cluster.report["status"]))
    assert cluster.policy_ready() == shown
    await operator.close()


async def test_deleting_the_policy_marks_its_waiting_reports() -> None:
    cluster, investigator = Cluster(), SidecarDown()
    operator = controller(cluster, investigator)
    await operator.on_policy(None, policy(1, cooldown="10s"))
    await operator.on_report(None, REPORT)
    await settled(operator, lambda: cluster.policy_ready() is not None)

    await operator.on_policy("DELETED", policy(1))
    await settled(operator, lambda: (cluster.policy_ready() or {}).get("reason") == "PolicyNotFound")
    assert cluster.status_writes == 2
    await operator.close()


async def test_a_policy_still_being_listed_at_start_is_waited_for() -> None:
    """The watches start together: a report may arrive before the policy it names."""
    cluster, investigator = Cluster(), SidecarDown()
    operator = controller(cluster, investigator, listing_seconds=1.0)
    await operator.on_report(None, REPORT)
    await asyncio.sleep(0.2)
    await operator.on_policy(None, policy(1))
    await asyncio.wait_for(investigator.asked.wait(), timeout=3)
    assert cluster.policy_ready() is None  # never claimed missing
    await operator.close()
