"""The ``supplychain`` plugin's hook implementations (re-exported by the package so that pluggy
finds them on the registered module)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.errors import LimitExceeded
from lendkit.core.money import Money
from lendkit.core.records import (
    Bid,
    Disclosure,
    Installment,
    ListingRecord,
    LoanRecord,
    PaymentRecord,
    PluginSettings,
    Product,
)
from lendkit.core.schedule import Schedule
from lendkit.plugins.supplychain import queries as q
from lendkit.plugins.supplychain import rules
from lendkit.plugins.supplychain.commands import exposure_of
from lendkit.plugins.supplychain.settings import PLUGIN, Settings
from lendkit.plugins.supplychain.tables import (
    core_enterprises,
    industries,
    investor_limits,
    invoices,
    receivables,
)

PRODUCT = q.PRODUCT
OPEN_STAGES = ("committed", "active")


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["supplychain"]`` is structured into :class:`Settings` when the Platform
    opens (a bad value is refused there)."""
    return PluginSettings(PLUGIN, Settings)


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The ``supplychain`` product: a supplier's receivable on a core enterprise, repaid in one
    payment on the receivable's due date (method ``receivable``)."""
    return [
        Product(
            name=PRODUCT,
            description="receivable financing with a core enterprise (供应链金融)",
            methods=(rules.METHOD,),
        )
    ]


def _cap_problems(ctx: HookContext, listing: ListingRecord, row: Any, s: Settings) -> list[str]:
    """The core enterprise's credit limit and the industry cap for approving ``listing``; locks
    both rows (PostgreSQL) so that the check and the commit in ``lendkit_listing_approved`` are
    one step for concurrent approvals."""
    core = q.core_row(ctx.conn, row.core_enterprise_id, lock=True)
    amount = listing.amount.minor
    found = []
    credit = rules.credit_problem(
        f"{core.name} ({core.id})", int(core.used), amount, int(core.credit_limit), core.currency
    )
    if credit:
        found.append(f"listing {listing.id}: {credit}")
    if s.industry_share < 1:
        ind = ctx.conn.execute(
            q.locked(select(industries).where(industries.c.name == core.industry), ctx.conn)
        ).one()
        committed = ctx.conn.execute(
            select(func.coalesce(func.sum(receivables.c.exposure), 0)).where(
                receivables.c.stage == "committed"
            )
        ).scalar_one()
        base = ctx.platform_outstanding().minor + int(committed) + amount
        problem = rules.industry_problem(
            core.industry, int(ind.used), amount, base, s.industry_share, core.currency
        )
        if problem:
            found.append(f"listing {listing.id}: {problem}")
    return found


@lendkit.hookimpl
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """On approval and publication of a ``supplychain`` listing: its receivable is confirmed
    (not submitted only, disputed or cancelled), the supplier's, within the financing ratio and
    not due too soon; on approval also the core enterprise's credit limit and the industry cap
    (reads only: the exposure is committed in ``lendkit_listing_approved``)."""
    if listing.state not in ("approved", "published"):
        return []
    row = q.for_listing(ctx.conn, listing.id, lock=listing.state == "approved")
    if row is None:
        if listing.product == PRODUCT:
            return [
                f"listing {listing.id} is of product {PRODUCT!r} but finances no receivable:"
                " submit_receivable() and have the core enterprise confirm it before approval"
            ]
        return []
    if listing.product != PRODUCT:
        return [
            f"listing {listing.id} finances receivable {row.id} but is of product"
            f" {listing.product!r}: a receivable is financed by a {PRODUCT!r} listing"
        ]
    s: Settings = ctx.settings(PLUGIN)
    found = rules.receivable_problems(
        listing_id=listing.id,
        borrower_id=listing.borrower_id,
        amount=listing.amount,
        receivable_id=row.id,
        supplier_id=row.supplier_id,
        state=row.state,
        receivable_amount=Money.from_minor(int(row.amount), row.currency),
        due_date=row.due_date,
        today=ctx.today,
        ratio=s.financing_ratio,
        min_days=s.min_days,
    )
    if listing.state == "approved" and row.stage == "none":
        found += _cap_problems(ctx, listing, row, s)
    return found


