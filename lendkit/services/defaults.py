"""lendkit's own hook implementations, registered ``trylast`` so any plugin can replace them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pluggy

from lendkit.core.context import HookContext
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import CreditAssessment, Installment, ListingRecord, LoanRecord
from lendkit.core.schedule import Schedule, replan_schedule

hookimpl = pluggy.HookimplMarker("lendkit")

#: default scorecard: points per verified check and per accepted report grade
CHECK_POINTS = {"id_card": 250, "phone": 150, "email": 50, "documents": 150}
REPORT_POINTS = {"AA": 400, "A": 330, "B": 260, "C": 190, "D": 120, "E": 60, "HR": 0}
SCORE_GRADES = ((850, "AA"), (750, "A"), (650, "B"), (550, "C"), (450, "D"), (300, "E"))
GRADE_LINES = {
    "AA": 500_000,
    "A": 200_000,
    "B": 100_000,
    "C": 50_000,
    "D": 20_000,
    "E": 5_000,
    "HR": 0,
}


def grade_for(score: int) -> str:
    return next((g for bound, g in SCORE_GRADES if score >= bound), "HR")


@hookimpl(trylast=True)
def lendkit_assess_credit(
    ctx: HookContext, party_id: str, verified: Sequence[str], reports: Sequence[str]
) -> CreditAssessment:
    """The default scorecard: verified checks plus the best accepted third-party report."""
    score = sum(CHECK_POINTS.get(c, 0) for c in verified)
    if reports:
        score += max(REPORT_POINTS.get(g, 0) for g in reports)
    else:
        score += 150  # no report: a neutral allowance
    score = min(score, 1000)
    grade = grade_for(score)
    line = Money.of(GRADE_LINES[grade], ctx.currency)
    return CreditAssessment(score=score, grade=grade, credit_line=line)


@hookimpl(trylast=True)
def lendkit_price_listing(ctx: HookContext, listing: ListingRecord, grade: str) -> Decimal | None:
    """No plugin priced it: the platform's configured rate for the grade (see ``grade_rates``)."""
    return None


@hookimpl(trylast=True)
def lendkit_replan_schedule(
    ctx: HookContext,
    loan: LoanRecord,
    remaining: Money,
    since: date,
    mode: str,
    unpaid: Sequence[Installment],
) -> Schedule:
    """No plugin re-planned: standard methods are rebuilt, a product's own rows reduced pro rata."""
    return replan_schedule(loan.method, remaining, loan.annual_rate, since, mode, unpaid)


@hookimpl(trylast=True)
def lendkit_disbursement_account(ctx: HookContext, listing: ListingRecord) -> AccountRef:
    """No plugin directed the proceeds: the borrower's available account."""
    return ctx.party_account(listing.borrower_id, listing.amount.currency)


@hookimpl(trylast=True)
def lendkit_penalty_rate(
    ctx: HookContext, loan: LoanRecord, installment: Installment
) -> Decimal | None:
    """No plugin set the loan's penalty rate: the configured ``penalty_daily_rate``."""
    return None


@hookimpl(trylast=True)
def lendkit_collection_sources(
    ctx: HookContext, loan: LoanRecord, installment: Installment
) -> list[str]:
    """No plugin named other payers: COB collects from the borrower only."""
    return [loan.borrower_id]
