"""The secondary market's pure rules (lendkit.core.transfer): units, price bounds, the exact
split of a position, and a property over random books and chains of transfers: whatever
changes hands, every payment's shares sum to what the borrower pays and the holders' outstanding
principal sums to the loan's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendkit.core.errors import InvalidAmount, LimitExceeded
from lendkit.core.money import Money
from lendkit.core.payments import Stake, split_payment
from lendkit.core.schedule import DayCount
from lendkit.core.transfer import (
    Holding,
    accrued_interest,
    check_price,
    check_units,
    eligibility_problems,
    fill_of,
    fill_price,
    holding_problem,
    split_weight,
    stake_of,
    take_from,
    transfer_fee,
)

M = Money.of
RATE = Decimal("0.12")


def test_a_position_never_transferred_weighs_as_before() -> None:
    h = Holding(600000, 47309, 0, None, RATE)
    assert stake_of(h) == Stake(600000, 47309, RATE)


def test_split_weight_by_hand() -> None:
    # 6000.00 weight, 5526.91 outstanding, 1000.00 sold: the buyer's quota is
    # 600000 x 100000 / 552691 = 108559.76, the seller's 491440.24: the cent left goes to .76
    assert split_weight(600000, 552691, 100000) == (491440, 108560)
    assert split_weight(600000, 552691, 552691) == (0, 600000)
    with pytest.raises(InvalidAmount):
        split_weight(600000, 552691, 552692)
    with pytest.raises(InvalidAmount):
        split_weight(600000, 552691, 0)


def test_take_from_oldest_first() -> None:
    assert take_from([300, 500, 200], 600) == [300, 300, 0]
    with pytest.raises(LimitExceeded):
        take_from([300, 500], 801)


def test_units_and_fill() -> None:
    unit = M("100")
    check_units(M("300"), unit, M("1234.56"), "principal")
    check_units(M("1234.56"), unit, M("1234.56"), "principal")  # all of it: any amount
    with pytest.raises(InvalidAmount, match=r"multiple of the transfer unit 100\.00"):
        check_units(M("250"), unit, M("1234.56"), "principal")
    with pytest.raises(LimitExceeded, match=r"more than the 1234\.56 CNY available"):
        check_units(M("1300"), unit, M("1234.56"), "principal")
    assert fill_of(M("500"), M("234.56"), unit) == M("234.56")  # trimmed to what remains
    assert fill_of(M("200"), M("234.56"), unit) == M("200")
    with pytest.raises(InvalidAmount):
        fill_of(M("150"), M("234.56"), unit)
    with pytest.raises(LimitExceeded):
        fill_of(M("100"), M("0"), unit)


def test_price_bounds_are_inclusive() -> None:
    low, high = Decimal("0.9"), Decimal("1.05")
    check_price(M("1000"), M("900"), low, high)
    check_price(M("1000"), M("1050"), low, high)
    with pytest.raises(InvalidAmount, match=r"allowed 0\.9 to 1\.05 times the principal"):
        check_price(M("1000"), M("899.99"), low, high)
    with pytest.raises(InvalidAmount):
        check_price(M("1000"), M("1050.01"), low, high)


def test_fill_prices_add_up_to_the_price() -> None:
    # 1000.00 for 990.00 bought in 3 lots of 333.33, 333.33 and 333.34
    a = fill_price(99000, 100000, 33333)
    b = fill_price(99000 - a, 100000 - 33333, 33333)
    c = fill_price(99000 - a - b, 100000 - 66666, 33334)
    assert (a, b, c) == (33000, 33000, 33000)
    assert a + b + c == 99000


def test_accrued_interest_and_fee_by_hand() -> None:
    # 1000.00 x 12 % x 10 / 360 = 3.333... -> 3.33; 30/360 Jan 31 -> Feb 28 counts 28 days
    assert (
        accrued_interest(100000, RATE, date(2026, 2, 1), date(2026, 2, 11), DayCount.ACT_360) == 333
    )
    assert (
        accrued_interest(100000, RATE, date(2026, 2, 11), date(2026, 2, 1), DayCount.ACT_360) == 0
    )
    assert transfer_fee(99000, Decimal("0.005")) == 495
    assert transfer_fee(368460, Decimal("0.005")) == 1842  # 18.423 -> 18.42


def test_eligibility() -> None:
    ok = {
        "loan_id": "l1",
        "loan_state": "active",
        "allowed_states": ("active",),
        "overdue_since": None,
        "today": date(2026, 2, 11),
        "next_due": date(2026, 3, 1),
        "blackout_days": 3,
    }
    assert eligibility_problems(**ok) == []  # type: ignore[arg-type]
    assert eligibility_problems(**{**ok, "next_due": date(2026, 2, 14)})  # type: ignore[arg-type]
    assert eligibility_problems(**{**ok, "next_due": date(2026, 2, 15)}) == []  # type: ignore[arg-type]
    late = {**ok, "overdue_since": date(2026, 2, 1)}
    assert "not current" in eligibility_problems(**late)[0]  # type: ignore[arg-type]
    assert eligibility_problems(**{**late, "allowed_states": ("active", "overdue")}) == []  # type: ignore[arg-type]
    assert "defaulted" in eligibility_problems(**{**ok, "loan_state": "defaulted"})[0]  # type: ignore[arg-type]
    assert holding_problem(date(2026, 1, 15), date(2026, 2, 11), 30) is not None
    assert holding_problem(date(2026, 1, 12), date(2026, 2, 11), 30) is None


# -- a property over random books and chains of transfers -------------------------------------------


def _transfer(book: list[Holding], holders: list[int], i: int, units: int, buyer: int) -> None:
    """Sell ``units`` of position ``i`` to ``buyer`` the way lendkit.ops.market does."""
    h = book[i]
    kept, sold = split_weight(h.face, h.outstanding, units)
    book[i] = Holding(
        h.principal, h.received_principal, h.sold_principal + units, kept, h.annual_rate
    )
    book.append(Holding(units, 0, 0, sold, h.annual_rate))
    holders.append(buyer)


def _pay(book: list[Holding], penalty: int, interest: int, principal: int) -> list[int]:
    split = split_payment([stake_of(h) for h in book], penalty, interest, principal, Decimal("0.1"))
    assert sum(split.principal) == principal
    assert sum(split.interest) == interest
    assert sum(split.penalty) == penalty
    assert sum(split.fees) == split.fee
    for k, (h, p) in enumerate(zip(book, split.principal, strict=True)):
        assert 0 <= p <= h.outstanding
        book[k] = Holding(
            h.principal, h.received_principal + p, h.sold_principal, h.weight, h.annual_rate
        )
    return [
        p + n + i - f
        for p, n, i, f in zip(
            split.principal, split.penalty, split.interest, split.fees, strict=True
        )
    ]


@settings(max_examples=150, deadline=None)
@given(
    bids=st.lists(st.integers(1, 500_000), min_size=1, max_size=6),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["pay", "sell"]),
            st.integers(0, 10_000),
            st.integers(1, 10**6),
            st.integers(0, 7),
        ),
        max_size=25,
    ),
)
def test_chains_of_transfers_keep_every_payment_exact(
    bids: list[int], steps: list[tuple[str, int, int, int]]
) -> None:
    book = [Holding(b, 0, 0, None, RATE) for b in bids]
    holders = list(range(len(bids)))
    outstanding = sum(bids)
    received = [0] * 8
    for kind, a, b, who in steps:
        if kind == "pay" and outstanding:
            principal = min(outstanding, a)
            nets = _pay(book, a % 7, a % 101, principal)
            outstanding -= principal
            for k, net in enumerate(nets):
                received[holders[k]] += net
        elif kind == "sell":
            live = [k for k, h in enumerate(book) if h.outstanding > 0]
            if not live:
                continue
            i = live[b % len(live)]
            units = 1 + b % book[i].outstanding
            _transfer(book, holders, i, units, who)
        assert sum(h.outstanding for h in book) == outstanding
        assert all(h.outstanding >= 0 for h in book)
        assert sum(h.face for h in book) == sum(bids)  # weights are split, never made
    # the rest repaid in one payment: everyone ends with nothing outstanding
    if outstanding:
        _pay(book, 0, 0, outstanding)
    assert all(h.outstanding == 0 for h in book)