@lendkit.hookimpl
def lendkit_listing_approved(ctx: HookContext, listing: ListingRecord) -> None:
    """Commit the listing's amount against its core enterprise's credit limit (a guarded update:
    ``LimitExceeded`` if a concurrent approval took the room first) and its industry."""
    row = q.for_listing(ctx.conn, listing.id, lock=True)
    if row is None or row.stage != "none":
        return
    amount = listing.amount.minor
    done = ctx.conn.execute(
        update(core_enterprises)
        .where(
            core_enterprises.c.id == row.core_enterprise_id,
            core_enterprises.c.used + amount <= core_enterprises.c.credit_limit,
        )
        .values(used=core_enterprises.c.used + amount)
    )
    core = q.core_row(ctx.conn, row.core_enterprise_id)
    if done.rowcount != 1:
        raise LimitExceeded(
            f"listing {listing.id}: "
            + (
                rules.credit_problem(
                    f"{core.name} ({core.id})",
                    int(core.used),
                    amount,
                    int(core.credit_limit),
                    core.currency,
                )
                or "the core enterprise's credit limit was taken concurrently"
            )
        )
    ctx.conn.execute(
        update(industries)
        .where(industries.c.name == core.industry)
        .values(used=industries.c.used + amount)
    )
    ctx.conn.execute(
        update(receivables)
        .where(receivables.c.id == row.id)
        .values(stage="committed", exposure=amount)
    )


def _release(ctx: HookContext, listing: ListingRecord) -> None:
    row = q.for_listing(ctx.conn, listing.id, lock=True)
    if row is None or row.stage not in ("none", "committed"):
        return
    q.reduce_exposure(ctx.conn, row, 0, stage="released")
    ctx.conn.execute(delete(invoices).where(invoices.c.receivable_id == row.id))


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled listing releases its exposure and its invoice."""
    _release(ctx, listing)


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed listing (流标) releases its exposure and its invoice."""
    _release(ctx, listing)


# -- bids: per investor per core enterprise ------------------------------------------------------


def _investor_cap(ctx: HookContext, s: Settings) -> int | None:
    if s.investor_cap is None:
        return None
    return Money.of(s.investor_cap, ctx.currency, what="investor_cap").minor


@lendkit.hookimpl
def lendkit_validate_bid(
    ctx: HookContext, listing: ListingRecord, investor_id: str, amount: Money
) -> Sequence[str]:
    """An investor's open bids and outstanding principal on one core enterprise stay within
    ``investor_cap`` (reads only: the bid is counted in ``lendkit_bid_placed``)."""
    row = q.for_listing(ctx.conn, listing.id)
    if row is None:
        return []
    cap = _investor_cap(ctx, ctx.settings(PLUGIN))
    if cap is None:
        return []
    used = ctx.conn.execute(
        q.locked(
            select(investor_limits.c.used).where(
                investor_limits.c.investor_id == investor_id,
                investor_limits.c.core_enterprise_id == row.core_enterprise_id,
            ),
            ctx.conn,
        )
    ).scalar()
    core = q.core_row(ctx.conn, row.core_enterprise_id)
    problem = rules.investor_problem(
        investor_id, f"{core.name} ({core.id})", int(used or 0), amount.minor, cap, ctx.currency
    )
    return [problem] if problem else []


@lendkit.hookimpl
def lendkit_bid_placed(ctx: HookContext, listing: ListingRecord, bid: Bid) -> None:
    """Count the bid against the investor's cap on the core enterprise: a guarded update, so two
    concurrent bids never exceed it together (``LimitExceeded`` refuses the later one)."""
    row = q.for_listing(ctx.conn, listing.id)
    if row is None:
        return
    cap = _investor_cap(ctx, ctx.settings(PLUGIN))
    amount = bid.amount.minor
    key = {"investor_id": bid.investor_id, "core_enterprise_id": row.core_enterprise_id}
    q.insert_missing(ctx.conn, investor_limits, {**key, "used": 0})
    stmt = update(investor_limits).where(
        investor_limits.c.investor_id == bid.investor_id,
        investor_limits.c.core_enterprise_id == row.core_enterprise_id,
    )
    if cap is not None:
        stmt = stmt.where(investor_limits.c.used + amount <= cap)
    done = ctx.conn.execute(stmt.values(used=investor_limits.c.used + amount))
    if done.rowcount != 1:
        core = q.core_row(ctx.conn, row.core_enterprise_id)
        used = ctx.conn.execute(
            select(investor_limits.c.used).where(
                investor_limits.c.investor_id == bid.investor_id,
                investor_limits.c.core_enterprise_id == row.core_enterprise_id,
            )
        ).scalar_one()
        raise LimitExceeded(
            rules.investor_problem(
                bid.investor_id,
                f"{core.name} ({core.id})",
                int(used),
                amount,
                int(cap or 0),
                ctx.currency,
            )
            or "the investor's cap on the core enterprise was taken concurrently"
        )
    q.add_holding(ctx.conn, listing.id, bid.investor_id, row.core_enterprise_id, amount)


