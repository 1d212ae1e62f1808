"""Tell a receiver in the cluster when a report needs a decision or has an outcome, once per event.

A DebugPolicy's `spec.notifications` names one webhook and the events it hears about: a patch awaits
approval, it was applied, its rollout was verified or not, the report failed. Why it works this way:

- No new egress. The URL is a Service (or a private address) in the cluster, which the policy's
  validation enforces; redirects are not followed and no proxy from the environment is used. The
  bearer token is a file mounted from a Secret, since the operator may not read Secrets over the API.
- Once per (report uid, event). The events a report's state shows are queued when the controller
  observes it; after the receiver answers 2xx the event is written to the report's annotation
  `smartsre.io/notified` (with the report's uid), so neither a re-listed watch nor a restarted
  operator sends it again. The one gap: the operator dies between the receiver's answer and that write,
  and the event is sent once more after the restart; its `id` (uid/event) lets a receiver drop it.
- Delivery never holds up the lifecycle. Each receiver has a bounded queue drained in order by one
  task; a failed POST is retried with exponential back-off up to `max_attempts`, then given up until
  the operator restarts. A full queue drops its oldest notification, counted and logged.
- The report shows delivery on its `Notified` condition. The controller writes it among its other
  status writes (one writer per report, so no write clobbers another's conditions); the notifier only
  says what it should say (`conditions_for`) and asks the controller to look (`on_outcome`).
- Text from the report (the model's summary, which quotes pod logs) is sent with every character that
  is not printable escaped, so a chat client or terminal downstream shows it as written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smart_sre.api.common import ApiModel, Condition, Phase, RootCause, Trigger
from smart_sre.api.debugpolicy import NotificationEvent, SecretKeyRef, Webhook, WebhookFormat
from smart_sre.api.diagnosticreport import Confidence, ObservedReport
from smart_sre.k8s.cluster import ClusterError
from smart_sre.k8s.writer import FIELD_MANAGER, ClusterWriter
from smart_sre.lifecycle.approval import CONDITION_APPLIED
from smart_sre.lifecycle.policies import PolicyBook
from smart_sre.lifecycle.reports import condition_of, phase_of, with_condition

logger = logging.getLogger(__name__)

ANNOTATION_NOTIFIED = "smartsre.io/notified"
CONDITION_NOTIFIED = "Notified"
REASON_DELIVERED = "Delivered"
REASON_FAILING = "DeliveryFailing"
REASON_DROPPED = "Dropped"

ObjectKey = tuple[str, str]
_ORDER = {event: index for index, event in enumerate(NotificationEvent)}
_CLOUD_EVENTS_TYPE = "io.smartsre.diagnosticreport"
_MAX_ANSWER_BYTES = 200


@dataclass(frozen=True)
class NotificationSettings:
    """How hard the operator tries. `max_age`: an event reached longer ago than this is not sent (a
    policy that starts notifying, or an operator back after a long outage, does not replay the past)."""

    secrets_dir: Path = Path("/etc/smart-sre/notifications")
    queue_size: int = 256
    max_attempts: int = 10
    first_retry_s: float = 1.0
    max_retry_s: float = 60.0
    # Failed attempts before the report shows Notified=False: one lost packet is not worth a condition.
    failing_after: int = 3
    timeout_s: float = 10.0
    max_age: timedelta = timedelta(hours=1)


def escaped(text: str) -> str:
    """`text` on one line, every character that is not printable written out (`\\n`, `\\x1b`, `\\u202e`):
    what the receiver shows is what the report holds, and nothing in it can drive a terminal."""
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if char in "\n\t\r":
        return repr(char)[1:-1]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


# --- What is sent ------------------------------------------------------------------------------------


class NotifiedTarget(ApiModel):
    """The object the report is about: the suggested patch's target, else the failing workload."""

    api_version: str
    kind: str
    name: str


