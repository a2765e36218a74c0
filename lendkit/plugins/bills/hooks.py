"""The ``bills`` plugin's hook implementations (re-exported by the package for pluggy)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.money import Money
from lendkit.core.records import (
    Disclosure,
    Installment,
    ListingRecord,
    LoanRecord,
    PaymentRecord,
    PluginSettings,
    Product,
)
from lendkit.core.schedule import Schedule
from lendkit.plugins.bills import records as R
from lendkit.plugins.bills import rules
from lendkit.plugins.bills.commands import (
    PRODUCT,
    problems_today,
    release_number,
    row_for,
    to_bill,
)
from lendkit.plugins.bills.settings import PLUGIN, BillSettings
from lendkit.plugins.bills.tables import bills, numbers, recourse


def _set(ctx: HookContext, bill_id: str, **values: Any) -> None:
    ctx.conn.execute(update(bills).where(bills.c.id == bill_id).values(**values))


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["bills"]`` is structured into :class:`BillSettings` when the Platform
    opens (a bad value is refused there)."""
    return PluginSettings(PLUGIN, BillSettings)


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The ``bill`` product: a bank acceptance bill financed at a discount (one row at maturity)."""
    return [
        Product(
            name=PRODUCT,
            description="bank acceptance bill financed at a discount, paid by the acceptor",
            plugin=PLUGIN,
            methods=(rules.METHOD,),
        )
    ]


def _listing_problems(ctx: HookContext, listing: ListingRecord) -> list[str]:
    if listing.product != PRODUCT:
        return []  # only apply_with_bill files bill listings, always of the product bill
    if listing.state == "applied":
        row = ctx.conn.execute(
            select(bills).where(
                bills.c.state == R.APPLYING,
                bills.c.listing_id.is_(None),
                bills.c.drawer_id == listing.borrower_id,
                bills.c.price == listing.amount.minor,
            )
        ).first()
        if row is None:
            return [
                f"listing {listing.id}: a bill listing is filed with bills.apply_with_bill, which"
                " claims the bill's number"
            ]
        return []  # apply_with_bill checked the bill in this transaction
    row = row_for(ctx.conn, listing_id=listing.id)
    if row is None:
        return [f"listing {listing.id} of product bill has no bill"]
    settings: BillSettings = ctx.settings(PLUGIN)
    problems = problems_today(ctx, settings, to_bill(ctx.conn, row))
    holder = ctx.conn.execute(select(numbers).where(numbers.c.number == row.number)).first()
    if holder is None or holder.bill_id != row.id or holder.state != "live":
        problems.append(
            f"bill number {row.number} is no longer held by listing {listing.id}"
            f" (now: bill {getattr(holder, 'bill_id', None)})"
        )
    if listing.annual_rate is not None and listing.annual_rate != Decimal(row.discount_rate):
        problems.append(
            f"listing {listing.id} finances bill {row.number} at its discount rate"
            f" {Decimal(row.discount_rate):%}: its rate cannot be changed to"
            f" {listing.annual_rate:%}"
        )
    return problems


@lendkit.hookimpl
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """Refuse a bill listing whose bill is unverified, too close to maturity, pledged, or whose
    number is no longer its own (at application, approval and publication)."""
    return _listing_problems(ctx, listing)


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled bill listing: the bill is withdrawn, its number retained."""
    _withdraw(ctx, listing)


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed bill listing (流标): the bill is withdrawn, its number retained."""
    _withdraw(ctx, listing)


def _withdraw(ctx: HookContext, listing: ListingRecord) -> None:
    row = row_for(ctx.conn, listing_id=listing.id)
    if row is None:
        return
    _set(ctx, row.id, state=R.WITHDRAWN, closed_on=ctx.today)
    release_number(ctx, ctx.settings(PLUGIN), row)


@lendkit.hookimpl
def lendkit_build_schedule(
    ctx: HookContext, listing: ListingRecord, start: date
) -> Schedule | None:
    """A bill's loan: one row at maturity, principal = the price, interest = the discount."""
    row = row_for(ctx.conn, listing_id=listing.id)
    if row is None:
        return None
    return rules.schedule(
        Money.from_minor(row.face, row.currency),
        Decimal(row.discount_rate),
        row.priced_on,
        row.maturity,
        row.basis,
    )


@lendkit.hookimpl
def lendkit_replan_schedule(ctx: HookContext, loan: LoanRecord) -> str | None:
    """A bill is paid by its acceptor at maturity: partial prepayment is refused."""
    if row_for(ctx.conn, loan_id=loan.id) is None:
        return None
    return f"loan {loan.id} finances a bill: the acceptor pays its face at maturity"


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """The bill is funded: it is now the loan's."""
    row = row_for(ctx.conn, listing_id=loan.listing_id)
    if row is not None:
        _set(ctx, row.id, state=R.FUNDED, loan_id=loan.id)


