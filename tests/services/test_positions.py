"""An investor's position nets what a third party paid: principal *and* interest (issue 10.4).

A guarantor that covers an installment pays the investors its principal and interest; from then
on the investors are owed neither (the borrower owes them to the guarantor). The positions' sum
must equal what the investors are still owed on the loan, to the cent, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import lendkit
from lendkit import Money
from lendkit.plugins import guarantee
from tests.conftest import FixedClock

M = Money.of


def _party(p: lendkit.Platform, name: str, deposit: str = "0") -> str:
    pid = p.parties.register(name).id
    p.parties.verify(pid)
    if deposit != "0":
        p.custody.deposit(pid, deposit)
    return pid


def _on(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=UTC)


def _guaranteed_loan(p: lendkit.Platform, **guarantor: Any) -> tuple[str, str, list[str], str]:
    """A 3000.00 CNY, 12 %, 3-month loan held 1500/1000/500 by three investors, guaranteed."""
    borrower = _party(p, "borrower")
    investors = [_party(p, f"investor {n}") for n in (1, 2, 3)]
    g_party = _party(p, "Guarantee Co", "5000")
    g = guarantee.register_guarantor(p, "Guarantee Co", g_party, "1000", **guarantor)
    guarantee.fund_deposit(p, g.id, "1000")
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    for inv, amount in zip(investors, ("1500", "1000", "500"), strict=True):
        p.custody.deposit(inv, amount)
        p.bidding.bid(listing.id, inv, amount)
    loan = p.loans.disburse(listing.id)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    return loan.id, borrower, investors, g.id


def _outstanding(p: lendkit.Platform, loan_id: str, investors: list[str]) -> list[Money]:
    return [p.loans.position(loan_id, i).outstanding_interest for i in investors]


def _interest_of(p: lendkit.Platform, loan_id: str, periods: set[int]) -> Money:
    """The scheduled interest of ``periods``: what the investors are still owed on them."""
    plan = p.loans.schedule(loan_id).installments
    return sum((i.interest for i in plan if i.period in periods), M(0))


def test_interest_covered_by_a_guarantor_after_default_is_not_outstanding(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform(
        plugins=["online", "guarantee"],
        config={"waterfall": ["guarantee"], "grace_days": 0, "default_after_days": 20},
    )
    loan_id, _, investors, _ = _guaranteed_loan(p, liability="general")
    schedule = p.loans.schedule(loan_id).installments
    # the plan: interest 30.00 + 20.10 + 10.10 = 60.20
    assert [i.interest for i in schedule] == [M("30.00"), M("20.10"), M("10.10")]
    assert _outstanding(p, loan_id, investors) == [M("30.10"), M("20.07"), M("10.03")]

    p.cob.run(
        schedule[0].due_date + timedelta(days=20), allow_future=True
    )  # defaults; the guarantor covers period 1
    assert p.loans.get(loan_id).state == "defaulted"
    [paid] = guarantee.compensations(p)
    assert (paid.period, paid.principal, paid.interest) == (1, M("990.07"), M("30.00"))

    positions = [p.loans.position(loan_id, i) for i in investors]
    # principal and interest of period 1 are both netted: 30.20 of interest is still owed
    assert [x.outstanding_principal for x in positions] == [
        M("1004.96"),
        M("669.98"),
        M("334.99"),
    ]
    assert [x.outstanding_interest for x in positions] == [M("15.10"), M("10.07"), M("5.03")]
    owed = _interest_of(p, loan_id, {2, 3})
    assert owed == M("30.20")
    assert sum((x.outstanding_interest for x in positions), M(0)) == owed
    assert sum((x.outstanding_principal for x in positions), M(0)) == (
        p.loans.get(loan_id).outstanding_principal - paid.principal
    )
    assert p.verify().ok


def test_positions_follow_cover_then_recovery_then_repayment(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(
        plugins=["online", "guarantee"], config={"waterfall": ["guarantee"], "grace_days": 0}
    )
    loan_id, borrower, investors, _ = _guaranteed_loan(p, liability="joint", after_days=1)
    schedule = p.loans.schedule(loan_id).installments
    p.cob.run(
        schedule[0].due_date + timedelta(days=1), allow_future=True
    )  # joint: the guarantor pays on day 1
    [paid] = guarantee.compensations(p)
    assert paid.interest == M("30.00")
    assert _outstanding(p, loan_id, investors) == [M("15.10"), M("10.07"), M("5.03")]

    # the borrower pays period 1 late: principal and interest go to the guarantor (追偿), so the
    # investors' outstanding interest does not move
    clock.set(_on(schedule[0].due_date + timedelta(days=3)))
    p.custody.deposit(borrower, "5000")
    p.loans.repay(loan_id)
    assert _outstanding(p, loan_id, investors) == [M("15.10"), M("10.07"), M("5.03")]
    assert sum(_outstanding(p, loan_id, investors), M(0)) == _interest_of(p, loan_id, {2, 3})

    # period 2 paid on time: only period 3's 10.10 is left, split 3:2:1
    clock.set(_on(schedule[1].due_date))
    p.loans.repay(loan_id)
    assert _outstanding(p, loan_id, investors) == [M("5.05"), M("3.37"), M("1.68")]
    assert sum(_outstanding(p, loan_id, investors), M(0)) == M("10.10")
    assert p.verify().ok
