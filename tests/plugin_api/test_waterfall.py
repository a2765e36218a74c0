"""Covering plugins pay investors in the configured waterfall order, each only what is unpaid,
and the borrower's late payment goes back to the payers (追偿), never twice to investors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

import lendkit
from lendkit import Money
from lendkit.core.errors import ConfigError


class Payer:
    """Pays ``share`` of each claim's principal and all its interest (for the second payer)."""

    def __init__(self, name: str, share: str | None) -> None:
        self.lendkit_plugin_name = name
        self.share = share
        self.calls: list[tuple[int | None, Money, Money]] = []

    @lendkit.hookimpl
    def lendkit_cover_claim(self, ctx: Any, claim: lendkit.Claim) -> Money:
        self.calls.append((claim.period, claim.principal, claim.interest))
        account = ctx.account(
            "plugin", self.lendkit_plugin_name, "plugin", ctx.currency, allow_negative=True
        )
        principal = claim.principal if self.share is None else claim.principal.multiply(self.share)
        interest = claim.interest if self.share is None else Money.zero(ctx.currency)
        paid: Money = ctx.pay_investors(
            claim.loan_id, account, principal, interest, reason="test", period=claim.period
        )
        return paid


def test_waterfall_order_no_double_payment_and_recovery(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    first, second = Payer("payer_a", "0.3"), Payer("payer_b", None)
    p = make_platform(
        plugins=["online", second, first],
        config={"waterfall": ["payer_a", "payer_b"], "grace_days": 0},
    )
    borrower = p.parties.register("b").id
    invs = [p.parties.register(f"i{k}").id for k in range(3)]
    for x in (borrower, *invs):
        p.parties.verify(x)
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    for inv in invs:
        p.custody.deposit(inv, "1000")
        p.bidding.bid(listing.id, inv, "1000")
    loan = p.loans.disburse(listing.id)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    inst = p.loans.schedule(loan.id).installments[0]
    p.cob.run(inst.due_date + timedelta(days=1), allow_future=True)
    p.cob.run(
        inst.due_date + timedelta(days=2), allow_future=True
    )  # nothing left unpaid: nobody pays again
    assert [c[0] for c in first.calls] == [1] and [c[0] for c in second.calls] == [1]
    assert second.calls[0][1] == inst.principal - inst.principal.multiply("0.3")
    got = [p.loans.position(loan.id, i) for i in invs]
    assert sum((g.received_principal for g in got), Money.of(0)) == inst.principal
    assert sum((g.received_interest + g.fees_paid for g in got), Money.of(0)) == inst.interest
    before = [p.custody.balance(i).available for i in invs]
    # the borrower pays late: the installment's principal and interest recover the payers
    p.custody.deposit(borrower, "2000")
    pay = p.loans.repay(loan.id)
    assert pay.principal == inst.principal
    assert [p.custody.balance(i).available for i in invs] == [
        b + s for b, s in zip(before, lendkit.allocate(pay.penalty, [1, 1, 1]), strict=True)
    ]
    with p.transaction() as ctx:
        a = ctx.balance(ctx.account("plugin", "payer_a", "plugin", "CNY", allow_negative=True))
        b = ctx.balance(ctx.account("plugin", "payer_b", "plugin", "CNY", allow_negative=True))
    assert a.is_zero() and b.is_zero()  # each got back exactly what it paid
    assert p.verify().ok


def test_waterfall_names_unknown_plugin(make_platform: Callable[..., lendkit.Platform]) -> None:
    with pytest.raises(ConfigError):
        make_platform(config={"waterfall": ["guarantee"]})
