"""Someone other than the borrower pays (acceptor bank, core enterprise, lessee), on SQLite and
PostgreSQL: ``loans.repay(payer=...)`` and COB's ``lendkit_collection_sources``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

import pytest
from sqlalchemy import select

import lendkit
from lendkit import Money
from lendkit.core.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    InvalidState,
    NotFound,
    PluginError,
)
from lendkit.store.tables import installments, payments
from lendkit.testing import fund_listing, make_party
from tests.conftest import FixedClock, dump

M = Money.of


def loan_of(p: lendkit.Platform) -> tuple[str, str, str]:
    """A disbursed 1000, 3-month 12 % loan with one investor whose borrower spent the proceeds.
    Returns (loan id, borrower, investor)."""
    funded = fund_listing(p, "1000", months=3, investors=1, disburse=True)
    assert funded.loan_id is not None
    borrower = funded.borrower_id
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    return funded.loan_id, borrower, funded.investor_ids[0]


def payment_rows(p: lendkit.Platform, loan_id: str) -> list[Any]:
    with p.engine.connect() as conn:
        return list(
            conn.execute(
                select(payments).where(payments.c.loan_id == loan_id).order_by(payments.c.id)
            )
        )


def test_a_third_party_pays_an_installment_as_the_borrower_would(
    platform: lendkit.Platform,
) -> None:
    p = platform
    paid_by_corp, borrower_a, investor_a = loan_of(p)
    paid_by_self, borrower_b, investor_b = loan_of(p)
    corp = make_party(p, "1000", "acceptor bank", kind="enterprise")
    p.custody.deposit(borrower_a, "500")
    p.custody.deposit(borrower_b, "500")
    before_a = p.custody.balance(investor_a).available
    before_b = p.custody.balance(investor_b).available

    theirs = p.loans.repay(paid_by_corp, payer=corp)
    own = p.loans.repay(paid_by_self)

    assert theirs.payer == corp and own.payer == borrower_b
    assert theirs.amount == own.amount == M("340.02")
    assert (theirs.principal, theirs.interest, theirs.fee) == (own.principal, own.interest, own.fee)
    assert p.custody.balance(corp).available == M("1000") - theirs.amount
    assert p.custody.balance(borrower_a).available == M("500")  # untouched
    assert p.custody.balance(borrower_b).available == M("500") - own.amount
    gain_a = p.custody.balance(investor_a).available - before_a
    gain_b = p.custody.balance(investor_b).available - before_b
    assert gain_a == gain_b == theirs.amount - theirs.fee
    assert [r.payer_id for r in payment_rows(p, paid_by_corp)] == [corp]
    assert [r.payer_id for r in payment_rows(p, paid_by_self)] == [borrower_b]
    with p.engine.connect() as conn:
        states = conn.execute(
            select(installments.c.state)
            .where(installments.c.loan_id == paid_by_corp)
            .order_by(installments.c.period)
        ).scalars()
        assert list(states) == ["paid", "pending", "pending"]


def test_refused_payers_change_nothing(platform: lendkit.Platform, db_url: str) -> None:
    p = platform
    loan_id, borrower, _investor = loan_of(p)
    p.custody.deposit(borrower, "500")
    poor = make_party(p, "10", "poor corp", kind="enterprise")
    unverified = p.parties.register("unverified corp", "enterprise").id
    before = dump(db_url)
    with pytest.raises(NotFound, match="nobody"):
        p.loans.repay(loan_id, payer="nobody")
    with pytest.raises(InvalidState, match=unverified):
        p.loans.repay(loan_id, payer=unverified)
    with pytest.raises(InsufficientFunds):
        p.loans.repay(loan_id, payer=poor)
    assert dump(db_url) == before


def test_a_retried_payment_names_its_payer(platform: lendkit.Platform) -> None:
    p = platform
    loan_id, borrower, _investor = loan_of(p)
    corp = make_party(p, "1000", "core enterprise", kind="enterprise")
    p.custody.deposit(borrower, "500")
    first = p.loans.repay(loan_id, "100", key="pay-1", payer=corp)
    assert p.loans.repay(loan_id, "100", key="pay-1", payer=corp) == first
    with pytest.raises(IdempotencyConflict):
        p.loans.repay(loan_id, "100", key="pay-1")  # the borrower would pay: another command
    assert p.custody.balance(corp).available == M("900")
    assert p.custody.balance(borrower).available == M("500")
    assert [r.payer_id for r in payment_rows(p, loan_id)] == [corp]


class CorporatePays:
    """A test plugin: the named loans' installments are collected from ``payer`` first."""

    lendkit_plugin_name = "corporate-pays"

    def __init__(self) -> None:
        self.loans: dict[str, str] = {}

    @lendkit.hookimpl
    def lendkit_collection_sources(
        self, ctx: Any, loan: lendkit.LoanRecord, installment: Any
    ) -> list[str] | None:
        payer = self.loans.get(loan.id)
        return [payer, loan.borrower_id] if payer else None


def test_cob_collects_from_the_sources_a_plugin_names_in_order(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    plugin = CorporatePays()
    p = make_platform(["online", plugin])
    sourced, borrower, investor = loan_of(p)
    plain, other_borrower, _other_investor = loan_of(p)
    corp = make_party(p, "200", "core enterprise", kind="enterprise")
    plugin.loans[sourced] = corp
    p.custody.deposit(borrower, "500")
    p.custody.deposit(other_borrower, "500")
    before = p.custody.balance(investor).available
    due = p.loans.schedule(sourced).installments[0].due_date
    assert p.loans.schedule(plain).installments[0].due_date == due
    clock.set(datetime.combine(due, time(20), tzinfo=UTC))

    assert p.cob.run(due).collected == 2

    rows = payment_rows(p, sourced)
    assert sorted((r.payer_id, r.amount) for r in rows) == sorted(
        [(corp, 200_00), (borrower, 140_02)]
    )
    assert p.custody.balance(corp).available == M("0")
    assert p.custody.balance(borrower).available == M("500") - M("140.02")
    fee = sum(r.fee for r in rows)
    assert p.custody.balance(investor).available - before == M("340.02") - Money.from_minor(
        fee, "CNY"
    )
    with p.engine.connect() as conn:
        state = conn.execute(
            select(installments.c.state).where(
                installments.c.loan_id == sourced, installments.c.period == 1
            )
        ).scalar_one()
    assert state == "paid"
    # a loan the plugin does not answer for: the borrower only (lendkit's default)
    assert [(r.payer_id, r.amount) for r in payment_rows(p, plain)] == [(other_borrower, 340_02)]
    assert p.custody.balance(other_borrower).available == M("500") - M("340.02")


@pytest.mark.parametrize("answer", [["nobody"], [], "pty_x", [7]])
def test_bad_collection_sources_refuse_the_run(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, answer: Any
) -> None:
    class Bad:
        lendkit_plugin_name = "bad-sources"

        @lendkit.hookimpl
        def lendkit_collection_sources(self, ctx: Any, loan: Any, installment: Any) -> Any:
            return answer

    p = make_platform(["online", Bad()])
    loan_id, borrower, _investor = loan_of(p)
    p.custody.deposit(borrower, "500")
    due = p.loans.schedule(loan_id).installments[0].due_date
    clock.set(datetime.combine(due, time(20), tzinfo=UTC))
    with pytest.raises(PluginError, match="lendkit_collection_sources"):
        p.cob.run(due)
    assert payment_rows(p, loan_id) == []
    assert p.custody.balance(borrower).available == M("500")
