"""A listing's whole life on SQLite and PostgreSQL, balances asserted to the cent."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest

import lendkit
from lendkit import Money
from lendkit.core.errors import (
    Forbidden,
    InsufficientFunds,
    InvalidState,
    InvalidValue,
    LimitExceeded,
)
from lendkit.core.schedule import build_schedule
from tests.conftest import FixedClock, dump


def cny(v: str | int) -> Money:
    return Money.of(v, "CNY")


def published(p: lendkit.Platform, borrower: str, amount: str = "10000", **kw: object) -> str:
    kw.setdefault("annual_rate", "12%")
    kw.setdefault("months", 12)
    listing = p.listings.apply(borrower, amount=amount, **kw)  # type: ignore[arg-type]
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    return listing.id


def test_full_life_investors_receive_schedule_exactly(
    platform: lendkit.Platform, funded: Callable[..., str], clock: FixedClock
) -> None:
    p = platform
    borrower = funded("0", "borrower")
    investors = [funded("5000", f"inv{i}") for i in range(3)]
    lid = published(p, borrower, "10000")
    p.bidding.bid(lid, investors[0], "3333.33")
    p.bidding.bid(lid, investors[1], "3333.33")
    last = p.bidding.bid(lid, investors[2], "5000")  # trimmed to what remains
    assert last.amount == cny("3333.34")
    assert p.listings.get(lid).state == "funded"
    assert p.custody.balance(investors[2]).frozen == cny("3333.34")
    loan = p.loans.disburse(lid, reviewer="ops")
    assert len(loan.positions) == 3
    # borrower gets principal less 1% service fee
    assert p.custody.balance(borrower).available == cny("9900.00")
    sched = p.loans.schedule(loan.id)
    expected = build_schedule(cny("10000"), "0.12", 12, start_date=clock.now.date())
    assert [i.payment for i in sched.installments] == [i.payment for i in expected.installments]
    p.custody.deposit(borrower, "2000")  # enough for the fee gap and the interest
    fees = Money.zero()
    for _ in range(12):
        pay = p.loans.repay(loan.id)
        fees = fees + pay.fee
    assert p.loans.get(loan.id).state == "settled"
    got_principal = sum(
        (p.loans.position(loan.id, i).received_principal for i in investors), cny(0)
    )
    got_interest = sum((p.loans.position(loan.id, i).received_interest for i in investors), cny(0))
    assert got_principal == cny("10000")
    assert got_interest == expected.total_interest - fees
    # management fee is 10% of interest, rounded per payment
    assert abs((fees - expected.total_interest.multiply("0.10")).amount) <= Decimal("0.06")
    for inv in investors:
        pos = p.loans.position(loan.id, inv)
        assert pos.outstanding_principal == cny(0)
        assert p.custody.balance(inv).available == cny("5000") + pos.received_interest
    with pytest.raises(InvalidState):
        p.loans.repay(loan.id)
    assert p.verify().ok


def test_failed_listing_restores_every_balance(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    p = platform
    borrower = funded("0", "b")
    investors = [funded("1000.07", f"i{i}") for i in range(4)]
    lid = published(p, borrower, "10000")
    for inv in investors:
        p.bidding.bid(lid, inv, "999.99")
    closed = p.listings.close(lid)
    assert closed.state == "failed"
    for inv in investors:
        bal = p.custody.balance(inv)
        assert bal.available == cny("1000.07") and bal.frozen == cny(0)
    with pytest.raises(InvalidState):
        p.bidding.bid(lid, investors[0], "10")
    assert p.verify().ok


def test_close_on_filled_listing_returns_funded(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    p = platform
    borrower, inv = funded("0"), funded("100")
    lid = published(p, borrower, "100")
    p.bidding.bid(lid, inv, "100")
    assert p.listings.close(lid).state == "funded"
    assert p.listings.close(lid).state == "funded"


def test_auction_fills_lowest_rates(platform: lendkit.Platform, funded: Callable[..., str]) -> None:
    p = platform
    borrower = funded("0")
    a, b, c, d = (funded("1000") for _ in range(4))
    listing = p.listings.apply(borrower, amount="1000", months=6, bidding="auction", max_rate="15%")
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, a, "500", rate="12%")
    p.bidding.bid(listing.id, b, "400", rate="10%")
    p.bidding.bid(listing.id, c, "300", rate="11%")
    p.bidding.bid(listing.id, d, "300", rate="10%")  # ties with b: b is earlier
    with pytest.raises(lendkit.InvalidRate):
        p.bidding.bid(listing.id, a, "100", rate="16%")
    assert p.listings.close(listing.id).state == "funded"
    states = {x.investor_id: (x.state, x.amount) for x in p.bidding.bids(listing.id)}
    assert states[b] == ("won", cny(400))
    assert states[d] == ("won", cny(300))
    assert states[c] == ("won", cny(300))
    assert states[a] == ("lost", cny(500))
    assert p.custody.balance(a).available == cny(1000)
    loan = p.loans.disburse(listing.id)
    assert sum((x.principal for x in loan.positions), cny(0)) == cny(1000)
    assert p.verify().ok


def test_auction_partial_marginal_bid(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    p = platform
    borrower, a, b = funded("0"), funded("1000"), funded("1000")
    listing = p.listings.apply(
        borrower, amount="1000", months=3, bidding="auction", max_rate="15%", clearing="uniform"
    )
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, a, "700", rate="9%")
    p.bidding.bid(listing.id, b, "600", rate="11%")
    funded_listing = p.listings.close(listing.id)
    assert funded_listing.annual_rate == Decimal("0.11")
    assert p.custody.balance(b).frozen == cny(300)
    assert p.custody.balance(b).available == cny(700)
    assert p.verify().ok


def test_last_units_race_never_oversubscribes(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    p = platform
    borrower = funded("0")
    big = funded("9900")
    lid = published(p, borrower, "10000")
    p.bidding.bid(lid, big, "9900")
    bidders = [funded("100") for _ in range(64)]

    def go(i: int) -> Money:
        try:
            return p.bidding.bid(lid, bidders[i], str(1 + i % 100)).amount
        except (LimitExceeded, InvalidState):
            return cny(0)

    with ThreadPoolExecutor(16) as pool:
        fills = list(pool.map(go, range(64)))
    assert sum(fills, cny(0)) == cny(100)
    listing = p.listings.get(lid)
    assert listing.bid_total == cny(10000) and listing.state == "funded"
    frozen = sum((p.custody.balance(x).frozen for x in [big, *bidders]), cny(0))
    assert frozen == cny(10000)
    assert p.verify().ok


def test_wrong_transitions_change_nothing(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    p = platform
    borrower, inv = funded("0"), funded("500")
    unverified = p.parties.register("nobody").id
    applied = p.listings.apply(borrower, amount="1000", annual_rate="10%", months=6)
    lid = published(p, borrower, "1000")
    p.bidding.bid(lid, inv, "100")
    before = dump(db_url)
    attempts: list[Callable[[], object]] = [
        lambda: p.listings.publish(applied.id),  # not approved
        lambda: p.listings.approve(lid),  # already published
        lambda: p.listings.cancel(lid),  # has a bid
        lambda: p.loans.disburse(lid),  # not funded
        lambda: p.loans.disburse(applied.id),
        lambda: p.bidding.bid(lid, borrower, "100"),  # own listing
        lambda: p.bidding.bid(lid, unverified, "100"),  # unverified
        lambda: p.bidding.bid(lid, inv, "1000"),  # more than available
        lambda: p.bidding.bid(applied.id, inv, "10"),  # not published
        lambda: p.listings.apply(unverified, amount="100", annual_rate="10%"),
        lambda: p.listings.apply(borrower, amount="0", annual_rate="10%"),
        lambda: p.listings.apply(borrower, amount="100", annual_rate="101%"),
        lambda: p.listings.apply(borrower, amount="100", annual_rate="10%", months=0),
        lambda: p.listings.apply(borrower, amount="100", annual_rate="10%", method="nope"),
        lambda: p.listings.apply(borrower, amount="100", annual_rate="10%", product="nope"),
        lambda: p.listings.reject(lid, "late"),
        lambda: p.loans.repay("loan_missing"),
    ]
    for attempt in attempts:
        with pytest.raises(lendkit.LendkitError):
            attempt()
    assert dump(db_url) == before
    with pytest.raises((Forbidden, InsufficientFunds, InvalidValue)):
        p.bidding.bid(lid, unverified, "1")


def test_cob_collects_marks_overdue_and_is_idempotent(
    platform: lendkit.Platform, funded: Callable[..., str], clock: FixedClock, db_url: str
) -> None:
    p = platform
    borrower = funded("0")
    inv = funded("1000")
    lid = published(p, borrower, "1000", months=3)
    p.bidding.bid(lid, inv, "1000")
    loan = p.loans.disburse(lid)
    sched = p.loans.schedule(loan.id)
    first_due = sched.installments[0].due_date
    # borrower keeps the proceeds (990.00): COB collects the first installment on its due date
    clock.set(clock.now + timedelta(days=31))
    result = p.cob.run(first_due, allow_future=True)
    assert result.collected == 1
    assert p.loans.schedule(loan.id).installments[0].due_date == first_due
    again = p.cob.run(first_due, allow_future=True)
    assert again.already_done
    # drain the borrower so the next installment goes overdue
    bal = p.custody.balance(borrower).available
    p.custody.withdraw(borrower, bal)
    second_due = sched.installments[1].due_date
    day = second_due + timedelta(days=10)
    p.cob.run(day, allow_future=True)
    state = p.loans.get(loan.id)
    assert state.state == "overdue"
    snapshot = dump(db_url)
    p.cob.run(day, allow_future=True)
    assert dump(db_url) == snapshot
    # penalty accrued for days past due on the unpaid installment
    p.custody.deposit(borrower, "1000")
    pay = p.loans.repay(loan.id)
    assert pay.penalty.is_positive()
    assert p.loans.get(loan.id).state == "active"
    assert p.verify().ok


def test_cob_expires_listing_window(
    platform: lendkit.Platform, funded: Callable[..., str], clock: FixedClock
) -> None:
    p = platform
    borrower, inv = funded("0"), funded("100")
    lid = published(p, borrower, "1000", window_days=3)
    p.bidding.bid(lid, inv, "100")
    p.cob.run(clock.now.date() + timedelta(days=1), allow_future=True)
    assert p.listings.get(lid).state == "published"
    p.cob.run(clock.now.date() + timedelta(days=3), allow_future=True)
    assert p.listings.get(lid).state == "failed"
    assert p.custody.balance(inv).available == cny(100)


def test_prepayment_whole_and_partial(
    platform: lendkit.Platform, funded: Callable[..., str], clock: FixedClock
) -> None:
    p = platform
    borrower, inv = funded("0"), funded("12000")
    lid = published(p, borrower, "12000", months=12)
    p.bidding.bid(lid, inv, "12000")
    loan = p.loans.disburse(lid)
    p.custody.deposit(borrower, "5000")
    p.loans.repay(loan.id)
    clock.advance(days=45)
    part = p.loans.prepay(loan.id, "3000", mode="reduce")
    assert part.principal == cny(3000) and part.fee.is_positive()
    sched = p.loans.schedule(loan.id)
    assert sum((i.principal for i in sched.installments), cny(0)) == cny(12000)
    p.custody.deposit(borrower, "20000")
    whole = p.loans.prepay(loan.id)
    assert p.loans.get(loan.id).state == "settled"
    pos = p.loans.position(loan.id, inv)
    assert pos.received_principal == cny(12000)
    assert whole.principal.is_positive()
    assert p.verify().ok


def test_autobid_rotates_fairly(platform: lendkit.Platform, funded: Callable[..., str]) -> None:
    p = platform
    borrower = funded("0")
    a, b = funded("1000"), funded("1000")
    p.bidding.add_rule(a, "100", min_rate="8%", max_rate="15%", grades=["A", "B"])
    p.bidding.add_rule(b, "100", min_rate="8%", max_rate="15%", grades=["A", "B"])
    first = published(p, borrower, "100", annual_rate="12%")
    second = published(p, borrower, "100", annual_rate="12%")
    w1 = [x.investor_id for x in p.bidding.bids(first)]
    w2 = [x.investor_id for x in p.bidding.bids(second)]
    assert w1 == [a] and w2 == [b]
    # a rule outside the rate range does not bid
    third = published(p, borrower, "100", annual_rate="20%")
    assert p.bidding.bids(third) == []
    assert p.verify().ok


def test_credit_line_and_risk_level(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = make_platform(config={"grade_line_caps": {"C": "5000"}})
    borrower = p.parties.register("b").id
    p.parties.verify(borrower)
    inv = p.parties.register("i").id
    p.parties.verify(inv)
    p.custody.deposit(inv, "1000")
    big = p.listings.apply(borrower, amount="6000", annual_rate="12%")
    with pytest.raises(LimitExceeded):
        p.listings.approve(big.id, grade="C")
    small = p.listings.apply(borrower, amount="1000", annual_rate="12%")
    p.listings.approve(small.id, grade="C")
    p.listings.publish(small.id)
    assert p.parties.set_risk_level(inv, [0, 0, 1]) == 1
    with pytest.raises(Forbidden):
        p.bidding.bid(small.id, inv, "100")
    assessment = p.parties.assess(borrower)
    assert assessment.grade in {"AA", "A", "B", "C", "D", "E", "HR"}


def test_repay_to_5000_investors_to_the_cent(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    p = platform
    borrower = funded("0")
    n = 300
    investors = [funded("7.77", f"i{k}") for k in range(n)]
    lid = published(p, borrower, str(Decimal("7.77") * n - 1), months=1)
    for inv in investors:
        try:
            p.bidding.bid(lid, inv, "7.77")
        except LimitExceeded:
            break
    loan = p.loans.disburse(lid)
    p.custody.deposit(borrower, "100")
    pay = p.loans.repay(loan.id)
    total = sum(
        (x.received_principal + x.received_interest for x in p.loans.get(loan.id).positions), cny(0)
    )
    assert total + pay.fee == pay.amount
    assert p.verify().ok


def test_demo_date() -> None:
    assert date(2026, 1, 1) < date(2026, 2, 1)
