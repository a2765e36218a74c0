"""The leasing plugin (融资租赁): both lease forms end to end, quarterly rents with a buy-out
price, a partial early buy-out keeping the calendar, default with the lessor's buy-back (also
when the lessor is short at first), default with repossession and sale (surplus to the lessee,
and a shortfall), disclosure, and bad input refused with nothing changed -- on SQLite and
PostgreSQL, exact to the cent, ``verify().ok`` after each.

The figures are computed by hand in the comments: rents split on 30/360, so a month's interest
is exactly ``balance x rate / 12`` (HALF_UP to the cent); no service, management, prepayment or
penalty fee is configured, so every cent the lessee pays reaches the investors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

import lendkit
from lendkit import Money
from lendkit.core.errors import InvalidState, InvalidValue, LendkitError, NotFound
from lendkit.plugins import leasing
from lendkit.plugins.leasing.tables import metadata as leasing_metadata
from lendkit.store.db import create_nullpool_engine
from tests.conftest import FixedClock, dump, party

M = Money.of
START = date(2026, 1, 1)  # the FixedClock's day: disbursement date of every lease here


def open_platform(make: Callable[..., lendkit.Platform], **settings: Any) -> lendkit.Platform:
    config: dict[str, Any] = {
        "grace_days": 0,
        "penalty_daily_rate": "0",
        "service_fee_rate": "0",
        "management_fee_rate": "0",
        "prepayment_fee_rate": "0",
        "plugins": {"leasing": settings},
    }
    return make(plugins=["leasing"], config=config)


def parties(p: lendkit.Platform) -> dict[str, str]:
    ids = {n: party(p, n) for n in ("lessor", "lessee", "supplier", "inv_a", "inv_b")}
    leasing.register_lessee(p, ids["lessee"], "Lessee Ltd")
    ids["lessor_id"] = leasing.register_lessor(p, "Lessor Co", ids["lessor"]).id
    return ids


def file(
    p: lendkit.Platform,
    who: dict[str, str],
    form: str = "direct",
    serial: str = "EX-1",
    value: str = "12000",
    **terms: Any,
) -> leasing.Lease:
    owner = who["supplier"] if form == "direct" else who["lessee"]
    asset = leasing.register_asset(p, "excavator", serial, value, owner)
    terms.setdefault("supplier_id", who["supplier"] if form == "direct" else None)
    return leasing.file_lease(
        p,
        who["lessor_id"],
        who["lessee"],
        asset.id,
        terms.pop("amount", "10000"),
        terms.pop("rate", "12%"),
        form=form,
        **terms,
    )


def fund(p: lendkit.Platform, who: dict[str, str], lease: leasing.Lease) -> str:
    """Approve, publish, two investors 60 % / 40 %, disburse: the loan id."""
    assert lease.listing_id is not None
    p.listings.approve(lease.listing_id, grade="A")
    p.listings.publish(lease.listing_id)
    amount = lease.amount
    shares = lendkit.allocate(amount, [3, 2])
    for investor, share in zip(("inv_a", "inv_b"), shares, strict=True):
        p.custody.deposit(who[investor], share.amount)
        p.bidding.bid(lease.listing_id, who[investor], share.amount)
    return p.loans.disburse(lease.listing_id).id


def rows(p: lendkit.Platform, loan_id: str) -> list[tuple[date, str, str, str]]:
    return [
        (i.due_date, str(i.payment.amount), str(i.interest.amount), str(i.principal.amount))
        for i in p.loans.schedule(loan_id).installments
    ]


def available(p: lendkit.Platform, party_id: str) -> Money:
    return p.custody.balance(party_id).available


def received(p: lendkit.Platform, loan_id: str, investor: str) -> tuple[Money, Money]:
    pos = p.loans.position(loan_id, investor)
    return pos.received_principal, pos.received_interest


def on(clock: FixedClock, day: date) -> None:
    clock.set(datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC))


def disclosed(p: lendkit.Platform) -> dict[str, str]:
    return {d.name: d.value for d in p.reports.disclosure() if d.plugin == "leasing"}


def snapshot(url: str) -> list[Any]:
    """Every core and leasing table's rows: compare to prove a refusal changed nothing."""
    engine = create_nullpool_engine(url)
    with engine.connect() as conn:
        own = [
            (t.name, sorted((tuple(r) for r in conn.execute(t.select())), key=repr))
            for t in leasing_metadata.sorted_tables
        ]
    engine.dispose()
    return [dump(url), own]


