"""One generation at a time on the llama context, behind a bounded FIFO queue.

Waiting is an `asyncio.Lock` acquire (FIFO), so a caller that disconnects while queued simply leaves
the queue. Running work happens on one dedicated thread; it polls a checkpoint between tokens, so a
disconnect or a deadline stops it at the next token and the context is free for the next caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from smart_sre_inference.errors import Cancelled, Checkpoint, QueueFull, TimedOut

T = TypeVar("T")


class Scheduler:
    def __init__(self, max_waiting: int, on_depth: Callable[[int], None] = lambda depth: None) -> None:
        self._max_waiting = max_waiting
        self._on_depth = on_depth
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self._admitted = 0  # running + waiting
        self._service_s = 2.0  # moving average, for Retry-After

    @property
    def waiting(self) -> int:
        return max(0, self._admitted - (1 if self._lock.locked() else 0))

    def retry_after_s(self) -> int:
        return max(1, math.ceil(self._service_s * self._admitted))

    async def run(self, work: Callable[[Checkpoint], T], timeout_s: float) -> tuple[T, float]:
        """`work`'s result and the seconds it waited in the queue."""
        if self._admitted > self._max_waiting:
            raise QueueFull(self.retry_after_s())
        self._admitted += 1
        self._on_depth(self.waiting)
        enqueued = time.monotonic()
        deadline = enqueued + timeout_s
        try:
            try:
                async with asyncio.timeout(timeout_s):
                    await self._lock.acquire()
            except TimeoutError:
                raise TimedOut(f"waited {timeout_s:g}s in the queue without reaching the model") from None
            try:
                self._on_depth(self.waiting)
                waited = time.monotonic() - enqueued
                return await self._on_thread(work, deadline, timeout_s), waited
            finally:
                self._lock.release()
        finally:
            self._admitted -= 1
            self._on_depth(self.waiting)

    async def _on_thread(self, work: Callable[[Checkpoint], T], deadline: float, timeout_s: float) -> T:
        stop = threading.Event()

        def checkpoint() -> None:
            if stop.is_set():
                raise Cancelled("the caller disconnected")
            if time.monotonic() > deadline:
                raise TimedOut(f"the request took longer than its timeout of {timeout_s:g}s")

        started = time.monotonic()
        future = asyncio.get_running_loop().run_in_executor(self._executor, work, checkpoint)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            stop.set()  # the context stays busy until the work notices, so wait for it
            with contextlib.suppress(Exception):
                await asyncio.wait([future])
            raise
        self._service_s = 0.8 * self._service_s + 0.2 * (time.monotonic() - started)
        return result

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the context between two requests (to swap models)."""
        async with self._lock:
            yield

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
