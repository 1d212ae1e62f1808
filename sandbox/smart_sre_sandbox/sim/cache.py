"""What informers are to real controllers: shared views of the stored objects, copied once per change.

Every simulated controller re-reads whole kinds on each pass. Copying 1,000s of pods for each pass of
each controller held the event loop, and so the API server, for seconds in a burst. The cache copies an
object once per change (without managedFields, which no controller reads) and hands the same copy to
every reader, so a controller must copy what it wants to modify, as client-go asks of its informers.

With SMART_SRE_SANDBOX_MUTATION_DETECTOR=1 (the test suite sets it) every reuse of a view is checked
against the stored object, like client-go's KUBE_CACHE_MUTATION_DETECTOR: a controller that modified a
shared view is named in the log, and `mutations` keeps the finding for tests to fail on.
"""

from __future__ import annotations

import logging
import os

from ..objects import view
from ..resources import ResourceType
from ..store import Store

logger = logging.getLogger(__name__)
DETECTOR_ENV = "SMART_SRE_SANDBOX_MUTATION_DETECTOR"


class ViewCache:
    def __init__(self, store: Store, *, detect_mutations: bool | None = None) -> None:
        self._store = store
        self._views: dict[tuple[str, str, str], dict[tuple[str, str], tuple[dict, dict]]] = {}
        if detect_mutations is None:
            detect_mutations = os.environ.get(DETECTOR_ENV, "") not in ("", "0", "false")
        self._detect = detect_mutations
        self.mutations: list[str] = []  # "pods default/web-1" for each shared view found modified

    def list(self, rt: ResourceType, namespace: str | None = None) -> list[dict]:
        """The objects of `rt` (in `namespace`, if given), sorted by namespace and name; read-only."""
        stored = self._store.stored(rt)
        views = self._views.setdefault((*rt.key, rt.api_version), {})
        result = []
        for key, obj in sorted(stored.items()):
            if namespace and key[0] != namespace:
                continue
            cached = views.get(key)
            if cached is None or cached[0] is not obj or (self._detect and self._modified(rt, key, *cached)):
                cached = views[key] = (obj, view(rt, obj, managed_fields=False))
            result.append(cached[1])
        if len(views) > len(stored):  # objects deleted since the last read
            for key in views.keys() - stored.keys():
                del views[key]
        return result

    def _modified(self, rt: ResourceType, key: tuple[str, str], obj: dict, shared: dict) -> bool:
        """Whether a reader changed `shared`; each finding is logged and kept, then the view is renewed."""
        if shared == view(rt, obj, managed_fields=False):
            return False
        found = f"{rt.plural} {'/'.join(part for part in key if part)}"
        self.mutations.append(found)
        logger.error(
            "a controller modified a shared view: copy an object before changing it",
            extra={"object": found},
        )
        return True
