"""Notifications and the audit trail with the real operator against the sandbox.

A webhook on 127.0.0.1 fails its first requests and then recovers; the seed's Pending report goes
AwaitingApproval, is approved with kubectl, applied and verified. The receiver gets each of those
events exactly once, the report shows Notified=False while delivery fails and Notified=True once it
works, and after the operator restarts nothing is sent or recorded again. The closed report's audit
record is in the audit file.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smart_sre_harness.processes import Operator, free_port
from smart_sre_sandbox.authn import ADMIN

from . import scenario
from .reading import condition, report_now
from .seeding import admin_approval, open_and_seed
from .test_notifications import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.kubectl, pytest.mark.slow]

FAILURES = 4  # attempts after 0, 1, 3 and 7 s fail; Notified=False shows from the third


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    """The receiver on a loop of its own: the operator is another process, the test is synchronous."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="webhook", daemon=True)
    thread.start()
    receiver = Receiver(fail_first=FAILURES)
    asyncio.run_coroutine_threadsafe(receiver.start(), loop).result(10)
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "records.jsonl"


@pytest.fixture
def operator_process(sandbox: Any, tmp_path: Path, audit_file: Path) -> Iterator[Operator]:
    """The operator as deployed with an audit file, housekeeping every second so records come quickly."""
    audit_file.parent.mkdir()
    process = Operator(
        sandbox.kubeconfig,
        f"http://127.0.0.1:{free_port()}",
        tmp_path / "operator.log",
        verification_window="60s",
        kopf=True,
        env={
            "SMART_SRE_MODELS_LOCK": str(scenario.REPO / "models.lock"),
            "SMART_SRE_HOUSEKEEPING_INTERVAL": "1s",
            "SMART_SRE_AUDIT_FILE": str(audit_file),
        },
    )
    try:
        yield process
    finally:
        process.stop()


def records(path: Path) -> list[dict[str, Any]]:
    """The complete lines of the audit file (one being written is not one yet)."""
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [json.loads(line) for line in lines]


def test_each_event_reaches_a_recovering_webhook_once_and_the_closed_report_is_audited(
    sandbox: Any, operator_process: Operator, webhook: Receiver, audit_file: Path
) -> None:
    policy = scenario.policy(
        triggers=["Pending"], pendingGracePeriod="1s", notifications={"webhook": {"url": webhook.url}}
    )
    report = open_and_seed(sandbox, operator_process, [policy, scenario.memory_hungry()])
    name, sha = report["metadata"]["name"], report["status"]["suggestedPatch"]["sha256"]

    def notified() -> dict[str, Any] | None:
        return condition(report_now(sandbox, name), "Notified")

    failing = sandbox.wait_for(lambda: (c := notified()) and c["status"] == "False" and c, timeout=30)
    assert failing["reason"] == "DeliveryFailing"
    assert "the AwaitingApproval notification to" in failing["message"]
    assert "answered HTTP 503: receiver restarting" in failing["message"]
    delivered = sandbox.wait_for(lambda: (c := notified()) and c["status"] == "True" and c, timeout=60)
    assert f"(HTTP 200, at attempt {FAILURES + 1})" in delivered["message"]
    assert webhook.events() == ["AwaitingApproval"]
    first = webhook.delivered[0]
    assert (first["namespace"], first["name"], first["phase"]) == ("default", name, "AwaitingApproval")
    assert (first["patchSHA256"], first["rootCause"]) == (sha, "InsufficientResources")
    assert first["hint"] == f"kubectl sre show -n default {name}"

    sandbox.kubectl("patch", "dr", name, "--type", "merge", "-p", json.dumps(admin_approval(sha)))
    sandbox.wait_for(lambda: webhook.events() == ["AwaitingApproval", "Applied", "Verified"], timeout=90)
    record = sandbox.wait_for(lambda: records(audit_file), timeout=30)[-1]
    assert (record["report"]["name"], record["phase"]) == (name, "Applied")
    assert record["verification"]["result"] == "Verified"
    assert record["approval"]["approvedBy"] == record["approvedBy"] == ADMIN.username
    assert record["suggestedPatch"]["sha256"] == sha
    # The record is written first, then the report is marked with it.
    annotations = sandbox.wait_for(
        lambda: (
            (a := report_now(sandbox, name)["metadata"].get("annotations") or {})
            and "smartsre.io/audit-recorded-at" in a
            and a
        )
    )
    assert annotations["smartsre.io/audit-recorded-at"] == record["recordedAt"]
    mark = json.loads(annotations["smartsre.io/notified"])
    assert mark["events"] == ["AwaitingApproval", "Applied", "Verified"]

    operator_process.stop()
    operator_process.start().wait_alive()
    time.sleep(5)  # the watches re-list every report, housekeeping runs several rounds
    assert Counter(webhook.events()) == {"AwaitingApproval": 1, "Applied": 1, "Verified": 1}
    assert len(webhook.requests) == FAILURES + 3
    assert len(records(audit_file)) == 1
