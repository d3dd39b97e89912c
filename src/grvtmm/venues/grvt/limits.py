"""Client-side request budgets (token buckets per endpoint group) and the retry backoff policy.

GRVT publishes no numbers (reference/grvt-api.md §6.3): the defaults sit well under ccxt's
weights (~20 order actions/s, ~2 cancel-all/s, ~5 queries/s, ~2.5 account calls/s, ~1 login/s,
~1 dead-man heartbeat/s).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from grvtmm.core.clock import NS_PER_S

DEFAULT_BUDGETS: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        # group: (tokens per second, burst)
        "order": (10.0, 10.0),
        "cancel_all": (1.0, 2.0),
        "query": (4.0, 4.0),
        "account": (2.0, 2.0),
        "market": (8.0, 8.0),
        "auth": (1.0, 2.0),
        "cod": (1.0, 3.0),
    }
)


class TokenBucket:
    """Classic token bucket on a monotonic ns counter; `reserve` books a token and says how long
    to wait for it, so concurrent callers queue fairly without busy waiting."""

    __slots__ = ("_now_ns", "_stamp_ns", "_tokens", "burst", "rate_per_s", "waited_ns")

    def __init__(self, rate_per_s: float, burst: float, now_ns: Callable[[], int]) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._now_ns = now_ns
        self._tokens = burst
        self._stamp_ns = now_ns()
        self.waited_ns = 0

    def reserve(self, cost: float = 1.0) -> int:
        """Take `cost` tokens (possibly going into debt); ns to wait before using them."""
        now = self._now_ns()
        elapsed = max(0, now - self._stamp_ns)
        self._stamp_ns = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s / NS_PER_S)
        self._tokens -= cost
        if self._tokens >= 0:
            return 0
        wait_ns = int(-self._tokens / self.rate_per_s * NS_PER_S)
        self.waited_ns += wait_ns
        return wait_ns


class RateLimits:
    """One bucket per endpoint group."""

    def __init__(
        self,
        now_ns: Callable[[], int],
        budgets: Mapping[str, tuple[float, float]] = DEFAULT_BUDGETS,
    ) -> None:
        self.buckets = {g: TokenBucket(rate, burst, now_ns) for g, (rate, burst) in budgets.items()}

    async def acquire(self, group: str, sleep: Callable[[float], Awaitable[None]]) -> None:
        bucket = self.buckets.get(group)
        if bucket is None:
            return
        wait_ns = bucket.reserve()
        if wait_ns > 0:
            await sleep(wait_ns / NS_PER_S)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits U(½, 1) × min(cap, base × 2^(n−1))."""

    max_attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay_s(
        self, attempt: int, rng: random.Random, retry_after_s: float | None = None
    ) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based); honours Retry-After."""
        doublings = min(max(attempt, 1) - 1, 30)
        ceiling = min(self.max_delay_s, self.base_delay_s * float(2**doublings))
        delay = ceiling * (0.5 + 0.5 * rng.random())
        if retry_after_s is not None and retry_after_s > delay:
            delay = min(retry_after_s, self.max_delay_s)
        return delay
