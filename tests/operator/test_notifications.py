"""Notifications from a DebugPolicy's webhook: where they may go, what they say, and that each event of
a report reaches the receiver once, through failures, a full queue and restarts.

The receiver is a real HTTP server on 127.0.0.1 (aiohttp) that fails or hangs when told to; the
reports are the API server's JSON, and the notifier marks them as the API server would store it.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from smart_sre.api.debugpolicy import NotificationEvent, Webhook
from smart_sre.api.diagnosticreport import (
    DiagnosticReportStatus,
    ObservedReport,
    PatchOperation,
    PatchTarget,
    patch_sha256,
)
from smart_sre.k8s.writer import merge_patch
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.controller import Controller, ControllerSettings
from smart_sre.lifecycle.metrics import Metrics
from smart_sre.lifecycle.notifications import (
    ANNOTATION_NOTIFIED,
    NotificationSettings,
    Notifier,
    notification_of,
    render,
)
from smart_sre.lifecycle.policies import PolicyBook

from ..test_crds_debugpolicy_rules import model_errors, server_errors

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
UID = "3f1c2a4e-0d5e-4c49-9a43-6f1e2b7d9c01"
TARGET = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "namespace": "default",
    "name": "ledger",
    "uid": "uid-ledger",
}
OPERATIONS = [
    {"op": "test", "path": "/spec/template/spec/containers/0/resources/requests/memory", "value": "64Gi"},
    {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/memory", "value": "256Mi"},
]
SHA = patch_sha256([PatchOperation.model_validate(o) for o in OPERATIONS], PatchTarget.model_validate(TARGET))
HOSTILE = "Redis refused\x1b[2J\nINFO all good\u202e\tdone"
FAST = NotificationSettings(first_retry_s=0.01, max_retry_s=0.05, failing_after=2, timeout_s=2.0)


def report_body(
    phase: str = "AwaitingApproval",
    *,
    name: str = "ledger-pending-5d8f",
    uid: str = UID,
    summary: str = "The pod requests 64Gi of memory; no node has more than 16Gi allocatable.",
    at: datetime = NOW,
    **status: Any,
) -> dict[str, Any]:
    """A report of the seed's Pending case as the API server stores it, in `phase`."""
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "apiVersion": "smartsre.io/v1alpha1",
        "kind": "DiagnosticReport",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": uid,
            "resourceVersion": "7",
            "creationTimestamp": stamp,
        },
        "spec": {
            "podRef": {"name": "ledger-7c9d-x2x4b", "uid": "uid-pod"},
            "workloadRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "ledger",
                "uid": "uid-ledger",
            },
            "trigger": "Pending",
            "policyRef": {"name": "seed"},
        },
        "status": {
            "phase": phase,
            "findings": {"summary": summary, "rootCause": "InsufficientResources", "confidence": "High"},
            "reasoningChain": [
                {"index": 0, "observation": "0/3 nodes are available: 3 Insufficient memory."}
            ],
            "suggestedPatch": {"target": TARGET, "operations": OPERATIONS, "sha256": SHA},
            "suggestedAt": stamp,
            "timings": {"startedAt": stamp, "finishedAt": stamp},
            **status,
        },
    }


def applied(verification: str | None = "Verified", **kwargs: Any) -> dict[str, Any]:
    stamp = NOW.isoformat().replace("+00:00", "Z")
    conditions = [
        {
            "type": "PatchApplied",
            "status": "True",
            "reason": "Applied",
            "message": "patched Deployment/ledger (sha256 0123456789ab)",
            "lastTransitionTime": stamp,
        }
    ]
    extra: dict[str, Any] = {"conditions": conditions, "approvedBy": "alice"}
    if verification:
        extra["verification"] = {"result": verification, "message": "1/1 pods Ready", "checkedAt": stamp}
    return report_body("Applied", **extra, **kwargs)


