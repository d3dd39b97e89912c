"""Avellaneda–Stoikov / GLFT quoter: target quotes from the book, the account and the estimators.

Per decision: fair price = mid; q = position / max inventory; the model gives a reservation
price, half-spread and skew (in ticks); the half-spread is floored at the configured minimum
and at the maker-fee break-even; prices are rounded away from the mid and clamped to the book
(post-only, never crossing); sizes are a fraction of equity × leverage lifted to the venue
minimums. Inventory control has two layers: one-sided quoting with hysteresis on the margin
ratio, and a hard cap on the worst-case position that always holds.

With committed capital (`capital_usdt`) the account counts as min(equity, capital): sizes, the
hard cap and q use it, and the margin ratio's free margin is capped at capital − used margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from grvtmm.core.book import OrderBook
from grvtmm.core.clock import NS_PER_S
from grvtmm.core.events import Trade
from grvtmm.core.types import _EPS_ABS, _EPS_REL, FeeSchedule, Instrument, Side, SizeResult
from grvtmm.strategy.avellaneda import as_coefficients, clamp_q, glft_coefficients
from grvtmm.strategy.base import AccountView, Quote, QuoteDiagnostics, QuoteTarget, RequoteParams
from grvtmm.strategy.estimators import MarketEstimator
from grvtmm.strategy.params import CAP_MARGIN, StrategyConfig

__all__ = ["CAP_MARGIN", "AvellanedaStrategy", "inventory_ratio", "worst_case_lots"]

ONE_SIDED_BID = "bid_only"
ONE_SIDED_ASK = "ask_only"

_SIZE_MEMO = 4096
_PRICE_NOT_POSITIVE = SizeResult(0, reason="price_not_positive")


def inventory_ratio(
    position_notional: float,
    account: AccountView,
    leverage: float,
    capital: float | None = None,
) -> float:
    """|position notional| / (free margin × leverage); free margin falls back to equity − used,
    and with committed `capital` it is at most capital − used.

    Returns ∞ when no margin is left (or the figures are not finite) and there is a position.
    """
    if position_notional == 0.0:
        return 0.0
    free = account.free_margin
    if not (math.isfinite(free) and free > 0.0):
        free = account.equity - account.used_margin
    if capital is not None:
        free = min(free, capital - account.used_margin)
    capacity = free * leverage
    if not (math.isfinite(capacity) and capacity > 0.0):
        return math.inf
    return abs(position_notional) / capacity


def worst_case_lots(side: Side, position_lots: int, resting_lots: int, order_lots: int) -> int:
    """|position| if every resting order on `side` and the new order filled."""
    return abs(position_lots + int(side) * (resting_lots + order_lots))


class AvellanedaStrategy:
    """The production quoter (`avellaneda`): GLFT or constant-horizon AS with adaptive σ, k, γ."""

    name = "avellaneda"
    decision_interval_ns = 0

    def __init__(self, config: StrategyConfig, instrument: Instrument, fees: FeeSchedule) -> None:
        self.config = config
        self.instrument = instrument
        self.requote = RequoteParams(
            price_tolerance_ticks=config.price_tolerance_ticks,
            size_tolerance=config.size_tolerance,
            min_order_age_ns=round(config.min_order_age_s * NS_PER_S),
            max_order_age_ns=round(config.max_order_age_s * NS_PER_S),
            place_before_cancel=True,
        )
        self.estimator = MarketEstimator(
            gamma=config.gamma,
            sigma_prior=config.sigma,
            k_prior=config.k,
            a_prior=config.intensity_a,
            vol_halflife_s=config.vol_halflife_s,
            depth_ticks=config.depth_ticks,
        )
        # Book updates go straight to the estimator (this runs on every book event).
        self.on_book: Callable[[OrderBook, int], None] = self.estimator.on_book
        maker = float(fees.maker_rate)
        self._fee_rate = maker if config.fee_floor and maker > 0.0 else 0.0
        self._use_glft = config.model == "glft"
        self._cap_ratio = config.max_inventory_ratio * CAP_MARGIN
        self._step_f = instrument.step_f
        self._tick_f = instrument.tick_f
        self._leverage = config.effective_leverage
        capital = config.capital_usdt
        self._capital = math.inf if capital is None else capital
        self._size_fraction = config.order_size_fraction
        self._min_half = config.min_half_spread_ticks
        self._enter_ratio = config.one_sided_enter
        self._exit_ratio = config.one_sided_exit
        self.one_sided = False
        self._model_version = -1
        self._half_ticks = 0.0
        self._skew_ticks = 0.0
        self._market_key: object = None
        # the decision prepared for the current market key (see `_prepare`)
        self._planned = False
        self._no_quote = ""
        self._bid_ticks = 0
        self._ask_ticks = 0
        self._bid_size: SizeResult | None = None
        self._ask_size: SizeResult | None = None
        self._cap_lots = 0
        self._reason = ""
        self._diagnostics: QuoteDiagnostics | None = None
        self._open_bid = -1
        self._open_ask = -1
        self._target: QuoteTarget | None = None
        self._size_memo: dict[tuple[int, int], SizeResult] = {}
        self._last_bid: Quote | None = None
        self._last_ask: Quote | None = None

    # ---- feeds ----------------------------------------------------------------------------
    def on_trade(self, trade: Trade) -> None:
        self.estimator.on_trade(trade)

    # ---- decision ---------------------------------------------------------------------------
    def _model(self) -> tuple[float, float]:
        """(half-spread, skew per unit q) in ticks, recomputed only when the estimates change."""
        est = self.estimator
        if est.version != self._model_version:
            self._model_version = est.version
            cfg = self.config
            if self._use_glft:
                half, skew = glft_coefficients(est.gamma, est.sigma, est.k_per_tick, est.a_per_s)
            else:
                half, skew = as_coefficients(est.gamma, est.sigma, est.k_per_tick, cfg.horizon_s)
            self._half_ticks = half
            self._skew_ticks = skew * cfg.skew_factor
        return self._half_ticks, self._skew_ticks

    def quote(self, book: OrderBook, account: AccountView, now_ns: int) -> QuoteTarget:
        """Target bid/ask for this moment, with the reason for any side left out."""
        if not book.ready:
            return QuoteTarget(None, None, "book_not_ready")
        # Prices, sizes and diagnostics depend on the book top, the account and the estimates;
        # resting lots only enter the cap check. Each part is recomputed only when its inputs
        # changed (the one-sided update is idempotent for equal inputs).
        a = account
        key = (
            book.best_bid,
            book.best_ask,
            a.position_lots,
            a.equity,
            a.free_margin,
            a.used_margin,
            self.estimator.version,
        )
        target = self._target
        if key != self._market_key:
            self._prepare(book, account)
            self._market_key = key
            target = None
        open_bid = a.open_bid_lots
        open_ask = a.open_ask_lots
        if target is None or open_bid != self._open_bid or open_ask != self._open_ask:
            self._open_bid = open_bid
            self._open_ask = open_ask
            target = self._target = self._finish(a.position_lots, open_bid, open_ask)
        return target

    def _prepare(self, book: OrderBook, account: AccountView) -> None:
        """Model, prices, sizes and diagnostics for this book top and account."""
        equity = account.equity
        if not (math.isfinite(equity) and equity > 0.0):
            self._planned = False
            self._no_quote = "no_equity"
            return
        self._planned = True
        self._no_quote = ""
        best_bid = book.best_bid
        best_ask = book.best_ask
        mid = (best_bid + best_ask) * 0.5
        tick = self._tick_f
        mid_price = mid * tick
        capital = self._capital
        basis = equity if equity < capital else capital  # min(equity, committed capital)
        capacity = basis * self._leverage  # quote currency the strategy may carry
        lot_notional = mid_price * self._step_f
        pos = account.position_lots
        cap_lots = self._cap_ratio * capacity / lot_notional
        q = pos / cap_lots
        if not -1.0 <= q <= 1.0:  # also NaN
            q = clamp_q(q)
        ratio = 0.0
        if pos != 0:  # inventory_ratio(pos * lot_notional, account, leverage, capital), inline
            free = account.free_margin
            if not (math.isfinite(free) and free > 0.0):
                free = equity - account.used_margin
            if capital < math.inf:
                committed_free = capital - account.used_margin
                if committed_free < free:
                    free = committed_free
            margin_capacity = free * self._leverage
            if math.isfinite(margin_capacity) and margin_capacity > 0.0:
                ratio = abs(pos * lot_notional) / margin_capacity
            else:
                ratio = math.inf
        # one-sided hysteresis: enter at ratio ≥ enter, leave at ratio ≤ exit
        if pos == 0 or ratio <= self._exit_ratio:
            self.one_sided = False
        elif ratio >= self._enter_ratio:
            self.one_sided = True
        one_sided = ""
        if self.one_sided:
            one_sided = ONE_SIDED_ASK if pos > 0 else ONE_SIDED_BID

        est = self.estimator
        if est.version != self._model_version:
            self._model()
        half = self._half_ticks
        skew = self._skew_ticks
        if self._fee_rate > 0.0:
            fee_half = self._fee_rate * mid  # maker fee in ticks at this price
            if fee_half > half:
                half = fee_half
        if self._min_half > half:
            half = self._min_half
        shift = q * skew
        reservation = mid - shift
        size = self._size_fraction * capacity / mid_price
        memo = self._size_memo  # hits inline; `_sized` computes (and explains) the misses
        step_f = self._step_f
        # Prices to ticks as `Instrument.price_to_ticks` rounds them (bids down, asks up, within
        # a rounding tolerance), inline; bid ≤ best bid < best ask ≤ ask on a ready book, so
        # the quotes can never cross.
        if one_sided != ONE_SIDED_ASK:
            x = (reservation - half) * tick / tick
            bid_ticks = math.floor(x + (_EPS_ABS + abs(x) * _EPS_REL))
            if best_bid < bid_ticks:
                bid_ticks = best_bid
            self._bid_ticks = bid_ticks
            sized = None
            if bid_ticks > 0:
                sized = memo.get((math.floor(size / step_f + 0.5), bid_ticks))
            self._bid_size = sized or self._sized(bid_ticks, size)
        else:
            self._bid_size = None
        if one_sided != ONE_SIDED_BID:
            x = (reservation + half) * tick / tick
            ask_ticks = math.ceil(x - (_EPS_ABS + abs(x) * _EPS_REL))
            if best_ask > ask_ticks:
                ask_ticks = best_ask
            self._ask_ticks = ask_ticks
            sized = None
            if ask_ticks > 0:
                sized = memo.get((math.floor(size / step_f + 0.5), ask_ticks))
            self._ask_size = sized or self._sized(ask_ticks, size)
        else:
            self._ask_size = None
        self._cap_lots = math.floor(cap_lots + 1e-9)
        self._reason = f"one_sided_{one_sided}" if one_sided else ""
        self._diagnostics = QuoteDiagnostics(
            mid,
            reservation,
            half,
            shift,
            est.sigma,
            est.k_per_tick,
            est.gamma,
            q,
            ratio,
            one_sided,
        )

    def _sized(self, price_ticks: int, size: float) -> SizeResult:
        """Order size at `price_ticks`, lifted to the venue minimums (or refused with a reason)."""
        if price_ticks <= 0:
            return _PRICE_NOT_POSITIVE
        # opening_lots depends on the size only through its rounded lot count, and the memo
        # always holds a result computed by the instrument for this very price, so a hit can
        # never break a venue minimum; it saves the Decimal arithmetic on most decisions.
        key = (math.floor(size / self._step_f + 0.5), price_ticks)
        sized = self._size_memo.get(key)
        if sized is None:
            if len(self._size_memo) >= _SIZE_MEMO:
                self._size_memo.clear()
            sized = self._size_memo[key] = self.instrument.opening_lots(size, price_ticks)
        return sized

    def _finish(self, position_lots: int, open_bid_lots: int, open_ask_lots: int) -> QuoteTarget:
        """Apply the hard cap on the worst-case position and build the target.

        The target replaces a side's resting orders rather than adding to them, so the side's
        exposure is the larger of the two (otherwise a side just under the cap would be dropped
        and re-placed on alternate decisions).
        """
        if not self._planned:
            return QuoteTarget(None, None, self._no_quote)
        cap_lots = self._cap_lots
        held = abs(position_lots)
        reason = self._reason
        bid: Quote | None = None
        ask: Quote | None = None
        sized = self._bid_size
        if sized is not None:  # None: one-sided, and the reason is already given
            lots = sized.lots
            if lots <= 0:
                reason = f"{reason},bid_{sized.reason}" if reason else f"bid_{sized.reason}"
            else:
                worst = abs(position_lots + (open_bid_lots if open_bid_lots > lots else lots))
                if worst > cap_lots and worst > held:
                    reason = f"{reason},bid_inventory_cap" if reason else "bid_inventory_cap"
                else:
                    bid = self._last_bid
                    if bid is None or bid.price_ticks != self._bid_ticks or bid.size_lots != lots:
                        bid = self._last_bid = Quote(self._bid_ticks, lots)
        sized = self._ask_size
        if sized is not None:
            lots = sized.lots
            if lots <= 0:
                reason = f"{reason},ask_{sized.reason}" if reason else f"ask_{sized.reason}"
            else:
                worst = abs(position_lots - (open_ask_lots if open_ask_lots > lots else lots))
                if worst > cap_lots and worst > held:
                    reason = f"{reason},ask_inventory_cap" if reason else "ask_inventory_cap"
                else:
                    ask = self._last_ask
                    if ask is None or ask.price_ticks != self._ask_ticks or ask.size_lots != lots:
                        ask = self._last_ask = Quote(self._ask_ticks, lots)
        return QuoteTarget(bid, ask, reason, self._diagnostics)
