"""The insurance plugin's hook implementations (registered through the package, which re-exports
them)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.ledger import AccountRef
from lendkit.core.money import DEFAULT_ROUNDING, Money, allocate
from lendkit.core.records import (
    Claim,
    Deduction,
    Disclosure,
    ListingRecord,
    LoanRecord,
    Repayment,
)
from lendkit.plugins.insurance.commands import (
    end,
    insurance_custody,
    insurance_room,
    loan_policies,
    pay_loan_claim,
    policy_row,
)
from lendkit.plugins.insurance.records import CANCELLED, EXPIRED, IN_FORCE, PENDING, PLUGIN
from lendkit.plugins.insurance.rules import insurance_scheduled_interest, pct
from lendkit.plugins.insurance.tables import insurers, policies


@lendkit.hookimpl
def lendkit_cover_claim(ctx: HookContext, claim: Claim) -> Money:
    """Waterfall step: each in-force credit policy of the loan whose trigger is met (days overdue,
    or the loan defaulted), then each platform policy, pays what is still unpaid, within its
    remaining cover and the insurer's balance; the insurer then holds the claim."""
    total = Money.zero(claim.principal.currency)
    principal, interest = claim.principal, claim.interest
    for row in loan_policies(ctx, claim.loan_id):
        if not (principal.is_positive() or interest.is_positive()):
            break
        met = (
            bool(row.defaulted)
            if row.trigger_days is None
            else claim.days_overdue >= row.trigger_days
        )
        if not met:
            continue
        paid = pay_loan_claim(ctx, row, claim.loan_id, principal, interest, claim.period)
        paid_p = min(paid, principal)
        principal, interest = principal - paid_p, interest - (paid - paid_p)
        total = total + paid
    return total


@lendkit.hookimpl
def lendkit_loan_defaulted(ctx: HookContext, loan: LoanRecord) -> None:
    """Default opens the claims of ``trigger_days="default"`` policies: they pay at once what is
    due and unpaid (principal first, then interest) and later installments in the waterfall."""
    rows = ctx.conn.execute(
        select(policies).where(
            policies.c.loan_id == loan.id,
            policies.c.kind == "credit",
            policies.c.state == IN_FORCE,
        )
    ).all()
    ctx.conn.execute(update(policies).where(policies.c.loan_id == loan.id).values(defaulted=1))
    for row in rows:
        if row.trigger_days is not None:
            continue
        fresh = policy_row(ctx.conn, row.id)
        pay_loan_claim(
            ctx, fresh, loan.id, loan.outstanding_principal, Money.zero(ctx.currency), None
        )
        fresh = policy_row(ctx.conn, row.id)
        if fresh.cover_interest:
            room = insurance_room(ctx, fresh)
            pay_loan_claim(ctx, fresh, loan.id, Money.zero(ctx.currency), room, None)


@lendkit.hookimpl
def lendkit_disbursement_deductions(
    ctx: HookContext, listing: ListingRecord, principal: Any
) -> Sequence[Deduction]:
    """Borrower-paid premiums of the listing's pending policies, paid to the insurers' accounts."""
    rows = ctx.conn.execute(
        select(policies)
        .where(
            policies.c.listing_id == listing.id,
            policies.c.state == PENDING,
            policies.c.payer == "borrower",
        )
        .order_by(policies.c.created_at, policies.c.id)
    ).all()
    out = []
    for row in rows:
        if row.premium:
            account = insurance_custody(ctx, row.insurer_id, listing.amount.currency)
            out.append(
                Deduction(
                    f"insurance premium {row.id}",
                    Money.from_minor(row.premium, listing.amount.currency),
                    account.code,
                )
            )
            ctx.conn.execute(
                update(policies)
                .where(policies.c.id == row.id)
                .values(premium_collected=row.premium)
            )
    return out


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """The listing's pending policies come into force on the loan."""
    ctx.conn.execute(
        update(policies)
        .where(policies.c.listing_id == loan.listing_id, policies.c.state == PENDING)
        .values(state=IN_FORCE, loan_id=loan.id, total_interest=insurance_scheduled_interest(loan))
    )


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed listing cancels its pending policies and frees the insurers' capacity."""
    end(ctx, policies.c.listing_id == listing.id, PENDING, CANCELLED)


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled listing cancels its pending policies, like a failed one."""
    lendkit_listing_failed(ctx, listing)


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """A repaid or written-off loan ends its policies and frees the insurers' capacity."""
    end(ctx, policies.c.loan_id == loan.id, IN_FORCE, EXPIRED)


