"""Reading and locking loans: records, installments, positions, agreements, day-count basis."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from lendkit.core import states as S
from lendkit.core.errors import (
    InvalidState,
    NotFound,
)
from lendkit.core.money import DEFAULT_ROUNDING, Money, allocate_minor
from lendkit.core.payments import (
    Owed,
    Stake,
    interest_weights,
)
from lendkit.core.records import (
    Installment,
    LoanRecord,
    PositionRecord,
)
from lendkit.core.schedule import (
    DayCount,
    Schedule,
)
from lendkit.core.transfer import Holding, stake_of
from lendkit.store.rows import get_row
from lendkit.store.tables import (
    agreements,
    installments,
    loans,
    positions,
)
from lendkit.uow import UnitOfWork

if TYPE_CHECKING:
    pass


def round_rate(amount_minor: int, rate: Decimal) -> int:
    """``amount x rate`` rounded HALF_UP to a whole minor unit (exact Decimal arithmetic)."""
    return int(DEFAULT_ROUNDING.quantize(Decimal(amount_minor) * rate, "JPY"))


def loan_for_listing(ctx: UnitOfWork, listing_id: str) -> LoanRecord:
    """The loan ``listing_id`` became (``NotFound`` if it was not disbursed)."""
    loan_id = ctx.conn.execute(select(loans.c.id).where(loans.c.listing_id == listing_id)).scalar()
    if loan_id is None:
        raise NotFound(f"listing {listing_id} has no loan (not disbursed)")
    return load_loan(ctx, loan_id)


def load_schedule(ctx: UnitOfWork, loan_id: str) -> Schedule:
    """The loan's current schedule (after any prepayment re-plan)."""
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    rows = installment_rows(ctx, loan_id)
    cur = loan.currency
    balance = loan.principal
    out = []
    for r in rows:
        balance -= r.principal
        out.append(
            Installment(
                period=r.period,
                due_date=r.due_date,
                payment=Money.from_minor(r.principal + r.interest, cur),
                principal=Money.from_minor(r.principal, cur),
                interest=Money.from_minor(r.interest, cur),
                balance=Money.from_minor(balance, cur),
            )
        )
    return Schedule(
        principal=Money.from_minor(loan.principal, cur),
        annual_rate=Decimal(loan.annual_rate),
        months=len(out),
        method=loan.method,
        start_date=loan.start_date,
        rounding=DEFAULT_ROUNDING,
        installments=tuple(out),
    )


def installment_rows(ctx: UnitOfWork, loan_id: str, *, unpaid: bool = False) -> list[Any]:
    """The loan's ``lendkit_installments`` rows in period order, cancelled ones left out (with
    ``unpaid``, the paid ones too)."""
    stmt = select(installments).where(
        installments.c.loan_id == loan_id, installments.c.state != S.INST_CANCELLED
    )
    if unpaid:
        stmt = stmt.where(installments.c.state != S.INST_PAID)
    return list(ctx.conn.execute(stmt.order_by(installments.c.period)).all())


def lock_open(ctx: UnitOfWork, loan_id: str) -> Any:
    """The loan's row, locked; ``InvalidState`` unless it still takes payments."""
    loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
    if loan.state not in S.OPEN_LOAN_STATES:
        raise InvalidState(f"loan {loan_id} is {loan.state}; it takes no more payments")
    return loan


def load_loan(ctx: UnitOfWork, loan_id: str, investor_id: str | None = None) -> LoanRecord:
    """The loan with its positions (only ``investor_id``'s when given; the interest still
    outstanding is split over all positions either way).

    What the investors are still owed is ``owed_of(row).investors_principal`` / ``investors_interest`` per installment: unpaid
    by the borrower and not already paid by a third party (guarantor, reserve, insurer), whose
    cover the borrower owes to that payer instead. Principal nets the cover through the
    positions' ``received_principal``; interest nets it here.
    """
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    pos = ctx.conn.execute(
        select(positions).where(positions.c.loan_id == loan_id).order_by(positions.c.seq)
    ).all()
    i = installments.c
    unpaid_interest = ctx.conn.execute(
        select(
            func.coalesce(
                func.sum(
                    i.interest - i.paid_interest - (i.covered_interest - i.recovered_interest)
                ),
                0,
            )
        ).where(
            installments.c.loan_id == loan_id,
            installments.c.state.notin_((S.INST_PAID, S.INST_CANCELLED)),
        )
    ).scalar_one()
    return record_of(loan, pos, int(unpaid_interest), investor_id)


