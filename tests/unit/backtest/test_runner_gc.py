"""The replay runs with a raised young-generation GC threshold, restored afterwards."""

from __future__ import annotations

import gc

import pytest

from grvtmm.backtest.runner import GC_YOUNG_THRESHOLD, relaxed_gc


def test_relaxed_gc_raises_the_young_threshold_and_restores_it() -> None:
    before = gc.get_threshold()
    with relaxed_gc():
        inside = gc.get_threshold()
    assert inside == (max(GC_YOUNG_THRESHOLD, before[0]), *before[1:])
    assert gc.get_threshold() == before


def test_relaxed_gc_restores_the_threshold_after_an_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), relaxed_gc(before[0] + 5_000):
        assert gc.get_threshold()[0] == before[0] + 5_000
        raise RuntimeError("replay failed")
    assert gc.get_threshold() == before


def test_relaxed_gc_never_lowers_a_higher_threshold() -> None:
    before = gc.get_threshold()
    gc.set_threshold(before[0] + 50_000, *before[1:])
    try:
        with relaxed_gc(before[0] + 10):
            assert gc.get_threshold()[0] == before[0] + 50_000
    finally:
        gc.set_threshold(*before)
