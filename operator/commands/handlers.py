"""Kopf handlers: thin forwards from the watches to the controller.

Only event handlers are used, so Kopf writes nothing onto pods (no finalizers, no progress
annotations) and every decision stays in the controller, driven by objects as they are now.
Runnable as `smart-sre operator run` or `kopf run -m smart_sre.commands.handlers`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from smart_sre.api.common import GROUP, VERSION
from smart_sre.commands.wiring import OperatorConfig, build_controller
from smart_sre.lifecycle.controller import Controller

# Tolerate a slow or restarting API server rather than exiting the operator.
_WATCH_SERVER_TIMEOUT_S = 300


class EventsOnlyDiffBase(kopf.DiffBaseStorage):
    """No diff base: only event handlers run here, and they never look at a diff.

    Kopf's default deep-copies every event's object to build one (and reads back an annotation to
    compare with); with 1,000s of pods that was about a fifth of the operator's CPU time per event.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account first, else $KUBECONFIG as it is now (set by `--kubeconfig`)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.INFO
    settings.persistence.diffbase_storage = EventsOnlyDiffBase()
    settings.watching.server_timeout = _WATCH_SERVER_TIMEOUT_S
    settings.watching.client_timeout = _WATCH_SERVER_TIMEOUT_S + 30
    settings.networking.error_backoffs = [1, 2, 5, 10, 30]
    if memo.get("controller") is None:
        memo.controller = build_controller(memo.get("config") or OperatorConfig.from_env())
    memo.housekeeping = asyncio.create_task(memo.controller.housekeeping(), name="smart-sre housekeeping")


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    if (task := memo.get("housekeeping")) is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    controller: Controller | None = memo.get("controller")
    if controller is not None:
        await controller.close()


@kopf.on.event(GROUP, VERSION, "debugpolicies")
async def policy_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await memo.controller.on_policy(type, body)


@kopf.on.event("", "v1", "pods")
async def pod_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await memo.controller.on_pod(type, body)


@kopf.on.event(GROUP, VERSION, "diagnosticreports")
async def report_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await memo.controller.on_report(type, body)


@kopf.on.probe(id="analyses")
def analyses(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    """Shown on the liveness endpoint: the operator is alive and how busy it is."""
    slots = memo.controller.slots
    return {"running": slots.running, "queued": slots.queued}
