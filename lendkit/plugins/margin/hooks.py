"""The ``margin`` plugin's hook implementations (re-exported by the package for pluggy)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

import lendkit
from lendkit.core.access import Subject
from lendkit.core.context import HookContext
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.open_ended import OpenEndedTerms
from lendkit.core.records import (
    Disclosure,
    Installment,
    ListingRecord,
    LoanRecord,
    PluginSettings,
    Product,
)
from lendkit.plugins.margin import records as R
from lendkit.plugins.margin import rules
from lendkit.plugins.margin.commands import (
    METHOD,
    PRODUCT,
    evaluate_all,
    row_for,
    stored_price,
    trading,
)
from lendkit.plugins.margin.records import Fill, MarginAccount, Position, Quote
from lendkit.plugins.margin.settings import PLUGIN, SUBJECT, MarginSettings
from lendkit.plugins.margin.tables import accounts

#: the margin loan's terms: interest accrues daily (ACT/360) and is charged on the 1st of each
#: month from the trading account; everything falls due a year after disbursement
TERMS = OpenEndedTerms(max_days=365, settle_day=1, basis="ACT/360")


def _set(ctx: HookContext, account_id: str, **values: Any) -> None:
    ctx.conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["margin"]`` is structured into :class:`MarginSettings` when the
    Platform opens (a bad value is refused there)."""
    return PluginSettings(PLUGIN, MarginSettings)


