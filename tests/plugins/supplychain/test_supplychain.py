"""The supplychain plugin (供应链金融): core enterprises, receivable confirmation, one invoice one
listing, exposure caps (also under concurrency), repayment by the core enterprise, supplier
recourse, a guarantor behind the core enterprise in the waterfall, the stress view and the
disclosure -- on SQLite and PostgreSQL, exact to the cent, ``verify().ok`` after each."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

import lendkit
from lendkit import Money
from lendkit.core.errors import (
    ConfigError,
    InvalidState,
    LendkitError,
    LimitExceeded,
    NotFound,
    ValidationRefused,
)
from lendkit.core.records import LoanRecord
from lendkit.plugins import guarantee, supplychain
from lendkit.plugins.supplychain.tables import metadata as sc_metadata
from lendkit.store.db import create_nullpool_engine
from tests.conftest import FixedClock, dump, party

M = Money.of
TODAY = date(2026, 1, 1)  # the FixedClock's day
DUE = TODAY + timedelta(days=90)


def open_platform(
    make: Callable[..., lendkit.Platform], plugins: tuple[str, ...] = (), **sc: Any
) -> lendkit.Platform:
    config: dict[str, Any] = {"grace_days": 0, "plugins": {"supplychain": sc}}
    if "guarantee" in plugins:
        config["waterfall"] = ["guarantee"]
    return make(plugins=["online", "supplychain", *plugins], config=config)


def core(p: lendkit.Platform, name: str = "Core Motors", limit: str = "100000", **kw: Any) -> Any:
    return supplychain.register_core_enterprise(
        p, name, party(p, name), limit, kw.pop("industry", "automotive"), **kw
    )


def receivable_listing(
    p: lendkit.Platform,
    ce: Any,
    supplier: str,
    amount: str = "8000",
    invoice: str = "INV-1",
    face: str = "10000",
    *,
    confirm: bool = True,
    rate: str = "9%",
) -> tuple[str, Any]:
    listing = p.listings.apply(
        supplier, amount, annual_rate=rate, months=3, product="supplychain", method="receivable"
    )
    r = supplychain.submit_receivable(p, listing.id, supplier, ce.id, invoice, face, DUE)
    if confirm:
        r = supplychain.confirm_receivable(p, r.id, face, DUE, reference=f"doc {invoice}")
    return listing.id, r


def fund(p: lendkit.Platform, listing_id: str, shares: dict[str, str]) -> LoanRecord:
    p.listings.approve(listing_id, grade="A")
    p.listings.publish(listing_id)
    for investor, amount in shares.items():
        p.custody.deposit(investor, amount)
        p.bidding.bid(listing_id, investor, amount)
    return p.loans.disburse(listing_id)


def snapshot(url: str) -> list[Any]:
    """Every core and supplychain table's rows: compare to prove a refusal changed nothing."""
    engine = create_nullpool_engine(url)
    with engine.connect() as conn:
        own = [
            (t.name, sorted((tuple(r) for r in conn.execute(t.select())), key=repr))
            for t in sc_metadata.sorted_tables
        ]
    engine.dispose()
    return [dump(url), own]


def disclosed(p: lendkit.Platform) -> dict[str, str]:
    return {d.name: d.value for d in p.reports.disclosure() if d.plugin == "supplychain"}


# -- core enterprises, confirmation, duplicates ------------------------------------------------------


