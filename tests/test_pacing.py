"""The limiter's schedule: both windows hold however many requests arrive at once."""

import asyncio
import time

import pytest

from recon.contaazul.pacing import RateLimiter


def burst_schedule(per_second, per_minute, requests, arrival=0.0):
    """Start times the limiter reserves for `requests` that all arrive at the same moment."""
    limiter = RateLimiter(per_second, per_minute)
    return [limiter._reserve(arrival) for _ in range(requests)]


def max_in_window(starts, width):
    starts = sorted(starts)
    best, left = 0, 0
    for right, start in enumerate(starts):
        while start - starts[left] >= width - 1e-9:
            left += 1
        best = max(best, right - left + 1)
    return best


def test_starts_are_spaced_at_the_per_second_rate():
    starts = burst_schedule(8, 10_000, 100)
    assert max_in_window(starts, 1.0) <= 8
    assert starts[-1] == pytest.approx(99 / 8)


def test_the_per_minute_window_caps_a_long_burst():
    starts = burst_schedule(100, 480, 1000)
    assert max_in_window(starts, 60.0) <= 480
    assert max_in_window(starts, 1.0) <= 100
    # 1000 requests at 480/min need a little over two minutes, and no more
    assert 120.0 <= starts[-1] < 125.0


def test_concurrent_waiters_are_really_paced():
    limiter = RateLimiter(per_second=50, per_minute=10_000)
    stamps = []

    async def one():
        await limiter.wait()
        stamps.append(time.monotonic())

    async def go():
        await asyncio.gather(*(one() for _ in range(20)))

    began = time.monotonic()
    asyncio.run(go())
    assert stamps[-1] - began >= 19 / 50 * 0.9
    assert max_in_window(stamps, 1.0) <= 50


def test_zero_means_unlimited():
    limiter = RateLimiter(0, 0)
    began = time.monotonic()

    async def go():
        await asyncio.gather(*(limiter.wait() for _ in range(100)))

    asyncio.run(go())
    assert time.monotonic() - began < 0.5
