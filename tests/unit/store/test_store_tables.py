"""Exact money columns and client order id encoding."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, insert, select

from grvtmm.store.tables import DecimalText, cid_text, decimal_text

scratch = MetaData()
amounts = Table(
    "amounts", scratch, Column("id", Integer, primary_key=True), Column("v", DecimalText)
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    e = create_engine("sqlite://")
    scratch.create_all(e)
    yield e
    e.dispose()


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimals_round_trip_exactly(engine: Engine, value: Decimal) -> None:
    with engine.begin() as connection:
        key = connection.execute(insert(amounts), {"v": value}).inserted_primary_key
        assert key is not None
        stored = connection.execute(select(amounts.c.v).where(amounts.c.id == key[0])).scalar()
    assert stored == value
    assert "e" not in decimal_text(value).lower()


def test_sums_of_stored_decimals_do_not_drift(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(insert(amounts), [{"v": Decimal("0.1")}, {"v": Decimal("0.2")}])
        values = connection.execute(select(amounts.c.v).order_by(amounts.c.id.desc())).scalars()
        total = sum(list(values)[:2], Decimal(0))
    assert total == Decimal("0.3")


@pytest.mark.parametrize("bad", [0.1, True, float("nan")])
def test_floats_and_bools_are_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        decimal_text(bad)  # type: ignore[arg-type]


def test_non_finite_decimals_are_refused() -> None:
    with pytest.raises(ValueError):
        decimal_text(Decimal("Infinity"))


@given(st.integers(min_value=0, max_value=2**64 - 1), st.integers(0, 2**64 - 1))
def test_client_order_id_text_sorts_like_the_number(a: int, b: int) -> None:
    assert len(cid_text(a)) == 20
    assert int(cid_text(a)) == a
    assert (cid_text(a) < cid_text(b)) == (a < b)


def test_client_order_id_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        cid_text(-1)
    with pytest.raises(ValueError):
        cid_text(10**20)
