from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grvtmm.core.orders import (
    CLIENT_ID_MAX,
    CLIENT_ID_MIN,
    ClientIdGenerator,
    IllegalTransition,
    Order,
    OrderStatus,
    OrderTable,
)
from grvtmm.core.types import Side


def make(table: OrderTable, cid: int = 1, lots: int = 10) -> Order:
    order = Order(cid, Side.BUY, 100, lots, created_ns=0)
    table.add(order)
    return order


def test_full_lifecycle_pending_open_partial_filled() -> None:
    table = OrderTable()
    order = make(table)
    table.accept(1, "0xabc", 5)
    assert order.status is OrderStatus.OPEN and order.venue_order_id == "0xabc"
    table.fill(1, 4, 6)
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.leaves_lots == 6
    table.fill(1, 6, 7)
    assert order.status is OrderStatus.FILLED and table.live_count() == 0
    assert table.get(1) is order


def test_ack_with_placeholder_id_keeps_client_tracking() -> None:
    table = OrderTable()
    order = make(table)
    table.accept(1, "0x00", 5)
    assert order.venue_order_id == "" and order.status is OrderStatus.OPEN


def test_rejected_only_from_pending() -> None:
    table = OrderTable()
    make(table, 1)
    table.reject(1, 1)
    assert table.get(1).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    make(table, 2)
    table.accept(2, "", 1)
    with pytest.raises(IllegalTransition):
        table.reject(2, 2)


def test_overfill_and_fill_after_cancel_raise() -> None:
    table = OrderTable()
    make(table, 1, lots=5)
    with pytest.raises(IllegalTransition):
        table.fill(1, 6, 1)
    table.cancel(1, 2)
    with pytest.raises(IllegalTransition):
        table.fill(1, 1, 3)


def test_duplicate_cancel_and_late_ack_are_harmless() -> None:
    table = OrderTable()
    order = make(table)
    table.fill(1, 10, 1)
    table.cancel(1, 2)  # the fill won the race
    table.accept(1, "0x1", 3)  # a stale ack
    assert order.status is OrderStatus.FILLED


def test_duplicate_client_id_is_refused() -> None:
    table = OrderTable()
    make(table, 7)
    with pytest.raises(IllegalTransition):
        make(table, 7)


@given(st.integers(0, 2**62), st.integers(1, 500))
def test_client_ids_unique_and_in_grvt_range(start_ns: int, n: int) -> None:
    gen = ClientIdGenerator(start_ns)
    ids = [gen.next() for _ in range(n)]
    assert len(set(ids)) == n
    assert all(CLIENT_ID_MIN <= i <= CLIENT_ID_MAX for i in ids)
