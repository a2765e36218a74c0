"""The online plugin: investors bear losses; collection stages are recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import lendkit
from lendkit import Money
from lendkit.plugins.online import collection_history, stage_for
from tests.conftest import FixedClock


def test_stage_for_days() -> None:
    assert stage_for(0) is None
    assert stage_for(1) == "sms"
    assert stage_for(8) == "phone"
    assert stage_for(45) == "visit"
    assert stage_for(200) == "legal"


def test_overdue_loan_walks_collection_stages_then_defaults(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(config={"grace_days": 0, "default_after_days": 60})
    borrower = p.parties.register("b").id
    inv = p.parties.register("i").id
    for x in (borrower, inv):
        p.parties.verify(x)
    p.custody.deposit(inv, "1200")
    listing = p.listings.apply(borrower, amount="1200", annual_rate="12%", months=6)
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, inv, "1200")
    loan = p.loans.disburse(listing.id)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    due = p.loans.schedule(loan.id).installments[0].due_date
    for offset in (1, 8, 31, 61):
        p.cob.run(due + timedelta(days=offset), allow_future=True)
    stages = [(s.period, s.stage) for s in collection_history(p, loan.id)]
    assert (1, "sms") in stages and (1, "phone") in stages and (1, "visit") in stages
    assert (1, "legal") in stages and (0, "default") in stages
    state = p.loans.get(loan.id)
    assert state.state == "defaulted"
    # investors bear the loss: nobody paid them
    assert p.loans.position(loan.id, inv).received_principal == Money.of(0)
    written = p.loans.write_off(loan.id)
    assert written.state == "written_off"
    disclosed = {d.name: d.value for d in p.reports.disclosure() if d.plugin == "online"}
    # loans, not installments: three installments reached sms, all of this one loan
    assert len([s for s in stages if s[1] == "sms"]) == 3
    assert disclosed["loans reaching collection stage sms"] == "1"
    assert disclosed["loans reaching collection stage legal"] == "1"
    assert p.verify().ok


def test_partial_payment_order_and_agreements(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform()
    borrower = p.parties.register("b").id
    a, b = p.parties.register("a").id, p.parties.register("c").id
    for x in (borrower, a, b):
        p.parties.verify(x)
    p.custody.deposit(a, "600")
    p.custody.deposit(b, "400")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, a, "600")
    p.bidding.bid(listing.id, b, "400")
    loan = p.loans.disburse(listing.id)
    first = p.loans.schedule(loan.id).installments[0]
    pay = p.loans.repay(loan.id, "5.00")  # less than the interest: interest first
    assert pay.interest == Money.of("5.00") and pay.principal == Money.of(0)
    rest = p.loans.repay(loan.id, (first.payment - Money.of("5.00")).amount)
    assert rest.principal == first.principal
    terms = p.loans.agreements(loan.id)
    assert {t["investor"] for t in terms} == {a, b}
    assert {t["amount"] for t in terms} == {"600.00", "400.00"}
    assert all(len(t["schedule"]) == 3 for t in terms)
    assert p.verify().ok


def test_rating_reports_only_from_whitelist(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = make_platform(config={"rating_agencies": ["Trusted Ratings"]})
    party = p.parties.register("x").id
    p.parties.verify(party)
    assert p.parties.add_rating_report(party, "Trusted Ratings", "AA") is True
    assert p.parties.add_rating_report(party, "Cheap Ratings Inc", "AA") is False
    with_report = p.parties.assess(party)
    other = p.parties.register("y").id
    p.parties.verify(other)
    p.parties.add_rating_report(other, "Cheap Ratings Inc", "AA")
    without = p.parties.assess(other)
    assert with_report.score > without.score
