"""Loopback fakes of external services for the tests, and a polling helper to wait on them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio


async def eventually(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll `predicate` with short awaits until it holds; fail after `timeout_s`."""
    with anyio.fail_after(timeout_s):
        while not predicate():
            await asyncio.sleep(0.005)
