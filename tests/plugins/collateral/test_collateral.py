"""The collateral plugin: registry, no double pledge (also racing), LTV caps, lien life, and the
enforcement sale paying costs, then penalty, interest and principal, with the surplus to the
borrower. Every scenario runs on SQLite and PostgreSQL and ends with a verified ledger."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import lendkit
from lendkit import Money
from lendkit.plugins import collateral
from tests.conftest import FixedClock, party

START = date(2026, 1, 1)
M = Money.of


def open_platform(make_platform: Callable[..., lendkit.Platform], **plugin_cfg: Any) -> Any:
    return make_platform(
        plugins=["online", "collateral"],
        config={
            "grace_days": 0,
            "default_after_days": 60,
            "plugins": {"collateral": plugin_cfg},
        },
    )


def disclosed(p: lendkit.Platform) -> dict[str, str]:
    return {d.name: d.value for d in p.reports.disclosure() if d.plugin == "collateral"}


def balance_of(p: lendkit.Platform, *code: str) -> Money:
    with p.transaction() as ctx:
        return ctx.balance(ctx.account(*code, "CNY", allow_negative=code[-1] == "sale-gateway"))


def test_second_pledge_of_same_vin_is_refused(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    b = party(p, "b")
    car = collateral.register_asset(p, "vehicle", "lsvam4187c2184847", b, "100000", START)
    assert car.identifier == "LSVAM4187C2184847"
    with pytest.raises(lendkit.InvalidState, match="already registered"):
        collateral.register_asset(p, "vehicle", "LSVAM4187C2184847", b, "90000", START)
    first = p.listings.apply(b, "50000", "12%", months=3, product="secured")
    second = p.listings.apply(b, "40000", "12%", months=3, product="secured")
    pledged = collateral.pledge(p, first.id, car.id)
    assert pledged.state == "pledged" and str(pledged.ltv) == "0.5000"
    with pytest.raises(lendkit.InvalidState, match="already pledged") as refused:
        collateral.pledge(p, second.id, car.id)
    assert pledged.id in str(refused.value) and first.id in str(refused.value)
    assert [x.listing_id for x in collateral.asset_pledges(p, first.id)] == [first.id]
    assert collateral.asset_pledges(p, second.id) == []
    with pytest.raises(lendkit.InvalidValue, match="allowed: equipment, real_estate, vehicle"):
        collateral.register_asset(p, "yacht", "HULL-1", b, "100", START)
    with pytest.raises(TypeError):
        collateral.register_asset(p, "vehicle", "VIN-2", b, 100.0, START)
    assert p.verify().ok


def test_racing_pledges_of_one_vin_only_one_wins(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    b = party(p, "b")
    for round_ in range(4):
        car = collateral.register_asset(p, "vehicle", f"VIN-RACE-{round_}", b, "100000", START)
        listings = [p.listings.apply(b, "10000", "12%", months=3).id for _ in range(2)]
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        def race(listing_id: str, car_id: str = car.id) -> None:
            barrier.wait()
            try:
                outcomes.append(collateral.pledge(p, listing_id, car_id))
            except lendkit.LendkitError as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=race, args=(lid,)) for lid in listings]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [o for o in outcomes if isinstance(o, collateral.Pledge)]
        lost = [o for o in outcomes if isinstance(o, lendkit.InvalidState)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert "pledge" in str(lost[0])
        live = [x for lid in listings for x in collateral.asset_pledges(p, lid)]
        assert len(live) == 1


def test_listing_above_ltv_is_refused_and_revaluation_flags_a_breach(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    vetoed: list[str] = []

    def registry(kind: str, identifier: str, owner_id: str) -> str | None:
        vetoed.append(identifier)
        return "mortgaged at the land registry" if identifier == "CERT-ELSEWHERE" else None

    p = open_platform(make_platform, external_registry=registry)
    b = party(p, "b")
    house = collateral.register_asset(p, "real_estate", "CERT-001", b, "1000000", START)
    too_big = p.listings.apply(b, "800000", "10%", months=12, product="secured")
    collateral.pledge(p, too_big.id, house.id)
    with pytest.raises(lendkit.InvalidState) as refused:
        p.listings.approve(too_big.id, grade="A")
    message = str(refused.value)
    assert "800000.00" in message and "at most 700000.00" in message and "70.00%" in message
    assert p.listings.get(too_big.id).state == "applied"

    # no pledge on a secured listing: refused at approval
    bare = p.listings.apply(b, "1000", "10%", months=3, product="secured")
    with pytest.raises(lendkit.InvalidState, match="without a pledged asset"):
        p.listings.approve(bare.id, grade="A")

    # the external registry vetoes a pledge it knows about
    other = collateral.register_asset(p, "real_estate", "CERT-ELSEWHERE", b, "500000", START)
    with pytest.raises(lendkit.InvalidState, match="land registry"):
        collateral.pledge(p, bare.id, other.id)
    assert "CERT-ELSEWHERE" in vetoed

    # at the cap it is accepted; a lower appraisal then breaches it
    p.listings.cancel(too_big.id)
    ok = p.listings.apply(b, "700000", "10%", months=12, product="secured")
    # cancelling released the house's pledge (lendkit_listing_withdrawn); a new asset here
    flat = collateral.register_asset(p, "real_estate", "CERT-002", b, "1000000", START)
    collateral.pledge(p, ok.id, flat.id)
    approved = p.listings.approve(ok.id, grade="A")
    assert approved.state == "approved"
    [after] = collateral.revalue(p, flat.id, "900000", date(2026, 6, 1))
    assert after.breach
    assert str(after.ltv) == "0.7778"
    assert disclosed(p)["LTV breaches"] == "1"
    [cured] = collateral.revalue(p, flat.id, "1000000", date(2026, 7, 1))
    assert not cured.breach
    assert p.verify().ok


def secured_loan(
    p: lendkit.Platform,
    clock: FixedClock,
    vin: str = "LSVAM4187C2184847",
    owner: str | None = None,
) -> tuple[str, str, str, str, Any]:
    """A 50000.00 vehicle loan (3 months, 12 %) funded 30000/20000, proceeds withdrawn; the car
    belongs to the borrower, or to ``owner`` (a third-party mortgagor)."""
    b = party(p, "borrower")
    i1, i2 = party(p, "i1", "30000"), party(p, "i2", "20000")
    car = collateral.register_asset(p, "vehicle", vin, owner or b, "100000", START)
    listing = p.listings.apply(b, "50000", "12%", months=3, product="secured")
    collateral.pledge(p, listing.id, car.id)
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i1, "30000")
    p.bidding.bid(listing.id, i2, "20000")
    loan = p.loans.disburse(listing.id)
    assert [x.state for x in collateral.asset_pledges(p, loan.id)] == ["active"]
    p.custody.withdraw(b, p.custody.balance(b).available)
    return b, i1, i2, car.id, loan


def default_it(p: lendkit.Platform, clock: FixedClock, loan_id: str) -> date:
    dues = [i.due_date for i in p.loans.schedule(loan_id).installments]
    for day in (dues[0] + timedelta(days=1), dues[1] + timedelta(days=1), dues[0] + timedelta(60)):
        p.cob.run(day, allow_future=True)
    assert p.loans.get(loan_id).state == "defaulted"
    clock.set(datetime.combine(dues[0] + timedelta(60), datetime.min.time(), tzinfo=UTC))
    return dues[0] + timedelta(60)


def test_defaulted_secured_loan_sale_pays_costs_penalty_interest_principal_then_surplus(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    b, i1, i2, car_id, loan = secured_loan(p, clock)
    default_it(p, clock, loan.id)
    assert [x.state for x in collateral.asset_pledges(p, loan.id)] == ["enforcing"]
    schedule = p.loans.schedule(loan.id)
    interest = sum((i.interest for i in schedule.installments), M(0))
    assert interest == M("1003.32")
    before = {i: p.custody.balance(i).available for i in (i1, i2)}

    sale = collateral.record_sale(p, loan.id, proceeds="80000", costs="2000")

    # the stated order, to the cent: costs, then penalty + interest + principal, then surplus
    assert sale.costs == M("2000") and sale.principal == M("50000") and sale.interest == interest
    # penalty accrued by COB at 0.05 %/day on each overdue installment (17001.11 CNY):
    # rounded once per installment on base x days: #1 60 days 510.03, #2 32 days 272.02,
    # #3 1 day 8.50
    assert sale.penalty == M("790.55")
    assert sale.surplus == M("80000") - M("2000") - M("790.55") - interest - M("50000")
    assert sale.surplus == M("26206.13")
    assert balance_of(p, "plugin", "collateral", "costs") == M("2000")
    assert balance_of(p, "plugin", "collateral", "sale-gateway") == M("-80000")
    assert p.custody.balance(b).available == sale.surplus
    # investors: principal and penalty pro rata 60/40, interest less the 10 % management fee
    pos = {i: p.loans.position(loan.id, i) for i in (i1, i2)}
    assert pos[i1].received_principal == M("30000") and pos[i2].received_principal == M("20000")
    assert pos[i1].received_penalty + pos[i2].received_penalty == sale.penalty
    assert pos[i1].received_penalty == M("474.33")
    gross_interest = sum((x.received_interest + x.fees_paid for x in pos.values()), M(0))
    assert gross_interest == interest
    for i in (i1, i2):
        got = p.custody.balance(i).available - before[i]
        assert got == pos[i].received_principal + pos[i].received_penalty + pos[i].received_interest
    assert p.loans.get(loan.id).state == "settled"
    assert [x.state for x in collateral.asset_pledges(p, loan.id)] == ["enforced"]
    # disclosure matches the ledger
    d = disclosed(p)
    assert d["sale proceeds"] == str(-balance_of(p, "plugin", "collateral", "sale-gateway"))
    assert d["sale costs"] == str(balance_of(p, "plugin", "collateral", "costs"))
    assert d["sale surplus to owners"] == str(p.custody.balance(b).available)
    assert d["sale proceeds applied to loans"] == str(sale.penalty + sale.interest + sale.principal)
    assert d["live pledges"] == "0"
    # the enforced asset is free again
    relist = p.listings.apply(b, "1000", "12%", months=3, product="secured")
    assert collateral.pledge(p, relist.id, car_id).state == "pledged"
    assert p.verify().ok


def test_sale_shortfall_stays_a_loss_and_refusals(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    b, i1, i2, _car, loan = secured_loan(p, clock)
    with pytest.raises(lendkit.InvalidState, match="defaulted"):
        collateral.record_sale(p, loan.id, proceeds="1000")
    default_it(p, clock, loan.id)
    with pytest.raises(lendkit.InvalidAmount, match="between 0 and the proceeds"):
        collateral.record_sale(p, loan.id, proceeds="1000", costs="1000.01")
    sale = collateral.record_sale(p, loan.id, proceeds="30000", costs="1000")
    assert sale.surplus == M(0)
    assert sale.penalty + sale.interest + sale.principal == M("29000")
    assert p.custody.balance(b).available == M(0)
    state = p.loans.get(loan.id)
    assert state.state == "defaulted"  # the rest is unpaid: a loss or the next waterfall step
    received = sum((p.loans.position(loan.id, i).received_principal for i in (i1, i2)), M(0))
    assert received == sale.principal and state.outstanding_principal == M("50000") - received
    with pytest.raises(lendkit.InvalidState, match="no lien under enforcement"):
        collateral.record_sale(p, loan.id, proceeds="100")
    assert p.verify().ok


def test_payoff_releases_the_lien(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    b, _i1, _i2, car_id, loan = secured_loan(p, clock)
    p.custody.deposit(b, "60000")
    for _ in range(3):
        p.loans.repay(loan.id)
    assert p.loans.get(loan.id).state == "settled"
    assert [x.state for x in collateral.asset_pledges(p, loan.id)] == ["released"]
    again = p.listings.apply(b, "1000", "12%", months=3, product="secured")
    assert collateral.pledge(p, again.id, car_id).state == "pledged"
    assert disclosed(p)["live pledges"] == "1"
    assert p.verify().ok


def test_readme_example_runs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module docstring (the README section) carries a runnable example: run it."""
    import textwrap

    doc = collateral.__doc__ or ""
    code = textwrap.dedent(doc.split("checked)::\n", 1)[1])
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "collateral-example", "exec"), {"__name__": "example"})