@lendkit.hookimpl
def lendkit_repayments_received(ctx: HookContext, repayments: Sequence[Repayment]) -> None:
    """Withhold investor-paid premiums from the interest the investors have received so far:
    one read finds the batch's loans with premiums still to collect (only those are loaded),
    the withholdings are booked together and the policies updated in one statement."""
    ids = sorted({r.loan_id for r in repayments})
    owing: dict[str, list[Any]] = {}
    for start in range(0, len(ids), 500):
        for row in ctx.conn.execute(
            select(policies)
            .where(
                policies.c.loan_id.in_(ids[start : start + 500]),
                policies.c.payer == "investors",
                policies.c.premium_collected < policies.c.premium,
            )
            .order_by(policies.c.loan_id, policies.c.created_at, policies.c.id)
        ):
            owing.setdefault(row.loan_id, []).append(row)
    balances: dict[int, Money] = {}  # what each investor has left, as the withholdings go
    refs: dict[str, AccountRef] = {}  # each investor's account, found once per batch
    movements: list[tuple[str, list[tuple[AccountRef, Money]]]] = []
    collected = []
    records = ctx.loans(sorted(owing))
    for loan_id in sorted(owing):
        loan = records[loan_id]
        if not loan.positions:
            continue
        for row in owing[loan_id]:
            legs = _premium_legs(ctx, loan, row, balances, refs)
            if legs:
                got = sum((-money for _, money in legs), Money.zero(loan.principal.currency))
                legs.append((insurance_custody(ctx, row.insurer_id, got.currency), got))
                movements.append((row.id, legs))
                collected.append({"pid": row.id, "got": row.premium_collected + got.minor})
    ctx.transfer_many("insurance.premium", movements)
    if collected:
        ctx.conn.execute(
            update(policies)
            .where(policies.c.id == bindparam("pid"))
            .values(premium_collected=bindparam("got")),
            collected,
        )


def _premium_legs(
    ctx: HookContext,
    loan: LoanRecord,
    row: Any,
    balances: dict[int, Money],
    refs: dict[str, AccountRef],
) -> list[tuple[AccountRef, Money]]:
    """The investors' legs of policy ``row``'s premium due on the interest they received so
    far (what each has, at most); ``balances`` is what the earlier ones left them, ``refs``
    the investors' accounts found so far."""
    if not row.total_interest:
        return []
    cur = loan.principal.currency
    received = sum(p.received_interest.minor + p.fees_paid.minor for p in loan.positions)
    weights = [p.principal.amount * p.annual_rate for p in loan.positions]
    due = min(
        row.premium,
        int(
            DEFAULT_ROUNDING.quantize(
                Decimal(row.premium) * received / Decimal(row.total_interest), "JPY"
            )
        ),
    )
    take = due - row.premium_collected
    if take <= 0:
        return []
    legs: list[tuple[AccountRef, Money]] = []
    for position, share in zip(
        loan.positions, allocate(Money.from_minor(take, cur), weights), strict=True
    ):
        account = refs.get(position.investor_id)
        if account is None:
            account = refs[position.investor_id] = ctx.party_account(position.investor_id, cur)
        if account.id not in balances:
            balances[account.id] = ctx.balance(account)
        part = min(share, balances[account.id])
        if part.is_positive():
            legs.append((account, -part))
            balances[account.id] = balances[account.id] - part
    return legs


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Per insurer: capacity, exposure, utilization, custody balance. In total: policies in force,
    premiums, claims paid, recoveries (from the ledger: balances - funding - premiums + claims),
    loss ratio (claims / premiums); and the yield effect of investor-paid premiums."""
    cur = ctx.currency
    out: list[Disclosure] = []
    balances = funded = 0
    for ins in ctx.conn.execute(select(insurers).order_by(insurers.c.name)).all():
        balance = ctx.balance(insurance_custody(ctx, ins.id, cur))
        balances += balance.minor
        funded += ins.funded
        util = Decimal(ins.exposure) / Decimal(ins.capacity) if ins.capacity else Decimal(0)
        out.extend(
            [
                Disclosure(
                    PLUGIN, f"{ins.name} capacity", str(Money.from_minor(ins.capacity, cur))
                ),
                Disclosure(PLUGIN, f"{ins.name} insured", str(Money.from_minor(ins.exposure, cur))),
                Disclosure(PLUGIN, f"{ins.name} utilization", pct(util)),
                Disclosure(PLUGIN, f"{ins.name} custody balance", str(balance)),
            ]
        )
    in_force = ctx.conn.execute(
        select(func.count()).select_from(policies).where(policies.c.state == IN_FORCE)
    ).scalar_one()
    premiums, paid = ctx.conn.execute(
        select(
            func.coalesce(func.sum(policies.c.premium_collected), 0),
            func.coalesce(func.sum(policies.c.claims_paid), 0),
        )
    ).one()
    premiums, paid = int(premiums), int(paid)
    recoveries = balances - funded - premiums + paid
    out.extend(
        [
            Disclosure(PLUGIN, "policies in force", str(int(in_force))),
            Disclosure(PLUGIN, "premiums", str(Money.from_minor(premiums, cur))),
            Disclosure(PLUGIN, "claims paid", str(Money.from_minor(paid, cur))),
            Disclosure(PLUGIN, "recoveries", str(Money.from_minor(recoveries, cur))),
            Disclosure(
                PLUGIN,
                "loss ratio",
                pct(Decimal(paid) / Decimal(premiums)) if premiums else "0.00%",
            ),
        ]
    )
    for row in ctx.conn.execute(
        select(policies)
        .where(policies.c.payer == "investors", policies.c.state == IN_FORCE)
        .order_by(policies.c.created_at, policies.c.id)
    ).all():
        if row.total_interest:
            share = Decimal(row.premium) / Decimal(row.total_interest)
            out.append(
                Disclosure(
                    PLUGIN,
                    f"policy {row.id} investors' yield",
                    f"premium {Money.from_minor(row.premium, cur)} is {pct(share)} of the"
                    " scheduled interest",
                )
            )
    return out
