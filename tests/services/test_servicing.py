"""The servicing read API (issue 14, Read API): a loan's status and payoff against figures
computed by hand, repaying exactly the payoff, an investor's portfolio and its XIRR against the
closed form, a party's statement summing to its balance, the paginated lists and the borrower's
APR -- on SQLite and PostgreSQL.

The loan: 1,000.00 at 12 % over three months from 2026-01-01 (equal installments, ACT/360),
investors 600.00 and 400.00; rows 02-01 330.02 + 10.00, 03-01 333.32 + 6.70, 04-01 336.66 +
3.37. No service fee, management fee 10 % of interest, prepayment fee 1 %, no grace, penalty
0.05 % a day on the overdue principal and interest. A guarantor (joint liability after 5 days)
covers what investors are owed.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

import lendkit
from lendkit import Money
from lendkit.core.errors import InvalidState, InvalidValue, NotFound
from lendkit.plugins import guarantee
from tests.conftest import FixedClock, dump, party

M = Money.of
CONFIG: dict[str, Any] = {
    "service_fee_rate": "0",
    "management_fee_rate": "0.1",
    "prepayment_fee_rate": "0.01",
    "grace_days": 0,
    "penalty_daily_rate": "0.0005",
    "waterfall": ["guarantee"],
}


def at(clock: FixedClock, day: date, hour: int = 20) -> None:
    clock.set(datetime.combine(day, time(hour), tzinfo=UTC))


def open_platform(make: Callable[..., lendkit.Platform], **extra: Any) -> lendkit.Platform:
    return make(plugins=["online", "guarantee"], config={**CONFIG, **extra})


def make_loan(
    p: lendkit.Platform, guarantor: guarantee.Guarantor | None = None
) -> tuple[str, str, str, str]:
    """(loan, borrower, investor 600, investor 400); the borrower spent the proceeds."""
    n = len(p.listings.find())
    borrower = party(p, f"borrower-{n}")
    i1, i2 = party(p, f"i1-{n}", "600"), party(p, f"i2-{n}", "400")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
    if guarantor is not None:
        guarantee.guarantee_listing(p, listing.id, guarantor.id)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i1, "600")
    p.bidding.bid(listing.id, i2, "400")
    loan = p.loans.disburse(listing.id)
    p.custody.withdraw(borrower, "1000")
    return loan.id, borrower, i1, i2


def guarantor(p: lendkit.Platform) -> guarantee.Guarantor:
    pid = party(p, "Joint Guarantee", "5000")
    g = guarantee.register_guarantor(p, "Joint Guarantee", pid, "1000", fee_rate="0", after_days=5)
    guarantee.fund_deposit(p, g.id, "1000")
    return g


def overdue_loan(
    p: lendkit.Platform, clock: FixedClock
) -> tuple[str, str, guarantee.Guarantor, list[str]]:
    """The loan partly paid (100.00 on 01-20), overdue since 02-01, covered by the guarantor on
    02-06, close of business run through 02-10 (the clock on 02-10)."""
    g = guarantor(p)
    loan_id, borrower, i1, i2 = make_loan(p, g)
    at(clock, date(2026, 1, 20))
    p.custody.deposit(borrower, "100")
    p.loans.repay(loan_id, "100")  # installment 1: interest 10.00, then principal 90.00
    at(clock, date(2026, 2, 10))
    p.cob.run(date(2026, 2, 10))
    return loan_id, borrower, g, [i1, i2]


def test_status_of_a_loan_partly_paid_overdue_with_penalty_and_covered(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    loan_id, borrower, g, _ = overdue_loan(p, clock)
    s = p.loans.status(loan_id)
    assert (s.state, s.as_of, s.days_past_due, s.bucket) == (
        "overdue",
        date(2026, 2, 10),
        9,
        "M1",
    )
    first, second, third = s.installments
    assert (first.principal, first.interest) == (M("330.02"), M("10.00"))
    assert (first.paid_principal, first.paid_interest, first.paid_penalty) == (
        M("90.00"),
        M("10.00"),
        M(0),
    )
    # penalty: 240.02 unpaid x 9 days x 0.05 % = 1.080... -> 1.08
    assert first.penalty == M("1.08") and first.penalty_through == date(2026, 2, 10)
    assert first.owed == M("241.10") and first.days_past_due == 9 and first.state == "overdue"
    [cover] = first.covers
    assert cover.paid_by == f"guarantor {g.id}" or cover.payer_id in (g.id, g.party_id)
    assert (cover.principal, cover.interest, cover.recovered) == (M("240.02"), M(0), M(0))
    assert first.covered == M("240.02")
    assert (second.state, second.owed, second.days_past_due) == ("pending", M("340.02"), 0)
    assert third.owed == M("340.03")
    assert (s.penalty_accrued, s.penalty_unpaid) == (M("1.08"), M("1.08"))
    assert s.due_today == M("241.10")
    assert (s.next_due_date, s.next_due_amount) == (date(2026, 3, 1), M("340.02"))
    assert s.outstanding_principal == M("910.00")
    kinds = [(x.kind, x.amount, x.payer) for x in s.payments]
    assert kinds[0] == ("repayment", M("100.00"), borrower)
    assert kinds[1][0] == "cover" and kinds[1][1] == M("240.02")
    # as of a later day: more days past due, bucket M2
    later = p.loans.status(loan_id, as_of=date(2026, 3, 5))
    assert (later.days_past_due, later.bucket) == (32, "M2")
    assert later.due_today == M("241.10") + M("340.02")
    with pytest.raises(NotFound):
        p.loans.status("loan_nope")
    with pytest.raises(InvalidValue, match=r"must be a datetime\.date"):
        p.loans.status(loan_id, as_of="2026-02-10")


def test_payoff_is_itemised_and_repaying_exactly_it_settles_to_zero(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    loan_id, borrower, g, investors = overdue_loan(p, clock)
    q = p.loans.payoff(loan_id)
    [row] = q.overdue
    assert (row.period, row.penalty, row.interest, row.principal) == (
        1,
        M("1.08"),
        M(0),
        M("240.02"),
    )
    # principal not yet due 333.32 + 336.66; interest on it 02-01..02-10 ACT/360:
    # 669.98 x 12 % x 9 / 360 = 2.00994 -> 2.01; prepayment fee 1 % of 669.98 = 6.6998 -> 6.70
    assert (q.principal, q.interest, q.fee) == (M("669.98"), M("2.01"), M("6.70"))
    assert q.total == M("919.79") and q.on == date(2026, 2, 10)
    # a quote for another day: the interest to that day (penalty as close of business has it)
    assert p.loans.payoff(loan_id, on=date(2026, 2, 19)).interest == M("4.02")
    with pytest.raises(InvalidValue, match="before loan"):
        p.loans.payoff(loan_id, on=date(2025, 12, 31))

    p.custody.deposit(borrower, "919.79")
    g_before = p.custody.balance(g.party_id).available
    inv_before = [p.custody.balance(i).available for i in investors]
    paid = p.loans.repay(loan_id, "919.79")
    # the payment's fee: the prepayment fee 6.70 and the management fee 0.20 (10 % of 2.01)
    assert paid.amount == M("919.79") and paid.kind == "settlement" and paid.fee == M("6.90")
    loan = p.loans.get(loan_id)
    assert loan.state == "settled" and loan.outstanding_principal == M(0)
    assert p.custody.balance(borrower).available == M(0)
    s = p.loans.status(loan_id)
    assert all(i.state == "paid" and i.owed == M(0) for i in s.installments)
    assert s.due_today == M(0) and s.next_due_date is None and s.bucket == "current"
    # the guarantor got back what it covered; the investors the rest less the management fee
    assert p.custody.balance(g.party_id).available - g_before == M("240.02")
    got = sum(
        (p.custody.balance(i).available - b for i, b in zip(investors, inv_before, strict=True)),
        M(0),
    )
    # 1.08 penalty + 669.98 principal + 2.01 interest less 0.20 fee (10 % of 2.01, HALF_UP)
    assert got == M("1.08") + M("669.98") + M("2.01") - M("0.20")
    assert p.loans.claims(loan_id)[0].recovered == M("240.02")
    with pytest.raises(InvalidState, match="nothing to pay off"):
        p.loans.payoff(loan_id)
    assert p.verify().ok


def test_a_payoff_before_anything_is_due_and_another_amount_repays_normally(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    loan_id, borrower, *_ = make_loan(p)
    at(clock, date(2026, 1, 16))
    q = p.loans.payoff(loan_id)
    # 1000.00 x 12 % x 15 / 360 = 5.00; fee 10.00
    assert (q.overdue, q.principal, q.interest, q.fee, q.total) == (
        (),
        M("1000.00"),
        M("5.00"),
        M("10.00"),
        M("1015.00"),
    )
    p.custody.deposit(borrower, "2000")
    # one cent less is an ordinary repayment: installment 1 then part of 2
    paid = p.loans.repay(loan_id, "1014.99")
    assert paid.kind == "repayment" and p.loans.get(loan_id).state == "active"


def test_a_refused_payoff_repayment_changes_nothing(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    p = open_platform(make_platform)
    loan_id, borrower, *_ = make_loan(p)
    at(clock, date(2026, 1, 16))
    p.custody.deposit(borrower, "1000")  # 15.00 short of the payoff
    before = dump(db_url)
    with pytest.raises(lendkit.InsufficientFunds):
        p.loans.repay(loan_id, "1015.00")
    assert dump(db_url) == before


def test_portfolio_positions_cash_bids_and_xirr_against_the_closed_form(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    borrower = party(p, "borrower")
    investor = party(p, "investor", "1500")
    listing = p.listings.apply(
        borrower, amount="1000", annual_rate="12%", months=1, method="bullet"
    )
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, investor, "1000")
    loan = p.loans.disburse(listing.id)
    other = p.listings.apply(borrower, amount="500", annual_rate="10%", months=6)
    p.listings.approve(other.id, grade="A")
    p.listings.publish(other.id)
    bid = p.bidding.bid(other.id, investor, "200")

    mid = p.portfolio(investor)
    [pos] = mid.positions
    assert (pos.principal, pos.outstanding_principal, pos.received) == (
        M("1000.00"),
        M("1000.00"),
        M(0),
    )
    # 10.00 interest, less the 10 % management fee
    assert pos.expected == M("1009.00") and mid.expected == M("1009.00")
    assert (mid.available, mid.frozen) == (M("300.00"), M("200.00"))
    assert [b.id for b in mid.open_bids] == [bid.id]
    assert mid.realised_yield is None  # every flow falls on one day

    at(clock, date(2026, 2, 1))
    p.custody.deposit(borrower, "10")
    p.loans.repay(loan.id)
    done = p.portfolio(investor)
    [pos] = done.positions
    assert (pos.loan_state, pos.received_principal, pos.received_interest, pos.fees_paid) == (
        "settled",
        M("1000.00"),
        M("9.00"),
        M("1.00"),
    )
    assert pos.covered == M(0) and pos.expected == M(0)
    # -1000.00 on 01-01, +1009.00 on 02-01 (31 days): (1009 / 1000) ** (365 / 31) - 1
    with decimal.localcontext(decimal.Context(prec=40)):
        closed = (Decimal("1.009").ln() * Decimal(365) / Decimal(31)).exp() - 1
    assert done.realised_yield is not None and done.expected_yield is not None
    assert abs(done.realised_yield - closed) < Decimal("1e-9")
    assert abs(done.expected_yield - closed) < Decimal("1e-9")
    assert done.available == M("1309.00")


def test_portfolio_counts_a_guarantors_cover(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    _, _, _, investors = overdue_loan(p, clock)
    mine = p.portfolio(investors[0])
    [pos] = mine.positions
    # 60 % of the 240.02 the guarantor covered, and 60 % of the 100.00 repaid (less fee)
    assert pos.covered == M("144.01")
    assert pos.received_principal == M("54.00") + M("144.01")
    assert pos.expected.is_positive() and mine.expected_yield is not None


def test_history_describes_every_movement_and_sums_to_the_balance(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    loan_id, borrower, i1, _ = make_loan(p)
    other = p.listings.apply(borrower, amount="500", annual_rate="10%", months=6)
    p.listings.approve(other.id, grade="A")
    p.listings.publish(other.id)
    p.custody.deposit(i1, "300")
    p.bidding.bid(other.id, i1, "200")
    p.listings.close(other.id)  # short: the bid's hold is released
    at(clock, date(2026, 2, 1))
    p.custody.deposit(borrower, "340.02")
    p.loans.repay(loan_id)
    p.custody.withdraw(i1, "50")

    lines = list(p.custody.history(i1, limit=500))
    texts = [line.description for line in lines]
    assert texts[0] == "deposit"
    assert any(t.startswith("bid hold on listing") for t in texts)
    assert any(t.startswith("bid posted to listing") for t in texts)
    assert any(t.startswith("bid hold released") for t in texts)
    assert any(t.startswith(f"repayment received on loan {loan_id}") for t in texts)
    assert texts[-1] == "withdrawal"
    total = sum((line.amount for line in lines), M(0))
    bal = p.custody.balance(i1)
    assert total == bal.total
    assert (lines[-1].available_balance, lines[-1].frozen_balance) == (bal.available, bal.frozen)
    # pages: two at a time give the same lines, the running balance carried across pages
    paged, after = [], None
    while True:
        page = p.custody.history(i1, limit=2, after=after)
        paged += list(page)
        if page.next is None:
            break
        after = page.next
    assert paged == lines
    # the borrower: its disbursement and its repayment
    mine = [line.description for line in p.custody.history(borrower)]
    assert any(t.startswith("disbursement of loan") for t in mine)
    assert any(t.startswith(f"repayment paid on loan {loan_id}") for t in mine)
    # a date range: only 2026-02-01
    day = list(p.custody.history(i1, since=date(2026, 2, 1), until=date(2026, 2, 1)))
    assert day and all(line.at.date() == date(2026, 2, 1) for line in day)
    with pytest.raises(InvalidValue, match="page cursor"):
        p.custody.history(i1, after="x")
    with pytest.raises(InvalidValue, match="page limit"):
        p.custody.history(i1, limit=0)


def test_lists_filter_and_page(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    loan_id, borrower, _, _ = make_loan(p)
    second, borrower2, _, _ = make_loan(p)
    enterprise = p.parties.register("Acme Ltd", kind="enterprise")
    everyone = p.parties.list(limit=500)
    assert enterprise.id in [x.id for x in everyone]
    assert [x.id for x in p.parties.list(kind="enterprise")] == [enterprise.id]
    assert [x.id for x in p.parties.list(verified=False)] == [enterprise.id]
    assert enterprise.id not in [x.id for x in p.parties.list(verified=True, limit=500)]
    first = p.parties.list(limit=3)
    rest = p.parties.list(limit=500, after=first.next)
    assert [x.id for x in (*first, *rest)] == [x.id for x in everyone]

    mine = p.listings.list(borrower_id=borrower)
    assert len(mine) == 1 and mine.items[0].state == "disbursed" and mine.next is None
    assert len(p.listings.list(state="disbursed", product="online")) == 2

    at(clock, date(2026, 2, 10))
    p.cob.run(date(2026, 2, 10))
    lines = p.loans.list()
    assert {x.loan.id for x in lines} == {loan_id, second}
    assert {(x.days_past_due, x.bucket) for x in lines} == {(9, "M1")}
    assert [x.loan.id for x in p.loans.list(bucket="M1", borrower_id=borrower2)] == [second]
    assert len(p.loans.list(bucket="current")) == 0
    assert len(p.loans.list(state="overdue", limit=1)) == 1
    with pytest.raises(InvalidValue, match="aging bucket"):
        p.loans.list(bucket="M9")


def test_the_borrowers_apr_includes_every_fee(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, service_fee_rate="0.02")
    borrower = party(p, "borrower")
    g = guarantor(p)
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=12)
    # 2 % service fee: 980.00 net against twelve payments of 88.85 (last 88.83)
    assert listing.annual_rate == Decimal("0.12")
    assert listing.apr is not None and Decimal("0.1570") < listing.apr < Decimal("0.1590")
    cost = p.listings.cost(listing.id)
    assert cost is not None and cost.fees == M("20.00") and cost.net_proceeds == M("980.00")
    assert cost.apr == listing.apr and cost.effective_rate > cost.apr
    # a guarantee fee of 3 % is a fee the borrower pays too: the APR rises
    free = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=12)
    g3 = guarantee.register_guarantor(
        p, "Fee Guarantee", party(p, "fg", "5000"), "1000", fee_rate="3%"
    )
    guarantee.fund_deposit(p, g3.id, "1000")
    guarantee.guarantee_listing(p, free.id, g3.id)
    p.listings.approve(free.id, grade="A")
    priced = p.listings.get(free.id)
    assert p.listings.cost(free.id).fees == M("50.00")  # type: ignore[union-attr]
    assert priced.apr is not None and priced.apr > listing.apr
    # after disbursement: from the proceeds the borrower received
    p.listings.publish(free.id)
    p.bidding.bid(free.id, party(p, "inv", "1000"), "1000")
    p.loans.disburse(free.id)
    assert p.custody.balance(borrower).available == M("950.00")
    after = p.listings.get(free.id)
    assert after.apr == priced.apr
    assert g.id  # the free guarantor took no fee


def test_without_fees_the_apr_is_the_nominal_rate(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    listing = p.listings.apply(party(p, "b"), amount="1200", annual_rate="12%", months=12)
    assert listing.apr is not None and abs(listing.apr - Decimal("0.12")) < Decimal("0.00001")
    cost = p.listings.cost(listing.id)
    assert cost is not None and cost.fees == M(0) and cost.net_proceeds == M("1200.00")
    # effective (XIRR on the actual days): about (1 + 1 %) ** 12 - 1 = 12.68 %
    assert Decimal("0.126") < cost.effective_rate < Decimal("0.128")
