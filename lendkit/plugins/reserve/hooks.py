"""The reserve plugin's hook implementations (registered through the package, which re-exports
them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import bindparam, select, update

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.errors import InsufficientFunds
from lendkit.core.money import Money
from lendkit.core.records import (
    Claim,
    Deduction,
    Disclosure,
    ListingRecord,
    LoanRecord,
    PluginSettings,
    Repayment,
)
from lendkit.plugins.reserve.commands import (
    fund_account,
    record,
    reserve_covered,
    reserve_lock,
    reserve_revenue,
    reserve_settle,
    reserve_status,
)
from lendkit.plugins.reserve.records import CLOSED, NEW, OPEN, PAID, PLUGIN
from lendkit.plugins.reserve.rules import percent
from lendkit.plugins.reserve.settings import Settings
from lendkit.plugins.reserve.tables import claims, loans


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["reserve"]`` is structured into :class:`Settings` at open."""
    return PluginSettings(PLUGIN, Settings)


@lendkit.hookimpl
def lendkit_disbursement_deductions(
    ctx: HookContext, listing: ListingRecord, principal: Money
) -> Sequence[Deduction]:
    """Record the loan as covered; with ``contribution_from="borrower"`` take ``rates[grade]`` of
    the principal from the proceeds into the fund."""
    cfg: Settings = ctx.settings(PLUGIN)
    if cfg.products is not None and listing.product not in cfg.products:
        return []
    rate = cfg.rates.get(listing.grade or "", Decimal(0))
    contribution = principal.multiply(rate)
    ctx.conn.execute(
        loans.insert().values(
            listing_id=listing.id,
            loan_id=None,
            grade=listing.grade,
            principal=principal.minor,
            rate=str(rate),
            contribution=contribution.minor,
            source=cfg.contribution_from,
            outstanding=principal.minor,
            state="pending",
            created_at=ctx.now,
        )
    )
    if cfg.contribution_from == "borrower" and contribution.is_positive():
        return [Deduction("risk reserve contribution", contribution, fund_account(ctx).code)]
    return []


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """Start covering the loan; book its contribution (from revenue in ``fees`` mode) and settle
    the queue with it."""
    row = ctx.conn.execute(
        select(loans).where(loans.c.listing_id == loan.listing_id, loans.c.state == "pending")
    ).first()
    if row is None:
        return
    ctx.conn.execute(
        update(loans)
        .where(loans.c.listing_id == loan.listing_id)
        .values(loan_id=loan.id, state="open", outstanding=loan.outstanding_principal.minor)
    )
    if row.contribution <= 0:
        return
    reserve_lock(ctx)
    amount = Money.from_minor(row.contribution, loan.principal.currency)
    if row.source == "fees":
        revenue = reserve_revenue(ctx)
        have = ctx.balance(revenue)
        if have < amount:
            raise InsufficientFunds(
                f"reserve contribution {amount} for loan {loan.id} (grade {row.grade},"
                f" {Decimal(row.rate) * 100}% of {loan.principal}) exceeds platform revenue {have}:"
                " lower the rate, or take contributions from the borrower (contribution_from)"
            )
        ctx.transfer(
            "reserve.contribution", loan.id, [(revenue, -amount), (fund_account(ctx), amount)]
        )
    record(ctx, "contribution", row.contribution, f"{row.source} {row.grade}", loan_id=loan.id)
    reserve_settle(ctx)