def book(url: str, **notifications: Any) -> PolicyBook:
    policies = PolicyBook()
    entry = policies.upsert(
        {
            "metadata": {"name": "seed", "generation": 1},
            "spec": {
                "rules": [{"namespaces": ["default"]}],
                "notifications": {"webhook": {"url": url}, **notifications},
            },
        }
    )
    assert entry.readiness.ready, entry.readiness.message
    return policies


def observed(body: dict[str, Any]) -> ObservedReport:
    return ObservedReport.model_validate(body)


# --- A local receiver ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    status: int
    headers: dict[str, str]
    body: Any


class Receiver:
    """A webhook on 127.0.0.1: answers `failure` to the first `fail_first` requests, then 200. While
    `hold` is set it holds each request until released. Every request is kept, with its answer."""

    def __init__(self, *, fail_first: int = 0, failure: web.Response | None = None) -> None:
        self.fail_first = fail_first
        self.failure = failure
        self.requests: list[Received] = []
        self.hold: asyncio.Event | None = None
        self.url = ""

    @property
    def delivered(self) -> list[Any]:
        return [r.body for r in self.requests if r.status == 200]

    def events(self) -> list[str]:
        """The events taken (2xx), in order, whatever the format."""
        return [_event_of(body) for body in self.delivered]

    async def _handle(self, request: web.Request) -> web.Response:
        if self.hold is not None:
            await self.hold.wait()
        body = await request.json()
        failing = len(self.requests) < self.fail_first
        status = (self.failure.status if self.failure else 503) if failing else 200
        self.requests.append(Received(status, dict(request.headers), body))
        if failing:
            return self.failure or web.Response(status=503, text="receiver restarting")
        return web.json_response({"ok": True})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._server = TestServer(app, host="127.0.0.1", handler_cancellation=True)
        await self._server.start_server()
        self.url = str(self._server.make_url("/hook"))
        return self.url

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        await self._server.close()


def _event_of(body: Any) -> str:
    if isinstance(body, list):  # Alertmanager
        return body[0]["labels"]["event"]
    return body["data"]["event"] if "specversion" in body else body["event"]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    await made.start()
    yield made
    await made.stop()


