"""Open-ended loans (method ``open-ended``): daily accrual, periodic settlement, maturity.

A product declares :class:`~lendkit.core.open_ended.OpenEndedTerms`; a listing of it with
``method="open-ended"`` is disbursed with no schedule (:func:`start_loan` records the terms and
the accrual state in ``lendkit_open_ended_loans``). From then on:

* close of business calls :func:`close_day` for each open open-ended loan before it collects:
  interest accrues on the outstanding principal up to the business date, and on each settlement
  date (and at maturity) the interest accrued since the last settlement becomes an installment
  row due that day (at maturity with all the outstanding principal). COB then collects that row
  like any other: from the ``lendkit_collection_sources`` (the borrower by default), paid to
  investors pro rata by the one payment path; what is unpaid after the grace days goes overdue
  with penalty, the waterfall and default, exactly as an installment of a scheduled loan.
* :func:`take_principal` records a principal repayment (``loans.repay_principal``): interest
  accrues to the day at the old balance first, the repayment is a paid principal row, and when
  the principal reaches zero the interest accrued and not yet settled falls due that day.

Exactness: see :mod:`lendkit.core.open_ended` (one exact integer sum of principal x days, the
interest to date rounded once HALF_UP, each settlement the difference from the last, so the cent
residual carries forward). Idempotent: ``accrued_through`` and ``settled_through`` record how
far a loan has gone, so a rerun of a day (or of a chunk after a crash) does nothing twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from lendkit.core import states as S
from lendkit.core.errors import InvalidSchedule, InvalidState
from lendkit.core.money import DEFAULT_ROUNDING, Money
from lendkit.core.open_ended import (
    OPEN_ENDED,
    OpenEndedStatus,
    OpenEndedTerms,
    accrue,
    interest_to_date,
)
from lendkit.core.records import ListingRecord
from lendkit.core.schedule import DayCount, Schedule
from lendkit.store.rows import get_row
from lendkit.store.tables import installments, loans, open_ended_loans
from lendkit.uow import UnitOfWork

__all__ = [
    "agreement_terms",
    "close_day",
    "empty_schedule",
    "loans_to_close",
    "start_loan",
    "status",
    "take_principal",
    "terms_of",
]


def terms_of(ctx: UnitOfWork, listing: ListingRecord) -> OpenEndedTerms:
    """The open-ended terms of ``listing``'s product; ``InvalidSchedule`` if it declares none."""
    product = ctx.products.get(listing.product)
    terms = product.open_ended if product is not None else None
    if terms is None:
        raise InvalidSchedule(
            f"listing {listing.id} is open-ended, but product {listing.product!r} declares no"
            " open-ended terms (Product(open_ended=OpenEndedTerms(...)))",
            rule="method",
        )
    return terms


def empty_schedule(listing: ListingRecord, start: date) -> Schedule:
    """The schedule an open-ended loan starts with: no rows (settlements add them)."""
    rate = listing.annual_rate if listing.annual_rate is not None else Decimal(0)
    return Schedule(listing.amount, rate, 0, OPEN_ENDED, start, DEFAULT_ROUNDING, ())


def start_loan(ctx: UnitOfWork, loan_id: str, terms: OpenEndedTerms, start: date) -> None:
    """Record a new open-ended loan's terms and accrual state (nothing accrued yet)."""
    ctx.conn.execute(
        open_ended_loans.insert().values(
            loan_id=loan_id,
            basis=terms.basis.value,
            settle_day=terms.settle_day,
            settle_every_days=terms.settle_every_days,
            maturity_date=terms.maturity(start),
            accrued_through=start,
            base_days="0",
            interest_settled=0,
            settled_through=start,
        )
    )


def agreement_terms(terms: OpenEndedTerms, start: date) -> dict[str, Any]:
    """The open-ended terms as a loan agreement (借款合同) states them (JSON-ready)."""
    return {
        "basis": terms.basis.value,
        "maturity": terms.maturity(start).isoformat(),
        "max_days": terms.max_days,
        "settle_day": terms.settle_day,
        "settle_every_days": terms.settle_every_days,
    }


def _terms(loan: Any, state: Any) -> OpenEndedTerms:
    return OpenEndedTerms(
        max_days=(state.maturity_date - loan.start_date).days,
        settle_day=state.settle_day,
        settle_every_days=state.settle_every_days,
        basis=state.basis,
    )


def _state(ctx: UnitOfWork, loan_id: str) -> Any:
    row = ctx.conn.execute(
        select(open_ended_loans).where(open_ended_loans.c.loan_id == loan_id)
    ).first()
    if row is None:
        raise InvalidState(f"loan {loan_id} is not open-ended")
    return row