class ReportNotification(ApiModel):
    """The body of format JSON (and the `data` of a CloudEvent): a report's essentials, link-free."""

    id: str
    event: NotificationEvent
    time: datetime
    namespace: str
    name: str
    uid: str
    phase: Phase
    trigger: Trigger
    policy: str
    pod: str
    target: NotifiedTarget
    root_cause: RootCause | None = None
    confidence: Confidence | None = None
    summary: str | None = None
    detail: str | None = None
    patch_sha256: Annotated[str | None, Field(alias="patchSHA256")] = None
    hint: str


class CloudEvent(BaseModel):
    """CloudEvents 1.0, structured mode: the attribute names are the specification's own."""

    model_config = ConfigDict(extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: ReportNotification


class Alert(ApiModel):
    """One alert as Alertmanager's POST /api/v2/alerts takes it (its `postableAlert`)."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime


_SAYS = {
    NotificationEvent.AWAITING_APPROVAL: "awaits approval of its patch",
    NotificationEvent.APPLIED: "had its patch applied",
    NotificationEvent.VERIFIED: "had its fix verified",
    NotificationEvent.NOT_VERIFIED: "had its fix not verified",
    NotificationEvent.FAILED: "failed",
}
_WARNS = frozenset({NotificationEvent.NOT_VERIFIED, NotificationEvent.FAILED})


def alert_of(notification: ReportNotification) -> Alert:
    """The notification as an alert. Its labels name the report and the event, so Alertmanager groups
    and routes by them and each event is its own alert; it resolves after Alertmanager's
    resolve_timeout, being sent once."""
    labels = {
        "alertname": "SmartSREDiagnosticReport",
        "severity": "warning" if notification.event in _WARNS else "info",
        "event": notification.event.value,
        "namespace": notification.namespace,
        "report": notification.name,
        "policy": notification.policy,
        "trigger": notification.trigger.value,
        "workload": f"{notification.target.kind}/{notification.target.name}",
    }
    if notification.root_cause is not None:
        labels["root_cause"] = notification.root_cause.value
    annotations = {
        "summary": f"DiagnosticReport {notification.namespace}/{notification.name} {_SAYS[notification.event]}",
        "description": " ".join(part for part in (notification.summary, notification.detail) if part),
        "confidence": notification.confidence.value if notification.confidence else "",
        "patch_sha256": notification.patch_sha256 or "",
        "hint": notification.hint,
    }
    return Alert(
        labels=labels, annotations={k: v for k, v in annotations.items() if v}, starts_at=notification.time
    )


def render(notification: ReportNotification, webhook: Webhook) -> tuple[str, bytes]:
    """The content type and body `webhook` asked for."""
    if webhook.format is WebhookFormat.ALERTMANAGER:
        alerts = [alert_of(notification).model_dump(mode="json", by_alias=True)]
        return "application/json", _json_bytes(alerts)
    body = notification.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not webhook.cloud_events:
        return "application/json", _json_bytes(body)
    envelope = CloudEvent(
        id=notification.id,
        source=f"/apis/smartsre.io/v1alpha1/namespaces/{notification.namespace}/diagnosticreports/{notification.name}",
        type=f"{_CLOUD_EVENTS_TYPE}.{notification.event.value}",
        subject=f"{notification.namespace}/{notification.name}",
        time=notification.time,
        data=notification,
    )
    return "application/cloudevents+json", _json_bytes(
        envelope.model_dump(mode="json", by_alias=True, exclude_none=True)
    )


def _json_bytes(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# --- Which events a report shows, and when it reached them -------------------------------------------


def shown_events(report: ObservedReport) -> list[NotificationEvent]:
    """The events the report's state shows now, in the order they happened."""
    phase = phase_of(report)
    if phase is Phase.AWAITING_APPROVAL:
        return [NotificationEvent.AWAITING_APPROVAL]
    if phase is Phase.FAILED:
        return [NotificationEvent.FAILED]
    if phase is Phase.APPLIED:
        verification = report.status.verification
        return [NotificationEvent.APPLIED] + (
            [NotificationEvent(verification.result.value)] if verification else []
        )
    return []


def reached_at(report: ObservedReport, event: NotificationEvent) -> datetime | None:
    """When the report reached `event`, as its status records it; its creation when it does not."""
    status = report.status
    applied = condition_of(report, CONDITION_APPLIED)
    moments = {
        NotificationEvent.AWAITING_APPROVAL: status.suggested_at,
        NotificationEvent.APPLIED: applied.last_transition_time if applied else None,
        NotificationEvent.VERIFIED: status.verification.checked_at if status.verification else None,
        NotificationEvent.FAILED: status.timings.finished_at if status.timings else None,
    }
    moments[NotificationEvent.NOT_VERIFIED] = moments[NotificationEvent.VERIFIED]
    return moments[event] or report.metadata.creation_timestamp


def _detail(report: ObservedReport, event: NotificationEvent) -> str | None:
    """What the report says about the event: the verification's message, the patch outcome, or for a
    failure the latest condition's message (why it failed)."""
    status = report.status
    if event in (NotificationEvent.VERIFIED, NotificationEvent.NOT_VERIFIED):
        return status.verification.message if status.verification else None
    if event is NotificationEvent.APPLIED:
        applied = condition_of(report, CONDITION_APPLIED)
        return applied.message if applied else None
    if event is NotificationEvent.FAILED:
        said = [c for c in status.conditions or () if c.type != CONDITION_NOTIFIED]
        return max(said, key=lambda c: c.last_transition_time).message if said else None
    return None


def notification_of(report: ObservedReport, event: NotificationEvent, at: datetime) -> ReportNotification:
    metadata, spec, status = report.metadata, report.spec, report.status
    findings, suggested = status.findings, status.suggested_patch
    target = suggested.target if suggested is not None else spec.workload_ref
    namespace = metadata.namespace or ""
    detail = _detail(report, event)
    return ReportNotification(
        id=f"{metadata.uid}/{event.value}",
        event=event,
        time=at,
        namespace=namespace,
        name=metadata.name,
        uid=metadata.uid or "",
        phase=phase_of(report),
        trigger=spec.trigger,
        policy=spec.policy_ref.name,
        pod=spec.pod_ref.name,
        target=NotifiedTarget(api_version=target.api_version, kind=target.kind, name=target.name),
        root_cause=findings.root_cause if findings else None,
        confidence=findings.confidence if findings else None,
        summary=escaped(findings.summary) if findings else None,
        detail=escaped(detail) if detail else None,
        patch_sha256=suggested.sha256 if suggested is not None else None,
        hint=f"kubectl sre show -n {namespace} {metadata.name}",
    )


class DeliveredMark(BaseModel):
    """The annotation `smartsre.io/notified`: the events delivered for the report with this uid."""

    model_config = ConfigDict(extra="forbid")

    uid: str
    events: list[NotificationEvent]


def delivered(report: ObservedReport) -> frozenset[NotificationEvent]:
    """The events the annotation says were delivered for this very report (same uid); a copied or
    unreadable annotation counts as none, so the events are sent."""
    raw = report.metadata.annotations.get(ANNOTATION_NOTIFIED)
    if raw is None:
        return frozenset()
    try:
        mark = DeliveredMark.model_validate_json(raw)
    except ValidationError:
        logger.warning(
            "notification annotation ignored: it does not parse",
            extra={"report": report.metadata.name, "namespace": report.metadata.namespace},
        )
        return frozenset()
    return frozenset(mark.events) if mark.uid == report.metadata.uid else frozenset()


# --- Delivery ----------------------------------------------------------------------------------------


class DeliveryError(Exception):
    """The receiver did not take the notification; the message says how (HTTP status or error)."""


class NotificationMetrics:
    """On the operator's registry, beside smart_sre_reports and the rest."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.delivered = Counter(
            "smart_sre_notifications_delivered",
            "Notifications a webhook took (2xx), by event.",
            ["event"],
            registry=registry,
        )
        self.failed_attempts = Counter(
            "smart_sre_notification_attempts_failed",
            "POSTs to a webhook that failed (error, timeout or non-2xx answer); each is retried.",
            registry=registry,
        )
        self.given_up = Counter(
            "smart_sre_notifications_given_up",
            "Notifications given up after their last attempt (tried again when the operator restarts).",
            registry=registry,
        )
        self.dropped = Counter(
            "smart_sre_notifications_dropped",
            "Notifications dropped, oldest first, because their webhook's queue was full.",
            registry=registry,
        )
        self.queued = Gauge(
            "smart_sre_notifications_queued", "Notifications waiting for their webhook.", registry=registry
        )


@dataclass(frozen=True)
class _Delivery:
    key: ObjectKey
    uid: str
    event: NotificationEvent
    webhook: Webhook
    content_type: str
    body: bytes
    # What the report's annotation said was delivered when this was queued: kept in the new mark.
    earlier: frozenset[NotificationEvent]


@dataclass
class _Receiver:
    """One webhook's queue, drained in order by at most one task."""

    queue: deque[_Delivery] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    reason: str
    message: str


def _context(delivery: _Delivery) -> dict[str, str]:
    """What each log line about a delivery names."""
    return {
        "report": delivery.key[1],
        "namespace": delivery.key[0],
        "event": delivery.event.value,
        "webhook": _where(delivery.webhook.url),
    }


def _where(url: str) -> str:
    """The URL as shown in conditions and logs: without its query, which may carry a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class Notifier:
    """Queues each event a report shows once, delivers it, and remembers what it delivered.

    `policies`: the controller's book, whose policies say where and which events go. `on_outcome`:
    called with a report's key when what its Notified condition should say changed.
    """

    def __init__(
        self,
        writer: ClusterWriter,
        *,
        policies: PolicyBook,
        registry: CollectorRegistry,
        settings: NotificationSettings,
        clock: Callable[[], datetime],
        on_outcome: Callable[[ObjectKey], None],
    ) -> None:
        self._writer = writer
        self._policies = policies
        self._settings = settings
        self._clock = clock
        self._on_outcome = on_outcome
        self._metrics = NotificationMetrics(registry)
        self._metrics.queued.set_function(lambda: sum(len(r.queue) for r in self._receivers.values()))
        self._receivers: dict[str, _Receiver] = {}
        self._waiting: set[tuple[str, NotificationEvent]] = set()  # queued or being delivered
        # Settled in this process: delivered (the annotation may not show it yet), or given up or
        # dropped (not queued again until a restart, or each Notified=False write would re-queue it).
        self._sent: dict[str, set[NotificationEvent]] = {}
        self._abandoned: set[tuple[str, NotificationEvent]] = set()
        self._outcomes: dict[str, _Outcome] = {}
        self._mark_lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    # --- what the controller calls ---

    def observe(self, report: ObservedReport, *, deleted: bool = False) -> None:
        """Queue the events the report shows that its policy wants and nobody delivered yet."""
        uid = report.metadata.uid
        if uid is None:
            return
        if deleted:
            self._sent.pop(uid, None)
            self._outcomes.pop(uid, None)
            self._abandoned = {pair for pair in self._abandoned if pair[0] != uid}
            return
        policy = self._policies.get(report.spec.policy_ref.name)
        wanted = policy.spec.notifications if policy is not None else None
        if wanted is None:
            return
        earlier = delivered(report)
        settled = earlier | self._sent.get(uid, set())
        now = self._clock()
        for event in shown_events(report):
            pair = (uid, event)
            if (
                event not in wanted.events
                or event in settled
                or pair in self._waiting
                or pair in self._abandoned
            ):
                continue
            at = reached_at(report, event) or now
            if now - at > self._settings.max_age:
                logger.debug(
                    "notification not sent: the event is too old",
                    extra={"report": report.metadata.name, "event": event.value, "at": at.isoformat()},
                )
                continue
            content_type, body = render(notification_of(report, event, at), wanted.webhook)
            key = (report.metadata.namespace or "", report.metadata.name)
            self._enqueue(_Delivery(key, uid, event, wanted.webhook, content_type, body, earlier))

    def conditions_for(self, report: ObservedReport, *, now: datetime) -> list[Condition] | None:
        """The report's conditions with Notified as the latest delivery says, when the report does not
        show that yet; None when there is nothing to write."""
        outcome = self._outcomes.get(report.metadata.uid or "")
        if outcome is None:
            return None
        conditions = with_condition(
            report.status.conditions,
            CONDITION_NOTIFIED,
            outcome.delivered,
            outcome.reason,
            outcome.message,
            now=now,
        )
        shown = condition_of(report, CONDITION_NOTIFIED)
        wanted = conditions[-1]
        if shown is not None and (shown.status, shown.reason, shown.message) == (
            wanted.status,
            wanted.reason,
            wanted.message,
        ):
            return None
        return conditions

    async def close(self) -> None:
        tasks = [r.task for r in self._receivers.values() if r.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # --- queueing ---

    def _enqueue(self, delivery: _Delivery) -> None:
        receiver = self._receivers.setdefault(delivery.webhook.model_dump_json(), _Receiver())
        if len(receiver.queue) >= self._settings.queue_size:
            self._drop(receiver.queue.popleft())
        receiver.queue.append(delivery)
        self._waiting.add((delivery.uid, delivery.event))
        if receiver.task is None or receiver.task.done():
            receiver.task = asyncio.get_running_loop().create_task(self._drain(receiver))

    def _drop(self, dropped: _Delivery) -> None:
        where = _where(dropped.webhook.url)
        self._waiting.discard((dropped.uid, dropped.event))
        self._abandoned.add((dropped.uid, dropped.event))
        self._metrics.dropped.inc()
        logger.warning(
            "notification queue full; dropped the oldest",
            extra={**_context(dropped), "queue_size": self._settings.queue_size},
        )
        self._settle(
            dropped,
            _Outcome(
                False,
                REASON_DROPPED,
                f"the {dropped.event.value} notification was dropped: the queue for {where} was full "
                f"({self._settings.queue_size} waiting) because the webhook is slow or failing. Check the "
                "receiver; it is sent again if it is still due when the operator restarts",
            ),
        )

    async def _drain(self, receiver: _Receiver) -> None:
        while receiver.queue:
            delivery = receiver.queue.popleft()
            try:
                await self._deliver(delivery)
            except Exception:  # one bad notification must not stop the others behind it
                logger.exception("notification delivery crashed", extra=_context(delivery))
            finally:
                self._waiting.discard((delivery.uid, delivery.event))

    # --- delivery ---

    async def _deliver(self, delivery: _Delivery) -> None:
        for attempt in range(1, self._settings.max_attempts + 1):
            try:
                status = await self._post(delivery)
            except DeliveryError as error:
                if (delay := self._failed(delivery, attempt, error)) is None:
                    return
                await asyncio.sleep(delay)
                continue
            self._sent.setdefault(delivery.uid, set()).add(delivery.event)
            self._metrics.delivered.labels(event=delivery.event.value).inc()
            logger.info(
                "notification delivered", extra={**_context(delivery), "attempt": attempt, "status": status}
            )
            await self._mark(delivery)
            tries = f", at attempt {attempt}" if attempt > 1 else ""
            where = _where(delivery.webhook.url)
            message = (
                f"the {delivery.event.value} notification was delivered to {where} (HTTP {status}{tries})"
            )
            self._settle(delivery, _Outcome(True, REASON_DELIVERED, message))
            return

    def _failed(self, delivery: _Delivery, attempt: int, error: DeliveryError) -> float | None:
        """Count and show a failed attempt; the wait before the next one, or None when it was the last."""
        settings = self._settings
        last = attempt == settings.max_attempts
        delay = min(settings.first_retry_s * 2 ** (attempt - 1), settings.max_retry_s)
        self._metrics.failed_attempts.inc()
        logger.warning(
            "notification not delivered",
            extra={
                **_context(delivery),
                "attempt": attempt,
                "error": str(error),
                "retry_in_s": None if last else delay,
            },
        )
        if last:
            self._abandoned.add((delivery.uid, delivery.event))
            self._metrics.given_up.inc()
            state = f"gave up after {attempt} attempts, tried again when the operator restarts if still due"
        else:
            state = f"attempt {attempt} of {settings.max_attempts}, next in {delay:g}s"
        if last or attempt >= settings.failing_after:
            message = (
                f"the {delivery.event.value} notification to {_where(delivery.webhook.url)} failed: {error} "
                f"({state}). Check that the receiver is up and that the operator may reach it (an egress "
                'rule in its NetworkPolicy, docs/operator.md "Notifications")'
            )
            self._settle(delivery, _Outcome(False, REASON_FAILING, message))
        return None if last else delay

    async def _post(self, delivery: _Delivery) -> int:
        headers = {"Content-Type": delivery.content_type}
        if (reference := delivery.webhook.secret_ref) is not None:
            headers["Authorization"] = f"Bearer {self._token(reference)}"
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_s)
        try:
            async with self._http().post(
                delivery.webhook.url,
                data=delivery.body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return status
                # The start of the answer says what went wrong; a receiver's whole page is not read.
                answer = (await response.content.read(_MAX_ANSWER_BYTES)).decode(errors="replace").strip()
        except TimeoutError as error:
            raise DeliveryError(f"no answer within {self._settings.timeout_s:g}s") from error
        except aiohttp.ClientError as error:
            raise DeliveryError(
                f"could not reach it ({escaped(str(error)) or type(error).__name__})"
            ) from error
        said = f": {escaped(answer)}" if answer else ""
        redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
        raise DeliveryError(f"answered HTTP {status}{redirect}{said}")

    def _token(self, reference: SecretKeyRef) -> str:
        """The bearer token from the Secret's mount, read at each attempt so a rotated token is used."""
        path = self._settings.secrets_dir / reference.name / reference.key
        try:
            token = path.read_text().strip()
        except OSError as error:
            raise DeliveryError(
                f"its bearer token is not mounted: {path} cannot be read ({error.strerror}). Mount key "
                f'{reference.key!r} of Secret {reference.name!r} there (docs/operator.md "Notifications")'
            ) from error
        if not token:
            raise DeliveryError(f"its bearer token at {path} is empty")
        return token

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)  # no proxy from the environment
        return self._session

    async def _mark(self, delivery: _Delivery) -> None:
        """Write the delivered events onto the report, so a restarted operator does not send them again."""
        async with self._mark_lock:
            events = sorted(delivery.earlier | self._sent[delivery.uid], key=_ORDER.__getitem__)
            mark = DeliveredMark(uid=delivery.uid, events=events).model_dump_json()
            try:
                await self._writer.patch_report(
                    *delivery.key,
                    {"metadata": {"annotations": {ANNOTATION_NOTIFIED: mark}}},
                    field_manager=FIELD_MANAGER,
                )
            except ClusterError as error:
                logger.warning(
                    "notification delivered but not recorded on the report; a restarted operator may send it again",
                    extra={"report": delivery.key[1], "namespace": delivery.key[0], "error": str(error)},
                )

    def _settle(self, delivery: _Delivery, outcome: _Outcome) -> None:
        self._outcomes[delivery.uid] = outcome
        self._on_outcome(delivery.key)
