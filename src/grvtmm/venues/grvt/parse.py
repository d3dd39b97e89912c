"""Pure parsers from GRVT's `full` JSON payloads to core events and small typed records.

GRVT sends prices, sizes and balances as decimal strings and times as ns integers in strings.
Prices and sizes become integer ticks and lots of the `Instrument` here, exactly: a value off the
instrument's grid raises `ParseError` instead of being rounded. The book decoder caches string →
ticks/lots conversions because a stream repeats the same few hundred prices and sizes.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from grvtmm.core.events import BookDelta, BookSnapshot, Level, Ticker, Trade
from grvtmm.core.types import Instrument, Side, normalize_symbol
from grvtmm.venues.grvt.errors import InstrumentConstraintsMissing

_CACHE_LIMIT: Final = 65_536
_REQUIRED: Final = ("tick_size", "min_size", "min_notional", "base_decimals", "instrument_hash")


class ParseError(ValueError):
    """A payload does not have the documented shape or is off the instrument's grid."""


def dec(value: object, field: str = "value") -> Decimal:
    """A decimal string (or int) from a payload as an exact Decimal."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ParseError(f"{field} must be a decimal string, got {value!r}")
    try:
        out = Decimal(value)
    except decimal.InvalidOperation:
        raise ParseError(f"{field} {value!r} is not a decimal number") from None
    if not out.is_finite():
        raise ParseError(f"{field} {value!r} is not finite")
    return out


def int_field(value: object, field: str = "value") -> int:
    """An integer sent as a JSON number or as a decimal string (GRVT uses both)."""
    if isinstance(value, bool):
        raise ParseError(f"{field} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value[1:] if value[:1] == "-" else value
        if text.isdigit() and text.isascii():
            return int(value)
    raise ParseError(f"{field} must be an integer, got {value!r}")


def _fast_int(value: object, field: str) -> int:
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass
    return int_field(value, field)


def ns_field(payload: Mapping[str, Any], field: str) -> int:
    """A unix-ns timestamp field; absent or empty means 0."""
    value = payload.get(field)
    if value in (None, ""):
        return 0
    return int_field(value, field)


# ---- instruments --------------------------------------------------------------------------
def parse_instrument(item: Mapping[str, Any]) -> Instrument:
    """`InstrumentDisplay` → Instrument; the size step is GRVT's `min_size`.

    Raises `InstrumentConstraintsMissing` when a constraint needed to place orders is absent.
    """
    name = item.get("instrument")
    if not isinstance(name, str) or not name:
        raise ParseError(f"instrument name missing in {sorted(item)}")
    symbol = normalize_symbol(name)
    missing = [f for f in _REQUIRED if item.get(f) in (None, "")]
    if missing:
        raise InstrumentConstraintsMissing(symbol, "missing " + ", ".join(missing))
    try:
        tick = dec(item["tick_size"], "tick_size")
        min_size = dec(item["min_size"], "min_size")
        min_notional = dec(item["min_notional"], "min_notional")
        base_decimals = int_field(item["base_decimals"], "base_decimals")
        asset_id = str(item["instrument_hash"])
        if tick <= 0 or min_size <= 0:
            raise ParseError("tick_size and min_size must be positive")
        return Instrument(
            symbol=symbol,
            tick_size=tick,
            size_step=min_size,
            min_size=min_size,
            min_notional=min_notional,
            base_decimals=base_decimals,
            asset_id=asset_id,
        )
    except (ParseError, ValueError) as exc:
        raise InstrumentConstraintsMissing(symbol, f"invalid constraint: {exc}") from None


# ---- prices and sizes ---------------------------------------------------------------------
class Quantizer:
    """Exact decimal string → ticks / lots for one instrument, with bounded caches."""

    __slots__ = ("_lot_grid", "_lots", "_step", "_tick", "_tick_grid", "_ticks", "instrument")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._tick = instrument.tick_size
        self._step = instrument.size_step
        self._tick_grid = Grid(instrument.tick_size, "price")
        self._lot_grid = Grid(instrument.size_step, "size")
        self._ticks: dict[str | int, int] = {}
        self._lots: dict[str | int, int] = {}

    @property
    def tick_cache(self) -> dict[str | int, int]:
        """Price text → ticks converted so far. Hot loops index it directly and call `ticks`
        (which fills it) only on a `KeyError`; nothing else may write to it."""
        return self._ticks

    @property
    def lot_cache(self) -> dict[str | int, int]:
        """Size text → lots converted so far; used like `tick_cache`."""
        return self._lots

    def ticks(self, text: str | int) -> int:
        """Price string → integer ticks (exact)."""
        got = self._ticks.get(text)
        if got is None:
            got = self._tick_grid.units(text)
            if len(self._ticks) >= _CACHE_LIMIT:
                self._ticks.clear()
            self._ticks[text] = got
        return got

    def lots(self, text: str | int) -> int:
        """Size string → integer lots (exact)."""
        got = self._lots.get(text)
        if got is None:
            got = self._lot_grid.units(text)
            if len(self._lots) >= _CACHE_LIMIT:
                self._lots.clear()
            self._lots[text] = got
        return got

    def ticks_f(self, text: object) -> float:
        """Average prices (entries, fills averaged) as float ticks; empty means 0."""
        if text in (None, ""):
            return 0.0
        return float(dec(text, "price") / self._tick)

    def levels(self, raw: Sequence[Mapping[str, Any]]) -> tuple[Level, ...]:
        """`[{price, size, num_orders}]` → ((ticks, lots), ...) in the order sent."""
        # the hot path of book parsing: all cache hits in one comprehension; any miss (a new
        # price or size, or a malformed level) takes the checked loop below
        tc, lc = self._ticks, self._lots
        try:
            return tuple([(tc[lv["price"]], lc[lv["size"]]) for lv in raw])
        except (KeyError, TypeError):
            pass
        out: list[Level] = []
        try:
            for lv in raw:
                out.append((self.ticks(lv["price"]), self.lots(lv["size"])))
        except (KeyError, TypeError) as exc:
            raise ParseError(f"bad book level: {exc!r}") from None
        return tuple(out)


class Grid:
    """Exact conversion of decimal text to a whole number of `unit`s (a tick or a size step).

    Plain decimal strings (`"123.45"`, `"7"`) are converted with integer arithmetic: the unit is
    `m × 10^-e`, so the text scaled by `10^e` must be a multiple of `m`. Anything else (signs,
    exponents, blanks, non-strings) goes through `Decimal`; off-grid values always raise the
    same `ParseError` from the `Decimal` path, and so do values of more than 10^34 units.
    """

    __slots__ = ("_exp", "_field", "_max_whole", "_mult", "unit")

    def __init__(self, unit: Decimal, field: str) -> None:
        self.unit = unit
        self._field = field
        if not unit.is_finite() or unit <= 0:
            raise ValueError(f"{field} unit must be a positive finite decimal, got {unit}")
        _, digits, exp = unit.normalize().as_tuple()
        assert isinstance(exp, int)  # finite
        mult = int("".join(map(str, digits)))
        # keep m × 10^-e with e ≥ 0 so a plain decimal's scaled value is an integer
        self._exp = max(-exp, 0)
        self._mult = mult * int(10 ** max(exp, 0))
        # longer integer parts may be out of range: the Decimal path decides
        self._max_whole = _MAX_UNIT_DIGITS + unit.adjusted()

    def units(self, text: object) -> int:
        """`text` as an exact integer number of units; `ParseError` when it is off the grid."""
        if type(text) is str and text.isascii():
            whole, dot, frac = text.partition(".")
            if (
                whole.isdigit()
                and (frac.isdigit() or (not frac and not dot))
                and len(whole.lstrip("0")) <= self._max_whole
            ):
                exp = self._exp
                if len(frac) > exp:
                    extra = frac[exp:]
                    if extra.strip("0"):
                        return _exact_units(text, self.unit, self._field)  # raises: off grid
                    frac = frac[:exp]
                q, r = divmod(int(whole + frac.ljust(exp, "0")), self._mult)
                if r == 0:
                    return q
        return _exact_units(text, self.unit, self._field)


_MAX_UNIT_DIGITS: Final = 34
_DIVISION: Final = decimal.Context(prec=_MAX_UNIT_DIGITS + 6, traps=[decimal.InvalidOperation])


def _exact_units(text: object, unit: Decimal, field: str) -> int:
    value = dec(text, field)
    if value and value.adjusted() - unit.adjusted() > _MAX_UNIT_DIGITS:
        raise ParseError(f"{field} {text} is out of range")
    q, r = _DIVISION.divmod(value, unit)
    if r != 0:
        raise ParseError(f"{field} {text} is not a multiple of {unit}")
    return int(q)


# ---- market data ----------------------------------------------------------------------------
def book_event(
    frame: Mapping[str, Any],
    q: Quantizer,
    *,
    snapshot: bool,
    local_ns: int,
    prev_sequence: int | None = None,
) -> BookSnapshot | BookDelta:
    """A `v1.book.d` / `v1.book.s` frame → BookSnapshot (first of a subscription) or BookDelta.

    `prev_sequence` replaces the frame's own `prev_sequence_number` when the caller has already
    checked continuity (GRVT numbers snapshots 0, so a first delta never names it).
    """
    feed = frame.get("feed")
    if not isinstance(feed, dict):
        raise ParseError("book frame without feed")
    seq = _fast_int(frame.get("sequence_number", 0), "sequence_number")
    ts = _fast_int(feed.get("event_time") or 0, "event_time")
    bids = q.levels(feed.get("bids") or ())
    asks = q.levels(feed.get("asks") or ())
    symbol = q.instrument.symbol
    if snapshot:
        return BookSnapshot(
            ts_ns=ts, local_ns=local_ns, symbol=symbol, bids=bids, asks=asks, sequence=seq
        )
    prev = frame.get("prev_sequence_number") if prev_sequence is None else prev_sequence
    return BookDelta(
        ts_ns=ts,
        local_ns=local_ns,
        symbol=symbol,
        bids=bids,
        asks=asks,
        sequence=seq,
        prev_sequence=None if prev in (None, "") else int_field(prev, "prev_sequence_number"),
    )


def ticker_event(feed: Mapping[str, Any], q: Quantizer, local_ns: int) -> Ticker | None:
    """A mini ticker / ticker payload → Ticker; None when a side of the top of book is missing."""
    fields = ("best_bid_price", "best_bid_size", "best_ask_price", "best_ask_size")
    values = [feed.get(f) for f in fields]
    if any(v in (None, "") for v in values):
        return None
    bid_p, bid_s, ask_p, ask_s = (str(v) for v in values)
    return Ticker(
        ts_ns=ns_field(feed, "event_time"),
        local_ns=local_ns,
        symbol=q.instrument.symbol,
        bid_ticks=q.ticks(bid_p),
        bid_lots=q.lots(bid_s),
        ask_ticks=q.ticks(ask_p),
        ask_lots=q.lots(ask_s),
    )


def trade_event(feed: Mapping[str, Any], q: Quantizer, local_ns: int) -> Trade:
    """A public `Trade` payload → Trade; the aggressor is the taker's side."""
    return Trade(
        ts_ns=ns_field(feed, "event_time"),
        local_ns=local_ns,
        symbol=q.instrument.symbol,
        price_ticks=q.ticks(feed["price"]),
        size_lots=q.lots(feed["size"]),
        aggressor=Side.BUY if feed.get("is_taker_buyer") else Side.SELL,
    )