def test_one_live_pledge_per_identifier_whatever_its_kind(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    b = party(p, "b")
    vin = "LSVAM4187C2184847"
    car = collateral.register_asset(p, "vehicle", vin, b, "100000", START)
    machine = collateral.register_asset(p, "equipment", vin.lower(), b, "100000", START)
    assert machine.identifier == vin and machine.id != car.id
    first = p.listings.apply(b, "30000", "12%", months=3, product="secured")
    second = p.listings.apply(b, "30000", "12%", months=3, product="secured")
    collateral.pledge(p, first.id, car.id)
    with pytest.raises(lendkit.InvalidState, match=r"already pledged \(registered as vehicle\)"):
        collateral.pledge(p, second.id, machine.id)
    assert collateral.asset_pledges(p, second.id) == []
    p.listings.cancel(first.id)  # releases the vehicle's pledge: the identifier is free again
    assert collateral.pledge(p, second.id, machine.id).state == "pledged"
    assert p.verify().ok


def test_racing_pledges_of_one_identifier_under_two_kinds(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    b = party(p, "b")
    assets = [
        collateral.register_asset(p, kind, "VIN-RACE", b, "100000", START).id
        for kind in ("vehicle", "equipment")
    ]
    listings = [p.listings.apply(b, "30000", "12%", months=3).id for _ in assets]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def go(listing_id: str, asset_id: str) -> None:
        barrier.wait()
        try:
            collateral.pledge(p, listing_id, asset_id)
            outcomes.append("ok")
        except lendkit.InvalidState:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=go, args=pair) for pair in zip(listings, assets, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]


def test_surplus_goes_to_a_third_party_owner_through_the_plugin_account(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    owner = party(p, "mortgagor", "5")
    b, _i1, _i2, _car, loan = secured_loan(p, clock, owner=owner)
    default_it(p, clock, loan.id)
    p.custody.deposit(b, "7")  # the borrower's own money is neither used nor the owner's
    sale = collateral.record_sale(p, loan.id, proceeds="80000", costs="2000")
    assert sale.surplus == M("26206.13")
    assert p.custody.balance(owner).available == M("5") + sale.surplus
    assert p.custody.balance(b).available == M("7")
    assert balance_of(p, "plugin", "collateral", "sale-proceeds") == M(0)
    assert p.loans.get(loan.id).state == "settled"
    assert p.verify().ok
