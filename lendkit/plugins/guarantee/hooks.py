"""The guarantee plugin's hook implementations (registered through the package, which re-exports
them)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import bindparam, select, update

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import (
    Claim,
    Deduction,
    Disclosure,
    ListingRecord,
    LoanRecord,
    PluginSettings,
    Product,
    Repayment,
)
from lendkit.plugins.guarantee.commands import (
    deposit_accounts,
    guarantee_problems,
    guarantor_record,
    guarantor_row,
    release_frozen,
    row_for_listing,
    row_for_loan,
)
from lendkit.plugins.guarantee.records import (
    ACTIVE,
    CLOSED,
    COMMITTED,
    PENDING,
    PLUGIN,
    PRODUCT,
    RELEASED,
)
from lendkit.plugins.guarantee.rules import percent, rate_of
from lendkit.plugins.guarantee.settings import Settings
from lendkit.plugins.guarantee.tables import (
    guarantees,
    guarantors,
    payouts,
)


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["guarantee"]`` is structured into :class:`Settings` at open."""
    return PluginSettings(PLUGIN, Settings)


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The ``guaranteed`` product: listings that need a guarantor before approval."""
    return [Product(name=PRODUCT, description="loan backed by a guarantee company (担保)")]


@lendkit.hookimpl
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """On approval: re-check the guarantor's leverage cap, deposit and relations (reads only: the
    capacity is committed in ``lendkit_listing_approved``, once every validator passed). A
    ``guaranteed`` listing without a guarantor is refused."""
    if listing.state != "approved":
        return []
    row = row_for_listing(ctx.conn, listing.id, lock=True)
    if row is None:
        if listing.product == PRODUCT:
            return [
                f"listing {listing.id} is of product {PRODUCT!r} but has no guarantor:"
                " guarantee_listing() before approval"
            ]
        return []
    if row.state not in (PENDING, COMMITTED):
        return []
    g = guarantor_row(ctx.conn, row.guarantor_id, lock=True)
    problems = guarantee_problems(ctx, g, listing.borrower_id, listing.amount.minor, listing.id)
    return [text for _, text in problems]


@lendkit.hookimpl
def lendkit_listing_approved(ctx: HookContext, listing: ListingRecord) -> None:
    """Every validator passed: commit the listing's guarantee against the guarantor's cap."""
    ctx.conn.execute(
        update(guarantees)
        .where(
            guarantees.c.listing_id == listing.id,
            guarantees.c.state.in_((PENDING, COMMITTED)),
        )
        .values(state=COMMITTED, amount=listing.amount.minor)
    )


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed listing (流标) frees the capacity it had committed."""
    ctx.conn.execute(
        update(guarantees)
        .where(guarantees.c.listing_id == listing.id, guarantees.c.state.in_((PENDING, COMMITTED)))
        .values(state=RELEASED)
    )


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled listing frees the capacity it had committed, like a failed one."""
    lendkit_listing_failed(ctx, listing)


@lendkit.hookimpl
def lendkit_disbursement_deductions(
    ctx: HookContext, listing: ListingRecord, principal: Money
) -> Sequence[Deduction]:
    """The guarantee fee (``fee_rate`` of principal) to the guarantor's custody account."""
    row = row_for_listing(ctx.conn, listing.id)
    if row is None or row.state != COMMITTED:
        return []
    g = guarantor_row(ctx.conn, row.guarantor_id)
    fee = principal.multiply(Decimal(row.fee_rate))
    ctx.conn.execute(
        update(guarantees).where(guarantees.c.listing_id == listing.id).values(fee=fee.minor)
    )
    if fee.is_zero():
        return []
    return [Deduction("guarantee fee", fee, ctx.party_account(g.party_id, principal.currency).code)]


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """Activate the guarantee and freeze ``deposit_rate`` of the principal from the free deposit
    (as much as there is: the guarantee holds even if the deposit has run short)."""
    row = row_for_listing(ctx.conn, loan.listing_id, lock=True)
    if row is None or row.state != COMMITTED:
        return
    g = guarantor_row(ctx.conn, row.guarantor_id, lock=True)
    free, frozen_acct = deposit_accounts(ctx, g)
    want = rate_of(loan.principal.minor, Decimal(row.deposit_rate))
    freeze = min(want, ctx.balance(free).minor)
    if freeze > 0:
        amount = Money.from_minor(freeze, g.currency)
        ctx.transfer("guarantee.deposit_freeze", loan.id, [(free, -amount), (frozen_acct, amount)])
    ctx.conn.execute(
        update(guarantees)
        .where(guarantees.c.listing_id == loan.listing_id)
        .values(
            state=ACTIVE,
            loan_id=loan.id,
            outstanding=loan.outstanding_principal.minor,
            frozen=max(0, freeze),
        )
    )