def test_confirmation_dispute_ratio_and_one_invoice_one_listing(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = open_platform(make_platform)
    ce = core(p, confirmation="written")
    supplier = party(p, "supplier")
    a, r = receivable_listing(p, ce, supplier, confirm=False)
    assert (r.state, r.stage, r.amount, r.due_date) == ("submitted", "none", M("10000.00"), DUE)

    # not confirmed: approval refused, listing still applied
    with pytest.raises(ValidationRefused, match="not confirmed"):
        p.listings.approve(a, grade="A")
    assert p.listings.get(a).state == "applied"
    # the core enterprise confirms other figures: refused; in writing without a reference: refused
    with pytest.raises(InvalidState, match="must agree"):
        supplychain.confirm_receivable(p, r.id, "9000", DUE, reference="doc-1")
    with pytest.raises(lendkit.InvalidValue, match="reference"):
        supplychain.confirm_receivable(p, r.id, "10000", DUE)
    r = supplychain.confirm_receivable(p, r.id, "10000.00", DUE, reference="doc-1")
    assert (r.state, r.reference) == ("confirmed", "doc-1")

    # the same invoice of the same core enterprise for another listing: refused naming the first,
    # nothing changed
    other = p.listings.apply(supplier, "100", annual_rate="9%", months=3, product="supplychain")
    before = snapshot(db_url)
    with pytest.raises(InvalidState, match=f"already finances listing {a}"):
        supplychain.submit_receivable(p, other.id, supplier, ce.id, "INV-1", "5000", DUE)
    assert snapshot(db_url) == before

    # more than 80 % of the receivable: refused at approval
    big, _ = receivable_listing(p, ce, supplier, amount="8000.01", invoice="INV-2")
    with pytest.raises(ValidationRefused, match=r"at most 8000\.00"):
        p.listings.approve(big, grade="A")

    # a disputed receivable: approval refused; a listing of the product without one too
    d, rd = receivable_listing(p, ce, supplier, amount="100", invoice="INV-3")
    supplychain.dispute_receivable(p, rd.id, "goods returned")
    with pytest.raises(ValidationRefused, match="disputed"):
        p.listings.approve(d, grade="A")
    with pytest.raises(ValidationRefused, match="finances no receivable"):
        p.listings.approve(other.id, grade="A")
    # a receivable financed by a listing of another product: refused at submission, nothing
    # changed (see test_a_listing_of_another_product_finances_no_receivable)
    plain = p.listings.apply(supplier, "100", annual_rate="9%", months=3)
    before = snapshot(db_url)
    with pytest.raises(lendkit.InvalidValue, match="of product 'online'"):
        supplychain.submit_receivable(p, plain.id, supplier, ce.id, "INV-4", "500", DUE)
    assert snapshot(db_url) == before

    p.listings.approve(a, grade="A")
    assert supplychain.get_core_enterprise(p, ce.id).used == M("8000.00")
    assert supplychain.receivable_of(p, a).stage == "committed"
    # disputed after approval: publication refused
    supplychain.dispute_receivable(p, r.id, "assigned to a factor")
    with pytest.raises(ValidationRefused, match="disputed"):
        p.listings.publish(a)
    # cancelled: the credit and the invoice are free again
    p.listings.cancel(a)
    assert supplychain.get_core_enterprise(p, ce.id).used == M(0)
    assert supplychain.receivable_of(p, a).stage == "released"
    again = supplychain.submit_receivable(p, other.id, supplier, ce.id, "INV-1", "5000", DUE)
    assert again.state == "submitted"
    # cancelling frees an invoice too
    supplychain.cancel_receivable(p, again.id)
    third = p.listings.apply(supplier, "100", annual_rate="9%", months=3, product="supplychain")
    supplychain.submit_receivable(p, third.id, supplier, ce.id, "INV-1", "5000", DUE)
    assert p.verify().ok


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (
            lambda p, ce, s, lid: supplychain.submit_receivable(
                p, "lst_nope", s, ce, "I", "1", DUE
            ),
            NotFound,
            "lst_nope",
        ),
        (
            lambda p, ce, s, lid: supplychain.submit_receivable(
                p, lid, s, "ce_nope", "I", "1", DUE
            ),
            NotFound,
            "ce_nope",
        ),
        (
            lambda p, ce, s, lid: supplychain.submit_receivable(p, lid, s, ce, "I", "-5", DUE),
            lendkit.InvalidValue,
            "more than zero",
        ),
        (
            lambda p, ce, s, lid: supplychain.submit_receivable(p, lid, s, ce, "I", 5.5, DUE),
            TypeError,
            "float",
        ),
        (
            lambda p, ce, s, lid: supplychain.submit_receivable(
                p, lid, s, ce, "I" * 10240, "5", DUE
            ),
            lendkit.InvalidValue,
            "10,240 characters",
        ),
        (
            lambda p, ce, s, lid: supplychain.submit_receivable(p, lid, s, ce, "I", "5", TODAY),
            lendkit.InvalidValue,
            "after today",
        ),
        (
            lambda p, ce, s, lid: supplychain.submit_receivable(p, lid, "pty_x", ce, "I", "5", DUE),
            NotFound,
            "pty_x",
        ),
        (
            lambda p, ce, s, lid: supplychain.register_core_enterprise(p, "X", s, 1000.0, "steel"),
            TypeError,
            "float",
        ),
        (
            lambda p, ce, s, lid: supplychain.register_core_enterprise(p, "X", s, "0", "steel"),
            lendkit.InvalidValue,
            "more than zero",
        ),
        (
            lambda p, ce, s, lid: supplychain.register_core_enterprise(
                p, "X", s, "1", "steel", confirmation="fax"
            ),
            lendkit.InvalidValue,
            "fax",
        ),
        (
            lambda p, ce, s, lid: supplychain.register_core_enterprise(p, "X", "pty_x", "1", "s"),
            NotFound,
            "pty_x",
        ),
        (
            lambda p, ce, s, lid: supplychain.confirm_receivable(p, "rcv_nope", "1", DUE),
            NotFound,
            "rcv_nope",
        ),
        (lambda p, ce, s, lid: supplychain.exposure(p, "ce_nope"), NotFound, "ce_nope"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    make_platform: Callable[..., lendkit.Platform],
    db_url: str,
    call: Callable[..., Any],
    error: type[Exception],
    fragment: str,
) -> None:
    p = open_platform(make_platform)
    ce = core(p)
    supplier = party(p, "supplier")
    listing = p.listings.apply(supplier, "100", annual_rate="9%", months=3, product="supplychain")
    before = snapshot(db_url)
    with pytest.raises(error, match=fragment) as refused:
        call(p, ce.id, supplier, listing.id)
    assert isinstance(refused.value, LendkitError)
    assert snapshot(db_url) == before


def test_a_listing_of_another_product_finances_no_receivable(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = open_platform(make_platform)
    ce = core(p)
    supplier = party(p, "supplier")
    listing = p.listings.apply(supplier, "100", annual_rate="9%", months=3)
    assert listing.product != "supplychain"
    before = snapshot(db_url)
    with pytest.raises(
        lendkit.InvalidValue,
        match=f"listing {listing.id} is of product {listing.product!r}: a receivable is financed"
        " by a 'supplychain' listing",
    ):
        supplychain.submit_receivable(p, listing.id, supplier, ce.id, "INV-1", "500", DUE)
    assert snapshot(db_url) == before
    with pytest.raises(NotFound, match="finances none"):
        supplychain.receivable_of(p, listing.id)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"financing_ratio": 0.8}, r"financing_ratio 0\.8 is a float"),
        ({"financing_ratio": "1.5"}, "financing_ratio 1.5 must be more than 0 and at most 1"),
        ({"industry_share": "0"}, "industry_share 0 must be more than 0 and at most 1"),
        ({"investor_cap": "-1"}, r"investor_cap -1 must be more than 0 \(or None: no cap\)"),
        ({"day_count": "ACT/999"}, "day_count 'ACT/999' is not allowed: choose one of 30/360"),
        ({"recourse_grace_days": 5000}, r"recourse_grace_days 5000 .* allowed 0\.\.3650"),
        ({"min_days": "1"}, "min_days '1' must be a whole number between 0 and 3650"),
        ({"nope": 1}, r"plugins\.supplychain has unknown keys \['nope'\]; allowed: financing_"),
    ],
    ids=["float", "ratio", "share", "cap", "day count", "grace", "text days", "unknown key"],
)
def test_bad_settings_are_refused_at_open(
    make_platform: Callable[..., lendkit.Platform], bad: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        open_platform(make_platform, **bad)


def test_settings_are_structured_at_open(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform, financing_ratio="0.9", investor_cap="50000", min_days=0)
    assert p.settings["supplychain"] == supplychain.Settings(
        financing_ratio=Decimal("0.9"), investor_cap=Decimal(50000), min_days=0
    )
    assert open_platform(make_platform).settings["supplychain"] == supplychain.Settings()


# -- caps ----------------------------------------------------------------------------------------------


def test_credit_limit_counts_from_approval_and_is_released(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    ce = core(p, limit="10000")
    supplier = party(p, "supplier")
    a, _ = receivable_listing(p, ce, supplier, "6000", "A")
    b, _ = receivable_listing(p, ce, supplier, "4000", "B", "5000")
    c, _ = receivable_listing(p, ce, supplier, "0.01", "C")
    p.listings.approve(a, grade="A")
    p.listings.approve(b, grade="A")  # exactly at the limit
    assert supplychain.get_core_enterprise(p, ce.id).available == M(0)
    with pytest.raises(ValidationRefused, match=r"exceeds its credit limit 10000\.00 CNY"):
        p.listings.approve(c, grade="A")
    p.listings.publish(b)
    p.listings.close(b)  # no bids: fails (流标) and releases 4000
    assert p.listings.get(b).state == "failed"
    assert supplychain.get_core_enterprise(p, ce.id).used == M("6000.00")
    p.listings.approve(c, grade="A")
    assert supplychain.get_core_enterprise(p, ce.id).used == M("6000.01")
    assert p.verify().ok


def test_industry_share_of_the_platform_outstanding(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, industry_share="0.5")
    steel, cars = core(p, "Steel", industry="steel"), core(p, "Cars", industry="automotive")
    supplier, investor = party(p, "supplier"), party(p, "investor")
    # an online loan of 4000 is outstanding: steel may have half of 4000 + its own listing
    online = p.listings.apply(supplier, "4000", annual_rate="9%", months=3)
    fund(p, online.id, {investor: "4000"})
    big, _ = receivable_listing(p, steel, supplier, "4000.01", "S1", "6000")
    with pytest.raises(ValidationRefused, match=r"more than its cap of 50\.00%"):
        p.listings.approve(big, grade="A")
    ok, _ = receivable_listing(p, steel, supplier, "4000", "S2", "6000")
    p.listings.approve(ok, grade="A")  # 4000 of 8000: exactly half
    more, _ = receivable_listing(p, steel, supplier, "1", "S3")
    with pytest.raises(ValidationRefused, match="industry 'steel'"):
        p.listings.approve(more, grade="A")
    other, _ = receivable_listing(p, cars, supplier, "1", "C1")
    p.listings.approve(other, grade="A")  # another industry is within its share
    assert p.verify().ok


def test_investor_cap_counts_open_bids_and_frees_released_ones(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, investor_cap="5000")
    ce = core(p)
    supplier, investor = party(p, "supplier"), party(p, "investor", "20000")
    a, _ = receivable_listing(p, ce, supplier, "4000", "A")
    b, _ = receivable_listing(p, ce, supplier, "4000", "B")
    for lid in (a, b):
        p.listings.approve(lid, grade="A")
        p.listings.publish(lid)
    p.bidding.bid(a, investor, "3000")
    p.bidding.bid(b, investor, "2000")  # 5000: at the cap, counting open bids
    with pytest.raises(ValidationRefused, match=r"cap of 5000\.00 CNY"):
        p.bidding.bid(b, investor, "0.01")
    p.listings.close(b)  # fails: the 2000 bid is released
    p.bidding.bid(a, investor, "1000")  # a second bid on the same listing fills it
    assert supplychain.exposure(p, ce.id).investors == (
        supplychain.InvestorExposure(investor, M("4000.00")),
    )
    loan = p.loans.disburse(a)  # two positions, one investor: 4000.00 on the core enterprise
    assert supplychain.exposure(p, ce.id).loans[0].investors == (
        supplychain.InvestorExposure(investor, M("4000.00")),
    )
    c, _ = receivable_listing(p, ce, supplier, "4000", "C")
    p.listings.approve(c, grade="A")
    p.listings.publish(c)
    with pytest.raises(ValidationRefused, match=r"at most 1000\.00 CNY more"):
        p.bidding.bid(c, investor, "1000.01")
    assert p.loans.get(loan.id).outstanding_principal == M("4000.00")
    assert p.verify().ok


class Gate:
    """Holds every racing approval or bid after lendkit's own checks and before the plugin's,
    until all have arrived (PostgreSQL: its transactions overlap; SQLite serializes writers, so
    there the gate stays open): without the plugin's lock and guarded update they would all
    pass."""

    lendkit_plugin_name = "gate"

    def __init__(self) -> None:
        self.barrier: threading.Barrier | None = None

    def wait(self) -> None:
        if self.barrier is not None:
            with contextlib.suppress(threading.BrokenBarrierError):
                self.barrier.wait(timeout=10)

    @lendkit.hookimpl
    def lendkit_validate_listing(self, listing: Any) -> list[str]:
        if listing.state == "approved":
            self.wait()
        return []

    @lendkit.hookimpl
    def lendkit_validate_bid(self) -> list[str]:
        self.wait()
        return []


@pytest.mark.parametrize("what", ["approvals", "bids"])
def test_caps_hold_under_concurrency(
    make_platform: Callable[..., lendkit.Platform], db_url: str, what: str
) -> None:
    gate = Gate()
    p = make_platform(
        plugins=["online", "supplychain", gate],
        config={"plugins": {"supplychain": {"investor_cap": "3000"}}},
    )
    ce = core(p, limit="5000" if what == "approvals" else "100000")
    investor = party(p, "investor", "10000")
    suppliers = [party(p, f"supplier {i}") for i in range(8)]  # no shared borrower row lock
    listings = [receivable_listing(p, ce, s, "1000", f"I-{s}")[0] for s in suppliers]
    if what == "bids":
        for lid in listings:
            p.listings.approve(lid, grade="A")
            p.listings.publish(lid)
    start = threading.Barrier(len(listings))
    if db_url.startswith("postgresql"):
        gate.barrier = threading.Barrier(len(listings))

    def go(lid: str) -> bool:
        start.wait()
        try:
            if what == "approvals":
                p.listings.approve(lid, grade="A")
            else:
                p.bidding.bid(lid, investor, "1000")
        except (LimitExceeded, ValidationRefused):
            return False
        return True

    with ThreadPoolExecutor(len(listings)) as pool:
        done = list(pool.map(go, listings))
    gate.barrier = None
    if what == "approvals":
        assert done.count(True) == 5
        assert supplychain.get_core_enterprise(p, ce.id).used == M("5000.00")
    else:
        assert done.count(True) == 3
        assert p.custody.balance(investor).frozen == M("3000.00")
        assert supplychain.exposure(p, ce.id).investors[0].amount == M("3000.00")
    assert p.verify().ok


# -- repayment -----------------------------------------------------------------------------------------


def test_core_enterprise_pays_on_the_due_date_investors_to_the_cent(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    ce = core(p)
    supplier = party(p, "supplier")
    investors = [party(p, f"investor {i}") for i in range(3)]
    lid, _ = receivable_listing(p, ce, supplier, "1000", rate="10%")
    loan = fund(p, lid, dict(zip(investors, ["333.33", "333.33", "333.34"], strict=True)))
    (row,) = p.loans.schedule(loan.id).installments
    # one payment on the due date: 1000 x 10 % x 90 / 360 = 25.00
    assert (row.due_date, row.principal, row.interest) == (DUE, M("1000.00"), M("25.00"))
    assert supplychain.receivable_of(p, loan.id).stage == "active"
    supplier_before = p.custody.balance(supplier).available
    p.custody.deposit(ce.party_id, "1025")
    p.cob.run(DUE, allow_future=True)
    assert p.custody.balance(ce.party_id).available == M(0)
    assert p.custody.balance(supplier).available == supplier_before  # not touched
    assert p.loans.get(loan.id).state == "settled"
    got = [p.loans.position(loan.id, i) for i in investors]
    assert [x.received_principal for x in got] == [M("333.33"), M("333.33"), M("333.34")]
    # 25.00 interest less the 10 % management fee: 22.50, split by largest remainder
    assert sum((x.received_interest for x in got), M(0)) == M("22.50")
    assert sorted(x.received_interest for x in got) == [M("7.50"), M("7.50"), M("7.50")]
    assert supplychain.get_core_enterprise(p, ce.id).used == M(0)
    assert supplychain.exposure(p, ce.id).loans == ()
    assert p.verify().ok


def test_core_enterprise_pays_early_at_accrued_interest(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    ce = core(p)
    supplier, investor = party(p, "supplier"), party(p, "investor")
    lid, _ = receivable_listing(p, ce, supplier, "1000", rate="10%")
    loan = fund(p, lid, {investor: "1000"})
    p.custody.deposit(ce.party_id, "2000")
    clock.now += timedelta(days=30)
    paid = supplychain.pay_early(p, loan.id, key="early-1")
    # 30 days of 10 % on 1000.00: 8.33 (HALF_UP), not the 25.00 due at maturity
    assert (paid.principal, paid.interest) == (M("1000.00"), M("8.33"))
    assert p.custody.balance(ce.party_id).available == M("991.67")
    assert supplychain.pay_early(p, loan.id, key="early-1") == paid  # a repeat: one effect
    assert p.loans.get(loan.id).state == "settled"
    pos = p.loans.position(loan.id, investor)
    assert (pos.received_principal, pos.received_interest) == (M("1000.00"), M("7.50"))
    assert supplychain.get_core_enterprise(p, ce.id).used == M(0)
    assert supplychain.receivable_of(p, loan.id).stage == "closed"
    with pytest.raises(InvalidState):
        supplychain.pay_early(p, loan.id)
    assert p.verify().ok


def test_core_enterprise_pays_late_with_penalty(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, recourse_grace_days=3)
    ce = core(p)
    supplier, investor = party(p, "supplier"), party(p, "investor")
    late, _ = receivable_listing(p, ce, supplier, "1000", "LATE", rate="10%")
    loan = fund(p, late, {investor: "1000"})
    p.cob.run(DUE + timedelta(days=1), allow_future=True)  # the core enterprise has nothing
    assert p.loans.get(loan.id).state == "overdue"
    assert supplychain.receivable_of(p, loan.id).overdue
    assert disclosed(p)["overdue loans"] == "1 (1000.00 CNY)"
    p.custody.deposit(ce.party_id, "2000")
    p.cob.run(DUE + timedelta(days=2), allow_future=True)  # late by 2 days: pays with penalty
    # lendkit's penalty on the overdue 1025.00 at 0.05 % a day, 1 day accrued: 0.51 (HALF_UP)
    assert p.custody.balance(ce.party_id).available == M("2000") - M("1025.00") - M("0.51")
    assert p.loans.get(loan.id).state == "settled"
    assert p.loans.position(loan.id, investor).received_penalty == M("0.51")
    assert disclosed(p)["overdue loans"] == "0 (0.00 CNY)"
    assert p.verify().ok


def test_supplier_is_recourse_payer_after_the_grace(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, recourse_grace_days=3)
    ce = core(p)
    supplier, investor = party(p, "supplier"), party(p, "investor")
    lid, _ = receivable_listing(p, ce, supplier, "1000", rate="10%")
    loan = fund(p, lid, {investor: "1000"})
    has = p.custody.balance(supplier).available  # the proceeds: 1000 less the 1 % fee
    assert has == M("990.00")
    p.custody.deposit(supplier, "100")
    p.cob.run(DUE + timedelta(days=3), allow_future=True)  # within the grace: core only
    assert p.custody.balance(supplier).available == M("1090.00")
    p.cob.run(DUE + timedelta(days=4), allow_future=True)  # the supplier pays, with penalty
    # lendkit's penalty on the overdue 1025.00 at 0.05 % a day, 3 days accrued: 1.54 (HALF_UP)
    assert p.custody.balance(supplier).available == M("1090.00") - M("1026.54")
    assert p.custody.balance(ce.party_id).available == M(0)
    assert p.loans.get(loan.id).state == "settled"
    assert p.loans.position(loan.id, investor).received_principal == M("1000.00")
    assert p.verify().ok


def test_core_enterprise_fails_guarantor_behind_it_pays_in_the_waterfall(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, plugins=("guarantee",), recourse_grace_days=30)
    ce = core(p)
    supplier, investor = party(p, "supplier"), party(p, "investor")
    company = party(p, "Guarantee Co", "5000")
    g = guarantee.register_guarantor(p, "Guarantee Co", company, capital="1000", fee_rate="0")
    guarantee.fund_deposit(p, g.id, "1000")
    lid, _ = receivable_listing(p, ce, supplier, "1000", rate="10%")
    guarantee.guarantee_listing(p, lid, g.id)
    loan = fund(p, lid, {investor: "1000"})
    p.custody.withdraw(supplier, p.custody.balance(supplier).available)
    p.cob.run(DUE + timedelta(days=1), allow_future=True)  # core fails: the guarantor pays
    pos = p.loans.position(loan.id, investor)
    assert pos.received_principal == M("1000.00")
    assert pos.received_interest == M("22.50")  # 25.00 less the 10 % management fee
    assert guarantee.compensations(p)[0].amount == M("1025.00")
    assert supplychain.exposure(p, ce.id).total == M("1000.00")  # still owed by the chain
    assert p.verify().ok


# -- stress view and disclosure ------------------------------------------------------------------


def test_exposure_and_disclosure(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform)
    ce, other = core(p), core(p, "Steel Co", industry="steel")
    s1, s2 = party(p, "supplier 1"), party(p, "supplier 2")
    i1, i2 = party(p, "investor 1"), party(p, "investor 2")
    a, _ = receivable_listing(p, ce, s1, "3000", "A")
    loan = fund(p, a, {i1: "2000", i2: "1000"})
    b, _ = receivable_listing(p, ce, s2, "1500", "B")
    p.listings.approve(b, grade="A")
    p.listings.publish(b)
    p.custody.deposit(i2, "500")
    p.bidding.bid(b, i2, "500")  # open bid: counts
    c, _ = receivable_listing(p, other, s2, "1000", "C")
    fund(p, c, {i1: "1000"})

    stress = supplychain.exposure(p, ce.id)
    assert stress.total == M("4500.00")
    assert [(x.listing_id, x.loan_id, x.amount) for x in stress.loans] == [
        (a, loan.id, M("3000.00")),
        (b, None, M("1500.00")),
    ]
    assert stress.loans[1].investors == (supplychain.InvestorExposure(i2, M("500.00")),)
    assert stress.investors == (
        supplychain.InvestorExposure(i1, M("2000.00")),
        supplychain.InvestorExposure(i2, M("1500.00")),
    )
    d = disclosed(p)
    assert d["outstanding"] == "4000.00 CNY"
    assert d[f"Core Motors ({ce.id}) outstanding"] == "3000.00 CNY"
    assert d[f"Core Motors ({ce.id}) committed"] == "1500.00 CNY"
    assert d[f"Core Motors ({ce.id}) stress"].startswith("2 loans, 2 investors, 4500.00 CNY")
    assert d[f"Core Motors ({ce.id}) stress {loan.id}"] == (
        f"3000.00 CNY (active, supplier {s1}, due {DUE}): {i1} 2000.00 CNY, {i2} 1000.00 CNY"
    )
    assert d[f"Core Motors ({ce.id}) stress {b}"] == (
        f"1500.00 CNY (committed, supplier {s2}, due {DUE}): {i2} 500.00 CNY"
    )
    assert d["industry automotive outstanding"] == "3000.00 CNY (75.00%)"
    assert d["industry steel outstanding"] == "1000.00 CNY (25.00%)"
    assert d["top-10 concentration"] == "100.00%"
    assert d["overdue loans"] == "0 (0.00 CNY)"
    assert p.verify().ok


def test_plugin_code_uses_no_facade() -> None:
    from pathlib import Path

    root = Path(supplychain.__file__).parent
    for path in root.rglob("*.py"):
        source = path.read_text()
        assert ".using(" not in source, path
        assert "lendkit.services" not in source and "lendkit.store" not in source, path


def test_module_example_runs() -> None:
    import textwrap

    code = textwrap.dedent((supplychain.__doc__ or "").split("Example::", 1)[1])
    exec(compile(code, "supplychain-example", "exec"), {})


def test_commands_take_an_idempotency_key(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform)
    who = party(p, "core")
    first = supplychain.register_core_enterprise(p, "Core", who, "1000", "steel", key="reg-1")
    again = supplychain.register_core_enterprise(p, "Core", who, "1000", "steel", key="reg-1")
    assert again == first and len(supplychain.core_enterprises_of(p)) == 1
    with pytest.raises(lendkit.IdempotencyConflict):
        supplychain.register_core_enterprise(p, "Core", who, "2000", "steel", key="reg-1")


def test_every_function_refuses_hostile_input_and_changes_nothing(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    from tests.plugins.test_plugin_inputs import SHORT_STRINGS, dump_all
    from tests.reliability.test_commands import HOSTILE

    p = open_platform(make_platform)
    ce = core(p)
    s = party(p, "supplier")
    lid, r = receivable_listing(p, ce, s, confirm=False)
    sc = supplychain
    text, none = SHORT_STRINGS, {"None"}
    calls: list[tuple[str, Callable[[Any], Any], set[str]]] = [
        ("register name", lambda v: sc.register_core_enterprise(p, v, s, "1", "x"), text),
        ("register party", lambda v: sc.register_core_enterprise(p, "n", v, "1", "x"), set()),
        ("register limit", lambda v: sc.register_core_enterprise(p, "n", s, v, "x"), set()),
        ("register industry", lambda v: sc.register_core_enterprise(p, "n", s, "1", v), text),
        (
            "register confirmation",
            lambda v: sc.register_core_enterprise(p, "n", s, "1", "x", confirmation=v),
            set(),
        ),
        (
            "register key",  # a valid key reaches the unknown party: NotFound, nothing recorded
            lambda v: sc.register_core_enterprise(p, "n", "pty_ghost", "1", "x", key=v),
            none,
        ),
        ("submit listing", lambda v: sc.submit_receivable(p, v, s, ce.id, "N", "1", DUE), text),
        ("submit supplier", lambda v: sc.submit_receivable(p, "l", v, ce.id, "N", "1", DUE), set()),
        ("submit core", lambda v: sc.submit_receivable(p, "l", s, v, "N", "1", DUE), set()),
        ("submit invoice", lambda v: sc.submit_receivable(p, "l", s, ce.id, v, "1", DUE), text),
        ("submit amount", lambda v: sc.submit_receivable(p, "l", s, ce.id, "N", v, DUE), set()),
        ("submit due", lambda v: sc.submit_receivable(p, "l", s, ce.id, "N", "1", v), set()),
        ("confirm id", lambda v: sc.confirm_receivable(p, v, "10000", DUE), set()),
        ("confirm amount", lambda v: sc.confirm_receivable(p, r.id, v, DUE), set()),
        ("confirm due", lambda v: sc.confirm_receivable(p, r.id, "10000", v), set()),
        ("dispute id", lambda v: sc.dispute_receivable(p, v, "why"), set()),
        ("dispute reason", lambda v: sc.dispute_receivable(p, r.id, v), text),
        ("cancel id", lambda v: sc.cancel_receivable(p, v), set()),
        ("pay_early id", lambda v: sc.pay_early(p, v), set()),
        ("exposure id", lambda v: sc.exposure(p, v), set()),
        ("get id", lambda v: sc.get_core_enterprise(p, v), set()),
        ("receivable_of id", lambda v: sc.receivable_of(p, v), set()),
    ]
    before = dump_all(db_url)
    accepted, crashed = [], []
    for name, call, valid in calls:
        for value in HOSTILE:
            if repr(value) in valid:
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
    assert lid
