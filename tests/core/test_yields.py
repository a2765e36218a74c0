"""XIRR / IRR against closed forms, and refusals."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendkit.core.money import Money
from lendkit.core.yields import NoYield, irr, xirr


def test_xirr_one_year_closed_form() -> None:
    assert xirr([(date(2025, 1, 1), -1000), (date(2026, 1, 1), 1100)]) == Decimal("0.1")


def test_xirr_half_year_compounds_annually() -> None:
    # 1000 -> 1050 over 365/2 days: (1.05) ** 2 - 1 = 0.1025
    start = date(2025, 1, 1)
    flows = [(start, Decimal(-1000)), (start + timedelta(days=365), Decimal("1102.5"))]
    assert xirr(flows) == Decimal("0.1025")


def test_xirr_accepts_money_and_unordered_flows() -> None:
    flows = [
        (date(2026, 1, 1), Money("1100", "CNY")),
        (date(2025, 1, 1), Money("-1000", "CNY")),
    ]
    assert xirr(flows) == Decimal("0.1")


def test_xirr_borrower_side_is_the_same_rate() -> None:
    assert xirr([(date(2025, 1, 1), 1000), (date(2026, 1, 1), -1100)]) == Decimal("0.1")


def test_irr_level_annuity() -> None:
    # 1000 lent, 12 payments of 88.85 (1% a month, rounded): rate close to 1%
    rate = irr([-1000] + [Decimal("88.85")] * 12)
    assert abs(rate - Decimal("0.01")) < Decimal("0.0001")
    assert irr([-1000, 0, 1210]) == Decimal("0.1")


def test_total_loss_is_minus_one_hundred_percent_bound() -> None:
    rate = xirr([(date(2025, 1, 1), -1000), (date(2026, 1, 1), Decimal("0.01"))])
    assert rate < Decimal("-0.9999")


@pytest.mark.parametrize(
    "flows",
    [
        [],
        [(date(2025, 1, 1), -1000)],
        [(date(2025, 1, 1), -1000), (date(2026, 1, 1), -5)],
        [(date(2025, 1, 1), 1000), (date(2026, 1, 1), 5)],
    ],
)
def test_no_yield_is_refused_with_the_flows(flows: list[tuple[date, int]]) -> None:
    with pytest.raises(NoYield, match="cash flow"):
        xirr(flows)


def test_float_flow_refused() -> None:
    with pytest.raises(TypeError):
        xirr([(date(2025, 1, 1), -1000.0), (date(2026, 1, 1), 1100)])  # type: ignore[list-item]


@settings(max_examples=40, deadline=None)
@given(
    rate=st.decimals(min_value=Decimal("-0.5"), max_value=Decimal("2"), places=4),
    days=st.integers(min_value=30, max_value=2000),
)
def test_xirr_recovers_the_rate_it_was_built_from(rate: Decimal, days: int) -> None:
    # 1000 grown at `rate` for `days`: the yield of the two flows is `rate` again
    import decimal

    with decimal.localcontext(decimal.Context(prec=40)):
        end = Decimal(1000) * ((1 + rate).ln() * days / 365).exp()
    found = xirr([(date(2025, 1, 1), -1000), (date(2025, 1, 1) + timedelta(days=days), end)])
    assert abs(found - rate) < Decimal("1e-9")
