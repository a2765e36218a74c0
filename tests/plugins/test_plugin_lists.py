"""Each risk plugin's own lists (issue 14): pledges by owner (collateral), policies and claims
by loan (insurance), guarantees by guarantor, a page at a time (guarantee) -- on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

import lendkit
from lendkit import Money
from lendkit.plugins import collateral, guarantee, insurance
from tests.conftest import party

M = Money.of


def test_pledges_of_an_owner(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = make_platform(plugins=["online", "collateral"])
    b, other = party(p, "b"), party(p, "other")
    car = collateral.register_asset(
        p, "vehicle", "LSVAM4187C2184847", b, "100000", date(2026, 1, 1)
    )
    flat = collateral.register_asset(p, "real_estate", "FLAT-1", b, "500000", date(2026, 1, 1))
    collateral.register_asset(p, "vehicle", "LSVAM4187C2184848", other, "100000", date(2026, 1, 1))
    first = p.listings.apply(b, "50000", "12%", months=3, product="secured")
    second = p.listings.apply(b, "40000", "12%", months=3, product="secured")
    collateral.pledge(p, first.id, car.id)
    collateral.pledge(p, second.id, flat.id)
    mine = collateral.pledges_of(p, b)
    assert {(x.asset_id, x.listing_id) for x in mine} == {(car.id, first.id), (flat.id, second.id)}
    assert collateral.pledges_of(p, other) == []


def test_policies_and_claims_of_a_loan(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = make_platform(
        plugins=["online", "insurance"], config={"grace_days": 0, "waterfall": ["insurance"]}
    )
    ins = insurance.register_insurer(p, "Ping An P&C", capacity="1000000")
    insurance.fund_insurer(p, ins.id, "10000")
    b = party(p, "borrower")
    listing = p.listings.apply(b, "3000", "12%", months=3)
    policy = insurance.insure_loan(p, listing.id, ins.id, "2%", payer="borrower", trigger_days=1)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, party(p, "i1", "3000"), "3000")
    loan = p.loans.disburse(listing.id)
    p.custody.withdraw(b, p.custody.balance(b).available)
    assert [x.id for x in insurance.policies_of(p, loan.id)] == [policy.id]
    assert insurance.claims_of(p, loan.id) == []
    inst = p.loans.schedule(loan.id).installments[0]
    p.cob.run(inst.due_date + timedelta(days=1), allow_future=True)
    [claim] = insurance.claims_of(p, loan.id)
    assert (claim.policy_id, claim.period, claim.amount) == (policy.id, 1, inst.payment)
    # the core view of the same cover: who covered what on the loan
    [cover] = p.loans.claims(loan.id)
    assert cover.covered == inst.payment and cover.payer_kind == "insurer"
    with pytest.raises(lendkit.NotFound):
        insurance.claims_of(p, "loan_nope")


def test_guarantees_of_a_guarantor_page_by_page(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform(plugins=["online", "guarantee"])
    pid = party(p, "Guarantee Co", "5000")
    g = guarantee.register_guarantor(p, "Guarantee Co", pid, "1000")
    guarantee.fund_deposit(p, g.id, "1000")
    b = party(p, "borrower")
    ids = []
    for _ in range(3):
        listing = p.listings.apply(b, "1000", "12%", months=3)
        guarantee.guarantee_listing(p, listing.id, g.id)
        ids.append(listing.id)
    first = guarantee.guarantees_by(p, g.id, limit=2)
    assert len(first) == 2 and first.next is not None
    rest = guarantee.guarantees_by(p, g.id, limit=2, after=first.next)
    assert rest.next is None
    assert sorted(x.listing_id for x in (*first, *rest)) == sorted(ids)
    assert len(guarantee.guarantees_by(p, g.id, state="committed")) == 0
    with pytest.raises(lendkit.InvalidValue, match="page cursor"):
        guarantee.guarantees_by(p, g.id, after="lst_nope")
