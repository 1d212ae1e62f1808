"""The shape every simulated controller shares: level-triggered reconcile passes over the whole cluster.

The sandbox cluster is small, so each pass reads everything it needs (shared views, see cache.py) and
converges; a pass runs when a watched kind changes or when the previous pass asked to be woken after
some simulated time (back-off expiring, a container due to exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ApiError
from ..logs import PodLogs
from ..resources import ResourceType
from ..store import Store
from .cache import ViewCache
from .clock import Clock
from .events import EventRecorder
from .images import Catalogue

logger = logging.getLogger(__name__)
MERGE = "application/merge-patch+json"
_SLOW_PASS_SECONDS = 0.05


@dataclass
class Cluster:
    """What controllers share: the Store they work on and the simulation's clock, logs and images."""

    store: Store
    logs: PodLogs
    clock: Clock
    images: Catalogue = field(default_factory=Catalogue)
    root_ca: str = ""  # the PEM every namespace's kube-root-ca.crt publishes (the API server's CA)
    events: EventRecorder = field(init=False)
    views: ViewCache = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventRecorder(self.store, self.clock)
        self.views = ViewCache(self.store)

    def rt(self, name: str) -> ResourceType:
        return self.store.resource(name)

    async def list(self, name: str, namespace: str | None = None) -> list[dict]:
        """Shared, read-only views (see `ViewCache`): copy an object before changing it."""
        return self.views.list(self.rt(name), namespace)

    async def delete(self, name: str, obj: dict) -> None:
        """Delete `obj` (a `name` resource); already gone is fine, as for any controller racing a user."""
        try:
            await self.store.delete(self.rt(name), obj["metadata"].get("namespace"), obj["metadata"]["name"])
        except ApiError as error:
            if error.code != 404:
                raise

    async def create(
        self,
        name: str,
        obj: dict,
        *,
        about: dict,
        reason: str,
        message: str | Callable[[dict], str],
        component: str,
    ) -> dict:
        """Create `obj` (a `name` resource) and record a Normal event on `about`, as controllers report.

        A callable `message` gets the created object, for names the server generates.
        """
        created = await self.store.create(self.rt(name), obj)
        text = message if isinstance(message, str) else message(created)
        await self.events.record(about, "Normal", reason, text, component=component)
        return created

    async def create_pod(self, owner: dict, pod: dict, component: str) -> dict:
        """Create a pod of `owner` with the event the replica-style controllers word alike."""
        return await self.create(
            "pods",
            pod,
            about=owner,
            reason="SuccessfulCreate",
            message=lambda created: f"Created pod: {created['metadata']['name']}",
            component=component,
        )

    async def sync_status(self, name: str, obj: dict, status: dict) -> None:
        """Patch `status` only when some field differs: an idle write would still wake every watcher."""
        if any((obj.get("status") or {}).get(k) != v for k, v in status.items()):
            await self.patch_status(name, obj, status)

    async def patch_status(self, name: str, obj: dict, status: dict) -> dict | None:
        """Merge `status` into the object's status; None when the object is gone meanwhile."""
        meta = obj["metadata"]
        try:
            return await self.store.patch(
                self.rt(name),
                meta.get("namespace"),
                meta["name"],
                MERGE,
                {"status": status},
                subresource="status",
            )
        except ApiError as error:
            if error.code == 404:
                return None
            raise


class Controller:
    """Subclasses name the kinds they watch and implement `reconcile`."""

    watches: tuple[str, ...] = ()
    resync_seconds: float = 30.0  # simulated seconds between passes when nothing happens

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._dirty = asyncio.Event()

    async def reconcile(self) -> float | None:
        """Converge once; return simulated seconds until a pass is due anyway (None: resync period)."""
        raise NotImplementedError

    async def run(self) -> None:
        watchers = [asyncio.create_task(self._watch(name)) for name in self.watches]
        try:
            while True:
                self._dirty.clear()
                started = time.thread_time()
                try:
                    wake = await self.reconcile()
                except ApiError as error:  # a conflicting write: the next pass sees fresh objects
                    logger.debug(
                        "reconcile conflict", extra={"controller": type(self).__name__, "error": str(error)}
                    )
                    wake = 0.5
                except Exception:
                    logger.exception("reconcile failed", extra={"controller": type(self).__name__})
                    wake = 1.0
                delay = self.resync_seconds if wake is None else max(wake, 0.0)
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
                # arrives as the event fires, and the controller would then never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.cluster.clock.real_seconds(delay) + 0.001):
                        await self._dirty.wait()
                # Let a burst of changes land before the next pass. A slow pass (a big cluster) held the
                # loop for its whole CPU time: rest as long, so the API server keeps half the loop.
                spent = time.thread_time() - started
                await asyncio.sleep(spent if spent > _SLOW_PASS_SECONDS else 0.005)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def _watch(self, name: str) -> None:
        """Wake the controller on every change of `name`; a closed stream (fault injection) is re-opened."""
        while True:
            try:
                async for _ in self.cluster.store.watch(self.cluster.rt(name)):
                    self._dirty.set()
            except ApiError as error:  # e.g. the type went away with its CRD: look again later
                logger.debug("watch failed", extra={"resource": name, "error": str(error)})
                await asyncio.sleep(1.0)
            self._dirty.set()
