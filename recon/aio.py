"""Concurrency helper shared by the pull stages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def gather_all(*awaitables: Awaitable[Any]) -> list[Any]:
    """Run concurrently; on the first failure cancel the others and wait for them.

    Unlike asyncio.gather, nothing is left running when the error surfaces,
    so a failed pull never leaves requests in flight behind the run.
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_as_coroutine(a)) for a in awaitables]
    except BaseExceptionGroup as group_error:
        raise _first_leaf(group_error) from None
    return [task.result() for task in tasks]


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _first_leaf(group_error: BaseExceptionGroup) -> BaseException:
    first = group_error.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
