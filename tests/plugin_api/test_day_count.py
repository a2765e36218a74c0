"""A product's day-count basis (30/360, ACT/360, ACT/365) is a loan term, through public hooks
only, on SQLite and PostgreSQL (issue 11, part 2, item 4).

The same loan (10,000.00 at 12 %, three monthly equal installments from 2026-01-15) under each
basis: prepayment's interest to date, settlement's accrued interest and the days penalty accrues
differ exactly as the basis says; every figure below is worked out by hand. A product that
names no basis keeps lendkit's behaviour before products had one (ACT/360).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

import pytest

import lendkit
from lendkit import DayCount, Money, Product, hookimpl
from lendkit.core.errors import InvalidValue
from tests.conftest import FixedClock, party

M = Money.of
BASES = {"t360": "30/360", "a360": "ACT/360", "a365": "ACT/365"}


class Basis:
    """A test plugin: one product per day-count basis, and ``plain`` naming none."""

    lendkit_plugin_name = "basis"

    @hookimpl
    def lendkit_register_products(self) -> list[Product]:
        return [Product(name, day_count=basis) for name, basis in BASES.items()] + [
            Product("plain")
        ]


def at(clock: FixedClock, day: date) -> None:
    clock.set(datetime.combine(day, time(20), tzinfo=UTC))


def loans_by_product(p: lendkit.Platform, clock: FixedClock, products: list[str]) -> dict[str, str]:
    """One 10,000.00 loan of each product, disbursed on 2026-01-15; the borrowers spend the
    proceeds (nothing to collect)."""
    at(clock, date(2026, 1, 15))
    out = {}
    for product in products:
        borrower = party(p, f"borrower-{product}")
        investor = party(p, f"investor-{product}", "10000")
        listing = p.listings.apply(
            borrower, amount="10000", annual_rate="12%", months=3, product=product
        )
        p.listings.approve(listing.id, grade="A")
        p.listings.publish(listing.id)
        p.bidding.bid(listing.id, investor, "10000")
        out[product] = p.loans.disburse(listing.id).id
        p.custody.withdraw(borrower, "10000")
    return out


CONFIG = {
    "service_fee_rate": "0",
    "prepayment_fee_rate": "0",
    "grace_days": 0,
    "penalty_daily_rate": "0.0005",
}


def test_the_products_basis_is_stored_on_the_loan(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(plugins=["online", Basis()], config=CONFIG)
    ids = loans_by_product(p, clock, [*BASES, "plain", "online"])
    got = {product: p.loans.get(loan_id).day_count for product, loan_id in ids.items()}
    assert got == {
        "t360": DayCount.THIRTY_360,
        "a360": DayCount.ACT_360,
        "a365": DayCount.ACT_365,
        "plain": DayCount.ACT_360,
        "online": DayCount.ACT_360,
    }
    with pytest.raises(InvalidValue, match="unknown day-count basis 'ACT/366'"):
        Product("odd", day_count="ACT/366")


def test_prepayment_interest_to_date_counts_days_on_the_basis(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(plugins=["online", Basis()], config=CONFIG)
    ids = loans_by_product(p, clock, [*BASES, "plain"])
    at(clock, date(2026, 2, 14))  # 30 actual days after the start; 29 on 30/360 (15th -> 14th)
    interest = {}
    for product, loan_id in ids.items():
        borrower = p.loans.get(loan_id).borrower_id
        p.custody.deposit(borrower, "10200")
        paid = p.loans.prepay(loan_id)
        assert paid.principal == M("10000")
        assert p.loans.get(loan_id).state == "settled"
        interest[product] = paid.interest
    # 1,000,000 cents x days x 12 % / year days, HALF_UP once:
    assert interest == {
        "a360": M("100.00"),  # x 30 / 360 = 10,000 cents
        "a365": M("98.63"),  # x 30 / 365 = 9,863.01
        "t360": M("96.67"),  # x 29 / 360 = 9,666.67
        "plain": M("100.00"),  # lendkit's behaviour before products had a basis
    }
    assert p.verify().ok


def test_settlement_accrued_interest_counts_days_on_the_basis(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(plugins=["online", Basis()], config=CONFIG)
    ids = loans_by_product(p, clock, list(BASES))
    # rows: 02-15 3,300.22 + 100.00; 03-15 3,333.22 + 67.00; 04-15 3,366.56 + 33.67
    at(clock, date(2026, 4, 10))  # two rows due and unpaid (no close of business ran)
    settled = {}
    for product, loan_id in ids.items():
        borrower = p.loans.get(loan_id).borrower_id
        p.custody.deposit(borrower, "10200")
        paid = p.loans.settle(loan_id)
        assert paid.principal == M("10000") and paid.penalty == M("0")
        settled[product] = paid.interest - M("167.00")  # the two due rows' scheduled interest
        assert p.loans.get(loan_id).state == "settled"
    # 336,656 cents from 03-15 to 04-10 (26 actual days, 25 on 30/360) x 12 % / year days:
    assert settled == {
        "a360": M("29.18"),  # x 26 / 360 = 2,917.69
        "a365": M("28.78"),  # x 26 / 365 = 2,877.70
        "t360": M("28.05"),  # x 25 / 360 = 2,805.47
    }
    assert p.verify().ok


def test_penalty_accrues_on_the_days_the_basis_counts(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(plugins=["online", Basis()], config=CONFIG)
    ids = loans_by_product(p, clock, list(BASES))
    at(clock, date(2026, 3, 15))
    p.cob.run(date(2026, 2, 28))
    p.cob.run(date(2026, 3, 15))  # closes 03-01 .. 03-15 one by one
    penalty = {}
    for product, loan_id in ids.items():
        assert p.loans.get(loan_id).state == "overdue"
        borrower = p.loans.get(loan_id).borrower_id
        p.custody.deposit(borrower, "3500")
        penalty[product] = p.loans.repay(loan_id).penalty  # the first row with its penalty
    # overdue base 340,022 cents x days from 02-15 to 03-15 x 0.05 % a day, HALF_UP once:
    # 28 actual days (4,760.31 cents) or 30 on 30/360 (5,100.33), whether close of business
    # runs daily or after a gap (30/360 days counted from the due date, so they add up)
    assert penalty == {"a360": M("47.60"), "a365": M("47.60"), "t360": M("51.00")}
    assert p.verify().ok