@lendkit.hookimpl
def lendkit_repayments_received(ctx: HookContext, repayments: Sequence[Repayment]) -> None:
    """Follow each guaranteed loan's outstanding principal and release the deposit frozen above
    ``deposit_rate x outstanding``: one read finds the batch's guarantees, the releases are
    booked together and the guarantees updated in one statement (only guaranteed loans cost)."""
    outstanding = {r.loan_id: r.outstanding_principal.minor for r in repayments}
    ids = sorted(outstanding)
    rows = [
        row
        for start in range(0, len(ids), 500)
        for row in ctx.conn.execute(
            select(guarantees)
            .where(guarantees.c.loan_id.in_(ids[start : start + 500]), guarantees.c.state == ACTIVE)
            .order_by(guarantees.c.loan_id)
        )
    ]
    accounts: dict[str, tuple[AccountRef, AccountRef, str]] = {}
    releases: list[tuple[str, list[tuple[AccountRef, Money]]]] = []
    updates = []
    for row in rows:
        if row.guarantor_id not in accounts:
            g = guarantor_row(ctx.conn, row.guarantor_id)
            accounts[row.guarantor_id] = (*deposit_accounts(ctx, g), g.currency)
        free, frozen_acct, cur = accounts[row.guarantor_id]
        left = outstanding[row.loan_id]
        release = row.frozen - max(0, rate_of(left, Decimal(row.deposit_rate)))
        if release > 0:
            amount = Money.from_minor(int(release), cur)
            releases.append((row.loan_id, [(frozen_acct, -amount), (free, amount)]))
        frozen_left = int(row.frozen - release) if release > 0 else int(row.frozen)
        updates.append({"lid": row.loan_id, "out": left, "frozen": frozen_left})
    ctx.transfer_many("guarantee.deposit_release", releases)
    if updates:
        ctx.conn.execute(
            update(guarantees)
            .where(guarantees.c.loan_id == bindparam("lid"))
            .values(outstanding=bindparam("out"), frozen=bindparam("frozen")),
            updates,
        )


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """A settled or written-off loan releases the guarantor's capacity and its frozen deposit."""
    row = row_for_loan(ctx.conn, loan.id)
    if row is None or row.state != ACTIVE:
        return
    g = guarantor_row(ctx.conn, row.guarantor_id)
    release_frozen(ctx, g, row, 0)
    ctx.conn.execute(
        update(guarantees)
        .where(guarantees.c.loan_id == loan.id)
        .values(state=CLOSED, outstanding=0, frozen=0)
    )


@lendkit.hookimpl
def lendkit_loan_defaulted(ctx: HookContext, loan: LoanRecord) -> None:
    """Mark the guarantee defaulted: a general-liability guarantor pays from now on."""
    ctx.conn.execute(
        update(guarantees).where(guarantees.c.loan_id == loan.id).values(defaulted=True)
    )


