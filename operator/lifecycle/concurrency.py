"""Bounded concurrent analyses: one global limit and one per policy.

Analyses are expensive (a local model on a few CPU cores), so a burst of failing pods must queue
rather than thrash. The per-policy slot is taken first, so one noisy policy waits on its own limit
without holding global slots that other policies could use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass
class _PolicySlots:
    limit: int
    semaphore: asyncio.Semaphore


class AnalysisSlots:
    """Counts running and queued analyses; both are exported as metrics."""

    def __init__(self, global_limit: int) -> None:
        if global_limit < 1:
            raise ValueError(f"global limit must be >= 1, got {global_limit}")
        self.global_limit = global_limit
        self._global = asyncio.Semaphore(global_limit)
        self._policies: dict[str, _PolicySlots] = {}
        self.queued = 0
        self.running = 0

    def _policy(self, policy: str, limit: int) -> asyncio.Semaphore:
        slots = self._policies.get(policy)
        if slots is None or slots.limit != limit:
            # A changed limit applies to new analyses; running ones release the old semaphore.
            slots = self._policies[policy] = _PolicySlots(limit, asyncio.Semaphore(max(1, limit)))
        return slots.semaphore

    @asynccontextmanager
    async def slot(
        self,
        policy: str,
        policy_limit: int,
        on_queued: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[None]:
        """Hold one analysis slot; `on_queued` runs once if the caller has to wait for it."""
        per_policy = self._policy(policy, policy_limit)
        waiting = per_policy.locked() or self._global.locked()
        if waiting:
            self.queued += 1
        try:
            if waiting and on_queued is not None:
                await on_queued()
            async with per_policy, self._global:
                if waiting:
                    self.queued -= 1
                    waiting = False
                self.running += 1
                try:
                    yield
                finally:
                    self.running -= 1
        finally:
            if waiting:  # cancelled while still queued
                self.queued -= 1
