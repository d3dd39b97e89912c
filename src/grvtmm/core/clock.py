"""The one place where wall-clock time and system entropy are read.

Everything else takes a `Clock` (int nanoseconds) and seeded RNGs, so runs are reproducible.
"""

from __future__ import annotations

import random
import secrets
import time
from typing import Protocol

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


class Clock(Protocol):
    """Source of the current time in integer nanoseconds since the Unix epoch."""

    def now_ns(self) -> int: ...


class LiveClock:
    """Wall-clock time."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimClock:
    """Simulated time, advanced explicitly by a replay or a test. Never goes backwards."""

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def set(self, ts_ns: int) -> None:
        """Move to `ts_ns`; earlier values are ignored (time is monotonic)."""
        if ts_ns > self._now_ns:
            self._now_ns = ts_ns

    def advance(self, delta_ns: int) -> None:
        if delta_ns < 0:
            raise ValueError("SimClock cannot go backwards")
        self._now_ns += delta_ns


def perf_ns() -> int:
    """Monotonic high-resolution counter for measuring durations (not a timestamp)."""
    return time.perf_counter_ns()


def secure_rng() -> random.SystemRandom:
    """Cryptographically secure RNG (order nonces, secret keys); never for simulations."""
    return random.SystemRandom()


def token_hex(nbytes: int = 32) -> str:
    """Random hex token from the OS entropy pool."""
    return secrets.token_hex(nbytes)


def wait_ns(duration_ns: int) -> None:
    """Block the calling thread for `duration_ns` (pacing a real-time replay; not for tests)."""
    if duration_ns > 0:
        time.sleep(duration_ns / NS_PER_S)
