"""The reserve plugin (风险准备金): contributions, payouts in full when rich, pro rata and queued when
short, the queue settled in order as money arrives, recoveries, disclosure -- SQLite and PostgreSQL."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import lendkit
from lendkit import Money
from lendkit.core.errors import ConfigError
from lendkit.core.records import LoanRecord
from lendkit.plugins import reserve
from tests.conftest import FixedClock, party

M = Money.of


def open_platform(make: Callable[..., lendkit.Platform], **settings: Any) -> lendkit.Platform:
    return make(
        plugins=["online", "reserve"],
        config={"waterfall": ["reserve"], "grace_days": 0, "plugins": {"reserve": settings}},
    )


def loan(
    p: lendkit.Platform,
    amount: str,
    grade: str,
    shares: dict[str, str],
    proceeds: str | None = None,
) -> LoanRecord:
    """A 3-month 12 % loan funded by ``shares``; the borrower spends the proceeds (``proceeds``
    checks what they were) at once."""
    borrower = party(p, f"borrower-{len(p.listings.find())}")
    listing = p.listings.apply(borrower, amount=amount, annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade=grade)
    p.listings.publish(listing.id)
    for inv, share in shares.items():
        p.custody.deposit(inv, share)
        p.bidding.bid(listing.id, inv, share)
    record = p.loans.disburse(listing.id)
    got = p.custody.balance(borrower).available
    assert proceeds is None or got == M(proceeds)
    if got.is_positive():
        p.custody.withdraw(borrower, got)
    return record


def first_due(p: lendkit.Platform, record: LoanRecord) -> date:
    return p.loans.schedule(record.id).installments[0].due_date


def fund_balance(p: lendkit.Platform) -> Money:
    with p.transaction() as ctx:
        return ctx.balance(reserve.fund_account(ctx))


def check_disclosure(p: lendkit.Platform) -> reserve.ReserveStatus:
    """Every disclosed figure equals the ledger (fund balance) and the plugin's records."""
    s = reserve.status(p)
    figures = {d.name: d.value for d in p.reports.disclosure() if d.plugin == "reserve"}
    assert figures["balance"] == str(fund_balance(p)) == str(s.balance)
    assert s.balance == s.seeded + s.contributions + s.recoveries - s.paid
    assert figures["payouts"] == str(sum((x.amount for x in reserve.payouts(p)), M(0)))
    assert figures["queued shortfall"] == str(
        sum((q.shortfall for q in reserve.queue(p, open_only=True)), M(0))
    )
    outstanding = sum(
        (p.loans.get(x.id).outstanding_principal for x in p.loans.find() if x.state != "settled"),
        M(0),
    )
    assert figures["outstanding principal of covered loans"] == str(outstanding)
    ratio = Decimal(0) if outstanding.is_zero() else s.balance.amount * 100 / outstanding.amount
    assert figures["coverage ratio"] == f"{ratio.quantize(Decimal('0.01'), ROUND_HALF_UP)}%"
    assert p.verify().ok
    return s


