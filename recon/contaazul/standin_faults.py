"""Misbehaviour the stand-in can inject, and the counters that show what it did.

`Faults` is the configuration (every knob off by default); `FaultInjector` applies it, one
instance per server, so the random draws come from the server's own `random.Random(seed)` and a
test with a fixed seed sees the same faults on every run (as long as its requests are
sequential: concurrent requests draw in whatever order they arrive). `Stats` counts what the
server answered, for benchmarks and tests.

Order of decisions for a /v1 request, mirroring where each fault happens in production: the
gateway's 429s (storm, then the sliding windows) come before the application sees the request,
so a 429 never touches the state; then the `fail_next` and random read errors (the application
or a proxy failing, also before any state change). Ambiguous writes are decided after the write
succeeded, which is the whole point of them.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from recon.contaazul.standin_routes import Reply, Route

SERVER_ERROR_MESSAGE = "Ocorreu um erro inesperado no servidor. Tente novamente mais tarde."
INTERNAL_ERROR = {"code": 500, "message": SERVER_ERROR_MESSAGE}
# The real 429 body is not established (notes §8); Retry-After is our choice, to be honoured.
RATE_LIMITED = {"code": 429, "message": "Too Many Requests"}
# Gateways answer 502/504 with nothing a client can parse; 500/503 come from the application.
READ_ERROR_BODIES: Mapping[int, object | None] = {
    500: INTERNAL_ERROR,
    502: None,
    503: {"code": 503, "message": SERVER_ERROR_MESSAGE},
    504: None,
}


@dataclass(frozen=True)
class Faults:
    """Misbehaviour to inject; every knob defaults to off."""

    rate_limit_per_second: float | None = None  # /v1 routes, sliding 1 s window; past it: 429
    rate_limit_per_minute: float | None = None  # /v1 routes, sliding 60 s window; past it: 429
    rate_limit_storm: tuple[float, float] | None = None  # (start offset s, duration s): all 429
    # Time the storm from the first /v1 request instead of the server's start: a client that
    # spends a while before calling (a slow or loaded machine) still meets it.
    storm_from_first_request: bool = False
    fail_next: Mapping[str, int] = field(default_factory=dict)  # route name -> next N get 500
    read_error_rate: float = 0.0  # fraction of GET /v1 answered 500/502/503/504, state untouched
    ambiguous_write_rate: float = 0.0  # fraction of POST baixa stored, then answered 504 empty
    latency_seconds: float = 0.0  # added before every answer
    revoke_family_on_reuse: bool = False  # a reused refresh token also kills its live successor
    seed: int | None = None  # for the random draws above

    def __post_init__(self) -> None:
        for name in ("read_error_rate", "ambiguous_write_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Faults.{name} must be between 0 and 1")
        for name in ("rate_limit_per_second", "rate_limit_per_minute"):
            limit = getattr(self, name)
            if limit is not None and limit <= 0:
                raise ValueError(f"Faults.{name} must be positive (or None for no limit)")
        if self.latency_seconds < 0:
            raise ValueError("Faults.latency_seconds must not be negative")
        if self.rate_limit_storm is not None and min(self.rate_limit_storm) < 0:
            raise ValueError("Faults.rate_limit_storm offsets must not be negative")


@dataclass
class Stats:
    """What the server answered. Increments take a lock: requests are served by many threads."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    refreshes: int = 0  # successful refresh_token grants
    invalid_grants: int = 0  # token requests refused with invalid_grant
    ambiguous_writes: int = 0  # writes that landed but were answered 504
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_reply(self, status: int) -> None:
        with self._lock:
            self.requests += 1
            self.statuses[status] += 1

    def add(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def as_dict(self) -> dict:
        """A consistent copy, safe to read while the server keeps counting."""
        with self._lock:
            return {"requests": self.requests, "statuses": dict(self.statuses),
                    "refreshes": self.refreshes, "invalid_grants": self.invalid_grants,
                    "ambiguous_writes": self.ambiguous_writes}


class SlidingWindow:
    """At most `limit` admitted requests in any `seconds`-long span."""

    def __init__(self, limit: float, seconds: float):
        self.limit, self.seconds = limit, seconds
        self._admitted: deque[float] = deque()

    def wait(self, now: float) -> float:
        """0 if a request may go now, else the seconds until the oldest one leaves the window."""
        while self._admitted and now - self._admitted[0] >= self.seconds:
            self._admitted.popleft()
        if len(self._admitted) < self.limit:
            return 0.0
        return self._admitted[0] + self.seconds - now

    def admit(self, now: float) -> None:
        self._admitted.append(now)


class FaultInjector:
    """Applies one server's Faults. Thread-safe; never holds the state lock."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self._lock = threading.Lock()
        self._random = random.Random(faults.seed)
        self._fail_counts = dict(faults.fail_next)
        self._windows = [SlidingWindow(limit, seconds) for limit, seconds in (
            (faults.rate_limit_per_second, 1.0), (faults.rate_limit_per_minute, 60.0),
        ) if limit is not None]
        self._started = time.monotonic()
        self._seen_request = False

    def server_started(self) -> None:
        """The storm is timed from here."""
        self._started = time.monotonic()

    def before(self, route: Route) -> Reply | None:
        """The reply that replaces processing the request, or None to process it."""
        with self._lock:
            if route.needs_bearer:
                limited = self._rate_limited()
                if limited is not None:
                    return limited
            if self._fail_counts.get(route.name, 0) > 0:
                self._fail_counts[route.name] -= 1
                return Reply(500, INTERNAL_ERROR)
            if route.method == "GET" and route.needs_bearer and self._draw(
                    self.faults.read_error_rate):
                status = self._random.choice(sorted(READ_ERROR_BODIES))
                return Reply(status, READ_ERROR_BODIES[status])
        return None

    def lands_ambiguously(self, route: Route) -> bool:
        """Whether a baixa that was just stored is answered 504 instead of 200."""
        if route.name != "create_baixa":
            return False
        with self._lock:
            return self._draw(self.faults.ambiguous_write_rate)

    def delay(self) -> None:
        if self.faults.latency_seconds > 0:
            time.sleep(self.faults.latency_seconds)

    def _rate_limited(self) -> Reply | None:
        now = time.monotonic()
        if self.faults.storm_from_first_request and not self._seen_request:
            self._started = now
        self._seen_request = True
        storm = self.faults.rate_limit_storm
        if storm is not None and 0 <= now - self._started - storm[0] < storm[1]:
            return _too_many(1)
        wait = max((window.wait(now) for window in self._windows), default=0.0)
        if wait > 0:
            return _too_many(max(1, math.ceil(wait)))
        for window in self._windows:
            window.admit(now)
        return None

    def _draw(self, rate: float) -> bool:
        # No draw at rate 0: with one knob on, its sequence for a seed does not depend on
        # how many requests the other (off) knobs saw.
        return rate > 0 and self._random.random() < rate


def _too_many(retry_after: int) -> Reply:
    return Reply(429, RATE_LIMITED, {"Retry-After": str(retry_after)})
