"""The bills plugin: registration, verification, the platform-wide bill number (clones refused,
also racing; a paid or withdrawn number retained), discount pricing with face value to each
investor to the cent, the acceptor paying at maturity or late with the bill's penalty, the
drawer's recourse after the grace, and disclosure. Every scenario runs on SQLite and PostgreSQL
and ends with a verified ledger."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine

import lendkit
from lendkit import Money
from lendkit.plugins import bills, reserve
from lendkit.plugins.bills.tables import metadata as bills_metadata
from lendkit.store.db import create_nullpool_engine
from tests.conftest import FixedClock, dump, party

START = date(2026, 1, 1)
MATURITY = date(2026, 4, 1)  # 90 days after START (ACT/360)
M = Money.of
NO_FEES = {"service_fee_rate": "0", "management_fee_rate": "0", "grace_days": 0}


def open_platform(
    make_platform: Callable[..., lendkit.Platform], plugins: tuple[str, ...] = (), **cfg: Any
) -> lendkit.Platform:
    return make_platform(
        plugins=["online", "bills", *plugins],
        config={**NO_FEES, "plugins": {"bills": cfg}},
    )


def everything(p: lendkit.Platform) -> list[Any]:
    """Every row of lendkit's and the plugin's tables: equal before and after = nothing changed."""
    url = p.engine.url.render_as_string(hide_password=False)
    engine = create_engine(url) if "sqlite" in url else create_nullpool_engine(url)
    out: list[Any] = []
    with engine.connect() as conn:
        for table in bills_metadata.sorted_tables:
            out.append(sorted((tuple(r) for r in conn.execute(table.select())), key=repr))
    engine.dispose()
    return [*dump(url), *out]


def disclosed(p: lendkit.Platform) -> dict[str, str]:
    return {d.name: d.value for d in p.reports.disclosure() if d.plugin == "bills"}


def new_bill(
    p: lendkit.Platform,
    drawer: str,
    bank: str,
    number: str = "3102-0051-0001",
    face: str = "100000",
    maturity: date = MATURITY,
    verify: bool = True,
    **kw: Any,
) -> bills.Bill:
    bill = bills.register_bill(p, number, face, drawer, bank, date(2025, 12, 1), maturity, **kw)
    return bills.verify_bill(p, bill.id, staff="alice") if verify else bill


def fund(p: lendkit.Platform, listing_id: str, *bids: tuple[str, str]) -> lendkit.LoanRecord:
    p.listings.approve(listing_id, grade="A")
    p.listings.publish(listing_id)
    for investor, amount in bids:
        p.bidding.bid(listing_id, investor, amount)
    return p.loans.disburse(listing_id)


def available(p: lendkit.Platform, who: str) -> Money:
    return p.custody.balance(who).available


# -- registration, verification, clones -------------------------------------------------------


def test_unverified_bill_is_refused_until_staff_verify_it(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    drawer, bank = party(p, "drawer"), party(p, "bank")
    bill = new_bill(p, drawer, bank, verify=False, endorsements=["Acme Co", "Beta Ltd"])
    assert bill.number == "310200510001" and bill.state == "registered"
    assert bill.endorsements == ("Acme Co", "Beta Ltd") and bill.penalty_rate == Decimal("0.0005")
    before = everything(p)
    with pytest.raises(lendkit.InvalidState, match="310200510001 is not verified"):
        bills.apply_with_bill(p, bill.id, "3.6%")
    assert everything(p) == before
    bills.verify_bill(p, bill.id, staff="alice")
    listed = bills.apply_with_bill(p, bill.id, "3.6%")
    assert listed.verified_by == "alice" and listed.state == "listed"
    listing = p.listings.get(listed.listing_id)
    assert (listing.product, listing.method, listing.amount) == (
        "bill",
        "discount-bullet",
        M("99100"),
    )
    assert listing.borrower_id == drawer and listing.annual_rate == Decimal("0.036")
    assert bills.get_bill(p, listing.id) == listed
    assert p.verify().ok


def test_registry_decides_and_is_asked_again_at_approval_and_publish(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    refused: dict[str, str] = {}

    class Registry:
        def check_bill(self, bill: bills.Bill) -> str | None:
            return refused.get(bill.number)

    p = open_platform(make_platform, registry=Registry())
    drawer, bank = party(p, "drawer"), party(p, "bank")
    bill = new_bill(p, drawer, bank, verify=False)  # the registry confirms: no staff needed
    listed = bills.apply_with_bill(p, bill.id, "3.6%")
    refused[bill.number] = "revoked by the acceptor"
    with pytest.raises(lendkit.ValidationRefused, match="revoked by the acceptor"):
        p.listings.approve(listed.listing_id, grade="A")
    del refused[bill.number]
    p.listings.approve(listed.listing_id, grade="A")
    bills.mark_pledged(p, bill.id, "Bank of Elsewhere")
    with pytest.raises(lendkit.ValidationRefused, match="already pledged to Bank of Elsewhere"):
        p.listings.publish(listed.listing_id)
    assert p.listings.get(listed.listing_id).state == "approved"
    assert p.verify().ok


def test_maturity_too_close_and_pledged_bills_are_refused(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, min_days_to_maturity=10)
    drawer, bank = party(p, "drawer"), party(p, "bank")
    close = new_bill(p, drawer, bank, "N1", maturity=START + timedelta(days=9))
    pledged = new_bill(p, drawer, bank, "N2")
    bills.mark_pledged(p, pledged.id, "Bank X")
    before = everything(p)
    with pytest.raises(lendkit.InvalidState, match=r"9 days from 2026-01-01.*at least 10 days"):
        bills.apply_with_bill(p, close.id, "3%")
    with pytest.raises(lendkit.InvalidState, match="already pledged to Bank X"):
        bills.apply_with_bill(p, pledged.id, "3%")
    assert everything(p) == before
    ok = new_bill(p, drawer, bank, "N3", maturity=START + timedelta(days=10))
    assert bills.apply_with_bill(p, ok.id, "3%").state == "listed"
    # a bill listing filed around the plugin is refused: only apply_with_bill claims the number
    with pytest.raises(lendkit.ValidationRefused, match=r"bills\.apply_with_bill"):
        p.listings.apply(drawer, "1000", "3%", months=1, method="discount-bullet", product="bill")
    assert p.verify().ok


def test_clone_is_refused_naming_the_first_listing_and_nothing_changes(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform, number_retention_days=30)
    drawer, bank, other = party(p, "drawer"), party(p, "bank"), party(p, "other drawer")
    first = new_bill(p, drawer, bank, "3102 0051 0001")
    twin = new_bill(p, other, bank, "310200510001")  # registered before any listing: allowed
    listed = bills.apply_with_bill(p, first.id, "3.6%")
    before = everything(p)
    with pytest.raises(lendkit.InvalidState, match="is a clone") as refused:
        bills.apply_with_bill(p, twin.id, "3.6%")
    assert listed.listing_id in str(refused.value)
    with pytest.raises(lendkit.InvalidState, match="is a clone") as refused:
        bills.register_bill(p, "3102-0051-0001", "5", other, bank, START, MATURITY)
    assert listed.listing_id in str(refused.value)
    assert everything(p) == before
    # withdrawn: the number stays taken for 30 days, then may be listed again
    p.listings.reject(listed.listing_id, "forged seal")
    assert bills.get_bill(p, first.id).state == "withdrawn"
    with pytest.raises(lendkit.InvalidState, match="stays taken until 2026-01-31"):
        bills.apply_with_bill(p, twin.id, "3.6%")
    clock.set(datetime(2026, 2, 1, 9, tzinfo=UTC))
    again = bills.apply_with_bill(p, twin.id, "3.6%")
    assert again.state == "listed" and again.pricing is not None
    assert again.pricing.days == 59 and again.pricing.price == M(
        "99410.00"
    )  # 100000 x 3.6% x 59/360 = 590
    assert p.verify().ok


def test_racing_listings_of_one_number_only_one_wins(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    bank = party(p, "bank")
    for round_ in range(2):
        drawers = [party(p, f"d{round_}{k}") for k in range(2)]
        twins = [new_bill(p, d, bank, f"RACE{round_}") for d in drawers]
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        def race(bill_id: str) -> None:
            barrier.wait()
            try:
                outcomes.append(bills.apply_with_bill(p, bill_id, "3%"))
            except lendkit.InvalidState as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=race, args=(t.id,)) for t in twins]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [o for o in outcomes if isinstance(o, bills.Bill)]
        lost = [o for o in outcomes if isinstance(o, lendkit.InvalidState)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert "is a clone" in str(lost[0])
        assert [bills.get_bill(p, t.id).state for t in twins].count("listed") == 1
    assert p.verify().ok


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"penalty_daily_rate": 0.01}, r"penalty_daily_rate 0\.01 .*float"),
        ({"penalty_daily_rate": "1"}, r"penalty_daily_rate 1 must be a daily rate in \[0, 1\)"),
        ({"basis": "ACT/366"}, r"basis: unknown day-count basis 'ACT/366': allowed .*ACT/360"),
        ({"grace": 3}, r"plugins\.bills has unknown keys \['grace'\]; allowed: basis, "),
        ({"registry": "not callable"}, "registry must have check_bill.* got str"),
        ({"min_days_to_maturity": -1}, r"min_days_to_maturity -1 is out of range: allowed 0\.\."),
        ({"recourse_grace_days": True}, "recourse_grace_days True must be a whole number"),
        ({"number_retention_days": "180"}, "number_retention_days '180' must be a whole number"),
    ],
    ids=["float", "rate 1", "basis", "unknown key", "registry", "days", "bool", "text days"],
)
def test_bad_settings_are_refused_at_open(
    make_platform: Callable[..., lendkit.Platform], cfg: dict[str, Any], message: str
) -> None:
    with pytest.raises(lendkit.ConfigError, match=message):
        open_platform(make_platform, **cfg)


def test_settings_are_structured_at_open(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform, basis="act/365", penalty_daily_rate="0.001")
    assert p.settings["bills"] == bills.BillSettings("ACT/365", penalty_daily_rate="0.001")
    assert p.settings["bills"].penalty_daily_rate == Decimal("0.001")
    assert open_platform(make_platform).settings["bills"] == bills.BillSettings()


@pytest.mark.parametrize(
    ("args", "error", "fragment"),
    [
        (("N1", "-100"), lendkit.InvalidAmount, "must be more than zero"),
        (("N1", 100.5), TypeError, "float"),
        (("N" * 10_000, "100"), lendkit.InvalidValue, "10,000 characters"),
        (("N1", "100", "nobody"), lendkit.NotFound, "acceptor bank 'nobody'"),
        (("N1", "100", None, MATURITY, START), lendkit.InvalidValue, "must be after the issue"),
    ],
    ids=["negative face", "float", "10 kB number", "unknown acceptor", "maturity before issue"],
)
def test_bad_input_is_refused_and_nothing_changes(
    make_platform: Callable[..., lendkit.Platform],
    args: tuple[Any, ...],
    error: type[Exception],
    fragment: str,
) -> None:
    p = open_platform(make_platform)
    drawer, bank = party(p, "drawer"), party(p, "bank")
    number, face, acceptor, issued, due = (*args, None, None, None)[:5]
    before = everything(p)
    with pytest.raises(error, match=fragment) as refused:
        bills.register_bill(
            p, number, face, drawer, acceptor or bank, issued or START, due or MATURITY
        )
    assert isinstance(refused.value, lendkit.LendkitError)
    with pytest.raises(lendkit.InvalidValue):
        bills.apply_with_bill(p, "bill_x", 0.036)
    assert everything(p) == before
    assert p.verify().ok


# -- pricing, maturity, overdue, recourse --------------------------------------------------------


def test_investors_pay_the_price_and_receive_face_at_maturity_to_the_cent(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    drawer, bank = party(p, "drawer"), party(p, "bank")
    i1, i2, i3 = (party(p, f"i{k}", "50000") for k in range(3))
    bill = new_bill(p, drawer, bank)
    listed = bills.apply_with_bill(p, bill.id, "3.6%")
    pricing = listed.pricing
    assert pricing is not None
    # discount = 100000 x 3.6% x 90 / 360 = 900.00; yield = 900 / 99100 x 360 / 90 = 3.6327 %
    assert (pricing.price, pricing.discount, pricing.days) == (M("99100"), M("900"), 90)
    assert pricing.investor_yield == Decimal("0.0363")
    assert bills.quote(p, bill.id, "3.6%") == pricing
    bids = [(i1, "33333.33"), (i2, "33333.33"), (i3, "32433.34")]
    loan = fund(p, listed.listing_id, *bids)
    assert available(p, drawer) == M("99100")
    assert bills.get_bill(p, bill.id).state == "funded"
    assert disclosed(p)[f"outstanding with acceptor {bank}"] == "1 bills, 100000.00 CNY"
    p.custody.deposit(bank, "100000")
    p.cob.run(MATURITY, allow_future=True)
    assert p.loans.get(loan.id).state == "settled"
    shares = bills.face_shares(pricing, [M(a) for _, a in bids])
    # discount quotas 302.7245, 302.7245, 294.5510: floors 302.72 + 302.72 + 294.55 leave one
    # cent, to the largest remainder (a tie: the larger weight, then the earlier bid)
    assert shares == [M("33636.06"), M("33636.05"), M("32727.89")]
    for (investor, paid), share in zip(bids, shares, strict=True):
        assert available(p, investor) == M("50000") - M(paid) + share
    assert available(p, bank) == M("0")
    paid_bill = bills.get_bill(p, bill.id)
    assert paid_bill.state == "paid"
    assert disclosed(p)["bills outstanding"] == "0"
    assert p.verify().ok


def test_acceptor_late_then_paying_with_the_bills_penalty(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, recourse_grace_days=5)
    drawer, bank, investor = party(p, "drawer"), party(p, "bank"), party(p, "i", "100000")
    bill = new_bill(p, drawer, bank, penalty_rate="0.001")
    loan = fund(p, bills.apply_with_bill(p, bill.id, "3.6%").listing_id, (investor, "99100"))
    p.cob.run(MATURITY + timedelta(days=1), allow_future=True)  # the acceptor has not paid
    assert bills.get_bill(p, bill.id).state == "overdue"
    d = disclosed(p)
    assert d["overdue bills"] == "1" and d["overdue face"] == "100000.00 CNY"
    assert d["overdue bill 310200510001"] == f"acceptor {bank}, 100000.00 CNY, due {MATURITY}"
    assert d[f"concentration acceptor {bank}"] == "100.00%"
    p.cob.run(MATURITY + timedelta(days=2), allow_future=True)
    # COB collects before it accrues the day: paid on day 3, the penalty is 2 days' worth,
    # 100000 x 0.1 % x 2 = 200.00 (the bill's own rate, not the platform's 0.05 %)
    p.custody.deposit(bank, "100200")
    p.custody.deposit(drawer, "1")  # within the grace the drawer is not collected from
    p.cob.run(MATURITY + timedelta(days=3), allow_future=True)
    assert p.loans.get(loan.id).state == "settled"
    assert available(p, bank) == M("0") and available(p, drawer) == M("99101")
    assert available(p, investor) == M("101100")  # 900 paid + 100200 received
    assert bills.get_bill(p, bill.id).state == "paid"
    assert bills.recourse_payments(p, bill.id) == []
    assert p.verify().ok


def test_drawer_is_the_recourse_payer_after_the_grace(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, recourse_grace_days=2)
    drawer, bank, investor = party(p, "drawer"), party(p, "bank"), party(p, "i", "100000")
    bill = new_bill(p, drawer, bank)  # the default penalty: 0.05 % a day
    loan = fund(p, bills.apply_with_bill(p, bill.id, "3.6%").listing_id, (investor, "99100"))
    p.custody.deposit(drawer, "10000")  # the drawer holds 109100.00
    p.custody.deposit(bank, "40000")  # the acceptor pays part at maturity
    p.cob.run(MATURITY + timedelta(days=2), allow_future=True)  # within the grace: bank only
    assert available(p, bank) == M("0") and available(p, drawer) == M("109100")
    assert bills.get_bill(p, bill.id).state == "overdue"
    assert p.loans.get(loan.id).state == "overdue"
    p.cob.run(MATURITY + timedelta(days=3), allow_future=True)  # after it: the drawer pays
    assert p.loans.get(loan.id).state == "settled"
    paid = bills.recourse_payments(p, bill.id)
    assert [r.payer_id for r in paid] == [drawer]
    # 60000 overdue after maturity (40000 paid that day); 2 days' penalty accrued before the
    # day-3 collection: 60000 x 0.05 % x 2 = 60.00
    assert paid[0].amount == M("60060")
    assert available(p, drawer) == M("109100") - M("60060")
    assert available(p, investor) == M("100960")  # 100000 - 99100 + 100060
    assert p.verify().ok


def test_prepayment_of_a_bill_is_refused(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform)
    drawer, bank, investor = party(p, "drawer"), party(p, "bank"), party(p, "i", "100000")
    bill = new_bill(p, drawer, bank)
    loan = fund(p, bills.apply_with_bill(p, bill.id, "3.6%").listing_id, (investor, "99100"))
    with pytest.raises(lendkit.InvalidState, match="acceptor pays its face at maturity"):
        p.loans.prepay(loan.id, "1000")
    assert p.verify().ok


def test_waterfall_covers_an_unpaid_bill_and_the_drawers_recourse_refills_it(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    """The waterfall of other plugins applies as for any loan: the reserve pays the investors of
    an overdue bill; the drawer's recourse payment then flows back to the reserve (追偿)."""
    p = make_platform(
        plugins=["online", "bills", "reserve"],
        config={
            **NO_FEES,
            "waterfall": ["reserve"],
            "plugins": {
                "bills": {"recourse_grace_days": 3},
                "reserve": {"after_days": 2, "pay_interest": True, "rates": {"A": "0"}},
            },
        },
    )
    drawer, bank, investor = party(p, "drawer"), party(p, "bank"), party(p, "i", "99100")
    operator = party(p, "operator", "200000")
    reserve.seed(p, "200000", from_party=operator)
    bill = new_bill(p, drawer, bank)
    loan = fund(p, bills.apply_with_bill(p, bill.id, "3.6%").listing_id, (investor, "99100"))
    p.custody.withdraw(drawer, "99100")
    p.cob.run(MATURITY + timedelta(days=2), allow_future=True)  # nobody pays: the reserve does
    assert available(p, investor) == M("100000")  # price 99100 + discount 900
    assert bills.get_bill(p, bill.id).state == "overdue"
    p.custody.deposit(drawer, "200000")
    p.cob.run(MATURITY + timedelta(days=4), allow_future=True)  # after the grace: the drawer
    assert p.loans.get(loan.id).state == "settled"
    paid = bills.recourse_payments(p, bill.id)
    assert [r.payer_id for r in paid] == [drawer]
    # face + 3 days' penalty (100000 x 0.05 % x 3 = 150.00, accrued before the day-4 collection)
    assert paid[0].amount == M("100150")
    assert available(p, drawer) == M("99850")
    fund_figures = {d.name: d.value for d in p.reports.disclosure() if d.plugin == "reserve"}
    assert fund_figures["payouts"] == fund_figures["recoveries"] == "100000.00 CNY"
    assert fund_figures["balance"] == "200000.00 CNY"  # refilled by the drawer's recourse
    assert available(p, investor) == M("100150")  # the penalty is the investors'
    assert p.verify().ok


def test_a_refused_application_leaves_the_bill_registered_and_a_key_replays(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    drawer, bank = p.parties.register("unverified drawer").id, party(p, "bank")
    bill = new_bill(p, drawer, bank)
    before = everything(p)
    with pytest.raises(lendkit.LendkitError, match=drawer):  # core refuses the listing itself
        bills.apply_with_bill(p, bill.id, "3.6%")
    assert everything(p) == before
    assert bills.get_bill(p, bill.id).state == "registered"
    p.parties.verify(drawer)
    first = bills.apply_with_bill(p, bill.id, "3.6%", key="apply-2")
    assert bills.apply_with_bill(p, bill.id, "3.6%", key="apply-2") == first
    with pytest.raises(lendkit.IdempotencyConflict):
        bills.apply_with_bill(p, bill.id, "4%", key="apply-2")
    with pytest.raises(lendkit.InvalidState, match=f"is listed \\(listing {first.listing_id}\\)"):
        bills.apply_with_bill(p, bill.id, "3.6%")
    assert p.verify().ok
