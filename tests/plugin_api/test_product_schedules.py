"""A product brings its own schedule through the public hooks only: core validates it before any
money moves, stores the product's method on the loan, pays investors exactly its rows, and asks
the product before re-planning it after a partial prepayment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import attrs
import pytest

import lendkit
from lendkit import InvalidSchedule, Money, Product, Schedule, custom_rows, hookimpl
from lendkit.core.errors import InvalidState, InvalidValue
from lendkit.core.schedule import build_schedule
from tests.conftest import FixedClock, dump

LEASE_DATES = (date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1))
BUY_OUT = (date(2026, 5, 1), "100")


class LeaseCo:
    """A test plugin: a lease product with rents and a buy-out row, and a product whose
    builder is wrong (its principal rows sum to 99,000 on a 100,000 loan)."""

    lendkit_plugin_name = "leaseco"

    def __init__(self) -> None:
        self.replans: list[tuple[Money, date, str, tuple[Any, ...]]] = []

    @hookimpl
    def lendkit_register_products(self) -> list[Product]:
        return [
            Product("lease", "rents and a buy-out", methods=("custom",)),
            Product("badlease", "a broken builder", methods=("custom", "nobuilder")),
        ]

    @hookimpl
    def lendkit_build_schedule(self, ctx: Any, listing: Any, start: date) -> Schedule | None:
        if listing.product == "lease":
            return custom_rows(listing.amount, LEASE_DATES, "8%", "30/360", BUY_OUT, start=start)
        if listing.product == "badlease" and listing.method in ("custom", "equal-installment"):
            s = build_schedule(listing.amount, "8%", 3, start_date=start)
            last = s.installments[-1]
            k = Money.of("1000", listing.amount.currency)
            short = attrs.evolve(
                last, principal=last.principal - k, payment=last.payment - k, balance=k
            )
            rows = (*s.installments[:-1], short)
            return attrs.evolve(s, method=listing.method, installments=rows)
        return None

    @hookimpl
    def lendkit_replan_schedule(
        self, loan: Any, remaining: Money, since: date, mode: str, unpaid: Any
    ) -> str | None:
        if loan.product != "lease":
            return None
        self.replans.append((remaining, since, mode, tuple(unpaid)))
        if mode == "shorten":
            return "a lease keeps its term: prepay with mode='reduce'"
        return None  # lendkit's default: the calendar kept, each row reduced


def funded_listing(
    p: lendkit.Platform, product: str, method: str, shares: tuple[str, ...] = ("60000", "40000")
) -> tuple[str, str, list[str]]:
    """(listing id, borrower, investors): a 100,000 listing of ``product`` fully bid."""
    borrower = p.parties.register("lessee").id
    p.parties.verify(borrower)
    investors = []
    for k, share in enumerate(shares):
        inv = p.parties.register(f"inv{k}").id
        p.parties.verify(inv)
        p.custody.deposit(inv, share)
        investors.append(inv)
    listing = p.listings.apply(
        borrower, "100000", annual_rate="8%", months=4, method=method, product=product
    )
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    for inv, share in zip(investors, shares, strict=True):
        p.bidding.bid(listing.id, inv, share)
    return listing.id, borrower, investors


def test_product_methods_are_declared(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = make_platform(plugins=["online", LeaseCo()])
    assert p.products["lease"].allowed_methods[-1] == "custom"
    borrower = p.parties.register("b").id
    p.parties.verify(borrower)
    with pytest.raises(InvalidValue, match=r"repayment method 'custom' .*bullet"):
        p.listings.apply(borrower, "1000", annual_rate="8%", method="custom")  # online: no
    assert p.listings.apply(borrower, "1000", annual_rate="8%", method="custom", product="lease")
    with pytest.raises(InvalidValue, match="standard method"):
        Product("x", methods=("bullet",))
    with pytest.raises(InvalidValue, match="not allowed"):
        Product("x", methods=("Custom Rows",))


@pytest.mark.parametrize("method", ["custom", "equal-installment"])
def test_bad_schedule_refused_at_disbursement_nothing_changes(
    make_platform: Callable[..., lendkit.Platform], db_url: str, method: str
) -> None:
    """Before: the 99,000 schedule was accepted and the loan settled with 1,000.00 owed."""
    p = make_platform(plugins=["online", LeaseCo()])
    bad, _, _ = funded_listing(p, "badlease", method)
    before = dump(db_url)
    with pytest.raises(InvalidSchedule) as err:
        p.loans.disburse(bad)
    assert (err.value.row, err.value.rule) == (3, "principal-sum")
    assert "1000.00 CNY is still owed after the last row" in str(err.value)
    assert "not the principal 100000.00 CNY" in str(err.value)
    assert dump(db_url) == before
    # a product method its plugin builds no schedule for is refused the same way
    orphan, _, _ = funded_listing(p, "badlease", "nobuilder", shares=("100000",))
    before = dump(db_url)
    with pytest.raises(InvalidSchedule, match="'nobuilder', but no plugin built its schedule"):
        p.loans.disburse(orphan)
    assert dump(db_url) == before
    assert p.verify().ok


def test_custom_schedule_runs_to_settlement(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(plugins=["online", LeaseCo()])
    listing_id, borrower, investors = funded_listing(p, "lease", "custom")
    loan = p.loans.disburse(listing_id)
    assert loan.method == "custom"
    expected = custom_rows("100000", LEASE_DATES, "8%", "30/360", BUY_OUT, start=loan.start_date)
    rows = p.loans.schedule(loan.id).installments
    assert rows == expected.installments
    assert rows[-1].payment == Money.of("100") and rows[-1].due_date == date(2026, 5, 1)
    assert all(a["method"] == "custom" for a in p.loans.agreements(loan.id))
    for row in rows:
        clock.set(datetime.combine(row.due_date, time(9), tzinfo=clock.now.tzinfo))
        p.custody.deposit(borrower, row.payment)
        pay = p.loans.repay(loan.id)
        assert (pay.principal, pay.interest, pay.amount) == (
            row.principal,
            row.interest,
            row.payment,
        )
    settled = p.loans.get(loan.id)
    assert settled.state == "settled" and settled.outstanding_principal.is_zero()
    got = [p.loans.position(loan.id, inv) for inv in investors]
    assert [g.received_principal for g in got] == [Money.of("60000"), Money.of("40000")]
    total_interest = sum((r.interest for r in rows), Money.of(0))
    assert sum((g.received_interest + g.fees_paid for g in got), Money.of(0)) == total_interest
    assert all(g.outstanding_principal.is_zero() for g in got)
    assert p.verify().ok


def test_prepaying_a_custom_schedule_asks_the_product(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    plugin = LeaseCo()
    p = make_platform(plugins=["online", plugin])
    listing_id, borrower, _ = funded_listing(p, "lease", "custom")
    loan = p.loans.disburse(listing_id)
    old = p.loans.schedule(loan.id).installments
    p.custody.deposit(borrower, "40000")
    before = dump(db_url)
    with pytest.raises(InvalidState, match="refused: a lease keeps its term"):
        p.loans.prepay(loan.id, "30000", mode="shorten")
    assert dump(db_url) == before
    p.loans.prepay(loan.id, "30000", mode="reduce")
    remaining, since, mode, unpaid = plugin.replans[-1]
    assert (remaining, since, mode, unpaid) == (Money.of("70000"), loan.start_date, "reduce", old)
    now = p.loans.schedule(loan.id).installments
    assert now[0].principal == Money.of("30000") and now[0].due_date == loan.start_date
    kept = now[1:]  # the calendar kept, each row reduced (not rebuilt with a standard method)
    assert [r.due_date for r in kept] == [r.due_date for r in old]
    assert sum((r.principal for r in kept), Money.of(0)) == Money.of("70000")
    assert all(n.principal < o.principal for n, o in zip(kept, old, strict=True))
    assert p.loans.get(loan.id).method == "custom"
    assert p.verify().ok


class Recomputer(LeaseCo):
    """Re-computes the rents on what is left (the calendar kept); ``broken`` returns a plan
    that repays 1.00 too little."""

    lendkit_plugin_name = "recomputer"
    broken = False

    @hookimpl
    def lendkit_replan_schedule(
        self, loan: Any, remaining: Money, since: date, mode: str, unpaid: Any
    ) -> Schedule | None:
        if loan.product != "lease":
            return None
        dates = [r.due_date for r in unpaid]
        plan = custom_rows(remaining, dates, loan.annual_rate, "30/360", start=since)
        if self.broken:
            first = plan.installments[0]
            cent = Money.of("1")
            short = attrs.evolve(
                first, principal=first.principal - cent, payment=first.payment - cent
            )
            return attrs.evolve(plan, installments=(short, *plan.installments[1:]))
        return plan


def test_a_products_replan_is_used_and_validated(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    plugin = Recomputer()
    p = make_platform(plugins=["online", plugin])
    listing_id, borrower, _ = funded_listing(p, "lease", "custom")
    loan = p.loans.disburse(listing_id)
    old = p.loans.schedule(loan.id).installments
    p.custody.deposit(borrower, "40000")
    p.loans.prepay(loan.id, "20000", mode="shorten")
    rest = custom_rows("80000", [r.due_date for r in old], "8%", "30/360", start=loan.start_date)
    assert p.loans.schedule(loan.id).installments[1:] == tuple(
        attrs.evolve(r, period=r.period + 1) for r in rest.installments
    )
    plugin.broken = True
    before = dump(db_url)
    with pytest.raises(InvalidSchedule) as err:
        p.loans.prepay(loan.id, "10000", mode="reduce")
    assert (err.value.row, err.value.rule) == (1, "balance")
    assert dump(db_url) == before
    assert p.verify().ok
