"""Where a disbursement's proceeds go and a product's own penalty rate, through public hooks only,
on SQLite and PostgreSQL (issue 11, part 2, items 7 and 4).

* ``lendkit_disbursement_account`` directs the net proceeds (principal - service fee -
  deductions) to a supplier's available balance or to an account the plugin owns; a bad answer
  refuses the disbursement and nothing changes.
* ``lendkit_disbursement_deductions`` is told the service fee.
* ``lendkit_penalty_rate`` sets a product's daily penalty rate, asked once per loan and run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import select

import lendkit
from lendkit import Deduction, Money, Product, hookimpl
from lendkit.core.errors import PluginError
from lendkit.core.ledger import AccountRef
from lendkit.store.tables import accounts, installments
from tests.conftest import FixedClock, dump, party

M = Money.of


class Proceeds:
    """A test plugin: ``lease`` pays the supplier, ``margin`` funds a trading account the plugin
    owns, ``bad`` answers whatever ``self.bad`` returns; ``lease`` takes an arrangement fee of 1 %
    of what the service fee left."""

    lendkit_plugin_name = "proceeds"

    def __init__(self) -> None:
        self.supplier = ""
        self.bad: Callable[[Any, Any], Any] = lambda ctx, listing: None
        self.fees_seen: list[tuple[str, Money, Money]] = []

    @hookimpl
    def lendkit_register_products(self) -> list[Product]:
        return [Product("lease"), Product("margin"), Product("bad")]

    @hookimpl
    def lendkit_disbursement_deductions(
        self, ctx: Any, listing: Any, principal: Money, service_fee: Money
    ) -> list[Deduction]:
        # recorded once the disbursement commits: a quote of the borrower's APR (listings.apply,
        # listings.get) asks this hook too, in a savepoint that is rolled back
        seen = (listing.product, principal, service_fee)
        ctx.after_commit(lambda: self.fees_seen.append(seen))
        if listing.product != "lease":
            return []
        fees = ctx.account("proceeds", "fees", "revenue", listing.amount.currency)
        return [Deduction("arrangement", (principal - service_fee).multiply("0.01"), fees.code)]

    @hookimpl
    def lendkit_disbursement_account(self, ctx: Any, listing: Any) -> Any:
        cur = listing.amount.currency
        if listing.product == "lease":
            return ctx.party_account(self.supplier, cur)
        if listing.product == "margin":
            return ctx.account("proceeds", listing.borrower_id, "trading", cur)
        if listing.product == "bad":
            return self.bad(ctx, listing)
        return None


def funded(p: lendkit.Platform, product: str, amount: str = "100000") -> tuple[str, str]:
    """(listing id, borrower): a 12 % listing of ``product`` fully bid by one investor."""
    n = len(p.listings.find())
    borrower = party(p, f"borrower-{n}")
    investor = party(p, f"investor-{n}", amount)
    listing = p.listings.apply(
        borrower, amount=amount, annual_rate="12%", months=3, product=product
    )
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, investor, amount)
    return listing.id, borrower


def account_balance(p: lendkit.Platform, code: str) -> Money:
    with p.engine.connect() as conn:
        row = conn.execute(
            select(accounts.c.balance, accounts.c.currency).where(accounts.c.code == code)
        ).one()
    return Money.from_minor(int(row.balance), row.currency)


# -- item 7: where proceeds go ---------------------------------------------------------------------


def test_lease_proceeds_go_to_the_supplier_net_of_fee_and_deductions(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    plugin = Proceeds()
    p = make_platform(plugins=["online", plugin])
    plugin.supplier = party(p, "supplier", "5")
    listing_id, borrower = funded(p, "lease")
    loan = p.loans.disburse(listing_id)
    # 100,000.00: service fee 1 % = 1,000.00; arrangement 1 % of 99,000.00 = 990.00
    assert plugin.fees_seen == [("lease", M("100000"), M("1000"))]
    assert p.custody.balance(plugin.supplier).available == M("98015")  # 5 + 98,010
    assert p.custody.balance(borrower).available == M("0")
    assert account_balance(p, "proceeds:fees:revenue:CNY") == M("990")
    assert loan.borrower_id == borrower and loan.principal == M("100000")
    assert p.verify().ok


def test_margin_proceeds_go_to_the_plugins_trading_account(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    plugin = Proceeds()
    p = make_platform(plugins=["online", plugin])
    listing_id, borrower = funded(p, "margin", "2000.01")
    p.loans.disburse(listing_id)
    # fee 1 % of 2,000.01 = 20.0001: 20.00 (HALF_UP); no deduction
    assert plugin.fees_seen == [("margin", M("2000.01"), M("20"))]
    assert account_balance(p, f"proceeds:{borrower}:trading:CNY") == M("1980.01")
    assert p.custody.balance(borrower).available == M("0")
    assert p.verify().ok


def test_other_products_pay_the_borrower_and_deductions_see_the_fee(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    plugin = Proceeds()
    p = make_platform(plugins=["online", plugin], config={"service_fee_rate": "0"})
    listing_id, borrower = funded(p, "online", "1000")
    p.loans.disburse(listing_id)
    assert plugin.fees_seen == [("online", M("1000"), M("0"))]
    assert p.custody.balance(borrower).available == M("1000")
    assert p.verify().ok


BAD_ANSWERS: dict[str, Callable[[Any, Any], Any]] = {
    "own escrow": lambda ctx, listing: ctx.existing_account(f"listing:{listing.id}:listing:CNY"),
    "a loan's clearing": lambda ctx, listing: ctx.account("loan", "loan_x", "loan", "CNY"),
    "platform revenue": lambda ctx, listing: ctx.account("platform", "revenue", "revenue", "CNY"),
    "frozen": lambda ctx, listing: ctx.account("party", listing.borrower_id, "frozen", "CNY"),
    "no such party": lambda ctx, listing: ctx.party_account("p_nobody", "CNY"),
    "other currency": lambda ctx, listing: ctx.account("proceeds", "x", "trading", "USD"),
    "forged ref": lambda ctx, listing: AccountRef(987654, "proceeds:x:trading:CNY", "CNY", False),
    "not an account": lambda ctx, listing: "party:p_1:available:CNY",
}

BAD_REASONS = {
    "own escrow": "never to a listing's escrow",
    "a loan's clearing": "never to a listing's escrow",
    "platform revenue": "never to a listing's escrow",
    "frozen": "available balance only",
    "no such party": "party 'p_nobody' does not exist",
    "other currency": "in USD, the listing in CNY",
    "forged ref": "no such account",
    "not an account": "expected an AccountRef",
}


@pytest.mark.parametrize("answer", list(BAD_ANSWERS))
def test_a_bad_proceeds_account_is_refused_and_nothing_changes(
    make_platform: Callable[..., lendkit.Platform], db_url: str, answer: str
) -> None:
    plugin = Proceeds()
    plugin.bad = BAD_ANSWERS[answer]
    p = make_platform(plugins=["online", plugin])
    other, _ = funded(p, "online", "1000")  # another listing's escrow holds money too
    listing_id, _ = funded(p, "bad", "1000")
    before = dump(db_url)
    with pytest.raises(PluginError, match=BAD_REASONS[answer]):
        p.loans.disburse(listing_id)
    assert dump(db_url) == before
    assert p.listings.get(listing_id).state == "funded"
    # another listing's escrow is refused the same way
    plugin.bad = lambda ctx, listing: ctx.existing_account(f"listing:{other}:listing:CNY")
    with pytest.raises(PluginError, match="never to a listing's escrow"):
        p.loans.disburse(listing_id)
    assert dump(db_url) == before
    assert p.verify().ok


# -- item 4 (first half): a product's own penalty rate ---------------------------------------------

RATE = Decimal("0.0007")  # the configured rate; the lease's is twice it


class LatePay:
    """A test plugin: ``lease`` loans pay twice the configured penalty rate; records each ask."""

    lendkit_plugin_name = "latepay"

    def __init__(self) -> None:
        self.asked: list[tuple[str, date, int]] = []

    @hookimpl
    def lendkit_register_products(self) -> list[Product]:
        return [Product("lease")]

    @hookimpl
    def lendkit_penalty_rate(self, ctx: Any, loan: Any, installment: Any) -> Decimal | None:
        ctx.after_commit(lambda: self.asked.append((loan.id, ctx.today, installment.period)))
        return RATE * 2 if loan.product == "lease" else None


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rows(p: lendkit.Platform, loan_id: str) -> list[Any]:
    with p.engine.connect() as conn:
        return list(
            conn.execute(
                select(installments)
                .where(installments.c.loan_id == loan_id)
                .order_by(installments.c.period)
            )
        )


def at(clock: FixedClock, day: date) -> None:
    clock.set(datetime.combine(day, time(20), tzinfo=UTC))


def test_a_products_penalty_rate_accrues_rounded_once(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    plugin = LatePay()
    p = make_platform(
        plugins=["online", plugin],
        config={"grace_days": 0, "penalty_daily_rate": str(RATE), "service_fee_rate": "0"},
    )
    ids = {}
    for product in ("online", "lease"):
        listing_id, borrower = funded(p, product, "1000")
        ids[product] = p.loans.disburse(listing_id).id
        p.custody.withdraw(borrower, "1000")
    due = p.loans.schedule(ids["lease"]).installments[0].due_date
    second = p.loans.schedule(ids["lease"]).installments[1].due_date
    last = second + timedelta(days=3)
    at(clock, last)
    for day in (due + timedelta(days=5), due + timedelta(days=10), last):
        p.cob.run(day)
    online, lease = rows(p, ids["online"]), rows(p, ids["lease"])
    days = (last - due).days
    assert lease[0].principal + lease[0].interest == 34002
    assert lease[0].penalty_base_days == online[0].penalty_base_days == 34002 * days
    for o, ls in zip(online[:2], lease[:2], strict=True):
        assert ls.penalty_base_days == o.penalty_base_days > 0
        assert o.penalty == round_half_up(o.penalty_base_days * RATE)
        assert ls.penalty == round_half_up(ls.penalty_base_days * RATE * 2)
    # e.g. 10 days on 340.02 at 0.14 % = 4.76028: 4.76 (a day's 0.476 rounded daily gave 4.80)
    assert lease[1].penalty_base_days > 0 and online[2].penalty == lease[2].penalty == 0
    # asked once per loan and date run (not per overdue row), with the oldest overdue row
    runs = {due + timedelta(days=5), due + timedelta(days=10), last}
    for loan_id in ids.values():
        asked = [(d, period) for lid, d, period in plugin.asked if lid == loan_id]
        dates = [d for d, _ in asked]
        assert len(dates) == len(set(dates)) and runs <= set(dates)
        assert {period for _, period in asked} == {1}
    assert p.verify().ok