@lendkit.hookimpl
def lendkit_cover_claim(ctx: HookContext, claim: Claim) -> Money | None:
    """Compensate (代偿) the claim's investors if the guarantee's trigger is met.

    Joint liability: ``claim.days_overdue >= after_days``. General: the loan has defaulted.
    Pays principal and interest (or principal only) from the guarantor's available balance, then
    the deposit frozen for this loan, then its free deposit; returns what was paid.
    """
    row = row_for_loan(ctx.conn, claim.loan_id)
    if row is None or row.state != ACTIVE:
        return None
    if row.liability == "joint":
        if claim.days_overdue < row.after_days:
            return None
    elif not (row.defaulted or claim.reason == "default"):
        return None
    want_p = claim.principal.minor
    want_i = claim.interest.minor if row.cover == "principal_and_interest" else 0
    if want_p + want_i <= 0:
        return None
    g = guarantor_row(ctx.conn, row.guarantor_id, lock=True)
    cur = g.currency
    payer = ctx.party_account(g.party_id, cur)
    free, frozen_acct = deposit_accounts(ctx, g)
    available = ctx.balance(payer).minor
    short = max(0, want_p + want_i - available)
    from_frozen = min(short, row.frozen)
    from_free = min(short - from_frozen, ctx.balance(free).minor)
    if from_frozen or from_free:
        ctx.transfer(
            "guarantee.deposit_draw",
            claim.loan_id,
            [
                (frozen_acct, Money.from_minor(-from_frozen, cur)),
                (free, Money.from_minor(-from_free, cur)),
                (payer, Money.from_minor(from_frozen + from_free, cur)),
            ],
        )
        if from_frozen:
            ctx.conn.execute(
                update(guarantees)
                .where(guarantees.c.loan_id == claim.loan_id)
                .values(frozen=row.frozen - from_frozen)
            )
    funds = available + from_frozen + from_free
    pay_p = min(want_p, funds)
    pay_i = min(want_i, funds - pay_p)
    if pay_p + pay_i <= 0:
        return None
    paid = ctx.pay_investors(
        claim.loan_id,
        payer,
        Money.from_minor(pay_p, cur),
        Money.from_minor(pay_i, cur),
        reason="guarantee",
        period=claim.period,
    )
    if paid.is_positive():
        paid_p = min(pay_p, paid.minor)
        ctx.conn.execute(
            payouts.insert().values(
                guarantor_id=g.id,
                loan_id=claim.loan_id,
                period=claim.period,
                principal=paid_p,
                interest=paid.minor - paid_p,
                paid_on=ctx.today,
                created_at=ctx.now,
            )
        )
    return paid


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Per guarantor: capital, cap, outstanding, committed, utilization, deposits, compensation;
    plus the totals over all guarantors."""
    rows = ctx.conn.execute(
        select(guarantors).order_by(guarantors.c.created_at, guarantors.c.id)
    ).all()
    out: list[Disclosure] = [Disclosure(PLUGIN, "guarantors", str(len(rows)))]
    cur = ctx.currency
    total_out = total_paid = Money.zero(cur)
    for r in rows:
        g = guarantor_record(ctx, r)
        who = f"{g.name} ({g.id})"
        out += [
            Disclosure(PLUGIN, f"{who} capital", str(g.capital)),
            Disclosure(PLUGIN, f"{who} cap", f"{g.cap} ({g.leverage}x capital)"),
            Disclosure(PLUGIN, f"{who} outstanding", str(g.outstanding)),
            Disclosure(PLUGIN, f"{who} committed", str(g.committed)),
            Disclosure(PLUGIN, f"{who} utilization", percent(g.utilization)),
            Disclosure(PLUGIN, f"{who} deposit", str(g.deposit)),
            Disclosure(PLUGIN, f"{who} deposit frozen", str(g.deposit_frozen)),
            Disclosure(PLUGIN, f"{who} compensation paid", str(g.compensated)),
        ]
        total_out, total_paid = total_out + g.outstanding, total_paid + g.compensated
    out += [
        Disclosure(PLUGIN, "outstanding guaranteed principal", str(total_out)),
        Disclosure(PLUGIN, "compensation paid", str(total_paid)),
    ]
    return out