def test_rich_reserve_pays_the_overdue_principal_in_full_and_recovers_it(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    operator = party(p, "operator", "2000")
    assert reserve.seed(p, "2000", from_party=operator) == M("2000.00")
    i1, i2 = party(p, "i1"), party(p, "i2")
    # HR contributes 5 % of principal from the proceeds: 3000 - 30 service fee - 150 = 2820
    record = loan(p, "3000", "HR", {i1: "2000", i2: "1000"}, proceeds="2820.00")
    assert fund_balance(p) == M("2150.00")
    s = check_disclosure(p)
    assert (s.contributions, s.covered_loans) == (M("150.00"), 1)

    due = first_due(p, record)
    p.cob.run(due + timedelta(days=29), allow_future=True)
    assert reserve.payouts(p) == []
    p.cob.run(due + timedelta(days=30), allow_future=True)
    [paid] = reserve.payouts(p)
    assert (paid.amount, paid.period) == (M("990.07"), 1)
    got = [p.loans.position(record.id, i) for i in (i1, i2)]
    assert [g.received_principal for g in got] == [M("660.05"), M("330.02")]
    assert [g.received_interest for g in got] == [M(0), M(0)]  # interest is not covered
    assert fund_balance(p) == M("1159.93")
    assert check_disclosure(p).queued_claims == 0

    # the borrower pays late: interest and penalty to the investors, principal back to the fund
    clock.set(datetime.combine(due + timedelta(days=31), time(10), tzinfo=UTC))
    p.custody.deposit(record.borrower_id, "2000")
    pay = p.loans.repay(record.id)
    assert pay.principal == M("990.07") and pay.interest == M("30.00")
    assert fund_balance(p) == M("2150.00")
    s = check_disclosure(p)
    assert s.recoveries == M("990.07") and s.paid == M("990.07")
    assert s.outstanding_principal == M("2009.93")


def test_short_reserve_pays_pro_rata_queues_and_settles_as_money_arrives(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform, rates={"AA": "0", "HR": "0.05"})
    operator = party(p, "operator", "5000")
    ix, iy = party(p, "ix"), party(p, "iy")
    x = loan(p, "3000", "AA", {ix: "3000"})
    y = loan(p, "3000", "AA", {iy: "3000"})
    assert fund_balance(p) == M(0)  # AA contributes nothing
    due = first_due(p, x)

    # empty fund: both claims are queued, nothing paid
    p.cob.run(due + timedelta(days=30), allow_future=True)
    queued = reserve.queue(p, open_only=True)
    assert [q.amount for q in queued] == [M("990.07"), M("990.07")]
    assert check_disclosure(p).queued_shortfall == M("1980.14")
    # money arrives: the two claims of the same day share it pro rata
    clock.set(datetime.combine(due + timedelta(days=30), time(10), tzinfo=UTC))
    reserve.seed(p, "300", from_party=operator)
    assert [q.paid for q in reserve.queue(p)] == [M("150.00"), M("150.00")]
    assert p.loans.position(x.id, ix).received_principal == M("150.00")
    assert p.loans.position(y.id, iy).received_principal == M("150.00")
    assert check_disclosure(p).queued_shortfall == M("1680.14")

    # a contribution (a new HR loan: 5 % of 2000) settles the queue, still pro rata
    loan(p, "2000", "HR", {party(p, "iz"): "2000"})
    assert [q.paid for q in reserve.queue(p)] == [M("200.00"), M("200.00")]
    assert fund_balance(p) == M(0)

    # x's borrower pays late: its investors get what the fund has not paid them, then the fund
    # is repaid (recovery), which at once goes to y's queued claim
    clock.set(datetime.combine(due + timedelta(days=31), time(10), tzinfo=UTC))
    before = p.custody.balance(ix).available
    p.custody.deposit(x.borrower_id, "2000")
    pay = p.loans.repay(x.id)
    assert p.custody.balance(ix).available - before == pay.amount - M("200.00") - pay.fee
    by_loan = {q.loan_id: q for q in reserve.queue(p)}
    assert by_loan[x.id].state == "closed" and by_loan[x.id].paid == M("200.00")
    assert by_loan[y.id].paid == M("400.00") and by_loan[y.id].state == "open"
    s = check_disclosure(p)
    assert s.recoveries == M("200.00") and s.queued_shortfall == M("590.07")
    # enough money: the rest is paid and the queue is empty
    reserve.seed(p, "1000", from_party=operator)
    assert reserve.queue(p, open_only=True) == []
    assert p.loans.position(y.id, iy).received_principal == M("990.07")
    assert fund_balance(p) == M("409.93")
    check_disclosure(p)


def test_partial_payment_is_split_pro_rata_among_the_claims_investors(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, rates={"AA": "0"})
    operator = party(p, "operator", "100")
    reserve.seed(p, "100", from_party=operator)
    a, b, c = party(p, "a"), party(p, "b"), party(p, "c")
    record = loan(p, "3000", "AA", {a: "1000", b: "1000", c: "1000"})
    p.cob.run(first_due(p, record) + timedelta(days=30), allow_future=True)
    assert [
        p.loans.position(record.id, i).received_principal for i in (a, b, c)
    ] == lendkit.allocate(M("100.00"), [1, 1, 1])
    assert check_disclosure(p).queued_shortfall == M("890.07")


def test_queue_is_settled_oldest_day_first(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform, rates={"AA": "0"}, pay_interest=True)
    operator = party(p, "operator", "2000")
    early = loan(p, "3000", "AA", {party(p, "e"): "3000"})
    clock.advance(days=10)
    late = loan(p, "3000", "AA", {party(p, "l"): "3000"})
    p.cob.run(first_due(p, early) + timedelta(days=30), allow_future=True)
    p.cob.run(first_due(p, late) + timedelta(days=30), allow_future=True)
    assert [q.loan_id for q in reserve.queue(p)] == [early.id, late.id]
    clock.set(datetime.combine(first_due(p, late) + timedelta(days=30), time(10), tzinfo=UTC))
    reserve.seed(p, "1500", from_party=operator)
    paid = {q.loan_id: q for q in reserve.queue(p)}
    # pay_interest: the older claim gets principal and interest (1020.07) in full first
    assert (paid[early.id].paid, paid[early.id].state) == (M("1020.07"), "paid")
    assert (paid[late.id].paid, paid[late.id].state) == (M("479.93"), "open")
    check_disclosure(p)


def test_contributions_from_platform_fees(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform, contribution_from="fees", rates={"B": "0.005", "HR": "0.05"})
    loan(p, "3000", "B", {party(p, "i"): "3000"}, proceeds="2970.00")  # only the service fee
    assert fund_balance(p) == M("15.00")  # 0.5 % of 3000 out of the 30.00 service fee
    assert p.reports.totals().revenue == M("15.00")
    # 5 % (150.00) cannot come out of 15.00 + 30.00 of revenue: disbursement refused, nothing booked
    borrower = party(p, "hr")
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade="HR")
    p.listings.publish(listing.id)
    inv = party(p, "i2", "3000")
    p.bidding.bid(listing.id, inv, "3000")
    with pytest.raises(lendkit.InsufficientFunds, match="exceeds platform revenue"):
        p.loans.disburse(listing.id)
    assert p.listings.get(listing.id).state == "funded"
    # seeding from revenue is the default source
    assert reserve.seed(p, "15") == M("30.00")
    assert p.reports.totals().revenue == M(0)
    with pytest.raises(lendkit.InsufficientFunds, match="platform revenue holds only"):
        reserve.seed(p, "1")
    check_disclosure(p)


