"""``lendkit_collection_sources`` may name a plugin's account by its code (a margin trading
account): close of business collects what it holds, as from a party's available balance; a code
of no account refuses the run. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

import pytest

import lendkit
from lendkit import Money, hookimpl
from lendkit.core.errors import PluginError
from tests.conftest import FixedClock, party

M = Money.of
CONFIG = {"service_fee_rate": "0", "management_fee_rate": "0", "grace_days": 0}


class Pool:
    """Collects every installment from a pool account the plugin keeps (or ``code``)."""

    lendkit_plugin_name = "pool"

    def __init__(self, code: str | None = None) -> None:
        self.code = code

    @hookimpl
    def lendkit_collection_sources(self, ctx: Any, loan: Any) -> list[str]:
        return [self.code or ctx.account("pool", "fund", "cash", ctx.currency).code]


def loan_with_pool(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, pool: Pool
) -> tuple[lendkit.Platform, str, str]:
    clock.set(datetime(2026, 1, 1, 9, tzinfo=UTC))
    p = make_platform(plugins=["online", pool], config=CONFIG)
    borrower, investor = party(p, "b"), party(p, "i", "1200")
    listing = p.listings.apply(borrower, "1200", annual_rate="12%", months=12)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, investor, "1200")
    loan = p.loans.disburse(listing.id)
    return p, loan.id, borrower


def test_close_of_business_collects_from_a_plugins_account(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p, loan_id, borrower = loan_with_pool(make_platform, clock, Pool())
    investor = p.loans.get(loan_id).positions[0].investor_id
    first = p.loans.schedule(loan_id).installments[0]

    def fund(ctx: Any) -> None:
        ctx.transfer(
            "pool.fund",
            "seed",
            [
                (ctx.party_account(borrower, ctx.currency), -M("1200")),
                (ctx.account("pool", "fund", "cash", ctx.currency), M("1200")),
            ],
        )

    p.command("pool.fund", fund)  # the borrower's proceeds go to the pool
    clock.set(datetime.combine(first.due_date, time(20), tzinfo=UTC))
    p.cob.run(first.due_date)
    assert p.loans.get(loan_id).outstanding_principal == M("1200") - first.principal
    [got] = p.reports.position_history(loan_id, investor)
    assert (got.kind, got.amount, got.payer_account) == (
        "collection",
        first.payment,
        "pool:fund:cash:CNY",
    )
    assert p.verify().ok


def test_a_code_of_no_account_refuses_the_run(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p, loan_id, _ = loan_with_pool(make_platform, clock, Pool("pool:nobody:cash:CNY"))
    due = p.loans.schedule(loan_id).installments[0].due_date
    clock.set(datetime.combine(due, time(20), tzinfo=UTC))
    with pytest.raises(PluginError, match=r"named 'pool:nobody:cash:CNY'.*as an account"):
        p.cob.run(due)
    assert p.loans.get(loan_id).outstanding_principal == M("1200")  # nothing collected