# ---- private records ---------------------------------------------------------------------------
def client_order_id(value: object) -> int:
    """`metadata.client_order_id` (a uint64 as a string); 0 when absent."""
    if value in (None, ""):
        return 0
    return int_field(value, "client_order_id")


@dataclass(frozen=True, slots=True)
class OrderState:
    """The lifecycle part of an order (`OrderState` / the `v1.state` feed)."""

    client_order_id: int
    order_id: str
    status: str
    reject_reason: str
    book_lots: int
    traded_lots: int
    update_ns: int


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """An `Order` payload in ticks and lots."""

    instrument: str
    side: Side
    price_ticks: int
    size_lots: int
    post_only: bool
    reduce_only: bool
    state: OrderState


@dataclass(frozen=True, slots=True)
class FillInfo:
    """A `Fill` payload; `fee` in quote currency, negative = rebate."""

    instrument: str
    client_order_id: int
    order_id: str
    trade_id: str
    side: Side
    price_ticks: int
    size_lots: int
    fee: Decimal
    is_maker: bool
    event_ns: int


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Account figures from `account_summary`, with the fields they came from."""

    equity: float
    free_margin: float
    used_margin: float
    source: str


def _first(values: object) -> str:
    if isinstance(values, list) and values:
        return str(values[0])
    return "0"


def parse_state(raw: Mapping[str, Any], q: Quantizer, *, cid: object, oid: object) -> OrderState:
    """An `OrderState` object (with ids from its envelope) → OrderState."""
    return OrderState(
        client_order_id=client_order_id(cid),
        order_id=str(oid or ""),
        status=str(raw.get("status") or ""),
        reject_reason=str(raw.get("reject_reason") or ""),
        book_lots=q.lots(_first(raw.get("book_size"))),
        traded_lots=q.lots(_first(raw.get("traded_size"))),
        update_ns=ns_field(raw, "update_time"),
    )


def state_feed(feed: Mapping[str, Any], q: Quantizer) -> OrderState:
    """A `v1.state` feed `{order_id, client_order_id, order_state}` → OrderState."""
    raw = feed.get("order_state")
    if not isinstance(raw, dict):
        raise ParseError("state feed without order_state")
    return parse_state(raw, q, cid=feed.get("client_order_id"), oid=feed.get("order_id"))


def order_instrument(order: Mapping[str, Any]) -> str:
    """The instrument named in an order's single leg ('' if none)."""
    legs = order.get("legs")
    if isinstance(legs, list) and legs and isinstance(legs[0], dict):
        return str(legs[0].get("instrument") or "")
    return ""