@lendkit.hookimpl
def lendkit_bid_released(ctx: HookContext, listing: ListingRecord, bid: Bid, reason: str) -> None:
    """What went back to the investor no longer counts against its cap."""
    row = q.for_listing(ctx.conn, listing.id)
    if row is None:
        return
    back = (bid.requested - bid.amount if reason == "auction_trimmed" else bid.amount).minor
    if back > 0:
        q.add_holding(ctx.conn, listing.id, bid.investor_id, row.core_enterprise_id, -back)
        ctx.conn.execute(
            update(investor_limits)
            .where(
                investor_limits.c.investor_id == bid.investor_id,
                investor_limits.c.core_enterprise_id == row.core_enterprise_id,
            )
            .values(used=investor_limits.c.used - back)
        )


# -- the loan ----------------------------------------------------------------------------------------


@lendkit.hookimpl
def lendkit_build_schedule(
    ctx: HookContext, listing: ListingRecord, start: date
) -> Schedule | None:
    """A ``supplychain`` loan is repaid in one payment on the receivable's due date: principal
    plus interest for the days since disbursement (``day_count``, ACT/360 by default)."""
    if listing.product != PRODUCT:
        return None
    row = q.for_listing(ctx.conn, listing.id)
    if row is None or listing.annual_rate is None:
        return None
    settings: Settings = ctx.settings(PLUGIN)
    basis = settings.day_count
    return rules.receivable_schedule(
        listing.amount, listing.annual_rate, start, row.due_date, basis
    )


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """The receivable is now financed by the loan; each investor's amount is its principal."""
    row = q.for_listing(ctx.conn, loan.listing_id, lock=True)
    if row is None or row.stage != "committed":
        return
    ctx.conn.execute(
        update(receivables)
        .where(receivables.c.id == row.id)
        .values(stage="active", loan_id=loan.id)
    )
    q.reduce_exposure(ctx.conn, row, loan.outstanding_principal.minor)
    _follow_positions(ctx, loan, row)


def _follow_positions(ctx: HookContext, loan: LoanRecord, row: Any) -> None:
    """Each investor's amount becomes its positions' outstanding principal (summed: an investor
    whose several bids filled holds several positions)."""
    owed: dict[str, int] = defaultdict(int)
    for position in loan.positions:
        owed[position.investor_id] += position.outstanding_principal.minor
    for investor_id in sorted(owed):
        q.set_holding(
            ctx.conn, loan.listing_id, investor_id, row.core_enterprise_id, owed[investor_id]
        )


@lendkit.hookimpl
def lendkit_cob_loans_of_interest(ctx: HookContext, loan_ids: Sequence[str]) -> Sequence[str]:
    """The chunk's loans that finance a receivable: the core enterprise pays them (collection
    sources) and each payment moves its exposure, so they take close of business's one-loan
    path; the others stay on its bulk path."""
    return list(
        ctx.conn.execute(
            select(receivables.c.loan_id).where(receivables.c.loan_id.in_(loan_ids))
        ).scalars()
    )


@lendkit.hookimpl
def lendkit_collection_sources(
    ctx: HookContext, loan: LoanRecord, installment: Installment
) -> Sequence[str] | None:
    """The core enterprise pays the receivable; after ``recourse_grace_days`` past the due date
    the supplier (the borrower) is collected from too, as recourse payer."""
    if loan.product != PRODUCT:
        return None  # a receivable is financed only by a listing of this product
    row = q.for_loan(ctx.conn, loan.id)
    if row is None:
        return None
    core = q.core_row(ctx.conn, row.core_enterprise_id)
    settings: Settings = ctx.settings(PLUGIN)
    grace = settings.recourse_grace_days
    return rules.collection_sources(
        core.party_id, loan.borrower_id, installment.due_date, ctx.today, grace
    )


@lendkit.hookimpl
def lendkit_repayment_received(ctx: HookContext, loan: LoanRecord, payment: PaymentRecord) -> None:
    """Follow the loan's outstanding principal: the core enterprise's credit, the industry's
    exposure and each investor's amount go down as principal comes in."""
    row = q.for_loan(ctx.conn, loan.id)
    if row is None or row.stage != "active":
        return
    q.reduce_exposure(
        ctx.conn,
        row,
        loan.outstanding_principal.minor,
        overdue=loan.state in ("overdue", "defaulted"),
    )
    _follow_positions(ctx, loan, row)


