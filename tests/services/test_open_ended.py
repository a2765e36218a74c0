"""Open-ended loans (issue 11 part 2 item 6) through a small product plugin (public hooks only):
interest accrues daily at close of business on the outstanding principal, settles on the
product's period from the collection sources, principal is repaid in any amount at any time,
the maximum term forces settlement; exact to the cent, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

import lendkit
from lendkit import Money, OpenEndedTerms, Product, hookimpl
from lendkit.core.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidState,
    InvalidValue,
)
from lendkit.core.open_ended import accrue, interest_to_date
from lendkit.core.schedule import DayCount
from tests.conftest import FixedClock, dump, party

START = date(2026, 1, 1)
MARGIN = OpenEndedTerms(max_days=365, settle_day=21, basis="ACT/360")
REVOLVER = OpenEndedTerms(max_days=20, settle_every_days=10, basis="ACT/365")


class CreditCo:
    """A test plugin: a margin product settling monthly on the 21st (a year at most) and a
    revolving credit settling every 10 days (20 days at most)."""

    lendkit_plugin_name = "creditco"

    @hookimpl
    def lendkit_register_products(self) -> list[Product]:
        return [
            Product("margin", "stock margin", open_ended=MARGIN),
            Product("revolver", "supply-chain revolving credit", open_ended=REVOLVER),
        ]


class SponsorPays:
    """A test plugin: a sponsor (the core enterprise) pays the revolver's settlements."""

    lendkit_plugin_name = "sponsorpays"

    def __init__(self) -> None:
        self.sponsor: str | None = None

    @hookimpl
    def lendkit_collection_sources(self, ctx: Any, loan: Any, installment: Any) -> Any:
        if loan.product == "revolver" and self.sponsor is not None:
            return [self.sponsor]
        return None


def at(clock: FixedClock, day: date, hour: int = 20) -> None:
    clock.set(datetime.combine(day, time(hour), tzinfo=UTC))


def open_loan(
    p: lendkit.Platform,
    clock: FixedClock,
    product: str,
    shares: tuple[str, ...] = ("60000", "40000"),
    rate: str = "8%",
) -> tuple[str, str, list[str]]:
    """(loan id, borrower, investors): a 100,000 open-ended loan disbursed on START."""
    at(clock, START, 9)
    borrower = party(p, "trader")
    investors = [party(p, f"inv{k}", share) for k, share in enumerate(shares)]
    amount = str(sum(Decimal(s) for s in shares))
    listing = p.listings.apply(
        borrower, amount, annual_rate=rate, months=12, method="open-ended", product=product
    )
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    for inv, share in zip(investors, shares, strict=True):
        p.bidding.bid(listing.id, inv, share)
    loan = p.loans.disburse(listing.id)
    assert loan.method == "open-ended" and p.loans.schedule(loan.id).installments == ()
    terms = p.products[product].open_ended
    assert terms is not None
    for agreement in p.loans.agreements(loan.id):
        assert (agreement["method"], agreement["schedule"]) == ("open-ended", [])
        assert agreement["open_ended"] == {
            "basis": terms.basis.value,
            "maturity": terms.maturity(START).isoformat(),
            "max_days": terms.max_days,
            "settle_day": terms.settle_day,
            "settle_every_days": terms.settle_every_days,
        }
    return loan.id, borrower, investors