def parse_order(order: Mapping[str, Any], q: Quantizer) -> OrderInfo:
    """An `Order` payload (REST result or `v1.order` feed) → OrderInfo."""
    legs = order.get("legs")
    if not isinstance(legs, list) or len(legs) != 1 or not isinstance(legs[0], dict):
        raise ParseError("order must have exactly one leg")
    leg = legs[0]
    meta = order.get("metadata") or {}
    raw_state = order.get("state") or {}
    return OrderInfo(
        instrument=str(leg.get("instrument") or ""),
        side=Side.BUY if leg.get("is_buying_asset") else Side.SELL,
        price_ticks=q.ticks(str(leg.get("limit_price") or "0")),
        size_lots=q.lots(str(leg.get("size") or "0")),
        post_only=bool(order.get("post_only")),
        reduce_only=bool(order.get("reduce_only")),
        state=parse_state(raw_state, q, cid=meta.get("client_order_id"), oid=order.get("order_id")),
    )


def parse_fill(fill: Mapping[str, Any], q: Quantizer) -> FillInfo:
    """A `Fill` payload (REST `fill_history` or `v1.fill`) → FillInfo."""
    try:
        trade_id = str(fill["trade_id"])
        return FillInfo(
            instrument=str(fill.get("instrument") or ""),
            client_order_id=client_order_id(fill.get("client_order_id")),
            order_id=str(fill.get("order_id") or ""),
            trade_id=trade_id,
            side=Side.BUY if fill.get("is_buyer") else Side.SELL,
            price_ticks=q.ticks(fill["price"]),
            size_lots=q.lots(fill["size"]),
            fee=dec(fill.get("fee", "0"), "fee"),
            is_maker=not fill.get("is_taker"),
            event_ns=ns_field(fill, "event_time"),
        )
    except KeyError as exc:
        raise ParseError(f"fill without {exc}") from None


def position_lots(position: Mapping[str, Any], q: Quantizer) -> tuple[int, float]:
    """A `Positions` payload → (signed size in lots, entry price in float ticks)."""
    size = dec(position.get("size", "0"), "size")
    sign = -1 if size < 0 else 1
    return sign * q.lots(str(abs(size))), q.ticks_f(position.get("entry_price"))


def parse_account(summary: Mapping[str, Any]) -> AccountInfo:
    """`SubAccount` (account_summary result) → equity, available balance and initial margin."""
    return AccountInfo(
        equity=float(dec(summary.get("total_equity", "0"), "total_equity")),
        free_margin=float(dec(summary.get("available_balance", "0"), "available_balance")),
        used_margin=float(dec(summary.get("initial_margin", "0"), "initial_margin")),
        source="account_summary:total_equity,available_balance,initial_margin",
    )