def test_disabled_unless_listed_and_config_checked(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    plain = make_platform()
    assert not [d for d in plain.reports.disclosure() if d.plugin == "reserve"]
    # refused when the platform opens, not at the first command
    with pytest.raises(ConfigError, match="unknown grades"):
        open_platform(make_platform, rates={"ZZ": "0.01"})
    with pytest.raises(ConfigError, match=r"unknown keys \['after_dayz'\]; allowed: rates"):
        open_platform(make_platform, after_dayz=3)


def test_migrations_match_the_tables(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform)
    tables = set(reserve.lendkit_schema.metadata.tables)
    with p.engine.connect() as conn:
        mc = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, parent: kind != "table" or name in tables},
        )
        assert compare_metadata(mc, reserve.lendkit_schema.metadata) == []


def test_water_fill_levels_paid_fractions() -> None:
    shares = reserve.water_fill(M("200.00"), [99007, 99007], [10000, 0])
    assert shares == [M("50.00"), M("150.00")]
    assert reserve.water_fill(M("5.00"), [1000, 500], [0, 0]) == [M("3.33"), M("1.67")]
    assert reserve.water_fill(M("99.00"), [100000, 50000], [90000, 0]) == [M(0), M("99.00")]
    assert reserve.water_fill(M("30.00"), [100000, 50000], [0, 0]) == [M("20.00"), M("10.00")]
    assert reserve.water_fill(M("2000.00"), [100000, 50000], [0, 0]) == [M("1000.00"), M("500.00")]


def test_readme_example_runs() -> None:
    code = textwrap.dedent((reserve.__doc__ or "").split("Example::", 1)[1])
    exec(compile(code, "reserve-example", "exec"), {})