class _Accrual:
    """One loan's accrual state while a command works on it; :meth:`save` writes it back."""

    def __init__(self, loan: Any, state: Any) -> None:
        self.loan = loan
        self.terms = _terms(loan, state)
        self.basis = DayCount.parse(state.basis)
        self.rate = Decimal(loan.annual_rate)
        self.maturity: date = state.maturity_date
        self.accrued_through: date = state.accrued_through
        self.base_days = int(state.base_days)
        self.settled = int(state.interest_settled)
        self.settled_through: date = state.settled_through
        self.outstanding = int(loan.outstanding_principal)

    def accrue_to(self, day: date) -> None:
        """Accrue on the outstanding principal up to ``day`` (never past maturity)."""
        to = min(day, self.maturity)
        self.base_days = accrue(
            self.base_days,
            self.outstanding,
            self.basis,
            self.loan.start_date,
            self.accrued_through,
            to,
        )
        self.accrued_through = max(self.accrued_through, to)

    def settle_through(self, ctx: UnitOfWork, day: date) -> int:
        """Settle every settlement date (and the maturity) up to ``day`` not settled yet: each
        makes the interest accrued up to it since the previous one due on it (the maturity with
        all the outstanding principal). Returns how many rows fell due."""
        made = 0
        start = self.loan.start_date
        for when in self.terms.settlements(start, day, after=self.settled_through):
            self.accrue_to(when)
            interest = self.due_interest()
            principal = self.outstanding if when == self.maturity else 0
            if interest or principal:
                _due_row(ctx, self.loan.id, when, principal, interest)
                made += 1
            self.settled += interest
            self.settled_through = when
        return made

    def due_interest(self) -> int:
        """The interest accrued and not yet settled (minor units)."""
        return interest_to_date(self.base_days, self.rate, self.basis) - self.settled

    def save(self, ctx: UnitOfWork) -> None:
        ctx.conn.execute(
            update(open_ended_loans)
            .where(open_ended_loans.c.loan_id == self.loan.id)
            .values(
                accrued_through=self.accrued_through,
                base_days=str(self.base_days),
                interest_settled=self.settled,
                settled_through=self.settled_through,
            )
        )


def _next_period(ctx: UnitOfWork, loan_id: str) -> int:
    last = ctx.conn.execute(
        select(func.max(installments.c.period)).where(installments.c.loan_id == loan_id)
    ).scalar()
    return int(last or 0) + 1


def _due_row(ctx: UnitOfWork, loan_id: str, due: date, principal: int, interest: int) -> None:
    """An unpaid installment row: what a settlement (or maturity) makes due on ``due``."""
    ctx.conn.execute(
        installments.insert().values(
            loan_id=loan_id,
            period=_next_period(ctx, loan_id),
            due_date=due,
            principal=principal,
            interest=interest,
            state=S.INST_PENDING,
        )
    )


def loans_to_close(ctx: UnitOfWork, run_date: date) -> list[str]:
    """The open open-ended loans close of business still has to accrue or settle for
    ``run_date`` (started before it, not yet accrued to it, not yet matured and settled)."""
    o = open_ended_loans.c
    rows = ctx.conn.execute(
        select(o.loan_id)
        .join(loans, loans.c.id == o.loan_id)
        .where(
            loans.c.state.in_(S.OPEN_LOAN_STATES),
            loans.c.start_date < run_date,
            o.accrued_through < run_date,
            o.settled_through < o.maturity_date,
        )
        .order_by(o.loan_id)
    )
    return [r.loan_id for r in rows]


def close_day(ctx: UnitOfWork, run_date: date, loan_ids: list[str]) -> int:
    """Close of business for open-ended loans on ``run_date``: for each loan, settle every
    settlement date (and the maturity) up to ``run_date`` not settled yet, each making the
    interest accrued since the previous one due on that date (at maturity with all the
    outstanding principal), then accrue to ``run_date``. Returns how many rows fell due.

    Idempotent: a loan already accrued to ``run_date`` is left as it is.
    """
    made = 0
    for loan_id in loan_ids:
        loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
        if loan.state not in S.OPEN_LOAN_STATES:
            continue
        acc = _Accrual(loan, _state(ctx, loan_id))
        made += acc.settle_through(ctx, run_date)
        acc.accrue_to(run_date)
        acc.save(ctx)
    return made


def take_principal(ctx: UnitOfWork, loan: Any, amount: int) -> None:
    """Record a principal repayment of ``amount`` (minor units, checked by the caller) on the
    locked open-ended ``loan`` before it is booked: make the settlements up to today that close
    of business has not made yet, accrue to today at the old balance, add a
    paid principal row due today, and when nothing is left, make the interest accrued and not
    yet settled due today (the loan closes once that is paid). ``InvalidState`` once the loan
    has matured (its principal is then due on the maturity row: pay it with ``loans.repay``)."""
    acc = _Accrual(loan, _state(ctx, loan.id))
    # settlements close business has not made yet (it runs behind) come first, each taking
    # the interest up to its own date, so the figures do not depend on when COB runs
    acc.settle_through(ctx, ctx.today)
    if acc.settled_through >= acc.maturity:
        raise InvalidState(
            f"loan {loan.id} matured on {acc.maturity.isoformat()}: its principal is due on its"
            " last installment; pay it with loans.repay"
        )
    acc.accrue_to(ctx.today)
    ctx.conn.execute(
        installments.insert().values(
            loan_id=loan.id,
            period=_next_period(ctx, loan.id),
            due_date=ctx.today,
            principal=amount,
            interest=0,
            paid_principal=amount,
            state=S.INST_PAID,
            paid_at=ctx.now,
        )
    )
    acc.outstanding -= amount
    if acc.outstanding == 0:
        interest = acc.due_interest()
        if interest:
            _due_row(ctx, loan.id, ctx.today, 0, interest)
            acc.settled += interest
    acc.save(ctx)


def status(ctx: UnitOfWork, loan_id: str) -> OpenEndedStatus:
    """Where open-ended loan ``loan_id``'s accrual stands (``InvalidState`` if it is not one)."""
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    acc = _Accrual(loan, _state(ctx, loan_id))
    cur = loan.currency
    return OpenEndedStatus(
        loan_id=loan_id,
        terms=acc.terms,
        start_date=loan.start_date,
        maturity=acc.maturity,
        accrued_through=acc.accrued_through,
        outstanding_principal=Money.from_minor(acc.outstanding, cur),
        accrued_interest=Money.from_minor(
            interest_to_date(acc.base_days, acc.rate, acc.basis), cur
        ),
        settled_interest=Money.from_minor(acc.settled, cur),
        next_settlement=acc.terms.next_settlement(loan.start_date, acc.settled_through),
    )