def load_loans(ctx: UnitOfWork, loan_ids: Sequence[str]) -> dict[str, LoanRecord]:
    """``load_loan`` for many loans in three reads per 500 (the ids not found are left out)."""
    out: dict[str, LoanRecord] = {}
    wanted = sorted(set(loan_ids))
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        rows = {r.id: r for r in ctx.conn.execute(select(loans).where(loans.c.id.in_(part)))}
        pos: dict[str, list[Any]] = {}
        for p in ctx.conn.execute(
            select(positions)
            .where(positions.c.loan_id.in_(part))
            .order_by(positions.c.loan_id, positions.c.seq)
        ):
            pos.setdefault(p.loan_id, []).append(p)
        unpaid: dict[str, list[Any]] = {}
        for r in ctx.conn.execute(
            select(installments).where(
                installments.c.loan_id.in_(part),
                installments.c.state.notin_((S.INST_PAID, S.INST_CANCELLED)),
            )
        ):
            unpaid.setdefault(r.loan_id, []).append(r)
        for loan_id, row in rows.items():
            out[loan_id] = record_of(
                row, pos.get(loan_id, []), unpaid_interest_of(unpaid.get(loan_id, []))
            )
    return out


def unpaid_interest_of(rows: Sequence[Any]) -> int:
    """What ``load_loan`` sums in SQL over installment rows ``rows`` (those neither paid nor
    cancelled): the interest unpaid and not covered by a third party."""
    return sum(
        r.interest - r.paid_interest - (r.covered_interest - r.recovered_interest) for r in rows
    )


def record_of(
    loan: Any, pos: Sequence[Any], unpaid_interest: int, investor_id: str | None = None
) -> LoanRecord:
    """``load_loan``'s record from rows already read: the loan's row, its positions' rows (in
    ``seq`` order) and the interest still unpaid (``unpaid_interest_of``)."""
    loan_id = loan.id
    cur = loan.currency
    interest_shares = (
        allocate_minor(unpaid_interest, interest_weights(stakes_of(pos))) if pos else []
    )
    records = tuple(
        PositionRecord(
            id=p.id,
            loan_id=loan_id,
            investor_id=p.investor_id,
            principal=Money.from_minor(p.principal, cur),
            annual_rate=Decimal(p.annual_rate),
            received_principal=Money.from_minor(p.received_principal, cur),
            received_interest=Money.from_minor(p.received_interest, cur),
            received_penalty=Money.from_minor(p.received_penalty, cur),
            outstanding_principal=Money.from_minor(holding_of(p).outstanding, cur),
            outstanding_interest=Money.from_minor(share, cur),
            fees_paid=Money.from_minor(p.fees_paid, cur),
            sold_principal=Money.from_minor(holding_of(p).sold_principal, cur),
        )
        for p, share in zip(pos, interest_shares, strict=True)
        if investor_id is None or p.investor_id == investor_id
    )
    return loan_record(loan, records)


def owed_of(r: Any) -> Owed:
    """Installment row ``r``'s unpaid parts and third parties' unrecovered claims."""
    return Owed(
        r.period,
        r.penalty - r.paid_penalty,
        r.interest - r.paid_interest,
        r.principal - r.paid_principal,
        r.covered_interest - r.recovered_interest,
        r.covered_principal - r.recovered_principal,
    )


def accrue_penalty(r: Any, days: int, daily_rate: Decimal) -> tuple[int, int]:
    """Penalty interest (罚息) on installment row ``r`` for ``days`` more days overdue (counted on
    the loan's day-count basis from the due date: ``DayCount.days_within``).

    The penalty accrues on the overdue base (principal + interest unpaid) day by day; the row
    keeps the exact sum of base x days (``penalty_base_days``, minor units x days), and the
    penalty to date is that sum x ``daily_rate`` rounded once (HALF_UP to the minor unit). The
    accrual posts the difference from what was accrued before, so one run after a gap and daily
    runs give the same penalty to the cent. Returns (new base-days, penalty to add).
    """
    base = r.principal + r.interest - r.paid_principal - r.paid_interest
    base_days = r.penalty_base_days + max(0, base) * max(0, days)
    to_date = int(DEFAULT_ROUNDING.quantize(Decimal(base_days) * daily_rate, "JPY"))
    return base_days, max(0, to_date - r.penalty)


