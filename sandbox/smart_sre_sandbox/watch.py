"""Watch fan-out: the change history and the open watch streams, as the API server's watch cache keeps them.

The store records every stored change here (`Watches.publish`) and serves ``Store.watch`` from here;
each subscriber sees the changes of its kind through its namespace and selectors.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from .errors import bad_request, expired
from .objects import view
from .resources import ResourceType
from .selectors import FieldSelector, LabelSelector


class WatchEvent(NamedTuple):
    type: str  # "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"
    object: dict


class Change(NamedTuple):
    """One stored change: the object as stored after it (``old`` before it), at resourceVersion ``rv``."""

    rv: int
    key: tuple[str, str]
    type: str
    object: dict
    old: dict | None


@dataclass(eq=False)
class Subscriber:
    """One open watch: its kind, namespace (None: all) and selectors, and the queue its events wait in."""

    rt: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.labels.matches(obj) and self.fields.matches(obj)

    def event_type(self, change: Change) -> str | None:
        """The event this watcher sees: objects entering or leaving its selector are ADDED or DELETED."""
        now, before = self.matches(change.object), self.matches(change.old)
        if change.type == "MODIFIED":
            return "MODIFIED" if now and before else "ADDED" if now else "DELETED" if before else None
        return change.type if now else None

    def translate(self, change: Change) -> WatchEvent | None:
        kind = self.event_type(change)
        return None if kind is None else WatchEvent(kind, view(self.rt, change.object))


class Watches:
    """The last ``history_limit`` changes, for watches that resume from a resourceVersion, and the open streams."""

    def __init__(self, history_limit: int) -> None:
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._history_floor = 0  # every change after this resourceVersion is still in _history
        self._subscribers: list[Subscriber] = []

    def publish(self, rt: ResourceType, kind: str, obj: dict, old: dict | None) -> None:
        """Record a stored change and queue it for every watcher that sees it."""
        change = Change(int(obj["metadata"]["resourceVersion"]), rt.key, kind, obj, old)
        if len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0].rv
        self._history.append(change)
        # One copy per change, shared by its watchers (they only encode it), not one per watcher.
        views: dict[str, dict] = {}
        for sub in self._subscribers:
            if sub.rt.key == rt.key and (event := sub.event_type(change)) is not None:
                shared = views.get(sub.rt.api_version)
                if shared is None:
                    shared = views[sub.rt.api_version] = view(sub.rt, change.object)
                sub.queue.put_nowait(WatchEvent(event, shared))

    async def stream(
        self,
        sub: Subscriber,
        current: dict[tuple[str, str], dict],
        resource_version: str | None,
        bookmark_interval: float | None,
        latest: Callable[[], str],
    ) -> AsyncIterator[WatchEvent]:
        """``sub``'s events: ADDED for each of ``current`` (the stored objects of its kind) when
        ``resource_version`` is unset or "0", else the changes after it; then every change as it comes.

        With ``bookmark_interval``, a quiet stream yields BOOKMARK events carrying ``latest()``.
        """
        if resource_version in (None, "", "0"):
            initial = [
                WatchEvent("ADDED", view(sub.rt, o)) for _, o in sorted(current.items()) if sub.matches(o)
            ]
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise bad_request(f'invalid resource version "{resource_version}"') from None
            if since < self._history_floor:
                raise expired(f"too old resource version: {since} ({self._history_floor + 1})")
            changes = [c for c in self._history if c.rv > since and c.key == sub.rt.key]
            initial = [e for e in (sub.translate(c) for c in changes) if e is not None]
        self._subscribers.append(sub)
        try:
            for event in initial:
                yield event
            while True:
                try:
                    # asyncio.timeout, unlike wait_for on 3.11, never swallows a cancellation.
                    async with asyncio.timeout(bookmark_interval):
                        event = await sub.queue.get()
                except TimeoutError:
                    bookmark = {"resourceVersion": latest()}
                    event = WatchEvent(
                        "BOOKMARK",
                        {"kind": sub.rt.kind, "apiVersion": sub.rt.api_version, "metadata": bookmark},
                    )
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.remove(sub)

    def close_all(self) -> int:
        """End every open stream (clients see the connection close and must re-watch)."""
        for sub in self._subscribers:
            sub.queue.put_nowait(None)
        return len(self._subscribers)

    def compact(self) -> None:
        """Forget the history, as etcd compaction does: older resourceVersions now get 410 Gone."""
        if self._history:
            self._history_floor = self._history[-1].rv
            self._history.clear()