@lendkit.hookimpl
def lendkit_cover_claim(ctx: HookContext, claim: Claim) -> Money | None:
    """Take on a covered loan's installment ``after_days`` overdue: queue its principal (and
    interest if configured) for the day's close, where the day's claims are paid together."""
    cfg: Settings = ctx.settings(PLUGIN)
    if claim.days_overdue < cfg.after_days or claim.period is None:
        return None
    if reserve_covered(ctx, claim.loan_id) is None:
        return None
    want_p = claim.principal.minor
    want_i = claim.interest.minor if cfg.pay_interest else 0
    reserve_lock(ctx)
    existing = ctx.conn.execute(
        select(claims).where(claims.c.loan_id == claim.loan_id, claims.c.period == claim.period)
    ).first()
    if existing is None:
        if want_p + want_i <= 0:
            return None
        ctx.conn.execute(
            claims.insert().values(
                loan_id=claim.loan_id,
                period=claim.period,
                queued_on=ctx.today,
                principal=want_p,
                interest=want_i,
                paid_principal=0,
                paid_interest=0,
                state=NEW,
                created_at=ctx.now,
            )
        )
    elif existing.state in (PAID, CLOSED) and want_p + want_i > 0:
        # owed again after it was closed (rare): take the new amount on, queued today
        ctx.conn.execute(
            update(claims)
            .where(claims.c.id == existing.id)
            .values(
                principal=existing.paid_principal + want_p,
                interest=existing.paid_interest + want_i,
                queued_on=ctx.today,
                state=NEW,
            )
        )
    # paid at the day's close (lendkit_cob_day), pro rata with the day's other claims
    return None


@lendkit.hookimpl
def lendkit_cob_day(ctx: HookContext, run_date: date) -> None:
    """The day's collections and waterfall are done: the claims taken on up to this business
    date join the queue, and the queue is paid with what the fund holds (oldest day first, the
    claims of one day pro rata by amount)."""
    reserve_lock(ctx)
    ctx.conn.execute(
        update(claims)
        .where(claims.c.state == NEW, claims.c.queued_on <= run_date)
        .values(state=OPEN)
    )
    reserve_settle(ctx)


@lendkit.hookimpl
def lendkit_repayments_received(ctx: HookContext, repayments: Sequence[Repayment]) -> None:
    """Follow the covered loans' outstanding principal (for the coverage ratio): one read
    finds the batch's covered loans, one statement updates them."""
    outstanding = {r.loan_id: r.outstanding_principal.minor for r in repayments}
    ids = sorted(outstanding)
    covered = [
        loan_id
        for start in range(0, len(ids), 500)
        for loan_id in ctx.conn.execute(
            select(loans.c.loan_id).where(
                loans.c.loan_id.in_(ids[start : start + 500]), loans.c.state == "open"
            )
        ).scalars()
    ]
    if covered:
        ctx.conn.execute(
            update(loans)
            .where(loans.c.loan_id == bindparam("lid"), loans.c.state == "open")
            .values(outstanding=bindparam("out")),
            [{"lid": loan_id, "out": outstanding[loan_id]} for loan_id in sorted(covered)],
        )


@lendkit.hookimpl
def lendkit_recovery_received(ctx: HookContext, loan: LoanRecord, amount: Money) -> None:
    """A recovery may have refilled the fund (its claims are paid back into it): settle the queue."""
    reserve_lock(ctx)
    reserve_settle(ctx)


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """A settled or written-off loan is no longer covered."""
    ctx.conn.execute(
        update(loans).where(loans.c.loan_id == loan.id).values(state="closed", outstanding=0)
    )


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Balance, coverage ratio, seeded, contributions, payouts, recoveries and queued shortfall."""
    s = reserve_status(ctx)
    return [
        Disclosure(PLUGIN, "balance", str(s.balance)),
        Disclosure(PLUGIN, "outstanding principal of covered loans", str(s.outstanding_principal)),
        Disclosure(PLUGIN, "coverage ratio", percent(s.coverage_ratio)),
        Disclosure(PLUGIN, "seeded", str(s.seeded)),
        Disclosure(PLUGIN, "contributions", str(s.contributions)),
        Disclosure(PLUGIN, "payouts", str(s.paid)),
        Disclosure(PLUGIN, "payout count", str(s.payouts)),
        Disclosure(PLUGIN, "recoveries", str(s.recoveries)),
        Disclosure(PLUGIN, "queued shortfall", str(s.queued_shortfall)),
        Disclosure(PLUGIN, "queued claims", str(s.queued_claims)),
        Disclosure(PLUGIN, "covered loans", str(s.covered_loans)),
    ]
