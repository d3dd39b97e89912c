"""Fixed-cadence ring buffers and time-bucketed downsampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grvtmm.core.clock import NS_PER_MS, NS_PER_S
from grvtmm.monitor.series import RecentCount, SeriesBuffer


def _fill(buf: SeriesBuffer, mids: list[float], t0_ns: int = 0) -> None:
    for i, mid in enumerate(mids):
        buf.record(t0_ns + i * buf.interval_ns, [mid, float(i)])


def test_one_point_per_cadence_slot_stamped_on_the_boundary() -> None:
    buf = SeriesBuffer(("a",), interval_ns=NS_PER_S)
    assert buf.due(0)
    assert buf.record(200 * NS_PER_MS, [1.0])
    assert not buf.due(900 * NS_PER_MS)
    assert not buf.record(700 * NS_PER_MS, [2.0])  # same slot: ignored
    assert buf.due(NS_PER_S)
    assert buf.record(3_100 * NS_PER_MS, [3.0])  # a quiet gap leaves no filler points
    out = buf.query()
    assert out["ts_ns"] == [0, 3 * NS_PER_S]
    assert out["a"] == [1.0, 3.0]
    assert out["downsampled"] is False and out["bucket_ns"] == 0


def test_time_never_goes_back_in_the_buffer() -> None:
    buf = SeriesBuffer(("a",))
    buf.record(5 * NS_PER_S, [1.0])
    assert not buf.record(2 * NS_PER_S, [2.0])
    assert buf.query()["ts_ns"] == [5 * NS_PER_S]


def test_ring_keeps_the_newest_points_in_order() -> None:
    buf = SeriesBuffer(("mid", "x"), capacity=5, extremes=("mid",))
    _fill(buf, [float(i) for i in range(8)])
    assert len(buf) == 5
    out = buf.query()
    assert out["mid"] == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert out["ts_ns"] == [i * NS_PER_S for i in range(3, 8)]


def test_a_range_across_the_ring_wrap() -> None:
    buf = SeriesBuffer(("mid", "x"), capacity=5, extremes=("mid",))
    _fill(buf, [float(i) for i in range(8)])  # rows hold 5, 6, 7 | 3, 4
    out = buf.query(4 * NS_PER_S, 6 * NS_PER_S)
    assert out["mid"] == [4.0, 5.0, 6.0]
    assert buf.query(0, 3 * NS_PER_S)["mid"] == [3.0]
    assert buf.query(7 * NS_PER_S, 99 * NS_PER_S)["mid"] == [7.0]
    assert buf.query(5 * NS_PER_S, 4 * NS_PER_S)["mid"] == []


def test_query_bounds_are_inclusive() -> None:
    buf = SeriesBuffer(("mid", "x"), extremes=("mid",))
    _fill(buf, [float(i) for i in range(10)])
    out = buf.query(2 * NS_PER_S, 5 * NS_PER_S)
    assert out["ts_ns"] == [2 * NS_PER_S, 3 * NS_PER_S, 4 * NS_PER_S, 5 * NS_PER_S]
    assert buf.query(20 * NS_PER_S, 30 * NS_PER_S)["ts_ns"] == []


def test_downsampling_keeps_the_last_value_and_the_spikes() -> None:
    buf = SeriesBuffer(("mid", "x"), capacity=86_400, extremes=("mid",))
    mids = [100.0] * 10_000
    mids[4_321] = 250.0  # one-second spike
    mids[7_000] = 10.0
    _fill(buf, mids)
    out = buf.query(max_points=100)
    assert out["downsampled"] is True
    assert len(out["ts_ns"]) <= 100
    assert out["bucket_ns"] == 120 * NS_PER_S
    assert len(out["ts_ns"]) == 84  # ceil(10 000 s / 120 s)
    assert max(out["mid_max"]) == 250.0
    assert min(out["mid_min"]) == 10.0
    assert max(out["mid"]) == 100.0  # the last value of each bucket misses the spike
    assert out["x"][-1] == 9_999.0  # the last bucket ends on the newest point
    assert out["ts_ns"][-1] == 9_999 * NS_PER_S
    assert out["x"][0] == 119.0  # the first bucket (0..119 s) reports its last point


def test_buckets_stay_put_as_the_range_moves() -> None:
    t0 = 1_767_225_600 * NS_PER_S
    buf = SeriesBuffer(("mid", "x"), extremes=("mid",))
    _fill(buf, [float(i) for i in range(3_600)], t0_ns=t0)
    a = buf.query(t0 + 5 * NS_PER_S, t0 + 3_000 * NS_PER_S, max_points=50)
    b = buf.query(t0 + 17 * NS_PER_S, t0 + 3_012 * NS_PER_S, max_points=50)
    assert a["bucket_ns"] == b["bucket_ns"] == 120 * NS_PER_S
    assert a["ts_ns"][1:-1] == b["ts_ns"][1:-1]  # inner (full) buckets are the same points
    assert all((t - t0) % (120 * NS_PER_S) == 119 * NS_PER_S for t in a["ts_ns"][:-1])


def test_a_single_point_budget_gives_one_bucket_at_epoch_times() -> None:
    t0 = 1_767_225_600 * NS_PER_S + 7 * NS_PER_S
    buf = SeriesBuffer(("mid", "x"), extremes=("mid",))
    _fill(buf, [float(i) for i in range(100)], t0_ns=t0)
    out = buf.query(max_points=1)
    assert out["ts_ns"] == [t0 + 99 * NS_PER_S]
    assert (out["mid_min"], out["mid_max"]) == ([0.0], [99.0])


def test_missing_values_are_none() -> None:
    buf = SeriesBuffer(("mid", "bid"), extremes=("mid",))
    buf.record(0, [math.nan, math.nan])
    buf.record(NS_PER_S, [1.0, math.inf])
    out = buf.query()
    assert out["mid"] == [None, 1.0]
    assert out["bid"] == [None, None]
    assert out["mid_min"] == [None, 1.0]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="extremes"):
        SeriesBuffer(("a",), extremes=("b",))
    buf = SeriesBuffer(("a",))
    with pytest.raises(ValueError, match="expected 1"):
        buf.record(0, [1.0, 2.0])
    with pytest.raises(ValueError, match="max_points"):
        buf.query(max_points=0)


def test_default_capacity_holds_a_day_at_one_second() -> None:
    buf = SeriesBuffer()
    assert buf.capacity == 86_400 and buf.interval_ns == NS_PER_S
    for i in range(86_401):
        buf.record(i * NS_PER_S, [float(i)] * len(buf.fields))
    out = buf.query(max_points=1_000)
    assert len(buf) == 86_400
    assert out["ts_ns"][-1] == 86_400 * NS_PER_S
    assert len(out["ts_ns"]) <= 1_000


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 600),
    capacity=st.integers(1, 400),
    max_points=st.integers(1, 120),
    lo=st.integers(-5, 700),
    span=st.integers(0, 700),
    seed=st.integers(0, 2**32 - 1),
    t0_s=st.sampled_from([0, 1_767_225_600, 1_767_225_613]),
)
def test_downsampled_queries_stay_in_bounds_and_keep_extremes(
    n: int, capacity: int, max_points: int, lo: int, span: int, seed: int, t0_s: int
) -> None:
    rng = np.random.default_rng(seed)
    mids = rng.normal(100.0, 5.0, n).tolist()
    buf = SeriesBuffer(("mid", "x"), capacity=capacity, extremes=("mid",))
    t0 = t0_s * NS_PER_S
    _fill(buf, mids, t0_ns=t0)
    start, end = t0 + lo * NS_PER_S, t0 + (lo + span) * NS_PER_S
    out = buf.query(start, end, max_points)
    kept = [(t0 + i * NS_PER_S, m) for i, m in enumerate(mids)][max(0, n - capacity) :]
    inside = [m for t, m in kept if start <= t <= end]
    ts = out["ts_ns"]
    assert len(ts) <= max_points
    assert all(start <= t <= end for t in ts)
    assert ts == sorted(set(ts))
    assert bool(ts) == bool(inside)
    if inside:
        assert max(out["mid_max"]) == max(inside)
        assert min(out["mid_min"]) == min(inside)
        assert out["mid"][-1] == inside[-1]


def test_recent_count_slides_with_time() -> None:
    window = RecentCount(window_ns=10, maxlen=100)
    for t in (1, 5, 9):
        window.add(t)
    assert window.count(10) == 3
    assert window.count(11) == 2
    assert window.count(18) == 1
    assert window.count(19) == 0
    assert window.count(100) == 0


def test_recent_count_saturates_at_maxlen() -> None:
    window = RecentCount(window_ns=1_000, maxlen=4)
    for t in range(10):
        window.add(t)
    assert window.count(10) == 4