def half_up(x: Fraction) -> int:
    return int((x * 2 + 1) // 2)


def model_settlements(
    principal: int,
    rate: Fraction,
    year_days: int,
    repaid: dict[date, int],
    settle_on: list[date],
) -> list[int]:
    """An independent model (ACT basis): each day from START accrues the principal left at its
    end x rate / year days exactly; settlement k takes round(interest up to it) - round(interest
    up to the previous one), so cents carry forward."""
    out, exact, taken = [], Fraction(0), 0
    left, day = principal, START
    for when in settle_on:
        while day < when:
            left -= repaid.get(day, 0)
            exact += left * rate / year_days
            day += timedelta(days=1)
        out.append(half_up(exact) - taken)
        taken = half_up(exact)
    return out


def payments(p: lendkit.Platform, db_url: str, loan_id: str) -> list[tuple[Any, ...]]:
    """(paid_on, kind, interest, principal, penalty, payer) of every payment, in order."""
    from sqlalchemy import create_engine, select

    from lendkit.store.tables import payments as t

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.paid_on, t.c.kind, t.c.interest, t.c.principal, t.c.penalty, t.c.payer_id)
            .where(t.c.loan_id == loan_id)
            .order_by(t.c.paid_on, t.c.created_at, t.c.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


# -- a year of daily close of business ---------------------------------------------------------


@pytest.mark.slow  # 366 close-of-business runs
def test_a_year_of_daily_cob_with_principal_repayments(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    """Interest settles on each 21st from the borrower's balance, to the cent of an exact
    model, with principal repaid on two days; at maturity the rest falls due and the loan
    settles. Investors get principal pro rata and interest by their shares, to the cent."""
    p = make_platform(plugins=["online", CreditCo()])
    loan_id, borrower, investors = open_loan(p, clock, "margin")
    p.custody.deposit(borrower, "10000")  # proceeds 99,000 + this pay interest and principal
    repaid = {date(2026, 3, 10): 2_000_000, date(2026, 7, 1): 3_000_000}
    seen = {}
    day = START
    maturity = date(2027, 1, 1)
    while day <= maturity:
        at(clock, day, 10)
        if day in repaid:
            pay = p.loans.repay_principal(loan_id, Money.from_minor(repaid[day], "CNY"))
            assert (pay.kind, pay.principal.minor, pay.interest, pay.payer) == (
                "principal",
                repaid[day],
                Money.zero(),
                borrower,
            )
        at(clock, day)
        p.cob.run(day)
        if day == date(2026, 2, 15):
            seen["mid"] = p.loans.open_ended(loan_id)
        day += timedelta(days=1)

    settle_on = [date(2026, m, 21) for m in range(1, 13)] + [maturity]
    expected = model_settlements(10_000_000, Fraction(8, 100), 360, repaid, settle_on)
    got = payments(p, db_url, loan_id)
    collections = [r for r in got if r[1] == "collection"]
    assert [(r[0], r[2]) for r in collections] == list(zip(settle_on, expected, strict=True))
    assert [r[3] for r in collections] == [0] * 12 + [5_000_000]  # the rest at maturity
    assert all(r[4] == 0 and r[5] == borrower for r in collections)
    # one accrual over the year, rounded once, is what the twelve settlements took together
    exact = sum(
        Fraction(10_000_000 - sum(v for d, v in repaid.items() if d <= START + timedelta(k)))
        * Fraction(8, 100)
        / 360
        for k in range(365)
    )
    assert sum(expected) == half_up(exact) == sum(r[2] for r in collections)
    # mid-February: accrued through the 14th, settled on January 21st
    mid = seen["mid"]
    assert mid.accrued_through == date(2026, 2, 15)
    assert mid.settled_interest.minor == expected[0]
    assert mid.accrued_interest.minor == half_up(Fraction(10_000_000 * 8 * 45, 100 * 360))
    assert mid.next_settlement == date(2026, 2, 21) and mid.maturity == maturity

    loan = p.loans.get(loan_id)
    assert loan.state == "settled" and loan.outstanding_principal == Money.zero()
    interest = sum(expected)
    pos = loan.positions
    assert [x.received_principal.minor for x in pos] == [6_000_000, 4_000_000]
    gross = [x.received_interest.minor + x.fees_paid.minor for x in pos]
    assert sum(gross) == interest and abs(gross[0] * 2 - gross[1] * 3) <= 5 * 13
    fee = sum(x.fees_paid.minor for x in pos)
    for inv, x in zip(investors, pos, strict=True):
        assert p.custody.balance(inv).available == x.received_principal + x.received_interest
    assert p.custody.balance(borrower).available.minor == (
        9_900_000 + 1_000_000 - 10_000_000 - interest
    )
    assert fee > 0
    assert p.verify().ok


# -- overdue interest, penalty, forced settlement at the maximum term ---------------------------


def test_unpaid_interest_goes_overdue_and_max_term_forces_settlement(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    """A revolver's sponsor (its collection source) has nothing: the day-10 interest goes
    overdue after the grace days with penalty; at the 20-day maximum term the principal and
    the rest of the interest fall due and go overdue too; once the sponsor pays, COB collects
    everything with penalty and the loan closes."""
    plugin = SponsorPays()
    p = make_platform(plugins=["online", CreditCo(), plugin])
    loan_id, borrower, _ = open_loan(p, clock, "revolver", shares=("100000",), rate="7.3%")
    plugin.sponsor = party(p, "core enterprise")
    d10, d20 = START + timedelta(10), START + timedelta(20)
    at(clock, d10 + timedelta(5))
    p.cob.run(d10 + timedelta(5))
    rows = p.loans.schedule(loan_id).installments
    interest10 = 10_000_000 * 73 * 10 // (1000 * 365)  # 200.00 exactly (7.3 % ACT/365)
    assert [(r.due_date, r.principal.minor, r.interest.minor) for r in rows] == [
        (d10, 0, interest10)
    ]
    assert p.loans.get(loan_id).state == "overdue"
    with pytest.raises(InvalidState, match="is open-ended: repay its principal"):
        p.loans.prepay(loan_id)
    # the principal can still be repaid while interest is overdue; the borrower has proceeds
    p.loans.repay_principal(loan_id, "40000", payer=borrower, key="part")
    at(clock, d20 + timedelta(10))
    p.cob.run(d20 + timedelta(10))
    rows = p.loans.schedule(loan_id).installments
    # days 10..14 on 100,000, days 15..19 on 60,000 (repaid on day 15)
    base = 10_000_000 * 15 + 6_000_000 * 5
    interest20 = half_up(Fraction(base) * Fraction(73, 1000) / 365) - interest10
    assert interest20 == 16_000
    assert [(r.due_date, r.principal.minor, r.interest.minor) for r in rows] == [
        (d10, 0, interest10),
        (d10 + timedelta(5), 4_000_000, 0),
        (d20, 6_000_000, interest20),
    ]
    before = dump(db_url)
    with pytest.raises(InvalidState, match="matured on 2026-01-21"):
        p.loans.repay_principal(loan_id, "1")
    assert dump(db_url) == before
    # penalty: the overdue base x days x 0.05 % a day, from each due date to the run date
    penalty10 = half_up(Fraction(interest10 * 20 * 5, 10_000))
    penalty20 = half_up(Fraction((6_000_000 + interest20) * 10 * 5, 10_000))
    owed = interest10 + 6_000_000 + interest20 + penalty10 + penalty20
    p.custody.deposit(plugin.sponsor, Money.from_minor(owed, "CNY"))
    at(clock, d20 + timedelta(11))
    p.cob.run(d20 + timedelta(11))
    # COB collects before it accrues the day's penalty: the penalty to the previous run
    got = payments(p, db_url, loan_id)
    sponsor = plugin.sponsor
    assert sorted(got[1:], key=lambda r: r[3]) == [
        (d20 + timedelta(11), "collection", interest10, 0, penalty10, sponsor),
        (d20 + timedelta(11), "collection", interest20, 6_000_000, penalty20, sponsor),
    ]
    loan = p.loans.get(loan_id)
    assert loan.state == "settled" and loan.outstanding_principal == Money.zero()
    assert p.custody.balance(sponsor).available == Money.zero()
    assert p.verify().ok


# -- principal repayments: refusals, idempotency, retry, closing -------------------------------


def test_repay_principal_refusals_change_nothing(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    p = make_platform(plugins=["online", CreditCo()])
    loan_id, _, _ = open_loan(p, clock, "margin")
    stranger = p.parties.register("unverified").id
    at(clock, START + timedelta(3), 10)
    before = dump(db_url)
    cases: list[tuple[Any, type[Exception], str]] = [
        ("100000.01", InvalidAmount, r"100000\.01 CNY exceeds .* outstanding principal 100000"),
        ("0", InvalidAmount, "principal repayment 0.00 is not allowed: it must be more than zero"),
        ("-5", InvalidAmount, "more than zero"),
        (Money.of("10", "USD"), CurrencyMismatch, "USD"),
        ("abc", InvalidValue, "principal repayment"),
    ]
    for amount, error, message in cases:
        with pytest.raises(error, match=message):
            p.loans.repay_principal(loan_id, amount)
    with pytest.raises(InvalidState, match="verified"):
        p.loans.repay_principal(loan_id, "10", payer=stranger)
    assert dump(db_url) == before
    poor = party(p, "poor")
    before = dump(db_url)
    with pytest.raises(InsufficientFunds):
        p.loans.repay_principal(loan_id, "10", payer=poor)
    assert dump(db_url) == before
    # a scheduled loan is not open-ended
    other = party(p, "b2")
    inv = party(p, "inv9", "1000")
    listing = p.listings.apply(other, "1000", annual_rate="8%", months=3)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, inv, "1000")
    scheduled = p.loans.disburse(listing.id).id
    before = dump(db_url)
    with pytest.raises(InvalidState, match="is not open-ended"):
        p.loans.repay_principal(scheduled, "10")
    with pytest.raises(InvalidState, match="is not open-ended"):
        p.loans.open_ended(scheduled)
    assert dump(db_url) == before
    assert p.verify().ok


def test_products_declare_open_ended_terms(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(plugins=["online", CreditCo()])
    assert p.products["margin"].allowed_methods[-1] == "open-ended"
    b = party(p, "b")
    with pytest.raises(InvalidValue, match=r"repayment method 'open-ended' .*bullet"):
        p.listings.apply(b, "1000", annual_rate="8%", method="open-ended")  # online: none
    with pytest.raises(InvalidValue, match="open_ended=OpenEndedTerms"):
        Product("x", methods=("open-ended",))
    with pytest.raises(InvalidValue, match="exactly one settlement period"):
        OpenEndedTerms(max_days=30)
    with pytest.raises(InvalidValue, match="exactly one settlement period"):
        OpenEndedTerms(max_days=30, settle_day=1, settle_every_days=7)
    with pytest.raises(InvalidValue, match=r"settle_day 32 is out of range: allowed 1\.\.31"):
        OpenEndedTerms(max_days=30, settle_day=32)
    with pytest.raises(InvalidValue, match="max_days 0 is out of range"):
        OpenEndedTerms(max_days=0, settle_day=1)
    with pytest.raises(InvalidValue, match="longer than the maximum term"):
        OpenEndedTerms(max_days=30, settle_every_days=31)
    with pytest.raises(InvalidValue, match="unknown day-count basis"):
        OpenEndedTerms(max_days=30, settle_day=1, basis="ACT/366")
    with pytest.raises(InvalidValue, match="must be OpenEndedTerms"):
        Product("x", open_ended={"max_days": 30})  # type: ignore[arg-type]
    # a month without the settlement day settles on its last day
    t = OpenEndedTerms(max_days=120, settle_day=31)
    assert t.settlements(date(2026, 1, 5), date(2026, 5, 5)) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 5),  # the maturity
    ]
    assert t.next_settlement(date(2026, 1, 5), date(2026, 2, 28)) == date(2026, 3, 31)
    assert t.next_settlement(date(2026, 1, 5), date(2026, 4, 30)) == date(2026, 5, 5)
    assert t.next_settlement(date(2026, 1, 5), date(2026, 5, 5)) is None


def test_repay_principal_key_replays_and_retry_has_one_effect(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    """A repeated key returns the first payment (one effect), the same key for another amount
    is a conflict; a retryable error on the first attempt is retried with one effect; repaying
    the last principal makes the accrued interest due that day, and the loan closes once it is
    paid."""
    p = make_platform(plugins=["online", CreditCo()])
    loan_id, borrower, _ = open_loan(p, clock, "margin")
    p.custody.deposit(borrower, "2000")  # proceeds 99,000 + this repay 100,000 and interest
    day = START + timedelta(10)
    at(clock, day, 10)
    first = p.loans.repay_principal(loan_id, "30000", key="k1")
    before = dump(db_url)
    assert p.loans.repay_principal(loan_id, "30000", key="k1") == first
    assert dump(db_url) == before
    with pytest.raises(IdempotencyConflict):
        p.loans.repay_principal(loan_id, "20000", key="k1")

    failed = [0]

    @event.listens_for(p.engine, "before_cursor_execute")
    def fail_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "INSERT INTO lendkit_payments" in statement and not failed[0]:
            failed[0] += 1
            if p.engine.dialect.name == "sqlite":
                orig: Exception = sqlite3.OperationalError("database is locked")
            else:
                orig = psycopg.errors.SerializationFailure("injected")
            raise OperationalError(statement, {}, orig)

    day += timedelta(5)
    at(clock, day, 10)
    last = p.loans.repay_principal(loan_id, "70000", key="k2")
    event.remove(p.engine, "before_cursor_execute", fail_once)
    assert failed[0] == 1 and last.principal == Money.of("70000")
    loan = p.loans.get(loan_id)
    assert loan.outstanding_principal == Money.zero() and loan.state == "active"
    # 10 days on 100,000 and 5 on 70,000 at 8 % ACT/360, due today
    interest = half_up(Fraction(10_000_000 * 10 + 7_000_000 * 5, 1) * Fraction(8, 100) / 360)
    rows = p.loans.schedule(loan_id).installments
    assert [(r.due_date, r.principal.minor, r.interest.minor) for r in rows] == [
        (START + timedelta(10), 3_000_000, 0),
        (day, 7_000_000, 0),
        (day, 0, interest),
    ]
    assert [x.received_principal for x in loan.positions] == [
        Money.of("60000"),
        Money.of("40000"),
    ]
    paid = p.loans.repay(loan_id)
    assert paid.interest.minor == interest
    assert p.loans.get(loan_id).state == "settled"
    with pytest.raises(InvalidState, match="takes no more payments"):
        p.loans.repay_principal(loan_id, "1")
    kinds = sorted(r[1] for r in payments(p, db_url, loan_id))
    assert kinds == ["principal", "principal", "repayment"]
    assert p.verify().ok


def test_cob_after_a_gap_gives_the_daily_figures(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    """Principal repaid while close of business lags behind: the catch-up run makes the same
    settlements, on the same dates, as daily runs would (the model's figures)."""
    p = make_platform(plugins=["online", CreditCo()])
    loan_id, _, _ = open_loan(p, clock, "margin")
    at(clock, START)
    p.cob.run(START)
    at(clock, date(2026, 2, 25), 10)  # COB has not run since START; two settlements are behind
    p.loans.repay_principal(loan_id, "25000")
    at(clock, date(2026, 2, 26))
    p.cob.run(date(2026, 2, 26))
    settle_on = [date(2026, 1, 21), date(2026, 2, 21)]
    expected = model_settlements(
        10_000_000, Fraction(8, 100), 360, {date(2026, 2, 25): 2_500_000}, settle_on
    )
    got = [(r[0], r[2]) for r in payments(p, db_url, loan_id) if r[1] == "collection"]
    assert got == list(zip(settle_on, expected, strict=True))
    status = p.loans.open_ended(loan_id)
    assert status.accrued_through == date(2026, 2, 26)
    # 4 days since the settlement at 100,000, one at 75,000: accrued, not settled yet
    *_, unsettled = model_settlements(
        10_000_000,
        Fraction(8, 100),
        360,
        {date(2026, 2, 25): 2_500_000},
        [*settle_on, date(2026, 2, 26)],
    )
    assert status.settled_interest.minor == sum(expected)
    assert status.unsettled_interest.minor == unsettled
    assert status.next_settlement == date(2026, 3, 21)
    assert p.verify().ok


# -- the rounding rule, exact: a Hypothesis property -------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    principal=st.integers(1, 10**13),
    rate=st.decimals(min_value=0, max_value=Decimal("0.36"), places=6),
    basis=st.sampled_from(list(DayCount)),
    start=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    days=st.integers(1, 400),
    steps=st.lists(st.tuples(st.integers(0, 399), st.integers(1, 10**12)), max_size=8),
    period=st.integers(1, 40),
)
def test_daily_accruals_and_one_accrual_agree_to_the_cent(
    principal: int,
    rate: Decimal,
    basis: DayCount,
    start: date,
    days: int,
    steps: list[tuple[int, int]],
    period: int,
) -> None:
    """Accruing day by day (with principal repayments on random days) and accruing each
    stretch of constant principal at once give the same exact base; settlements every
    ``period`` days, each the interest to date rounded once minus what earlier ones took, sum
    to the interest of one accrual over all the days, and that is within half a minor unit of
    the exact figure (no cent drift however many settlements)."""
    repay: dict[int, int] = {}
    left = principal
    for day, amount in sorted(steps):
        if day < days and left > 0:
            take = min(amount, left)
            repay[day] = repay.get(day, 0) + take
            left -= take
    # daily: each day accrues at the principal left at its end, settlements carry the residual
    base, outstanding, settled, taken = 0, principal, 0, []
    for k in range(days):
        d = start + timedelta(k)
        outstanding -= repay.get(k, 0)
        base = accrue(base, outstanding, basis, start, d, d + timedelta(1))
        if (k + 1) % period == 0 or k == days - 1:
            due = interest_to_date(base, rate, basis) - settled
            assert due >= 0
            taken.append(due)
            settled += due
    assert base == _one_accrual(principal, repay, basis, start, days)
    exact = Fraction(base) * Fraction(rate) / basis.year_days
    assert sum(taken) == interest_to_date(base, rate, basis) == half_up(exact)
    assert abs(sum(taken) - exact) <= Fraction(1, 2)


def _one_accrual(
    principal: int, repay: dict[int, int], basis: DayCount, start: date, days: int
) -> int:
    """The base of the whole stretch at once: each stretch of constant principal accrued in one
    call, a repayment on day k lowering the principal from day k on."""
    base, outstanding, since = 0, principal, start
    for k in sorted(repay):
        end = start + timedelta(k)
        base = accrue(base, outstanding, basis, start, since, end)
        outstanding -= repay[k]
        since = end
    return accrue(base, outstanding, basis, start, since, start + timedelta(days))


@pytest.mark.slow  # two platforms and ~70 close-of-business days per example
@settings(max_examples=4, deadline=None)
@given(
    principal=st.integers(100_00, 1_000_000_00),
    rate=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.24"), places=4),
    every=st.integers(5, 31),
    max_days=st.integers(32, 70),
    basis=st.sampled_from(["ACT/360", "ACT/365"]),
    repay=st.lists(st.tuples(st.integers(1, 69), st.integers(1, 40_000_00)), max_size=4),
)
def test_daily_and_catch_up_cob_agree_with_the_model(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Any,
    principal: int,
    rate: Decimal,
    every: int,
    max_days: int,
    basis: str,
    repay: list[tuple[int, int]],
) -> None:
    """Random terms and principal repayments: close of business run every day and run once at
    the end (catching up the days) book the same settlements, each the model's figure, and the
    maximum term forces the rest due."""
    import shutil

    from tests.conftest import fresh_database

    terms = OpenEndedTerms(max_days=max_days, settle_every_days=every, basis=basis)

    class Terms:
        lendkit_plugin_name = "terms"

        @hookimpl
        def lendkit_register_products(self) -> list[Product]:
            return [Product("line", open_ended=terms)]

    repaid: dict[date, int] = {}
    left = principal
    for k, amount in sorted(repay):
        if k < max_days and left > 1:
            take = min(amount, left - 1)
            repaid[START + timedelta(k)] = repaid.get(START + timedelta(k), 0) + take
            left -= take
    end = START + timedelta(max_days)
    results = []
    for daily in (True, False):
        path = tmp_path_factory.mktemp("oe") / "lendkit.db"
        url = fresh_database("sqlite", path, sqlite_template)
        clock = FixedClock()
        p = lendkit.Platform.open(url, plugins=["online", Terms()], clock=clock)
        try:
            amount = Money.from_minor(principal, "CNY")
            loan_id, borrower, _ = open_loan(
                p, clock, "line", shares=(str(amount.amount),), rate=str(rate)
            )
            p.custody.deposit(borrower, Money.from_minor(principal, "CNY"))
            at(clock, START)
            p.cob.run(START)
            day = START + timedelta(1)
            while day <= end:
                if day in repaid:
                    at(clock, day, 10)
                    p.loans.repay_principal(loan_id, Money.from_minor(repaid[day], "CNY"))
                if daily or day == end:
                    at(clock, day)
                    p.cob.run(day)
                day += timedelta(1)
            got = [r[:4] for r in payments(p, url, loan_id)]
            results.append((sorted(got), p.loans.get(loan_id).state))
            assert p.verify().ok
        finally:
            p.close()
        shutil.rmtree(path.parent, ignore_errors=True)
    assert results[0] == results[1]
    settle_on = [START + timedelta(k) for k in range(every, max_days, every)] + [end]
    year = 365 if basis == "ACT/365" else 360
    expected = model_settlements(principal, Fraction(rate), year, repaid, settle_on)
    collections = [(r[0], r[2]) for r in results[0][0] if r[1] == "collection"]
    # a settlement with no interest makes no row; the maturity's has the principal left
    assert collections == [
        (d, x) for d, x in zip(settle_on, expected, strict=True) if x or d == end
    ]
    assert results[0][1] == "settled"