def test_guarantee_then_reserve_in_the_waterfall_pays_nobody_twice(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    from lendkit.plugins import guarantee

    p = make_platform(
        plugins=["online", "guarantee", "reserve"],
        config={
            "waterfall": ["guarantee", "reserve"],
            "grace_days": 0,
            "plugins": {"reserve": {"after_days": 1, "rates": {"AA": "0"}}},
        },
    )
    operator = party(p, "operator", "5000")
    reserve.seed(p, "5000", from_party=operator)
    company = party(p, "Thin Guarantee", "400")
    g = guarantee.register_guarantor(p, "Thin Guarantee", company, "1000", deposit_rate="0")
    borrower = party(p, "borrower")
    inv = party(p, "inv", "3000")
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id, grade="AA")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, inv, "3000")
    record = p.loans.disburse(listing.id)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    p.custody.withdraw(company, p.custody.balance(company).available)  # fee too: nothing left
    p.custody.deposit(company, "400")
    due = first_due(p, record)
    p.cob.run(due + timedelta(days=1), allow_future=True)
    p.cob.run(due + timedelta(days=2), allow_future=True)
    [comp] = guarantee.compensations(p)
    assert comp.principal == M("400.00") and comp.interest == M(0)  # principal first
    [paid] = reserve.payouts(p)
    assert paid.amount == M("590.07")  # the rest of the principal; interest is not the reserve's
    position = p.loans.position(record.id, inv)
    assert position.received_principal == M("990.07")
    assert position.received_interest == M(0)
    check_disclosure(p)


def test_a_short_reserve_shares_one_days_claims_pro_rata(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    """Two loans' claims met on the same COB date share a 600.00 fund by their amounts
    (660.04 and 650.19): 302.26 and 297.74, whichever loan COB happens to meet first."""
    p = open_platform(make_platform, rates={"AA": "0"}, after_days=1)
    operator = party(p, "operator", "600")
    reserve.seed(p, "600", from_party=operator)
    records = {}
    for amount, months in (("2000", 3), ("4000", 6)):
        borrower, investor = party(p, f"b{amount}"), party(p, f"i{amount}", amount)
        listing = p.listings.apply(borrower, amount=amount, annual_rate="12%", months=months)
        p.listings.approve(listing.id, grade="AA")
        p.listings.publish(listing.id)
        p.bidding.bid(listing.id, investor, amount)
        records[amount] = (p.loans.disburse(listing.id), investor)
        p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    small, large = records["2000"][0], records["4000"][0]
    due = first_due(p, small)
    assert first_due(p, large) == due
    claims = {k: p.loans.schedule(r.id).installments[0].principal for k, (r, _) in records.items()}
    assert claims == {"2000": M("660.04"), "4000": M("650.19")}

    p.cob.run(due + timedelta(days=1), allow_future=True)
    got = {k: p.loans.position(r.id, inv).received_principal for k, (r, inv) in records.items()}
    assert got == {"2000": M("302.26"), "4000": M("297.74")}
    assert [got["2000"], got["4000"]] == lendkit.allocate(M("600"), [66004, 65019])
    by_loan = {q.loan_id: q for q in reserve.queue(p)}
    assert {q.state for q in by_loan.values()} == {"open"}
    assert by_loan[small.id].shortfall == M("357.78")
    assert by_loan[large.id].shortfall == M("352.45")
    assert fund_balance(p) == M(0)
    s = check_disclosure(p)
    assert s.paid == M("600.00") and s.payouts == 2
    # the next day adds nothing: the fund is empty and the claims stay queued
    p.cob.run(due + timedelta(days=2), allow_future=True)
    assert reserve.status(p).paid == M("600.00")


def test_claims_wait_for_the_days_close(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    """A claim taken on during a COB day is paid when the day closes, not when it is met: a
    run that dies before the close pays nothing, and the rerun closes the day and pays."""
    p = open_platform(make_platform, rates={"AA": "0"}, after_days=1)
    operator = party(p, "operator", "2000")
    reserve.seed(p, "2000", from_party=operator)
    investor = party(p, "investor")
    record = loan(p, "3000", "AA", {investor: "3000"})
    due = first_due(p, record)
    day = due + timedelta(days=1)

    class Boom(Exception):
        pass

    class Crash:
        @lendkit.hookimpl(tryfirst=True)
        def lendkit_cob_day(self, ctx: Any, run_date: date) -> None:
            raise Boom(run_date)

    crash = Crash()
    p.pm.register(crash, name="crash")
    with pytest.raises(Boom):
        p.cob.run(day, allow_future=True)
    assert p.loans.position(record.id, investor).received_principal == M(0)
    assert [(q.state, q.shortfall) for q in reserve.queue(p, open_only=True)] == [
        ("new", M("990.07"))
    ]
    assert check_disclosure(p).queued_shortfall == M("990.07")
    p.pm.unregister(crash)
    assert not p.cob.run(day, allow_future=True).already_done
    assert p.loans.position(record.id, investor).received_principal == M("990.07")
    assert [q.state for q in reserve.queue(p)] == ["paid"]
    check_disclosure(p)
