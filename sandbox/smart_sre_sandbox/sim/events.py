"""An event recorder like client-go's: core/v1 Events, with repeats aggregated into `count`."""

from __future__ import annotations

import logging
import time

from ..errors import ApiError
from ..store import Store
from .clock import Clock

logger = logging.getLogger(__name__)


def involved(obj: dict, field_path: str = "") -> dict:
    meta = obj["metadata"]
    ref = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._rt = store.resource("events", group="")
        self._names: dict[tuple[str, ...], tuple[str, str]] = {}  # aggregation key -> (namespace, name)

    async def record(
        self,
        obj: dict,
        type_: str,
        reason: str,
        message: str,
        *,
        component: str,
        host: str = "",
        field_path: str = "",
    ) -> None:
        """Emit an event about `obj`; an identical repeat bumps the existing event's count instead."""
        ref = involved(obj, field_path)
        namespace = ref.get("namespace", "default")
        key = (ref["uid"], field_path, type_, reason, message, component, host)
        now = self._clock.timestamp()
        known = self._names.get(key)
        if known is not None:
            try:
                current = await self._store.get(self._rt, *known)
                current["count"] = int(current.get("count") or 1) + 1
                current["lastTimestamp"] = now
                current["metadata"].pop("resourceVersion", None)
                await self._store.update(self._rt, current)
                return
            except ApiError as error:
                if error.code != 404:
                    raise
        name = f"{ref['name']}.{time.time_ns():x}"
        source = {"component": component, **({"host": host} if host else {})}
        event = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        try:
            await self._store.create(self._rt, event)
        except ApiError as error:  # e.g. the namespace is being deleted: events are best effort
            logger.debug("event dropped", extra={"reason": reason, "error": str(error)})
            return
        self._names[key] = (namespace, name)
