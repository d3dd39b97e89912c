"""Instrument constraints from GRVT's `all_instruments`, keyed by normalised symbol.

An instrument whose listing lacks a constraint is kept as its error, so asking for it (and so
placing an order on it) fails with `instrument_constraints_missing` instead of guessing.

`listing_changes` compares the listing a venue trades on with a refreshed one: prices, sizes
and signatures are built from the constraints read at start, so any change of them matters.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from grvtmm.core.types import Instrument, normalize_symbol
from grvtmm.venues.grvt.errors import InstrumentConstraintsMissing
from grvtmm.venues.grvt.parse import ParseError, parse_instrument
from grvtmm.venues.grvt.rest import GrvtRest

log = logging.getLogger(__name__)


class InstrumentCache:
    """The latest listing; `refresh()` reloads it (call it at start and periodically)."""

    def __init__(self, rest: GrvtRest) -> None:
        self._rest = rest
        self._ok: dict[str, Instrument] = {}
        self._bad: dict[str, InstrumentConstraintsMissing] = {}
        self.loaded = False

    async def refresh(self) -> None:
        items = await self._rest.all_instruments()
        ok: dict[str, Instrument] = {}
        bad: dict[str, InstrumentConstraintsMissing] = {}
        for item in items:
            if item.get("kind", "PERPETUAL") != "PERPETUAL":
                continue
            try:
                inst = parse_instrument(item)
            except InstrumentConstraintsMissing as exc:
                bad[exc.symbol] = exc
                continue
            except ParseError:
                continue
            ok[inst.symbol] = inst
        self._ok, self._bad, self.loaded = ok, bad, True
        if bad:
            log.warning("grvt.instruments.incomplete", extra={"symbols": sorted(bad)})

    def get(self, symbol: str) -> Instrument:
        """The instrument for any accepted spelling of `symbol`; raises if unusable."""
        name = normalize_symbol(symbol)
        inst = self._ok.get(name)
        if inst is not None:
            return inst
        bad = self._bad.get(name)
        if bad is not None:
            raise bad
        what = "not listed as an active perpetual" if self.loaded else "instruments not loaded"
        raise InstrumentConstraintsMissing(name, what)

    @property
    def symbols(self) -> list[str]:
        return sorted(self._ok)

    def changes_since(self, old: Instrument) -> tuple[Instrument | None, list[str]]:
        """The current listing of `old`'s symbol (None if it is no longer usable) and what
        changed since `old`, in plain words (empty: nothing an order depends on)."""
        try:
            new = self.get(old.symbol)
        except InstrumentConstraintsMissing as exc:
            return None, [exc.message.removeprefix(f"{exc.symbol}: ")]
        return new, listing_changes(old, new)


def describe(inst: Instrument) -> str:
    """One line of constraints: tick, size step (= min size), min notional, decimals, asset."""
    return (
        f"{inst.symbol}: tick {inst.tick_size}, size step {inst.size_step}, "
        f"min size {inst.min_size}, min notional {inst.min_notional}, "
        f"base decimals {inst.base_decimals}, asset {inst.asset_id}"
    )


_WATCHED: tuple[tuple[str, str], ...] = (
    ("tick_size", "tick size"),
    ("size_step", "size step"),
    ("min_size", "min size"),
    ("min_notional", "min notional"),
    ("base_decimals", "base decimals"),
    ("asset_id", "instrument hash"),
)


def listing_changes(old: Instrument, new: Instrument) -> list[str]:
    """What differs between two listings of one instrument, in plain words
    (`tick size 0.01 -> 0.05`); empty when nothing an order depends on changed."""
    out = []
    for attr, label in _WATCHED:
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            out.append(f"{label} {before} -> {after}")
    return out


def fits(inst: Instrument, price: str, size: str) -> bool:
    """Whether a price and a size (GRVT's decimal strings) are valid on `inst`'s grid."""
    p, q = Decimal(price), Decimal(size)
    return p > 0 and not p % inst.tick_size and not q % inst.size_step and q >= inst.min_size