# -- the two forms, end to end ---------------------------------------------------------------------


def test_direct_lease_quarterly_rents_with_buy_out_end_to_end(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    who = parties(p)
    lease = file(p, who, frequency="quarterly", rents=4, residual="1000")
    assert (lease.state, lease.form, lease.amount, lease.residual) == (
        "listed",
        "direct",
        M("10000.00"),
        M("1000.00"),
    )
    loan_id = fund(p, who, lease)
    # the lessor bought the asset: the supplier is paid the financed amount, the lessee nothing
    assert available(p, who["supplier"]) == M("10000.00")
    assert available(p, who["lessee"]) == M("0.00")
    asset = leasing.get_asset(p, "EX-1")
    assert (asset.owner_id, asset.state, asset.lease_id) == (who["lessor"], "leased", lease.id)
    # 12 % a year is 3 % a quarter on 30/360. Level rent L: 10000 x 1.03^4 - 1000 =
    # L x (1.03^3 + 1.03^2 + 1.03 + 1) -> L = 10255.0881 / 4.183627 = 2451.24 (HALF_UP).
    # Row 1: interest 10000 x 3 % = 300.00, principal 2151.24, balance 7848.76;
    # row 2: 235.46 (7848.7600 x 3 % = 235.4628), principal 2215.78, balance 5632.98;
    # row 3: 168.99 (168.9894), principal 2282.25, balance 3350.73;
    # row 4 (rent + buy-out price): interest 100.52 (100.5219), principal 3350.73 -> 3451.25.
    assert rows(p, loan_id) == [
        (date(2026, 4, 1), "2451.24", "300.00", "2151.24"),
        (date(2026, 7, 1), "2451.24", "235.46", "2215.78"),
        (date(2026, 10, 1), "2451.24", "168.99", "2282.25"),
        (date(2027, 1, 1), "3451.25", "100.52", "3350.73"),
    ]
    assert p.verify().ok

    # the lessee pays each rent by close of business on its due date
    for due, rent in ((date(2026, 4, 1), "2451.24"), (date(2026, 7, 1), "2451.24")):
        p.custody.deposit(who["lessee"], rent)
        p.cob.run(due, allow_future=True)
        assert available(p, who["lessee"]) == M("0.00")
    assert p.loans.get(loan_id).outstanding_principal == M("5632.98")
    p.custody.deposit(who["lessee"], "5902.49")  # 2451.24 + 3451.25
    p.cob.run(date(2027, 1, 1), allow_future=True)
    assert p.loans.get(loan_id).state == "settled"
    # investors got every rent pro rata (60 / 40 of the principal; interest 804.97 in all)
    a, b = received(p, loan_id, who["inv_a"]), received(p, loan_id, who["inv_b"])
    assert a[0] + b[0] == M("10000.00") and (a[0], b[0]) == (M("6000.00"), M("4000.00"))
    assert a[1] + b[1] == M("804.97")
    assert (a[1], b[1]) == (M("482.98"), M("321.99"))
    assert available(p, who["inv_a"]) == M("6482.98")
    # the buy-out row was paid: the asset is the lessee's, its serial free for a new lease
    done = leasing.get_lease(p, lease.id)
    assert (done.state, done.bought_out_on) == ("bought_out", date(2027, 1, 1))
    asset = leasing.get_asset(p, asset.id)
    assert (asset.owner_id, asset.state, asset.lease_id) == (who["lessee"], "available", None)
    assert [(c.from_id, c.to_id, c.reason) for c in leasing.ownership_of(p, asset.id)] == [
        (who["supplier"], who["lessor"], "purchase"),
        (who["lessor"], who["lessee"], "buy-out"),
    ]
    assert p.verify().ok


def test_sale_leaseback_monthly_pays_the_lessee_and_returns_the_asset(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    who = parties(p)
    lease = file(p, who, form="leaseback", amount="6000", rents=3, residual="100", value="8000")
    loan_id = fund(p, who, lease)
    # sale-leaseback: the lessor buys the lessee's own asset, so the lessee gets the proceeds
    assert available(p, who["lessee"]) == M("6000.00")
    assert available(p, who["supplier"]) == M("0.00")
    assert leasing.get_asset(p, lease.asset_id).owner_id == who["lessor"]
    # 1 % a month: L = (6000 x 1.01^3 - 100) / (1.01^2 + 1.01 + 1) = 6081.806 / 3.0301 = 2007.13;
    # interest 60.00, then 4052.87 x 1 % = 40.53, then 2086.27 x 1 % = 20.86; the last row
    # 2086.27 + 20.86 = 2107.13 carries the 100.00 buy-out price.
    assert rows(p, loan_id) == [
        (date(2026, 2, 1), "2007.13", "60.00", "1947.13"),
        (date(2026, 3, 1), "2007.13", "40.53", "1966.60"),
        (date(2026, 4, 1), "2107.13", "20.86", "2086.27"),
    ]
    p.custody.deposit(who["lessee"], "121.39")  # 6000 + 121.39 = the three rents
    p.cob.run(date(2026, 4, 1), allow_future=True)
    assert p.loans.get(loan_id).state == "settled"
    assert available(p, who["lessee"]) == M("0.00")
    a, b = received(p, loan_id, who["inv_a"]), received(p, loan_id, who["inv_b"])
    assert (a[0] + b[0], a[1] + b[1]) == (M("6000.00"), M("121.39"))
    asset = leasing.get_asset(p, lease.asset_id)
    assert (asset.owner_id, leasing.get_lease(p, lease.id).state) == (who["lessee"], "bought_out")
    assert [c.reason for c in leasing.ownership_of(p, asset.id)] == ["sale-leaseback", "buy-out"]
    assert p.verify().ok


# -- partial early buy-out -------------------------------------------------------------------------


def six_rents(p: lendkit.Platform, who: dict[str, str], **terms: Any) -> tuple[str, str]:
    """12000.00 at 12 % in 6 monthly rents with a 600.00 buy-out price: L = 1973.05, interest
    120.00, 101.47, 82.75, 63.85, 44.76, 25.48; balances 10146.95, 8275.37, 6385.07, 4475.87,
    2547.58, 0 (the last row 2547.58 + 25.48 = 2573.06)."""
    lease = file(p, who, amount="12000", value="15000", rents=6, residual="600", **terms)
    loan_id = fund(p, who, lease)
    assert [r[1] for r in rows(p, loan_id)] == ["1973.05"] * 5 + ["2573.06"]
    return lease.id, loan_id


def test_partial_early_buy_out_keeps_the_rent_calendar_and_the_buy_out_price(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    who = parties(p)
    lease_id, loan_id = six_rents(p, who)
    p.custody.deposit(who["lessee"], "4973.05")
    on(clock, date(2026, 2, 1))
    p.cob.run(date(2026, 2, 1))  # rent 1 collected
    # leaving 146.95 while the buy-out price is 600.00 is refused, nothing changed
    balance = available(p, who["lessee"])
    with pytest.raises(lendkit.InvalidSchedule, match="residual repay more than the principal"):
        p.loans.prepay(loan_id, "10000")
    assert available(p, who["lessee"]) == balance
    assert p.loans.get(loan_id).outstanding_principal == M("10146.95")
    # the lessee buys 3000.00 of the principal out early (no interest accrued since today's rent)
    paid = p.loans.prepay(loan_id, "3000", key="buy-out-1")
    assert (paid.principal, paid.interest) == (M("3000.00"), M("0.00"))
    # 10146.95 - 3000 = 7146.95 left over the same five dates, the buy-out price still 600.00:
    # L = (7146.95 x 1.01^5 - 600) / (1.01^4 + ... + 1) = 6911.5163 / 5.1010050 = 1354.93;
    # interest 71.47 (7146.95 x 1 % = 71.4695), 58.63 (5863.49), 45.67 (4567.19),
    # 32.58 (3257.93), 19.36 (1935.58); the last row 1935.58 + 19.36 = 1954.94, i.e. a rent
    # of 1354.94 plus the unchanged 600.00 buy-out price
    after = [r for r in rows(p, loan_id) if r[0] > date(2026, 2, 1)]
    assert after == [
        (date(2026, 3, 1), "1354.93", "71.47", "1283.46"),
        (date(2026, 4, 1), "1354.93", "58.63", "1296.30"),
        (date(2026, 5, 1), "1354.93", "45.67", "1309.26"),
        (date(2026, 6, 1), "1354.93", "32.58", "1322.35"),
        (date(2026, 7, 1), "1954.94", "19.36", "1935.58"),
    ]
    assert p.loans.get(loan_id).outstanding_principal == M("7146.95")
    assert leasing.get_lease(p, lease_id).state == "active"
    assert p.verify().ok


# -- default: buy-back ------------------------------------------------------------------------------


def test_default_with_buy_back_pays_investors_principal_and_accrued_interest(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, default_after_missed=2)
    who = parties(p)
    lease_id, loan_id = six_rents(p, who, buy_back=True)
    p.custody.deposit(who["lessor"], "12000")  # short of the buy-back at first
    p.cob.run(date(2026, 3, 1), allow_future=True)  # rent 1 missed since Feb 2
    assert leasing.get_lease(p, lease_id).missed == 1
    # Mar 2: rent 2 unpaid past the grace (0 days) too: two missed rents -> the lessor must buy
    # back rents 1 and 2 (3946.10) + the principal left 8275.37 + interest since Mar 1, one day
    # on 30/360: 8275.37 x 12 % / 360 = 2.7585 -> 2.76; in all 12224.23 > its 12000.00
    p.cob.run(date(2026, 3, 2), allow_future=True)
    lease = leasing.get_lease(p, lease_id)
    assert (lease.state, lease.missed) == ("buyback_due", 2)
    assert available(p, who["lessor"]) == M("12000.00")
    assert disclosed(p)["buy-backs"] == "0 done, 1 due"
    assert p.verify().ok
    p.custody.deposit(who["lessor"], "1000")
    # Mar 3: two days of interest now: 8275.37 x 12 % x 2 / 360 = 5.5169 -> 5.52; 12226.99
    p.cob.run(date(2026, 3, 3), allow_future=True)
    lease = leasing.get_lease(p, lease_id)
    assert (lease.state, lease.ended_on) == ("bought_back", date(2026, 3, 3))
    assert available(p, who["lessor"]) == M("13000.00") - M("12226.99")
    assert p.loans.get(loan_id).state == "settled"
    a, b = received(p, loan_id, who["inv_a"]), received(p, loan_id, who["inv_b"])
    assert (a[0], b[0]) == (M("7200.00"), M("4800.00"))
    assert a[1] + b[1] == M("226.99")  # rents 1-2 interest 221.47 + 5.52 accrued
    # the asset stays the lessor's; the serial is free on the platform
    asset = leasing.get_asset(p, lease.asset_id)
    assert (asset.owner_id, asset.lease_id) == (who["lessor"], None)
    assert disclosed(p)["buy-backs"] == "1 done, 0 due"
    assert p.verify().ok


# -- default: repossession and sale ------------------------------------------------------------------


def repossessed(
    make: Callable[..., lendkit.Platform], clock: FixedClock
) -> tuple[lendkit.Platform, dict[str, str], str, str]:
    p = open_platform(make, default_after_missed=2)
    who = parties(p)
    lease_id, loan_id = six_rents(p, who)
    with pytest.raises(InvalidState, match="only a repossessed asset is sold"):
        leasing.record_sale(p, lease_id, "13000", buyer="Used Machines Co")
    p.cob.run(date(2026, 3, 2), allow_future=True)
    lease = leasing.get_lease(p, lease_id)
    assert (lease.state, lease.missed) == ("repossessed", 2)
    assert leasing.get_asset(p, lease.asset_id).state == "repossessed"
    assert disclosed(p)["repossessions"] == "1 (1 awaiting sale, 0 sold)"
    on(clock, date(2026, 3, 2))
    return p, who, lease_id, loan_id


def test_repossession_sale_settles_and_gives_the_surplus_to_the_lessee(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p, who, lease_id, loan_id = repossessed(make_platform, clock)
    # payoff on Mar 2: rents 1-2 3946.10 + principal left 8275.37 + one day's interest 2.76
    # = 12224.23; the price 13000.00 covers it: 775.77 surplus to the lessee
    sale = leasing.record_sale(p, lease_id, "13000", buyer="Used Machines Co", key="sale-1")
    assert (sale.price, sale.principal, sale.interest, sale.penalty) == (
        M("13000.00"),
        M("12000.00"),
        M("224.23"),
        M("0.00"),
    )
    assert (sale.surplus, sale.shortfall) == (M("775.77"), M("0.00"))
    assert leasing.record_sale(p, lease_id, "13000", buyer="Used Machines Co", key="sale-1") == sale
    assert available(p, who["lessee"]) == M("775.77")
    assert p.loans.get(loan_id).state == "settled"
    a, b = received(p, loan_id, who["inv_a"]), received(p, loan_id, who["inv_b"])
    assert (a[0] + b[0], a[1] + b[1]) == (M("12000.00"), M("224.23"))
    lease = leasing.get_lease(p, lease_id)
    asset = leasing.get_asset(p, lease.asset_id)
    assert (lease.state, asset.state, asset.owner_id) == ("sold", "sold", sale.id)
    facts = disclosed(p)
    assert facts["repossessions"] == "1 (0 awaiting sale, 1 sold)"
    assert facts["repossession surplus to lessees"] == "775.77 CNY"
    assert p.verify().ok


def test_repossession_sale_short_of_the_payoff_leaves_the_lessee_owing(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p, who, lease_id, loan_id = repossessed(make_platform, clock)
    # 3000.00 pays rent 1 (120.00 + 1853.05) and of rent 2 its interest 101.47 and 925.48 of
    # its principal: 221.47 interest, 2778.53 principal; 12000 - 2778.53 = 9221.47 still owed
    sale = leasing.record_sale(p, lease_id, "3000", buyer="Scrap Co")
    assert (sale.interest, sale.principal, sale.surplus, sale.shortfall) == (
        M("221.47"),
        M("2778.53"),
        M("0.00"),
        M("9221.47"),
    )
    assert available(p, who["lessee"]) == M("0.00")
    loan = p.loans.get(loan_id)
    assert (loan.state, loan.outstanding_principal) == ("overdue", M("9221.47"))
    a, b = received(p, loan_id, who["inv_a"]), received(p, loan_id, who["inv_b"])
    assert (a[0] + b[0], a[1] + b[1]) == (M("2778.53"), M("221.47"))
    assert disclosed(p)["repossession shortfall"] == "9221.47 CNY"
    assert p.verify().ok


# -- refusals ----------------------------------------------------------------------------------------


def test_bad_input_is_refused_and_changes_nothing(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = open_platform(make_platform)
    who = parties(p)
    lease = file(p, who)  # EX-1 under a live lease
    asset = leasing.register_asset(p, "truck", "TR-9", "5000", who["supplier"])
    before = snapshot(db_url)

    def refused(error: type[LendkitError], match: str, **terms: Any) -> None:
        args: dict[str, Any] = {
            "asset_id": asset.id,
            "amount": "4000",
            "form": "direct",
            "supplier_id": who["supplier"],
            **terms,
        }
        with pytest.raises(error, match=match):
            leasing.file_lease(
                p,
                who["lessor_id"],
                who["lessee"],
                args.pop("asset_id"),
                args.pop("amount"),
                "10%",
                **args,
            )
        assert snapshot(db_url) == before

    refused(
        InvalidValue,
        "rent row 2: rent -100.00 CNY is negative",
        frequency="custom",
        rows=[(date(2026, 2, 1), "2000"), (date(2026, 3, 1), "-100"), date(2026, 4, 1)],
    )
    refused(InvalidValue, "residual value 5000.01 CNY is more than asset", residual="5000.01")
    refused(InvalidValue, "financed amount 5000.01 CNY is more than asset", amount="5000.01")
    refused(NotFound, "asset 'ast_nope' is not registered", asset_id="ast_nope")
    refused(
        InvalidState,
        f"serial 'EX-1' is already under live lease {lease.id}",
        asset_id=lease.asset_id,
    )
    refused(lendkit.InvalidSchedule, "principal", residual="4999", rents=1, amount="100")
    with pytest.raises(InvalidState, match="already registered as asset"):
        leasing.register_asset(p, "truck", "TR-9", "5000", who["supplier"])
    with pytest.raises(lendkit.ValidationRefused, match=r"leasing\.file_lease"):
        p.listings.apply(
            who["lessee"], "1000", annual_rate="10%", months=3, product="leasing", method="lease"
        )
    assert snapshot(db_url) == before
    assert p.verify().ok


def test_a_failed_listing_frees_the_serial_and_disclosure_counts_leases(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    who = parties(p)
    first = file(p, who)
    assert first.listing_id is not None
    p.listings.reject(first.listing_id, reason="documents missing")
    assert leasing.get_lease(p, first.id).state == "withdrawn"
    again = leasing.file_lease(
        p,
        who["lessor_id"],
        who["lessee"],
        first.asset_id,
        "9000",
        "12%",
        form="direct",
        supplier_id=who["supplier"],
    )
    assert leasing.get_asset(p, "EX-1").lease_id == again.id
    other = leasing.register_asset(p, "medical", "MRI-1", "8000", who["lessee"])
    second = leasing.file_lease(
        p, who["lessor_id"], who["lessee"], other.id, "8000", "12%", form="leaseback"
    )
    fund(p, who, second)
    facts = disclosed(p)
    assert facts["live leases"] == "2"
    assert facts["live leases direct"] == "1 (9000.00 CNY)"
    assert facts["live leases leaseback"] == "1 (8000.00 CNY)"
    assert facts["live leases of excavator"] == "1 (9000.00 CNY)"
    assert facts["live leases of medical"] == "1 (8000.00 CNY)"
    assert facts["outstanding rents (principal)"] == "8000.00 CNY"
    assert p.verify().ok


# -- the command contract ------------------------------------------------------------------------


def test_commands_take_keys_and_join_a_host_transaction(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = open_platform(make_platform)
    who = parties(p)
    asset = leasing.register_asset(p, "crane", "CR-1", "9000", who["supplier"], key="asset-1")
    again = leasing.register_asset(p, "crane", "CR-1", "9000", who["supplier"], key="asset-1")
    assert again == asset  # a repeat returns the first outcome: one asset
    with pytest.raises(lendkit.IdempotencyConflict):
        leasing.register_asset(p, "crane", "CR-1", "9500", who["supplier"], key="asset-1")
    before = snapshot(db_url)
    with p.engine.connect() as conn, conn.begin() as trans:
        view = p.using(conn)
        lease = leasing.file_lease(
            view, who["lessor_id"], who["lessee"], asset.id, "9000", "12%",
            form="direct", supplier_id=who["supplier"], key="lease-1",
        )  # fmt: skip
        assert leasing.get_asset(view, "CR-1").lease_id == lease.id
        trans.rollback()
    assert snapshot(db_url) == before  # the host rolled back: no lease, no listing, no serial
    with pytest.raises(NotFound):
        leasing.get_lease(p, lease.id)
    with p.engine.begin() as conn:
        kept = leasing.file_lease(
            p.using(conn), who["lessor_id"], who["lessee"], asset.id, "9000", "12%",
            form="direct", supplier_id=who["supplier"], key="lease-2",
        )  # fmt: skip
    assert leasing.get_lease(p, kept.id).state == "listed"
    assert p.verify().ok


def test_plugin_code_uses_no_facade() -> None:
    from pathlib import Path

    root = Path(leasing.__file__).parent
    for path in root.rglob("*.py"):
        source = path.read_text()
        assert ".using(" not in source, path
        assert "lendkit.services" not in source and "lendkit.store" not in source, path


def test_module_example_runs() -> None:
    import textwrap

    code = textwrap.dedent((leasing.__doc__ or "").split("Example::", 1)[1])
    exec(compile(code, "leasing-example", "exec"), {})


def test_settings_are_checked_when_the_platform_opens(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    with pytest.raises(lendkit.ConfigError, match="default_after_missed"):
        open_platform(make_platform, default_after_missed=0)
    p = open_platform(make_platform, default_after_missed=4)
    assert p.settings["leasing"] == leasing.Settings(default_after_missed=4)


def test_every_function_refuses_hostile_input_and_changes_nothing(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    from tests.plugins.test_plugin_inputs import SHORT_STRINGS, dump_all
    from tests.reliability.test_commands import HOSTILE

    p = open_platform(make_platform)
    who = parties(p)
    lease = file(p, who)
    free = leasing.register_asset(p, "truck", "TR-1", "5000", who["supplier"])
    lr, le, sup = who["lessor_id"], who["lessee"], who["supplier"]
    ls = leasing
    text, none, true = SHORT_STRINGS, {"None"}, {"True"}

    def lease_with(**change: Any) -> Any:
        args: dict[str, Any] = {
            "lessor_id": lr,
            "lessee_id": le,
            "asset_id": free.id,
            "amount": "4000",
            "annual_rate": "10%",
            "form": "direct",
            "supplier_id": sup,
            **change,
        }
        return ls.file_lease(p, **args)

    calls: list[tuple[str, Callable[[Any], Any], set[str]]] = [
        ("lessor name", lambda v: ls.register_lessor(p, v, "pty_ghost"), set()),
        ("lessor party", lambda v: ls.register_lessor(p, "L", v), set()),
        ("lessee party", lambda v: ls.register_lessee(p, v, "L"), set()),
        ("lessee name", lambda v: ls.register_lessee(p, le, v), set()),
        ("asset kind", lambda v: ls.register_asset(p, v, "EX-1", "1", sup), text),
        ("asset serial", lambda v: ls.register_asset(p, "k", v, "1", "pty_ghost"), set()),
        ("asset value", lambda v: ls.register_asset(p, "k", "S-2", v, sup), set()),
        ("asset owner", lambda v: ls.register_asset(p, "k", "S-2", "1", v), set()),
        (
            "asset description",
            lambda v: ls.register_asset(p, "k", "EX-1", "1", sup, description=v),
            text | none,
        ),
        ("lease lessor", lambda v: lease_with(lessor_id=v), set()),
        ("lease lessee", lambda v: lease_with(lessee_id=v), set()),
        ("lease asset", lambda v: lease_with(asset_id=v), set()),
        ("lease amount", lambda v: lease_with(amount=v), set()),
        ("lease rate", lambda v: lease_with(annual_rate=v), set()),
        ("lease form", lambda v: lease_with(form=v), set()),
        ("lease supplier", lambda v: lease_with(supplier_id=v), set()),
        ("lease frequency", lambda v: lease_with(frequency=v), set()),
        ("lease rents", lambda v: lease_with(rents=v), set()),
        ("lease residual", lambda v: lease_with(residual=v), {"'0'"}),
        ("lease rows", lambda v: lease_with(frequency="custom", rows=v), set()),
        ("lease buy_back", lambda v: lease_with(asset_id="ghost", buy_back=v), set()),
        ("lease window", lambda v: lease_with(window_days=v), set()),
        ("lease key", lambda v: lease_with(asset_id="ghost", key=v), none),
        ("buy_back id", lambda v: ls.buy_back(p, v), set()),
        ("sale id", lambda v: ls.record_sale(p, v, "100", buyer="B"), set()),
        ("sale price", lambda v: ls.record_sale(p, lease.id, v, buyer="B"), set()),
        ("sale buyer", lambda v: ls.record_sale(p, lease.id, "100", buyer=v), set()),
        ("get_lease", lambda v: ls.get_lease(p, v), set()),
        ("get_asset", lambda v: ls.get_asset(p, v), set()),
        ("ownership_of", lambda v: ls.ownership_of(p, v), set()),
        ("get_sale", lambda v: ls.get_sale(p, v), set()),
    ]
    before = dump_all(db_url)
    accepted, crashed = [], []
    for name, call, valid in calls:
        for value in HOSTILE:
            if repr(value) in valid or (name == "lease buy_back" and repr(value) in true):
                continue
            try:
                call(value)
            except lendkit.LendkitError:
                continue
            except Exception as exc:  # anything not refused cleanly
                crashed.append((name, repr(value)[:30], type(exc).__name__))
                continue
            accepted.append((name, repr(value)[:30]))
    assert crashed == []
    assert accepted == []
    assert dump_all(db_url) == before


def test_one_live_lease_per_serial_under_concurrency(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    p = open_platform(make_platform)
    who = parties(p)
    asset = leasing.register_asset(p, "crane", "CR-7", "9000", who["supplier"])
    start = threading.Barrier(4)

    def go(k: int) -> str:
        start.wait()
        try:
            lease = leasing.file_lease(
                p, who["lessor_id"], who["lessee"], asset.id, f"{8000 + k}", "12%",
                form="direct", supplier_id=who["supplier"],
            )  # fmt: skip
        except InvalidState as exc:
            assert "is already under live lease" in str(exc) or "concurrently" in str(exc)
            return "refused"
        return lease.id

    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(go, range(4)))
    winners = [d for d in done if d != "refused"]
    assert len(winners) == 1
    assert leasing.get_asset(p, "CR-7").lease_id == winners[0]
    assert p.verify().ok


def test_a_buy_back_the_lessor_cannot_pay_leaves_no_trace(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    """The refused attempt is the platform's first payment with a management fee: the revenue
    account it would have opened must not survive its rollback (nor be cached)."""
    config: dict[str, Any] = {
        "grace_days": 0,
        "penalty_daily_rate": "0",
        "service_fee_rate": "0",
        "management_fee_rate": "0.1",
        "plugins": {"leasing": {"default_after_missed": 2}},
    }
    p = make_platform(plugins=["leasing"], config=config)
    who = parties(p)
    lease_id, loan_id = six_rents(p, who, buy_back=True)
    p.custody.deposit(who["lessor"], "100")
    p.cob.run(date(2026, 3, 2), allow_future=True)
    assert leasing.get_lease(p, lease_id).state == "buyback_due"
    assert p.verify().ok
    with pytest.raises(lendkit.InsufficientFunds, match="cannot pay the buy-back"):
        leasing.buy_back(p, lease_id)
    p.custody.deposit(who["lessor"], "12200")
    p.cob.run(date(2026, 3, 3), allow_future=True)
    assert leasing.get_lease(p, lease_id).state == "bought_back"
    assert available(p, who["lessor"]) == M("12300.00") - M("12226.99")
    a, b = received(p, loan_id, who["inv_a"]), received(p, loan_id, who["inv_b"])
    fees = p.loans.position(loan_id, who["inv_a"]).fees_paid
    fees += p.loans.position(loan_id, who["inv_b"]).fees_paid
    # interest 226.99 split 136.19 / 90.80; the 10 % management fee 13.62 + 9.08 = 22.70 kept
    assert (a[1], b[1], fees) == (M("122.57"), M("81.72"), M("22.70"))
    assert p.verify().ok
