"""Prepayment: principal repaid ahead of schedule, the rest replanned (or the term shortened)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from lendkit.core import states as S
from lendkit.core.errors import (
    InvalidAmount,
    InvalidState,
    PluginError,
)
from lendkit.core.money import Money
from lendkit.core.open_ended import OPEN_ENDED
from lendkit.core.records import (
    Installment,
    PaymentRecord,
)
from lendkit.core.schedule import (
    Schedule,
    validate_schedule,
)
from lendkit.store.tables import (
    installments,
)
from lendkit.uow import UnitOfWork

if TYPE_CHECKING:
    pass
from lendkit.ops.disbursement import pending_installment_row
from lendkit.ops.loans import installment_rows, load_loan, loan_basis, lock_open, round_rate
from lendkit.ops.repayment import book_payment

PREPAY_MODES = ("shorten", "reduce")


def prepay(ctx: UnitOfWork, loan_id: str, money: Money | None, mode: str) -> PaymentRecord:
    loan = lock_open(ctx, loan_id)
    if loan.method == OPEN_ENDED:
        raise InvalidState(
            f"loan {loan_id} is open-ended: repay its principal with repay_principal (interest"
            " accrues daily, no prepayment fee)"
        )
    if loan.state != S.ACTIVE:
        raise InvalidState(f"loan {loan_id} is {loan.state}: pay what is overdue before prepaying")
    rows = installment_rows(ctx, loan_id, unpaid=True)
    if any(r.due_date <= ctx.today for r in rows):
        raise InvalidState(f"loan {loan_id} has an installment due: repay it before prepaying")
    if any(r.paid_principal or r.paid_interest or r.paid_penalty for r in rows):
        raise InvalidState(f"loan {loan_id} has a partly paid installment: complete it first")
    outstanding = loan.outstanding_principal
    amount = outstanding if money is None else money.minor
    if amount > outstanding:
        raise InvalidAmount(
            f"prepaid principal {Money.from_minor(amount, loan.currency)} exceeds the outstanding"
            f" {Money.from_minor(outstanding, loan.currency)}"
        )
    paid_rows = ctx.conn.execute(
        select(func.max(installments.c.due_date)).where(
            installments.c.loan_id == loan_id, installments.c.state == S.INST_PAID
        )
    ).scalar()
    since: date = paid_rows or loan.start_date
    accrued = loan_basis(loan).interest(amount, Decimal(loan.annual_rate), since, ctx.today)
    fee = round_rate(amount, ctx.platform_config.prepayment_fee_rate)
    first = rows[0].period
    rest = outstanding - amount
    plan = replan(ctx, loan, rows, rest, since, mode) if rest else None
    ctx.conn.execute(
        delete(installments).where(
            installments.c.loan_id == loan_id, installments.c.period >= first
        )
    )
    new_rows = [
        {
            "loan_id": loan_id,
            "period": first,
            "due_date": ctx.today,
            "principal": amount,
            "interest": accrued,
            "paid_principal": amount,
            "paid_interest": accrued,
            "penalty": 0,
            "paid_penalty": 0,
            "penalty_through": None,
            "state": S.INST_PAID,
            "paid_at": ctx.now,
        }
    ]
    if plan is not None:
        new_rows.extend(
            pending_installment_row(loan_id, first + i.period, i) for i in plan.installments
        )
    ctx.conn.execute(installments.insert(), new_rows)
    source = ctx.party_account(loan.borrower_id, loan.currency)
    return book_payment(ctx, loan, source, "prepayment", 0, accrued, amount, extra_fee=fee)


def replan(
    ctx: UnitOfWork, loan: Any, rows: Sequence[Any], rest: int, since: date, mode: str
) -> Schedule:
    """The plan for ``rest`` after a partial prepayment (``lendkit_replan_schedule``; the default
    keeps today's behaviour), validated; a plugin's refusal refuses the prepayment."""
    cur = loan.currency
    remaining = Money.from_minor(rest, cur)
    unpaid: list[Installment] = []
    balance = loan.outstanding_principal
    for k, r in enumerate(rows, 1):
        balance -= r.principal
        unpaid.append(
            Installment(
                period=k,
                due_date=r.due_date,
                payment=Money.from_minor(r.principal + r.interest, cur),
                principal=Money.from_minor(r.principal, cur),
                interest=Money.from_minor(r.interest, cur),
                balance=Money.from_minor(balance, cur),
            )
        )
    record = load_loan(ctx, loan.id)
    plan = ctx.hooks.replan_schedule(ctx, record, remaining, since, mode, unpaid)
    if isinstance(plan, str):
        raise InvalidState(f"prepayment of loan {loan.id} refused: {plan}")
    if not isinstance(plan, Schedule):
        raise PluginError(
            f"lendkit_replan_schedule returned {type(plan).__name__} for loan {loan.id}:"
            " expected a Schedule, a refusal (str) or None"
        )
    return validate_schedule(plan, principal=remaining, start=since)
