"""Client-side pacing: both of Conta Azul's windows, per connected company.

The API allows about 10 requests/s and 600/min per connected company (two
published figures disagree; 8/s and 480/min fit under both). Starts are
spaced evenly at the per-second rate, so no one-second window ever holds a
burst, and a sliding 60-second window caps the per-minute count. One limiter
is shared by every concurrent request of a run; being paced by ourselves is
far cheaper than being paced by 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

MINUTE = 60.0


class RateLimiter:
    def __init__(
        self,
        per_second: float = 8.0,
        per_minute: float = 480.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._per_minute = int(per_minute) if per_minute > 0 else 0
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        self._starts: deque[float] = deque()  # reserved start times within the last minute
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when this request may start; the slot is reserved before sleeping."""
        if not self._interval and not self._per_minute:
            return
        async with self._lock:
            now = self._clock()
            start = self._reserve(now)
        if start > now:
            await self._sleep(start - now)

    def _reserve(self, now: float) -> float:
        start = max(now, self._next_start)
        if self._per_minute:
            while self._starts and self._starts[0] <= start - MINUTE:
                self._starts.popleft()
            if len(self._starts) >= self._per_minute:
                start = max(start, self._starts[0] + MINUTE)
                self._starts.popleft()
            self._starts.append(start)
        self._next_start = start + self._interval
        return start
