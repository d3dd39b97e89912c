"""Instrument constraints from GRVT's `all_instruments`, keyed by normalised symbol.

An instrument whose listing lacks a constraint is kept as its error, so asking for it (and so
placing an order on it) fails with `instrument_constraints_missing` instead of guessing.
"""

from __future__ import annotations

import logging

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


def describe(inst: Instrument) -> str:
    """One line of constraints: tick, size step (= min size), min notional, decimals, asset."""
    return (
        f"{inst.symbol}: tick {inst.tick_size}, size step {inst.size_step}, "
        f"min size {inst.min_size}, min notional {inst.min_notional}, "
        f"base decimals {inst.base_decimals}, asset {inst.asset_id}"
    )
