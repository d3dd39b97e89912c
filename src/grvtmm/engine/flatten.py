"""Stop/halt flatten: cancel all → confirm nothing is open → reduce-only IOC through the book →
retry with exponential backoff until flat. A remainder below the venue's minimum closable size
ends the flatten as dust; it never loops on an unclosable remainder."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from grvtmm.core.clock import NS_PER_MS, NS_PER_S
from grvtmm.core.types import Instrument, Side

DUST_REJECT_CODES = frozenset({2062, 2066, 2067})
"""Venue rejects meaning 'this remainder is too small to close'."""


@dataclass(frozen=True, slots=True)
class FlattenParams:
    slippage_bps: float = 50.0
    base_backoff_ns: int = 250 * NS_PER_MS
    max_backoff_ns: int = 30 * NS_PER_S
    cancel_timeout_ns: int = 5 * NS_PER_S
    close_timeout_ns: int = 10 * NS_PER_S


class Phase(enum.Enum):
    CANCELLING = "cancelling"
    READY = "ready"
    CLOSING = "closing"
    BACKOFF = "backoff"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Wait:
    pass


@dataclass(frozen=True, slots=True)
class ResendCancel:
    pass


@dataclass(frozen=True, slots=True)
class Close:
    side: Side
    price_ticks: int
    size_lots: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Done:
    dust: bool
    position_lots: int
    attempts: int


Action = Wait | ResendCancel | Close | Done


class Flattener:
    """One flatten run; the engine feeds it the facts and carries out its actions."""

    def __init__(self, instrument: Instrument, params: FlattenParams, now_ns: int) -> None:
        self.instrument = instrument
        self.params = params
        self.phase = Phase.CANCELLING
        self.attempts = 0
        self.close_cid = 0
        self._deadline_ns = now_ns + params.cancel_timeout_ns
        self._force_dust = False
        self.cancel_rounds = 1

    def confirm_no_open_orders(self) -> None:
        if self.phase is Phase.CANCELLING:
            self.phase = Phase.READY

    def close_finished(self, now_ns: int, reject_code: int | None) -> None:
        """The close order reached a final state (filled, expired or rejected)."""
        if self.phase is not Phase.CLOSING:
            return
        self.close_cid = 0
        if reject_code in DUST_REJECT_CODES:
            self._force_dust = True
            self.phase = Phase.READY
            return
        self.phase = Phase.BACKOFF
        exp = min(self.attempts - 1, 30)
        delay = min(self.params.base_backoff_ns * (2**exp), self.params.max_backoff_ns)
        self._deadline_ns = now_ns + delay

    def advance(
        self, now_ns: int, live_orders: int, position_lots: int, best_bid: int, best_ask: int
    ) -> Action:
        """Next action given the live order count, position and top of book (0 = unknown)."""
        if self.phase is Phase.CANCELLING:
            if live_orders == 0:
                self.phase = Phase.READY
            elif now_ns >= self._deadline_ns:
                self.cancel_rounds += 1
                self._deadline_ns = now_ns + self.params.cancel_timeout_ns
                return ResendCancel()
            else:
                return Wait()
        if self.phase is Phase.BACKOFF:
            if position_lots == 0 or now_ns >= self._deadline_ns:
                self.phase = Phase.READY
            else:
                return Wait()
        if self.phase is Phase.CLOSING:
            return Wait()
        if self.phase is Phase.DONE:
            return Done(self._force_dust, position_lots, self.attempts)
        return self._close(now_ns, position_lots, best_bid, best_ask)

    def _close(self, now_ns: int, position_lots: int, best_bid: int, best_ask: int) -> Action:
        sized = self.instrument.closing_lots(position_lots)
        if not sized.ok or self._force_dust:
            self.phase = Phase.DONE
            dust = position_lots != 0
            return Done(dust, position_lots, self.attempts)
        side = Side.SELL if position_lots > 0 else Side.BUY
        ref = best_bid if side is Side.SELL else best_ask
        if ref <= 0:
            ref = best_ask if side is Side.SELL else best_bid
        if ref <= 0:
            return Wait()  # no price at all yet; the stale-data breaker covers a dead feed
        slip = max(1, math.ceil(ref * self.params.slippage_bps / 10_000))
        price = ref - slip if side is Side.SELL else ref + slip
        self.attempts += 1
        self.phase = Phase.CLOSING
        self._deadline_ns = now_ns + self.params.close_timeout_ns
        return Close(side, max(1, price), sized.lots, self.attempts)

    def close_timed_out(self, now_ns: int) -> bool:
        return self.phase is Phase.CLOSING and now_ns >= self._deadline_ns
