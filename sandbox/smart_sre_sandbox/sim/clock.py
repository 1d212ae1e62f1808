"""A compressible clock: simulated durations run `time_scale` times faster than real ones.

Timestamps written into objects stay real wall-clock time (kubectl computes AGE from them), while
durations the simulation waits for (back-off, probe periods, run times) are simulated seconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from ..objects import rfc3339


class Clock:
    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.time_scale = time_scale
        self._origin = time.monotonic()

    def now(self) -> float:
        """Simulated seconds since the clock was made."""
        return (time.monotonic() - self._origin) * self.time_scale

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> str:
        return rfc3339(self.wall())

    def real_seconds(self, simulated: float) -> float:
        return max(0.0, simulated) / self.time_scale

    async def sleep(self, simulated: float) -> None:
        await asyncio.sleep(self.real_seconds(simulated))
