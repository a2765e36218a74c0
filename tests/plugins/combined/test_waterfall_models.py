"""One secured, guaranteed loan with a reserve behind it defaults: the guarantor and the reserve
pay in the configured order, nobody is paid twice, and the collateral sale pays investors what is
left and the payers back (追偿), the surplus to the borrower."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

import lendkit
from lendkit import Money
from lendkit.plugins import collateral, guarantee, reserve
from lendkit.store.tables import claims
from tests.conftest import FixedClock


def test_collateral_guarantee_reserve_in_order(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(
        plugins=["online", "collateral", "guarantee", "reserve"],
        config={
            "waterfall": ["guarantee", "reserve"],
            "grace_days": 0,
            "default_after_days": 60,
            "plugins": {"reserve": {"after_days": 1}},
        },
    )
    company = p.parties.register("Acme Guarantee", kind="enterprise").id
    borrower = p.parties.register("b").id
    investors = [p.parties.register(f"i{k}").id for k in range(2)]
    for x in (company, borrower, *investors):
        p.parties.verify(x)
    p.custody.deposit(company, "400")
    g = guarantee.register_guarantor(p, "Acme Guarantee", company, capital="1000")
    guarantee.fund_deposit(p, g.id, "400")  # its only money: it can cover part of a claim
    car = collateral.register_asset(
        p, "vehicle", "LSVAM4187C2184847", borrower, "10000", date(2026, 1, 1)
    )
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    collateral.pledge(p, listing.id, car.id)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    for inv in investors:
        p.custody.deposit(inv, "1500")
        p.bidding.bid(listing.id, inv, "1500")
    loan = p.loans.disburse(listing.id)
    # the platform funds the reserve from a funded operator party
    operator = p.parties.register("operator", kind="enterprise").id
    p.parties.verify(operator)
    p.custody.deposit(operator, "5000")
    reserve.seed(p, "5000", from_party=operator)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)

    first = p.loans.schedule(loan.id).installments[0]
    p.cob.run(first.due_date + timedelta(days=1), allow_future=True)
    got = [p.loans.position(loan.id, i) for i in investors]
    assert sum((x.received_principal for x in got), Money.of(0)) == first.principal
    with p.engine.connect() as conn:
        payers = conn.execute(
            select(claims.c.reason, claims.c.principal).order_by(claims.c.created_at, claims.c.id)
        ).all()
    paid = {
        reason: sum(r.principal for r in payers if r.reason == reason)
        for reason in {r.reason for r in payers}
    }
    # the guarantor pays first, all it can: its 400.00 deposit and the 60.00 guarantee fee it
    # earned at disbursement; the rich reserve pays the rest. Reversed, the reserve pays it all.
    assert paid["guarantee"] == 460_00
    assert paid["guarantee"] + paid["reserve"] == first.principal.minor
    before = [(x.received_principal, x.received_interest) for x in got]
    p.cob.run(first.due_date + timedelta(days=2), allow_future=True)
    again = [p.loans.position(loan.id, i) for i in investors]
    assert [(x.received_principal, x.received_interest) for x in again] == before

    for days in range(3, 61, 7):
        p.cob.run(first.due_date + timedelta(days=days), allow_future=True)
    p.cob.run(first.due_date + timedelta(days=60), allow_future=True)
    assert p.loans.get(loan.id).state == "defaulted"
    clock.set(datetime.combine(first.due_date + timedelta(days=60), datetime.min.time(), UTC))
    sale = collateral.record_sale(p, loan.id, proceeds="9000", costs="500")
    assert p.loans.get(loan.id).state == "settled"
    final = [p.loans.position(loan.id, i) for i in investors]
    assert sum((x.received_principal for x in final), Money.of(0)) == Money.of("3000")
    with p.engine.connect() as conn:
        rows = conn.execute(select(claims)).all()
    assert rows and all(
        r.recovered_principal == r.principal and r.recovered_interest == r.interest for r in rows
    )
    assert sale.surplus.is_positive()
    assert p.verify().ok


def test_withdrawn_listings_release_guarantee_and_pledge(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform(plugins=["online", "collateral", "guarantee"])
    company = p.parties.register("Acme Guarantee", kind="enterprise").id
    borrower = p.parties.register("b").id
    for x in (company, borrower):
        p.parties.verify(x)
    p.custody.deposit(company, "100")
    g = guarantee.register_guarantor(p, "Acme Guarantee", company, capital="100")  # cap 1000
    guarantee.fund_deposit(p, g.id, "100")  # 10 % of one 1000 listing
    car = collateral.register_asset(p, "vehicle", "VIN-1", borrower, "10000", date(2026, 1, 1))
    for how in ("reject", "cancel"):
        listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
        collateral.pledge(p, listing.id, car.id)
        guarantee.guarantee_listing(p, listing.id, g.id)
        if how == "cancel":
            p.listings.approve(listing.id, grade="B")  # commits capacity and deposit
            p.listings.cancel(listing.id)
        else:
            p.listings.reject(listing.id, "documents missing")
        # the whole capacity and the car are free again for the next listing
        assert guarantee.guarantee_of(p, listing.id).state == "released"
    again = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
    collateral.pledge(p, again.id, car.id)
    guarantee.guarantee_listing(p, again.id, g.id)
    p.listings.approve(again.id, grade="B")
    assert p.verify().ok