class Reports:
    """What the notifier writes: each report's annotations, merged as the API server merges them."""

    def __init__(self, *bodies: dict[str, Any]) -> None:
        self.bodies = {body["metadata"]["name"]: copy.deepcopy(body) for body in bodies}
        self.patches: list[dict[str, Any]] = []

    async def patch_report(self, namespace: str, name: str, body: dict, *, field_manager: str) -> dict:
        self.patches.append(body)
        stored = self.bodies[name]
        stored["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
        return stored

    def now(self, name: str) -> ObservedReport:
        return observed(self.bodies[name])


class Bench:
    """A notifier over `reports`, recording what each report's Notified condition should say whenever
    the notifier asks the controller to look."""

    def __init__(self, reports: Reports, policies: PolicyBook, settings: NotificationSettings = FAST) -> None:
        self.reports = reports
        self.registry = CollectorRegistry()
        self.shown: list[tuple[str, str, str]] = []
        self.notifier = Notifier(
            reports,  # type: ignore[arg-type]
            policies=policies,
            registry=self.registry,
            settings=settings,
            clock=lambda: NOW,
            on_outcome=self._looked_at,
        )

    def _looked_at(self, key: tuple[str, str]) -> None:
        conditions = self.notifier.conditions_for(self.reports.now(key[1]), now=NOW)
        assert conditions is not None
        shown = conditions[-1]
        self.shown.append((shown.status.value, shown.reason, shown.message))

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


async def until(done: Callable[[], object], within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


# --- Where a notification may go -----------------------------------------------------------------------

SPEC = {"rules": [{"namespaces": ["default"]}]}
IN_CLUSTER = [
    "http://alertmanager.monitoring.svc:9093/api/v2/alerts",
    "https://hooks.ops.svc.cluster.local/smart-sre?team=payments",
    "http://10.96.12.7:8080/",
    "http://127.0.0.1:8080/hook",
    "http://[fd00::12]/hook",
]
OUTSIDE = [
    "https://hooks.slack.com/services/T0/B0/X",  # a public name: resolved and reached outside the cluster
    "http://alertmanager.monitoring:9093/",  # not a Service's cluster DNS name
    "http://admin:secret@alertmanager.monitoring.svc/",  # credentials in the URL
    "ftp://files.ops.svc/drop",
    "http://alertmanager.monitoring.svc/\nHost: evil",
]


@pytest.mark.parametrize("url", IN_CLUSTER)
def test_an_in_cluster_webhook_is_accepted_by_the_api_server_and_the_operator(url: str) -> None:
    spec = {**SPEC, "notifications": {"webhook": {"url": url}}}
    assert server_errors(spec) == []
    assert model_errors(spec) == []


@pytest.mark.parametrize("url", OUTSIDE)
def test_a_webhook_outside_the_cluster_is_refused_by_both_saying_what_to_write(url: str) -> None:
    spec = {**SPEC, "notifications": {"webhook": {"url": url}}}
    (server,) = server_errors(spec)
    (model,) = model_errors(spec)
    for message in (server, model):
        assert "not an in-cluster http(s) URL" in message
        assert "name.namespace.svc" in message


def test_a_public_address_makes_the_policy_not_ready() -> None:
    """The API server's pattern cannot tell public from private addresses; the operator does, and says so."""
    policies = PolicyBook()
    entry = policies.upsert(
        {
            "metadata": {"name": "seed"},
            "spec": {**SPEC, "notifications": {"webhook": {"url": "http://8.8.8.8/hook"}}},
        }
    )
    assert (entry.readiness.ready, entry.readiness.reason) == (False, "InvalidSpec")
    assert "is a public address: notifications never leave the cluster" in entry.readiness.message


def test_cloud_events_wrap_only_the_json_format() -> None:
    webhook = {"url": IN_CLUSTER[0], "format": "Alertmanager", "cloudEvents": True}
    spec = {**SPEC, "notifications": {"webhook": webhook}}
    (server,) = server_errors(spec)
    (model,) = model_errors(spec)
    assert "cloudEvents wraps the JSON format only" in server
    assert "cloudEvents wraps the JSON format only" in model


def test_a_secret_key_that_names_a_directory_is_refused() -> None:
    for key in ("..", "."):
        spec = {
            **SPEC,
            "notifications": {"webhook": {"url": IN_CLUSTER[0], "secretRef": {"name": "t", "key": key}}},
        }
        assert server_errors(spec)
        assert model_errors(spec)


def test_by_default_every_event_is_sent_as_json() -> None:
    notifications = book(IN_CLUSTER[0]).get("seed").spec.notifications
    assert notifications is not None
    assert notifications.events == ["AwaitingApproval", "Applied", "Verified", "NotVerified", "Failed"]
    assert (notifications.webhook.format, notifications.webhook.cloud_events) == ("JSON", False)


# --- What is sent --------------------------------------------------------------------------------------


def test_the_json_body_carries_the_reports_essentials_with_its_text_escaped() -> None:
    report = observed(report_body(summary=HOSTILE))
    content_type, body = render(
        notification_of(report, NotificationEvent.AWAITING_APPROVAL, NOW), Webhook(url=IN_CLUSTER[0])
    )
    assert content_type == "application/json"
    sent = json.loads(body)
    assert sent == {
        "id": f"{UID}/AwaitingApproval",
        "event": "AwaitingApproval",
        "time": "2026-01-05T12:00:00Z",
        "namespace": "default",
        "name": "ledger-pending-5d8f",
        "uid": UID,
        "phase": "AwaitingApproval",
        "trigger": "Pending",
        "policy": "seed",
        "pod": "ledger-7c9d-x2x4b",
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ledger"},
        "rootCause": "InsufficientResources",
        "confidence": "High",
        "summary": "Redis refused\\x1b[2J\\nINFO all good\\u202e\\tdone",
        "patchSHA256": SHA,
        "hint": "kubectl sre show -n default ledger-pending-5d8f",
    }
    assert all(char.isprintable() for char in sent["summary"])
    assert "://" not in body.decode()  # link-free


def test_a_cloud_event_wraps_the_same_body() -> None:
    report = observed(applied())
    notification = notification_of(report, NotificationEvent.VERIFIED, NOW)
    content_type, body = render(notification, Webhook(url=IN_CLUSTER[0], cloud_events=True))
    assert content_type == "application/cloudevents+json"
    envelope = json.loads(body)
    assert {
        key: envelope[key] for key in ("specversion", "id", "type", "subject", "time", "datacontenttype")
    } == {
        "specversion": "1.0",
        "id": f"{UID}/Verified",
        "type": "io.smartsre.diagnosticreport.Verified",
        "subject": "default/ledger-pending-5d8f",
        "time": "2026-01-05T12:00:00Z",
        "datacontenttype": "application/json",
    }
    assert (
        envelope["source"]
        == "/apis/smartsre.io/v1alpha1/namespaces/default/diagnosticreports/ledger-pending-5d8f"
    )
    assert envelope["data"] == json.loads(render(notification, Webhook(url=IN_CLUSTER[0]))[1])
    assert envelope["data"]["detail"] == "1/1 pods Ready"


LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def test_the_alertmanager_format_is_what_post_api_v2_alerts_takes() -> None:
    """Alertmanager's postableAlerts: a list of alerts, each with string labels (valid label names,
    alertname among them), string annotations and an RFC 3339 startsAt."""
    report = observed(report_body("Failed", summary=HOSTILE))
    content_type, body = render(
        notification_of(report, NotificationEvent.FAILED, NOW),
        Webhook(url=IN_CLUSTER[0], format="Alertmanager"),
    )
    assert content_type == "application/json"
    (alert,) = json.loads(body)
    assert set(alert) == {"labels", "annotations", "startsAt"}
    assert datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")) == NOW
    labels, annotations = alert["labels"], alert["annotations"]
    assert all(LABEL_NAME.match(name) and isinstance(value, str) for name, value in labels.items())
    assert labels == {
        "alertname": "SmartSREDiagnosticReport",
        "severity": "warning",
        "event": "Failed",
        "namespace": "default",
        "report": "ledger-pending-5d8f",
        "policy": "seed",
        "trigger": "Pending",
        "workload": "Deployment/ledger",
        "root_cause": "InsufficientResources",
    }
    assert all(isinstance(value, str) for value in annotations.values())
    assert annotations["summary"] == "DiagnosticReport default/ledger-pending-5d8f failed"
    assert annotations["description"].startswith("Redis refused\\x1b[2J\\nINFO")
    assert annotations["hint"] == "kubectl sre show -n default ledger-pending-5d8f"
    assert annotations["patch_sha256"] == SHA


# --- Delivery ------------------------------------------------------------------------------------------


async def test_a_failing_receiver_is_retried_until_it_recovers_and_the_report_remembers(
    receiver: Receiver,
) -> None:
    receiver.fail_first = 3
    reports = Reports(report_body())
    bench = Bench(reports, book(receiver.url))
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    await until(lambda: receiver.delivered)

    assert [r.status for r in receiver.requests] == [503, 503, 503, 200]
    assert receiver.events() == ["AwaitingApproval"]
    # Notified=False from the second failed attempt on, with the answer; True once delivered.
    assert [shown[:2] for shown in bench.shown] == [
        ("False", "DeliveryFailing"),
        ("False", "DeliveryFailing"),
        ("True", "Delivered"),
    ]
    assert (
        "failed: answered HTTP 503: receiver restarting (attempt 2 of 10, next in 0.02s)" in bench.shown[0][2]
    )
    assert bench.shown[-1][2] == (
        f"the AwaitingApproval notification was delivered to {receiver.url} (HTTP 200, at attempt 4)"
    )
    mark = json.loads(reports.bodies["ledger-pending-5d8f"]["metadata"]["annotations"][ANNOTATION_NOTIFIED])
    assert mark == {"uid": UID, "events": ["AwaitingApproval"]}
    assert bench.metric("smart_sre_notifications_delivered_total", event="AwaitingApproval") == 1
    assert bench.metric("smart_sre_notification_attempts_failed_total") == 3

    # The watch delivers the report again, before and after the annotation: nothing is sent again.
    bench.notifier.observe(observed(report_body()))
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    # A restarted operator reads the annotation.
    restarted = Bench(reports, book(receiver.url))
    restarted.notifier.observe(reports.now("ledger-pending-5d8f"))
    await asyncio.sleep(0.1)
    assert len(receiver.requests) == 4
    await bench.notifier.close()
    await restarted.notifier.close()


async def test_each_event_a_report_shows_is_sent_once_in_order(receiver: Receiver) -> None:
    """An Applied report whose rollout was verified shows Applied and Verified; AwaitingApproval was
    delivered before (the annotation says so), and a copied annotation of another report counts for nothing."""
    done = {ANNOTATION_NOTIFIED: json.dumps({"uid": UID, "events": ["AwaitingApproval"]})}
    first = applied(name="ledger-pending-5d8f")
    first["metadata"]["annotations"] = done
    second = applied(name="ledger-pending-5d8f-2", uid="uid-other")
    second["metadata"]["annotations"] = done
    reports = Reports(first, second)
    bench = Bench(reports, book(receiver.url))
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    bench.notifier.observe(reports.now("ledger-pending-5d8f-2"))
    await until(lambda: len(receiver.delivered) == 4)
    await asyncio.sleep(0.05)
    assert [(body["name"], body["event"]) for body in receiver.delivered] == [
        ("ledger-pending-5d8f", "Applied"),
        ("ledger-pending-5d8f", "Verified"),
        ("ledger-pending-5d8f-2", "Applied"),
        ("ledger-pending-5d8f-2", "Verified"),
    ]
    assert receiver.delivered[0]["detail"] == "patched Deployment/ledger (sha256 0123456789ab)"
    mark = json.loads(reports.bodies["ledger-pending-5d8f"]["metadata"]["annotations"][ANNOTATION_NOTIFIED])
    assert mark["events"] == ["AwaitingApproval", "Applied", "Verified"]
    await bench.notifier.close()


async def test_only_the_events_the_policy_names_are_sent(receiver: Receiver) -> None:
    reports = Reports(applied(verification="NotVerified"))
    bench = Bench(reports, book(receiver.url, events=["NotVerified", "Failed"]))
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    await until(lambda: receiver.delivered)
    await asyncio.sleep(0.05)
    assert receiver.events() == ["NotVerified"]
    await bench.notifier.close()


async def test_the_bearer_token_is_read_from_the_mounted_secret(receiver: Receiver, tmp_path: Path) -> None:
    reports = Reports(report_body())
    policies = book(
        receiver.url, webhook={"url": receiver.url, "secretRef": {"name": "hook-token", "key": "token"}}
    )
    bench = Bench(reports, policies, dataclasses.replace(FAST, secrets_dir=tmp_path))
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    await until(lambda: len(bench.shown) == 2)
    assert receiver.requests == []
    assert bench.shown[-1][:2] == ("False", "DeliveryFailing")
    assert (
        f"its bearer token is not mounted: {tmp_path}/hook-token/token cannot be read" in bench.shown[-1][2]
    )

    (tmp_path / "hook-token").mkdir()
    (tmp_path / "hook-token" / "token").write_text("s3cr3t\n")
    await until(lambda: receiver.delivered)
    assert receiver.requests[0].headers["Authorization"] == "Bearer s3cr3t"
    await bench.notifier.close()


async def test_a_receiver_that_keeps_failing_is_given_up_and_not_retried_until_a_restart(
    receiver: Receiver,
) -> None:
    receiver.fail_first = 100
    reports = Reports(report_body())
    bench = Bench(reports, book(receiver.url), dataclasses.replace(FAST, max_attempts=3))
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    await until(lambda: len(receiver.requests) == 3 and len(bench.shown) == 2)
    status, reason, message = bench.shown[-1]
    assert (status, reason) == ("False", "DeliveryFailing")
    assert "(gave up after 3 attempts, tried again when the operator restarts if still due)" in message
    assert bench.metric("smart_sre_notifications_given_up_total") == 1
    # Its own Notified=False write comes back from the watch: it does not start over.
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    await asyncio.sleep(0.1)
    assert len(receiver.requests) == 3
    await bench.notifier.close()


async def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.fail_first, receiver.failure = (
        1,
        web.Response(status=307, headers={"Location": "http://example.com/"}),
    )
    reports = Reports(report_body())
    bench = Bench(reports, book(receiver.url), dataclasses.replace(FAST, failing_after=1))
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    await until(lambda: receiver.delivered)
    assert len(receiver.requests) == 2  # the retry went to the webhook again, not to example.com
    assert "answered HTTP 307 (redirects are not followed)" in bench.shown[0][2]
    await bench.notifier.close()


async def test_a_full_queue_drops_the_oldest_waiting_notification(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.hold = asyncio.Event()
    names = [f"ledger-pending-{n}" for n in range(3)]
    reports = Reports(*(report_body(name=name, uid=f"uid-{name}") for name in names))
    bench = Bench(reports, book(receiver.url), dataclasses.replace(FAST, queue_size=1))
    bench.notifier.observe(reports.now(names[0]))
    await asyncio.sleep(0.05)  # in flight, held by the receiver
    with caplog.at_level(logging.WARNING, logger="smart_sre.lifecycle.notifications"):
        bench.notifier.observe(reports.now(names[1]))
        bench.notifier.observe(reports.now(names[2]))  # the queue holds one: names[1] is dropped
    assert [r.getMessage() for r in caplog.records] == ["notification queue full; dropped the oldest"]
    assert caplog.records[0].report == names[1]
    assert bench.metric("smart_sre_notifications_dropped_total") == 1
    dropped = bench.notifier.conditions_for(reports.now(names[1]), now=NOW)
    assert dropped is not None
    assert (dropped[-1].status, dropped[-1].reason) == ("False", "Dropped")
    assert "the queue for" in dropped[-1].message

    receiver.hold.set()
    await until(lambda: len(receiver.delivered) == 2)
    bench.notifier.observe(reports.now(names[1]))  # its Notified=False write comes back: still dropped
    await asyncio.sleep(0.1)
    assert [body["name"] for body in receiver.delivered] == [names[0], names[2]]
    await bench.notifier.close()


async def test_an_event_reached_long_ago_is_not_replayed(receiver: Receiver) -> None:
    """Turning notifications on for a policy does not send its reports' past."""
    reports = Reports(report_body(at=NOW - timedelta(hours=2)), report_body(name="recent", uid="uid-recent"))
    bench = Bench(reports, book(receiver.url))
    bench.notifier.observe(reports.now("ledger-pending-5d8f"))
    bench.notifier.observe(reports.now("recent"))
    await until(lambda: receiver.delivered)
    await asyncio.sleep(0.05)
    assert [body["name"] for body in receiver.delivered] == ["recent"]
    await bench.notifier.close()


# --- With the controller ---------------------------------------------------------------------------------


class Cluster:
    """One report as the API server stores it; each write, to its status or its annotations, comes
    back to the controller's report watch, as the real API server's do."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.report = copy.deepcopy(body)
        self.status_writes: list[dict[str, Any]] = []
        self.controller: Controller | None = None

    async def read_report(self, namespace: str, name: str) -> ObservedReport:
        return observed(self.report)

    async def patch_report_status(
        self, report: ObservedReport, status: DiagnosticReportStatus
    ) -> ObservedReport:
        patch = merge_patch(status)
        self.status_writes.append(patch)
        self.report["status"] = {k: v for k, v in {**self.report["status"], **patch}.items() if v is not None}
        return self._changed()

    async def patch_report(self, namespace: str, name: str, body: dict, *, field_manager: str) -> dict:
        self.report["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
        return self._changed().model_dump(mode="json", by_alias=True)

    async def patch_policy_status(self, name: str, status: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def _changed(self) -> ObservedReport:
        assert self.controller is not None
        asyncio.get_running_loop().create_task(
            self.controller.on_report("MODIFIED", copy.deepcopy(self.report))
        )
        return observed(self.report)


class NoInvestigation:
    unavailable = (ConnectionError,)

    async def close(self) -> None:
        pass


async def test_the_controller_shows_delivery_on_the_report_without_losing_its_other_conditions(
    receiver: Receiver,
) -> None:
    receiver.fail_first = 2
    analyzed = {
        "type": "Analyzed",
        "status": "True",
        "reason": "PatchSuggested",
        "message": "a patch passed the policy and a dry run",
        "lastTransitionTime": "2026-01-05T12:00:00Z",
    }
    cluster = Cluster(report_body(conditions=[analyzed]))
    controller = Controller(
        cluster,  # type: ignore[arg-type]
        book(receiver.url),
        Metrics(),
        NoInvestigation(),  # type: ignore[arg-type]
        ControllerSettings(notifications=dataclasses.replace(FAST, failing_after=1)),
        clock=lambda: NOW,
        seal_key=SealKey(b"k" * 32),
    )
    cluster.controller = controller
    await controller.on_report("ADDED", copy.deepcopy(cluster.report))

    def notified() -> dict[str, Any] | None:
        return next((c for c in cluster.report["status"]["conditions"] if c["type"] == "Notified"), None)

    await until(lambda: (shown := notified()) and shown["status"] == "True")
    await until(lambda: all(task.done() for task in controller._tasks.values()))
    assert [(c["type"], c["status"]) for c in cluster.report["status"]["conditions"]] == [
        ("Analyzed", "True"),
        ("Notified", "True"),
    ]
    # Each change of what Notified says was written once: two failures, then the delivery.
    assert [w["conditions"][-1]["reason"] for w in cluster.status_writes] == [
        "DeliveryFailing",
        "DeliveryFailing",
        "Delivered",
    ]
    assert receiver.events() == ["AwaitingApproval"]
    assert ANNOTATION_NOTIFIED in cluster.report["metadata"]["annotations"]
    await controller.close()


async def test_a_report_seen_before_its_policy_is_notified_once_the_policy_arrives(
    receiver: Receiver,
) -> None:
    """After a restart the report watch may list a report before the policy watch lists its policy."""
    cluster = Cluster(report_body())
    controller = Controller(
        cluster,  # type: ignore[arg-type]
        PolicyBook(),
        Metrics(),
        NoInvestigation(),  # type: ignore[arg-type]
        ControllerSettings(notifications=FAST),
        clock=lambda: NOW,
        seal_key=SealKey(b"k" * 32),
    )
    cluster.controller = controller
    await controller.on_report("ADDED", copy.deepcopy(cluster.report))
    await asyncio.sleep(0.05)
    assert receiver.requests == []
    await controller.on_policy(
        "ADDED",
        {
            "metadata": {"name": "seed", "generation": 1},
            "spec": {
                "rules": [{"namespaces": ["default"]}],
                "notifications": {"webhook": {"url": receiver.url}},
            },
        },
    )
    await until(lambda: receiver.delivered)
    assert receiver.events() == ["AwaitingApproval"]
    await controller.close()
