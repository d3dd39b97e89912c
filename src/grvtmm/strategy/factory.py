"""Build the configured strategy for one instrument."""

from __future__ import annotations

from grvtmm.core.types import FeeSchedule, Instrument
from grvtmm.strategy.base import Strategy
from grvtmm.strategy.fixed_spread import FixedSpreadStrategy
from grvtmm.strategy.params import StrategyConfig
from grvtmm.strategy.quoter import AvellanedaStrategy


def build_strategy(config: StrategyConfig, instrument: Instrument, fees: FeeSchedule) -> Strategy:
    """The strategy named by `config.strategy`, fresh (estimators start from their priors)."""
    if config.strategy == "fixed-spread":
        return FixedSpreadStrategy(config, instrument)
    return AvellanedaStrategy(config, instrument, fees)