@lendkit.hookimpl
def lendkit_cob_loans_of_interest(ctx: HookContext, loan_ids: Sequence[str]) -> Sequence[str]:
    """The chunk's loans that finance a bill: their acceptor pays them (collection sources), so
    they take close of business's one-loan path; the others stay on its bulk path."""
    return list(
        ctx.conn.execute(select(bills.c.loan_id).where(bills.c.loan_id.in_(loan_ids))).scalars()
    )


@lendkit.hookimpl
def lendkit_collection_sources(
    ctx: HookContext, loan: LoanRecord, installment: Installment
) -> Sequence[str] | None:
    """The acceptor bank pays a bill at maturity; after the recourse grace the drawer too."""
    if loan.product != PRODUCT:
        return None  # only bill listings (always of the product bill) finance a bill
    row = row_for(ctx.conn, loan_id=loan.id)
    if row is None:
        return None
    late = (ctx.today - installment.due_date).days
    settings: BillSettings = ctx.settings(PLUGIN)
    if late > settings.recourse_grace_days:
        return [row.acceptor_id, row.drawer_id]
    return [row.acceptor_id]


@lendkit.hookimpl
def lendkit_penalty_rate(ctx: HookContext, loan: LoanRecord) -> Decimal | None:
    """An overdue bill accrues the bill's own daily penalty rate."""
    if loan.product != PRODUCT:
        return None
    row = row_for(ctx.conn, loan_id=loan.id)
    return None if row is None else Decimal(row.penalty_rate)


@lendkit.hookimpl
def lendkit_installment_overdue(ctx: HookContext, loan: LoanRecord) -> None:
    """The acceptor did not pay at maturity: the bill is overdue."""
    if loan.product != PRODUCT:
        return
    row = row_for(ctx.conn, loan_id=loan.id)
    if row is not None and row.state == R.FUNDED:
        _set(ctx, row.id, state=R.OVERDUE)


@lendkit.hookimpl
def lendkit_repayment_received(ctx: HookContext, loan: LoanRecord, payment: PaymentRecord) -> None:
    """Record what the drawer paid after maturity (recourse; the acceptor's payments are the
    bill's normal payment)."""
    row = row_for(ctx.conn, loan_id=loan.id)
    if row is None or payment.payer != row.drawer_id or payment.paid_on <= row.maturity:
        return
    ctx.conn.execute(
        recourse.insert().values(
            payment_id=payment.id,
            bill_id=row.id,
            payer_id=payment.payer,
            amount=payment.amount.minor,
            paid_on=payment.paid_on,
        )
    )


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """Paid in full: the bill is paid and its number retained; written off: it stays unpaid."""
    row = row_for(ctx.conn, loan_id=loan.id)
    if row is None:
        return
    if loan.state == "settled":
        _set(ctx, row.id, state=R.PAID, closed_on=ctx.today)
        release_number(ctx, ctx.settings(PLUGIN), row)
    else:
        _set(ctx, row.id, state=R.WRITTEN_OFF, closed_on=ctx.today)


def _pct(part: int, whole: int) -> str:
    return (
        f"{(Decimal(part) * 100 / Decimal(whole)).quantize(Decimal('0.01'))}%" if whole else "0.00%"
    )


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Bills outstanding (funded or overdue) by acceptor bank: count and face, each acceptor's
    share of the outstanding face (concentration), and the overdue bills."""
    cur = ctx.currency
    outstanding = (R.FUNDED, R.OVERDUE)
    per = ctx.conn.execute(
        select(bills.c.acceptor_id, func.count(), func.sum(bills.c.face))
        .where(bills.c.state.in_(outstanding))
        .group_by(bills.c.acceptor_id)
        .order_by(func.sum(bills.c.face).desc(), bills.c.acceptor_id)
    ).all()
    total = sum(int(r[2]) for r in per)
    out = [
        Disclosure(PLUGIN, "bills outstanding", str(sum(int(r[1]) for r in per))),
        Disclosure(PLUGIN, "face outstanding", str(Money.from_minor(total, cur))),
    ]
    for acceptor, count, face in per:
        out.append(
            Disclosure(
                PLUGIN,
                f"outstanding with acceptor {acceptor}",
                f"{int(count)} bills, {Money.from_minor(int(face), cur)}",
            )
        )
        out.append(Disclosure(PLUGIN, f"concentration acceptor {acceptor}", _pct(int(face), total)))
    overdue = ctx.conn.execute(
        select(bills.c.number, bills.c.acceptor_id, bills.c.face, bills.c.maturity)
        .where(bills.c.state == R.OVERDUE)
        .order_by(bills.c.maturity, bills.c.number)
    ).all()
    out.append(Disclosure(PLUGIN, "overdue bills", str(len(overdue))))
    out.append(
        Disclosure(
            PLUGIN,
            "overdue face",
            str(Money.from_minor(sum(int(r.face) for r in overdue), cur)),
        )
    )
    for r in overdue:
        out.append(
            Disclosure(
                PLUGIN,
                f"overdue bill {r.number}",
                f"acceptor {r.acceptor_id}, {Money.from_minor(int(r.face), cur)}, due {r.maturity}",
            )
        )
    return out
