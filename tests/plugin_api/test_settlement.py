"""Settle early and buy out the whole claim, through public hooks and commands only, on SQLite
and PostgreSQL (issue 11, part 2, item 5), and the payer of every receipt in an investor's
position history (item 3).

The loan: 1,000.00 at 12 % over three months from 2026-01-01, investors 600.00 and 400.00; rows
02-01 330.02 + 10.00, 03-01 333.32 + 6.70, 04-01 336.66 + 3.37; management fee 10 % of
interest, no service fee. Principal and penalty go to investors 6:4, interest by principal x rate
(also 6:4), the fee over their interest, each by largest remainder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlalchemy import select

import lendkit
from lendkit import Money, Product, hookimpl
from lendkit.core.errors import (
    CurrencyMismatch,
    Forbidden,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidState,
    InvalidValue,
    NotFound,
)
from lendkit.core.ledger import AccountRef
from lendkit.core.records import PaymentRecord, Receipt
from lendkit.store.tables import accounts, installments
from tests.conftest import FixedClock, dump, party

M = Money.of
CONFIG = {
    "service_fee_rate": "0",
    "management_fee_rate": "0.1",
    "grace_days": 0,
    "penalty_daily_rate": "0.0005",
}


class Margin:
    """A test plugin: ``margin`` loans' proceeds go to a trading account the plugin keeps for
    the borrower; its commands settle a loan or buy out investors from accounts it names."""

    lendkit_plugin_name = "margin"

    @hookimpl
    def lendkit_register_products(self) -> list[Product]:
        return [Product("margin", day_count="30/360")]

    @hookimpl
    def lendkit_disbursement_account(self, ctx: Any, listing: Any) -> Any:
        if listing.product != "margin":
            return None
        return ctx.account("margin", listing.borrower_id, "trading", listing.amount.currency)


def trading(ctx: Any, party_id: str) -> AccountRef:
    return ctx.account("margin", party_id, "trading", ctx.currency)


def top_up(p: lendkit.Platform, party_id: str, amount: str) -> None:
    """The borrower moves ``amount`` from its available balance to its trading account."""
    p.command(
        "margin.top_up",
        lambda ctx: ctx.transfer(
            "margin.top_up",
            party_id,
            [
                (ctx.party_account(party_id, ctx.currency), -M(amount)),
                (trading(ctx, party_id), M(amount)),
            ],
        ),
    )


def liquidate(
    p: lendkit.Platform,
    loan_id: str,
    source: Callable[[Any], Any],
    interest: str = "accrued",
    fee: Money | None = None,
) -> PaymentRecord:
    return p.command(
        "margin.liquidate", lambda ctx: ctx.settle(loan_id, source(ctx), interest, fee)
    )


def at(clock: FixedClock, day: date) -> None:
    clock.set(datetime.combine(day, time(20), tzinfo=UTC))


def make_loan(p: lendkit.Platform, product: str = "online") -> tuple[str, str, str, str]:
    """(loan, borrower, investor 600, investor 400); the borrower spent the proceeds."""
    n = len(p.listings.find())
    borrower = party(p, f"borrower-{n}")
    i1, i2 = party(p, f"i1-{n}", "600"), party(p, f"i2-{n}", "400")
    listing = p.listings.apply(
        borrower, amount="1000", annual_rate="12%", months=3, product=product
    )
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i1, "600")
    p.bidding.bid(listing.id, i2, "400")
    loan = p.loans.disburse(listing.id)
    if product != "margin":
        p.custody.withdraw(borrower, "1000")
    return loan.id, borrower, i1, i2


def available(p: lendkit.Platform, party_id: str) -> Money:
    return p.custody.balance(party_id).available


def balance(p: lendkit.Platform, code: str) -> Money:
    with p.engine.connect() as conn:
        row = conn.execute(select(accounts.c.balance).where(accounts.c.code == code)).one()
    return Money.from_minor(int(row.balance), "CNY")


def states(p: lendkit.Platform, loan_id: str) -> list[str]:
    with p.engine.connect() as conn:
        return list(
            conn.execute(
                select(installments.c.state)
                .where(installments.c.loan_id == loan_id)
                .order_by(installments.c.period)
            ).scalars()
        )


def receipts(p: lendkit.Platform, loan_id: str, investor: str) -> list[tuple[str, Money, str, str]]:
    return [
        (r.kind, r.amount, r.payer_kind, r.payer_id)
        for r in p.reports.position_history(loan_id, investor)
    ]


# -- settle --------------------------------------------------------------------------------------


def test_settling_an_overdue_loan_pays_penalty_due_rows_and_interest_to_date(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(config=CONFIG)
    loan_id, borrower, i1, i2 = make_loan(p)
    at(clock, date(2026, 2, 11))
    p.cob.run(date(2026, 2, 11))  # row 1 ten days overdue: 340.02 x 10 x 0.05 % = 1.70
    assert p.loans.get(loan_id).state == "overdue"
    at(clock, date(2026, 2, 15))
    p.custody.deposit(borrower, "1100")
    paid = p.loans.settle(loan_id)
    # row 1 in full with its penalty; rows 2-3: principal 669.98 + 14 days from 02-01 at
    # 12 % / 360 = 3.1266 -> 3.13 (prepayment would refuse: the loan is overdue)
    assert (paid.kind, paid.penalty, paid.interest, paid.principal, paid.amount) == (
        "settlement",
        M("1.70"),
        M("13.13"),
        M("1000"),
        M("1014.83"),
    )
    assert paid.fee == M("1.31") and paid.payer == borrower  # 10 % of 13.13
    # i1: 600 + penalty 1.02 + interest 7.88 - fee 0.79; i2: 400 + 0.68 + 5.25 - 0.52
    assert available(p, i1) == M("608.11") and available(p, i2) == M("405.41")
    assert available(p, borrower) == M("85.17")
    assert balance(p, "platform:revenue:revenue:CNY") == M("1.31")
    loan = p.loans.get(loan_id)
    assert loan.state == "settled" and loan.outstanding_principal == M("0")
    assert states(p, loan_id) == ["paid", "paid", "paid"]
    assert all(pos.outstanding_principal.is_zero() for pos in loan.positions)
    assert all(pos.outstanding_interest.is_zero() for pos in loan.positions)
    assert receipts(p, loan_id, i1) == [("settlement", M("608.11"), "borrower", borrower)]
    assert p.verify().ok


def test_a_payer_settles_at_scheduled_interest(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(config=CONFIG)
    loan_id, borrower, i1, i2 = make_loan(p)
    payer = party(p, "lessee", "1100")
    at(clock, date(2026, 2, 15))
    paid = p.loans.settle(loan_id, interest="scheduled", payer=payer)
    # every row's scheduled interest: 10.00 + 6.70 + 3.37; fee 2.007 -> 2.01
    assert (paid.interest, paid.amount, paid.fee, paid.payer) == (
        M("20.07"),
        M("1020.07"),
        M("2.01"),
        payer,
    )
    assert available(p, payer) == M("79.93") and available(p, borrower) == M("0")
    # interest 20.07 -> 12.04 / 8.03; fee 2.01 over them (1.2058 / 0.8042) -> 1.21 / 0.80
    assert available(p, i1) == M("610.83") and available(p, i2) == M("407.23")
    assert p.loans.get(loan_id).state == "settled"
    assert receipts(p, loan_id, i2) == [("settlement", M("407.23"), "party", payer)]
    assert p.verify().ok


def test_a_plugin_settles_from_its_trading_account_with_a_fee(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(plugins=["online", Margin()], config=CONFIG)
    loan_id, borrower, i1, i2 = make_loan(p, "margin")
    code = f"margin:{borrower}:trading:CNY"
    assert balance(p, code) == M("1000")
    p.custody.deposit(borrower, "20")
    top_up(p, borrower, "20")
    at(clock, date(2026, 1, 20))
    paid = liquidate(p, loan_id, lambda ctx: trading(ctx, borrower), fee=M("5"))
    # 30/360: 01-01 -> 01-20 is 19 days; 1,000.00 x 19 x 12 % / 360 = 6.3333 -> 6.33
    assert (paid.interest, paid.principal, paid.amount) == (M("6.33"), M("1000"), M("1011.33"))
    assert paid.fee == M("5.63") and paid.payer is None  # 0.63 management + 5.00 settlement
    assert balance(p, code) == M("8.67")
    assert balance(p, "platform:revenue:revenue:CNY") == M("5.63")
    # interest 6.33 -> 3.80 / 2.53, fee 0.63 over them -> 0.38 / 0.25
    assert available(p, i1) == M("603.42") and available(p, i2) == M("402.28")
    assert p.loans.get(loan_id).state == "settled"
    assert receipts(p, loan_id, i1) == [("settlement", M("603.42"), "margin", borrower)]
    history = p.reports.position_history(loan_id, i1)
    assert history[0].payer_account == code and history[0].paid_by == f"margin {borrower}"
    assert p.verify().ok


def test_refused_settlements_change_nothing(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    p = make_platform(plugins=["online", Margin()], config=CONFIG)
    loan_id, borrower, _i1, _i2 = make_loan(p)
    other, *_ = make_loan(p)  # another loan: its listing's escrow exists
    listing = p.loans.get(other).listing_id
    stranger = p.parties.register("unverified").id
    at(clock, date(2026, 2, 15))
    before = dump(db_url)
    refusals: list[tuple[Callable[[], object], type[Exception], str]] = [
        (
            lambda: p.loans.settle(loan_id, interest="daily"),
            InvalidValue,
            "settlement interest 'daily' is not allowed: choose one of accrued, scheduled",
        ),
        (lambda: p.loans.settle("loan_nope"), NotFound, "loan 'loan_nope' does not exist"),
        (
            lambda: p.loans.settle(loan_id),
            InsufficientFunds,
            r"holds 0\.00 CNY, 1013\.13 CNY is needed",
        ),
        (lambda: p.loans.settle(loan_id, payer=stranger), Forbidden, "settle loan"),
        (lambda: p.loans.settle(loan_id, payer="pty_nobody"), NotFound, "pty_nobody"),
        (
            lambda: liquidate(
                p, loan_id, lambda ctx: AccountRef(987654, "margin:x:trading:CNY", "CNY", False)
            ),
            NotFound,
            "account 'margin:x:trading:CNY' does not exist",
        ),
        (
            lambda: liquidate(
                p,
                loan_id,
                lambda ctx: AccountRef(987654, f"party:{borrower}:available:CNY", "CNY", False),
            ),
            NotFound,
            "#987654",
        ),
        (
            lambda: liquidate(
                p, loan_id, lambda ctx: ctx.existing_account(f"listing:{listing}:listing:CNY")
            ),
            Forbidden,
            "cannot be settled from",
        ),
        (
            lambda: liquidate(p, loan_id, lambda ctx: ctx.account("margin", "x", "trading", "USD")),
            CurrencyMismatch,
            "in USD",
        ),
        (
            lambda: liquidate(p, loan_id, lambda ctx: trading(ctx, borrower), fee=M("-1")),
            InvalidAmount,
            "must not be negative",
        ),
        (
            lambda: liquidate(p, loan_id, lambda ctx: trading(ctx, borrower), interest="all"),
            InvalidValue,
            "settlement interest 'all'",
        ),
    ]
    for call, error, message in refusals:
        with pytest.raises(error, match=message):
            call()
        assert dump(db_url) == before, message
    p.custody.deposit(borrower, "1100")
    p.loans.settle(loan_id)
    after = dump(db_url)
    with pytest.raises(
        InvalidState, match=f"loan {loan_id} is settled; there is nothing to settle"
    ):
        p.loans.settle(loan_id)
    assert dump(db_url) == after
    assert p.verify().ok


def test_settle_with_a_key_replays_its_first_outcome(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(config=CONFIG)
    loan_id, borrower, i1, _i2 = make_loan(p)
    at(clock, date(2026, 2, 15))
    with pytest.raises(InsufficientFunds):
        p.loans.settle(loan_id, key="settle-1")
    p.custody.deposit(borrower, "1100")
    with pytest.raises(InsufficientFunds):  # a refusal on state stays the key's outcome
        p.loans.settle(loan_id, key="settle-1")
    first = p.loans.settle(loan_id, key="settle-2")
    again = p.loans.settle(loan_id, key="settle-2")
    assert again == first and first.amount == M("1013.13")
    assert available(p, borrower) == M("86.87") and available(p, i1) == M("607.09")
    with pytest.raises(IdempotencyConflict):
        p.loans.settle(loan_id, interest="scheduled", key="settle-2")
    assert p.verify().ok


# -- buy out the whole claim -----------------------------------------------------------------------


def test_a_lessor_buys_out_the_whole_claim_and_then_holds_it(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(config=CONFIG)
    loan_id, borrower, i1, i2 = make_loan(p)
    lessor = party(p, "lessor", "2000")
    at(clock, date(2026, 1, 10))  # nothing due yet
    bought = p.command(
        "lessor.buy_back",
        lambda ctx: ctx.pay_investors(
            loan_id,
            ctx.party_account(lessor, ctx.currency),
            M("1000"),
            M("1000"),
            reason="buy-back",
            include_future=True,
        ),
    )
    assert bought == M("1020.07")  # every row's principal and scheduled interest
    assert available(p, lessor) == M("979.93")
    assert available(p, i1) == M("610.83") and available(p, i2) == M("407.23")
    loan = p.loans.get(loan_id)
    assert loan.state == "active" and loan.outstanding_principal == M("1000")  # owed to the lessor
    for pos in loan.positions:
        assert pos.outstanding_principal.is_zero() and pos.outstanding_interest.is_zero()
    # the borrower pays row 1 on its due date: all of it goes to the lessor
    at(clock, date(2026, 2, 1))
    p.custody.deposit(borrower, "1100")
    assert p.loans.repay(loan_id).amount == M("340.02")
    assert available(p, lessor) == M("1319.95")
    # settling at accrued interest does not cut the claim the lessor bought: it gets back
    # exactly what it paid (the borrower pays rows 2-3 at their scheduled interest)
    at(clock, date(2026, 2, 15))
    paid = p.loans.settle(loan_id)
    assert (paid.principal, paid.interest) == (M("669.98"), M("10.07"))
    assert available(p, lessor) == M("2000.00")
    assert available(p, i1) == M("610.83") and available(p, i2) == M("407.23")
    assert p.loans.get(loan_id).state == "settled"
    assert receipts(p, loan_id, i1) == [("cover", M("610.83"), "party", lessor)]
    assert p.verify().ok


def test_a_guarantor_pays_penalty_too_and_the_borrower_owes_it_no_more(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(config=CONFIG)
    loan_id, borrower, i1, i2 = make_loan(p)
    g = party(p, "guarantor", "500")
    p.command(
        "guarantor.fund",
        lambda ctx: ctx.transfer(
            "guarantor.fund",
            g,
            [
                (ctx.party_account(g, ctx.currency), -M("500")),
                (ctx.account("guarantor", g, "deposit", ctx.currency), M("500")),
            ],
        ),
    )
    at(clock, date(2026, 2, 11))
    p.cob.run(date(2026, 2, 11))  # row 1: 1.70 penalty
    paid = p.command(
        "guarantor.cover",
        lambda ctx: ctx.pay_investors(
            loan_id,
            ctx.account("guarantor", g, "deposit", ctx.currency),
            M("1000"),
            M("1000"),
            reason="guarantee",
            penalty=M("1000"),
        ),
    )
    assert paid == M("341.72")  # row 1 only (the others are not due): 340.02 + 1.70
    assert balance(p, f"guarantor:{g}:deposit:CNY") == M("158.28")
    # i1: 198.01 + 6.00 - 0.60 + 1.02; i2: 132.01 + 4.00 - 0.40 + 0.68
    assert available(p, i1) == M("204.43") and available(p, i2) == M("136.29")
    # the borrower repays row 1 without the penalty the guarantor paid; it goes to the guarantor
    p.custody.deposit(borrower, "400")
    repaid = p.loans.repay(loan_id)
    assert (repaid.amount, repaid.penalty) == (M("340.02"), M("0"))
    assert balance(p, f"guarantor:{g}:deposit:CNY") == M("498.30")
    assert p.loans.get(loan_id).state == "active"
    assert receipts(p, loan_id, i1) == [("cover", M("204.43"), "guarantor", g)]
    history = p.reports.position_history(loan_id, i1)
    assert isinstance(history[0], Receipt) and history[0].paid_by == f"guarantor {g}"
    assert p.verify().ok


def test_a_third_party_paying_the_last_penalty_closes_the_loan(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    config = {**CONFIG, "allocation_order": ["interest", "principal", "penalty"]}
    p = make_platform(config=config)
    loan_id, borrower, _i1, i2 = make_loan(p)
    reserve = party(p, "reserve", "10")
    for day, amount in ((date(2026, 2, 1), "340.02"), (date(2026, 3, 1), "340.02")):
        at(clock, day)
        p.custody.deposit(borrower, amount)
        p.loans.repay(loan_id)
    at(clock, date(2026, 4, 11))
    p.cob.run(date(2026, 4, 11))  # row 3 ten days overdue: 340.03 x 10 x 0.05 % = 1.70
    p.custody.deposit(borrower, "340.03")
    p.loans.repay(loan_id, "340.03")  # its principal and interest; the penalty remains
    loan = p.loans.get(loan_id)
    assert loan.state == "overdue" and loan.outstanding_principal.is_zero()
    paid = p.command(
        "reserve.penalty",
        lambda ctx: ctx.pay_investors(
            loan_id,
            ctx.party_account(reserve, ctx.currency),
            M("0"),
            M("0"),
            reason="reserve",
            penalty=M("10"),
        ),
    )
    assert paid == M("1.70") and available(p, reserve) == M("8.30")
    assert p.loans.get(loan_id).state == "settled"
    assert states(p, loan_id) == ["paid", "paid", "paid"]
    assert [r[2] for r in receipts(p, loan_id, i2)] == ["borrower", "borrower", "borrower", "party"]
    assert p.verify().ok