@lendkit.hookimpl
def lendkit_installment_overdue(ctx: HookContext, loan: LoanRecord) -> None:
    """Mark the receivable's loan overdue (disclosed, and shown in the stress view)."""
    if loan.product != PRODUCT:
        return
    ctx.conn.execute(
        update(receivables)
        .where(receivables.c.loan_id == loan.id, receivables.c.overdue.is_(False))
        .values(overdue=True)
    )


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """A settled or written-off loan frees the core enterprise's credit and the investors'."""
    row = q.for_loan(ctx.conn, loan.id)
    if row is None or row.stage != "active":
        return
    q.reduce_exposure(ctx.conn, row, 0, stage="closed", overdue=False)
    for investor_id in sorted({position.investor_id for position in loan.positions}):
        q.set_holding(ctx.conn, loan.listing_id, investor_id, row.core_enterprise_id, 0)


# -- disclosure ----------------------------------------------------------------------------------------


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Outstanding per core enterprise and per industry, the top-10 core enterprises' share,
    overdue loans, and each core enterprise's stress view: its totals, then one line per
    listing or loan affected if it stops paying, naming every investor and amount."""
    cur = ctx.currency
    cores = ctx.conn.execute(
        select(core_enterprises).order_by(core_enterprises.c.created_at, core_enterprises.c.id)
    ).all()
    rows = ctx.conn.execute(select(receivables).where(receivables.c.stage.in_(OPEN_STAGES))).all()
    per_core: dict[str, int] = defaultdict(int)
    per_industry: dict[str, int] = defaultdict(int)
    industry_of = {c.id: c.industry for c in cores}
    overdue_n = overdue_amount = 0
    for r in rows:
        if r.stage == "active":
            per_core[r.core_enterprise_id] += int(r.exposure)
            per_industry[industry_of[r.core_enterprise_id]] += int(r.exposure)
            if r.overdue:
                overdue_n, overdue_amount = overdue_n + 1, overdue_amount + int(r.exposure)

    def m(units: int) -> str:
        return str(Money.from_minor(units, cur))

    total = sum(per_core.values())
    out = [Disclosure(PLUGIN, "core enterprises", str(len(cores)))]
    for c in cores:
        who = f"{c.name} ({c.id})"
        stress = exposure_of(ctx, c.id)
        out += [
            Disclosure(PLUGIN, f"{who} credit limit", m(int(c.credit_limit))),
            Disclosure(PLUGIN, f"{who} outstanding", m(per_core.get(c.id, 0))),
            Disclosure(PLUGIN, f"{who} committed", m(int(c.used) - per_core.get(c.id, 0))),
            Disclosure(
                PLUGIN,
                f"{who} stress",
                f"{len(stress.loans)} loans, {len(stress.investors)} investors, {stress.total}"
                " at risk if it stops paying",
            ),
        ]
        for loan in stress.loans:
            held = ", ".join(f"{i.investor_id} {i.amount}" for i in loan.investors)
            out.append(
                Disclosure(
                    PLUGIN,
                    f"{who} stress {loan.loan_id or loan.listing_id}",
                    f"{loan.amount} ({loan.stage}{', overdue' if loan.overdue else ''},"
                    f" supplier {loan.supplier_id}, due {loan.due_date}): {held or 'no investors'}",
                )
            )
    for name in sorted(per_industry):
        share = Decimal(per_industry[name]) / Decimal(total) if total else Decimal(0)
        out.append(
            Disclosure(
                PLUGIN,
                f"industry {name} outstanding",
                f"{m(per_industry[name])} ({rules.percent(share)})",
            )
        )
    out += [
        Disclosure(PLUGIN, "outstanding", m(total)),
        Disclosure(
            PLUGIN, "top-10 concentration", rules.percent(rules.top_share(per_core.values()))
        ),
        Disclosure(PLUGIN, "overdue loans", f"{overdue_n} ({m(overdue_amount)})"),
    ]
    return out


__all__ = [
    "lendkit_bid_placed",
    "lendkit_bid_released",
    "lendkit_build_schedule",
    "lendkit_collection_sources",
    "lendkit_disclosures",
    "lendkit_installment_overdue",
    "lendkit_listing_approved",
    "lendkit_listing_failed",
    "lendkit_listing_withdrawn",
    "lendkit_loan_closed",
    "lendkit_loan_disbursed",
    "lendkit_register_products",
    "lendkit_repayment_received",
    "lendkit_validate_bid",
    "lendkit_validate_listing",
]