@lendkit.hookimpl
def lendkit_subject_owner(ctx: HookContext, subject: Subject) -> str | None:
    """A margin account belongs to its trader: a trader acting for itself may run the
    commands ``party_actions`` allows (``margin.buy``...) on its own account only."""
    if subject.kind != SUBJECT:
        return None
    owner = ctx.conn.execute(select(accounts.c.trader_id).where(accounts.c.id == subject.id))
    return owner.scalar()


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The ``margin`` product: an open-ended loan of borrowed funds for a controlled trading
    account (docs/open-ended.md)."""
    return [
        Product(
            name=PRODUCT,
            description="stock margin: borrowed funds for a controlled trading account",
            plugin=PLUGIN,
            open_ended=TERMS,
        )
    ]


@lendkit.hookimpl
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """A margin listing is filed by ``margin.open_account`` only (open-ended, for the
    account's borrowed funds, within the leverage cap)."""
    if listing.product != PRODUCT:
        return []
    settings: MarginSettings = ctx.settings(PLUGIN)
    if listing.method != METHOD:
        return [f"listing {listing.id}: a margin loan is open-ended, not {listing.method}"]
    if listing.state == "applied":
        row = ctx.conn.execute(
            select(accounts).where(
                accounts.c.state == R.APPLYING,
                accounts.c.listing_id.is_(None),
                accounts.c.trader_id == listing.borrower_id,
                accounts.c.borrowed == listing.amount.minor,
            )
        ).first()
    else:
        row = row_for(ctx.conn, listing_id=listing.id)
    if row is None:
        return [
            f"listing {listing.id}: a margin listing is filed with margin.open_account, which"
            " takes the trader's margin"
        ]
    if row.leverage > settings.max_leverage:
        return [
            f"margin account {row.id} borrows at {rules.leverage_text(row.leverage)}, above the"
            f" cap {rules.leverage_text(settings.max_leverage)}"
        ]
    return []


@lendkit.hookimpl
def lendkit_disbursement_account(ctx: HookContext, listing: ListingRecord) -> AccountRef | None:
    """The borrowed funds go to the account's controlled trading account."""
    row = row_for(ctx.conn, listing_id=listing.id)
    return None if row is None else trading(ctx, row.id, row.currency)


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """The account opens: it is now the loan's."""
    row = row_for(ctx.conn, listing_id=loan.listing_id)
    if row is not None:
        _set(ctx, row.id, state=R.OPEN, loan_id=loan.id)


def _withdraw(ctx: HookContext, listing: ListingRecord) -> None:
    row = row_for(ctx.conn, listing_id=listing.id)
    if row is None or row.state != R.APPLYING:
        return
    cash = trading(ctx, row.id, row.currency)
    back = ctx.balance(cash)
    if back.is_positive():
        ctx.transfer(
            "margin.returned",
            row.id,
            [(cash, -back), (ctx.party_account(row.trader_id, row.currency), back)],
        )
    _set(ctx, row.id, state=R.WITHDRAWN)


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled margin listing: the margin goes back to the trader."""
    _withdraw(ctx, listing)


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed margin listing (流标): the margin goes back to the trader."""
    _withdraw(ctx, listing)


@lendkit.hookimpl
def lendkit_cob_loans_of_interest(ctx: HookContext, loan_ids: Sequence[str]) -> Sequence[str]:
    """The chunk's margin loans: their trading account pays the interest (collection sources),
    so they take close of business's one-loan path; the others stay on its bulk path."""
    return list(
        ctx.conn.execute(
            select(accounts.c.loan_id).where(accounts.c.loan_id.in_(loan_ids))
        ).scalars()
    )


@lendkit.hookimpl
def lendkit_collection_sources(
    ctx: HookContext, loan: LoanRecord, installment: Installment
) -> Sequence[str] | None:
    """Interest is charged from the trading account; after a liquidation with a shortfall the
    trader's available balance pays what is left."""
    row = row_for(ctx.conn, loan_id=loan.id)
    if row is None:
        return None
    code = trading(ctx, row.id, row.currency).code
    if row.state == R.LIQUIDATED:
        return [code, row.trader_id]
    return [code]


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """The borrowed funds are repaid: the trader may take everything out."""
    row = row_for(ctx.conn, loan_id=loan.id)
    if row is not None and row.state in R.LIVE:
        _set(ctx, row.id, state=R.REPAID)


@lendkit.hookimpl
def lendkit_cob_day(ctx: HookContext, run_date: date) -> None:
    """Mark every live account to market after the day's collections: warn below the warning
    line, liquidate at the liquidation line (once: a liquidated account is not live)."""
    evaluate_all(ctx)


@lendkit.hookimpl(trylast=True)
def lendkit_margin_price(ctx: HookContext, symbol: str) -> Quote | None:
    """``margin``'s own price feed: the price last pushed with ``margin.push_prices``."""
    return stored_price(ctx, symbol)


@lendkit.hookimpl(trylast=True)
def lendkit_margin_liquidate(
    ctx: HookContext,
    account: MarginAccount,
    positions: Sequence[Position],
    quotes: Sequence[Quote],
) -> Sequence[Fill]:
    """``margin``'s own forced sale: every position at its current quote."""
    return [Fill(p.symbol, p.quantity, q.price) for p, q in zip(positions, quotes, strict=True)]


def _money(ctx: HookContext, minor: int | None) -> Money:
    return Money.from_minor(int(minor or 0), ctx.currency)


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Accounts by leverage (count and borrowed funds), accounts near the warning line (by
    their last valuation), liquidations and their shortfalls."""
    settings: MarginSettings = ctx.settings(PLUGIN)
    a = accounts.c
    live = ctx.conn.execute(
        select(a.leverage, func.count(), func.sum(a.borrowed))
        .where(a.state.in_(R.LIVE))
        .group_by(a.leverage)
        .order_by(a.leverage)
    ).all()
    out = [
        Disclosure(PLUGIN, "accounts open", str(sum(int(r[1]) for r in live))),
        Disclosure(PLUGIN, "borrowed funds lent", str(_money(ctx, sum(int(r[2]) for r in live)))),
    ]
    for lev, count, total in live:
        out.append(
            Disclosure(
                PLUGIN,
                f"accounts at {rules.leverage_text(int(lev))}",
                f"{int(count)} accounts, {_money(ctx, int(total))} borrowed",
            )
        )
    near = settings.warning_line + settings.near_warning_band
    close = [
        r
        for r in ctx.conn.execute(
            select(a.id, a.ratio, a.state)
            .where(a.state.in_(R.LIVE), a.ratio.is_not(None))
            .order_by(a.id)
        )
        if Decimal(r.ratio) < near
    ]
    out.append(Disclosure(PLUGIN, "accounts near the warning line", str(len(close))))
    for r in close:
        out.append(
            Disclosure(
                PLUGIN,
                f"near the warning line: account {r.id}",
                f"{rules.pct(Decimal(r.ratio))} ({r.state}; warning line"
                f" {rules.pct(settings.warning_line)})",
            )
        )
    done = ctx.conn.execute(
        select(a.id, a.liquidated_on, a.proceeds, a.shortfall)
        .where(a.liquidated_on.is_not(None))
        .order_by(a.liquidated_on, a.id)
    ).all()
    out.append(Disclosure(PLUGIN, "liquidations", str(len(done))))
    out.append(
        Disclosure(
            PLUGIN,
            "liquidation shortfall",
            str(_money(ctx, sum(int(r.shortfall or 0) for r in done))),
        )
    )
    for d in done:
        out.append(
            Disclosure(
                PLUGIN,
                f"liquidation of account {d.id}",
                f"on {d.liquidated_on}, proceeds {_money(ctx, d.proceeds)}, shortfall"
                f" {_money(ctx, d.shortfall)}",
            )
        )
    return out