def loan_record(loan: Any, pos: tuple[PositionRecord, ...]) -> LoanRecord:
    cur = loan.currency
    return LoanRecord(
        id=loan.id,
        listing_id=loan.listing_id,
        borrower_id=loan.borrower_id,
        product=loan.product,
        principal=Money.from_minor(loan.principal, cur),
        annual_rate=Decimal(loan.annual_rate),
        months=loan.months,
        method=loan.method,
        start_date=loan.start_date,
        state=loan.state,
        outstanding_principal=Money.from_minor(loan.outstanding_principal, cur),
        positions=pos,
        day_count=loan_basis(loan),
    )


def product_basis(ctx: UnitOfWork, product: str) -> DayCount:
    """Product ``product``'s day-count basis (ACT/360 for a product no plugin registers)."""
    registered = ctx.products.get(product)
    return DayCount.ACT_360 if registered is None else registered.day_count


def loan_basis(loan: Any) -> DayCount:
    """The day-count basis stored on loan row ``loan`` (ACT/360 before migration 0008)."""
    return DayCount.parse(getattr(loan, "day_count", None) or DayCount.ACT_360)


def position(ctx: UnitOfWork, loan_id: str, investor_id: str) -> PositionRecord:
    """What ``investor_id`` received and is still owed on ``loan_id``, all its positions summed."""
    mine = list(load_loan(ctx, loan_id, investor_id).positions)
    if not mine:
        raise NotFound(f"investor {investor_id} has no position in loan {loan_id}")
    total = mine[0]
    for p in mine[1:]:
        total = PositionRecord(
            total.id,
            loan_id,
            investor_id,
            total.principal + p.principal,
            total.annual_rate,
            total.received_principal + p.received_principal,
            total.received_interest + p.received_interest,
            total.received_penalty + p.received_penalty,
            total.outstanding_principal + p.outstanding_principal,
            total.outstanding_interest + p.outstanding_interest,
            total.fees_paid + p.fees_paid,
            total.sold + p.sold,
        )
    return total


def loan_agreements(ctx: UnitOfWork, loan_id: str) -> list[dict[str, Any]]:
    """The loan agreement (借款合同) of every position of ``loan_id``."""
    get_row(ctx.conn, loans, loan_id, "loan")
    rows = ctx.conn.execute(
        select(agreements.c.terms)
        .where(agreements.c.loan_id == loan_id)
        .order_by(agreements.c.created_at, agreements.c.id)
    ).all()
    return [json.loads(r.terms) for r in rows]


def find_loans(ctx: UnitOfWork, state: str | None) -> list[LoanRecord]:
    """Loans (without positions), optionally in one ``state``."""
    stmt = select(loans).order_by(loans.c.created_at, loans.c.id)
    if state is not None:
        stmt = stmt.where(loans.c.state == state)
    return [loan_record(r, ()) for r in ctx.conn.execute(stmt)]


def stakes_of(pos: Sequence[Any]) -> list[Stake]:
    """The positions' rows as :class:`~lendkit.core.payments.Stake` (weights in payments)."""
    return [stake_of(holding_of(p)) for p in pos]


def holding_of(p: Any) -> Holding:
    """Position row ``p`` as a :class:`~lendkit.core.transfer.Holding` (its weights)."""
    return Holding(
        p.principal,
        p.received_principal,
        getattr(p, "sold_principal", 0) or 0,
        getattr(p, "weight", None),
        Decimal(p.annual_rate),
    )


def last_due_date(ctx: UnitOfWork, loan: Any) -> date:
    """The latest due date on or before today of ``loan``'s installments, else its start:
    the date interest to date runs from (settlement's accrued interest, a transfer's)."""
    latest: date | None = ctx.conn.execute(
        select(func.max(installments.c.due_date)).where(
            installments.c.loan_id == loan.id,
            installments.c.state != S.INST_CANCELLED,
            installments.c.due_date <= ctx.today,
        )
    ).scalar()
    return latest or loan.start_date
