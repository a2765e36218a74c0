"""The collateral plugin's hook implementations (registered through the package, which re-exports
them)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import bindparam, func, select, update

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.money import Money
from lendkit.core.records import (
    Disclosure,
    ListingRecord,
    LoanRecord,
    PluginSettings,
    Product,
    Repayment,
)
from lendkit.plugins.collateral.commands import close, collateral_caps, ltv_violations, pledge_rows
from lendkit.plugins.collateral.records import (
    ACTIVE,
    ENFORCING,
    LIVE,
    PLEDGED,
    PLUGIN,
    PRODUCT,
    RELEASED,
)
from lendkit.plugins.collateral.rules import pct, pledge_record
from lendkit.plugins.collateral.settings import Settings
from lendkit.plugins.collateral.tables import pledges, sales


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["collateral"]`` is structured into :class:`Settings` at open."""
    return PluginSettings(PLUGIN, Settings)


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The ``secured`` product: a listing that must carry at least one pledged asset."""
    return [Product(name=PRODUCT, description="loan secured by pledged real estate or vehicles")]


@lendkit.hookimpl
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """Refuse an application/approval above the LTV cap of its pledged assets; refuse approving a
    ``secured`` listing without a pledge (reads only)."""
    return ltv_violations(ctx, listing)


@lendkit.hookimpl
def lendkit_listing_approved(ctx: HookContext, listing: ListingRecord) -> None:
    """Every validator passed: the pledges' exposure is the approved listing's amount."""
    ctx.conn.execute(
        update(pledges)
        .where(pledges.c.listing_id == listing.id, pledges.c.state == PLEDGED)
        .values(exposure=listing.amount.minor)
    )


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed listing (流标) releases its pledges."""
    close(ctx, listing_id=listing.id, states=(PLEDGED,), to=RELEASED)


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled listing releases its pledges, like a failed one."""
    lendkit_listing_failed(ctx, listing)


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """The lien becomes active on the new loan."""
    ctx.conn.execute(
        update(pledges)
        .where(pledges.c.listing_id == loan.listing_id, pledges.c.state == PLEDGED)
        .values(state=ACTIVE, loan_id=loan.id, exposure=loan.outstanding_principal.minor)
    )


@lendkit.hookimpl
def lendkit_repayments_received(ctx: HookContext, repayments: Sequence[Repayment]) -> None:
    """Track the secured exposure (the loan's outstanding principal) for LTV disclosure: one
    read finds the batch's live pledges, one statement updates them."""
    outstanding = {r.loan_id: r.outstanding_principal.minor for r in repayments}
    ids = sorted(outstanding)
    live = [
        row
        for start in range(0, len(ids), 500)
        for row in ctx.conn.execute(
            select(pledges.c.id, pledges.c.loan_id).where(
                pledges.c.loan_id.in_(ids[start : start + 500]), pledges.c.state.in_(LIVE)
            )
        )
    ]
    if live:
        ctx.conn.execute(
            update(pledges)
            .where(pledges.c.id == bindparam("pid"))
            .values(exposure=bindparam("out")),
            [
                {"pid": row.id, "out": outstanding[row.loan_id]}
                for row in sorted(live, key=lambda row: row.id)
            ],
        )


@lendkit.hookimpl
def lendkit_loan_defaulted(ctx: HookContext, loan: LoanRecord) -> None:
    """Start enforcement: the active liens of a defaulted loan become ``enforcing``."""
    ctx.conn.execute(
        update(pledges)
        .where(pledges.c.loan_id == loan.id, pledges.c.state == ACTIVE)
        .values(state=ENFORCING)
    )


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """Payoff releases the lien; a written-off loan keeps an unsold lien under enforcement."""
    if loan.state == "settled":
        close(ctx, loan_id=loan.id, states=(ACTIVE, ENFORCING), to=RELEASED)


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Live pledges, pledged value, secured exposure and LTV (overall and per pledge), breaches,
    and enforcement sales (proceeds, costs, paid to the loans, surplus). The sale figures equal
    the ledger: proceeds = -balance of ``plugin:collateral:sale-gateway``, costs = balance of
    ``plugin:collateral:costs``."""
    caps = collateral_caps(ctx)
    cur = ctx.currency
    rows = [r for r in pledge_rows(ctx.conn) if r.state in LIVE]
    value = sum(r.appraised_value for r in rows)
    exposure = sum(r.exposure for r in rows)
    out = [
        Disclosure(PLUGIN, "live pledges", str(len(rows))),
        Disclosure(PLUGIN, "pledged value", str(Money.from_minor(value, cur))),
        Disclosure(PLUGIN, "secured exposure", str(Money.from_minor(exposure, cur))),
        Disclosure(
            PLUGIN,
            "loan-to-value",
            pct(Decimal(exposure) / Decimal(value)) if value else "0.00%",
        ),
        Disclosure(PLUGIN, "LTV breaches", str(sum(1 for r in rows if r.breach))),
    ]
    for r in rows:
        p = pledge_record(r, caps)
        out.append(
            Disclosure(
                PLUGIN,
                f"pledge {p.id} ({r.kind}, {p.state})",
                f"LTV {pct(p.ltv)} of cap {pct(p.cap)}{' BREACH' if p.breach else ''}",
            )
        )
    totals = ctx.conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(sales.c.proceeds), 0),
            func.coalesce(func.sum(sales.c.costs), 0),
            func.coalesce(func.sum(sales.c.penalty + sales.c.interest + sales.c.principal), 0),
            func.coalesce(func.sum(sales.c.surplus), 0),
        )
    ).one()
    out.extend(
        [
            Disclosure(PLUGIN, "enforcement sales", str(int(totals[0]))),
            Disclosure(PLUGIN, "sale proceeds", str(Money.from_minor(int(totals[1]), cur))),
            Disclosure(PLUGIN, "sale costs", str(Money.from_minor(int(totals[2]), cur))),
            Disclosure(
                PLUGIN, "sale proceeds applied to loans", str(Money.from_minor(int(totals[3]), cur))
            ),
            Disclosure(
                PLUGIN, "sale surplus to owners", str(Money.from_minor(int(totals[4]), cur))
            ),
        ]
    )
    return out
