"""Early settlement (结清): a loan closes in one payment, whatever its state.

:func:`settle` pays the installments due (with the penalty close of business accrued), then the
remaining principal with the interest to date (on the loan's day-count basis) or the scheduled
interest, plus an optional fee to the platform, from any source account: the borrower, a payer
(a lessee, an acceptor bank), a plugin's account (a margin trading account at liquidation).
Unlike prepayment it refuses neither an overdue loan nor a due or partly paid installment.

It rewrites the interest of the installments not yet due to what settlement charges, then pays
everything still owed through the one payment path (``loans.apply_payment``): one journal entry,
investors paid pro rata by largest remainder, third parties that covered installments repaid
what they are owed, the loan settled and the borrower's credit released.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Final

from attrs import frozen
from sqlalchemy import update

from lendkit.core import states as S
from lendkit.core.errors import (
    CurrencyMismatch,
    Forbidden,
    InvalidAmount,
    InvalidState,
    NotFound,
    WrongType,
)
from lendkit.core.inputs import check_choice
from lendkit.core.ledger import (
    AVAILABLE,
    LISTING_OWNER,
    LOAN_OWNER,
    PARTY_OWNER,
    PLATFORM_OWNER,
    AccountRef,
    split_code,
)
from lendkit.core.money import Money
from lendkit.core.open_ended import OPEN_ENDED
from lendkit.core.records import PaymentRecord
from lendkit.ops.loans import installment_rows, last_due_date, loan_basis, owed_of, round_rate
from lendkit.ops.parties import require_party
from lendkit.ops.repayment import apply_payment, repay
from lendkit.store.rows import get_row
from lendkit.store.tables import installments, loans
from lendkit.uow import UnitOfWork

#: what a settlement charges as interest on the installments not yet due
SETTLE_INTEREST: Final = ("accrued", "scheduled")


def settle(
    ctx: UnitOfWork,
    loan_id: str,
    source: AccountRef | None = None,
    *,
    interest: str = "accrued",
    fee: Money | None = None,
) -> PaymentRecord:
    """Settle loan ``loan_id`` from ``source`` (default: the borrower's available balance).

    ``interest="accrued"``: the installments not yet due are charged the interest on their
    remaining principal from the last due date on or before today (or the loan's start) to
    today, on the loan's day-count basis (HALF_UP to the minor unit, less what was already paid
    of it, never more than their scheduled interest); ``"scheduled"``: their scheduled interest.
    A third party's claim on an installment is never cut: the installment keeps at least what
    the borrower owes that payer. ``fee`` goes from ``source`` to platform revenue.

    Refusals change nothing: ``InvalidValue`` (``interest``), ``NotFound`` (loan, account),
    ``InvalidState`` (a loan that no longer takes payments, or owes nothing), ``Forbidden`` (an
    escrow, clearing, platform or frozen account as source), ``CurrencyMismatch``,
    ``InvalidAmount`` (a negative fee), ``InsufficientFunds`` (the source cannot pay).
    """
    interest = check_choice(interest, "settlement interest", SETTLE_INTEREST)
    loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
    if loan.state not in S.OPEN_LOAN_STATES:
        raise InvalidState(f"loan {loan_id} is {loan.state}; there is nothing to settle")
    cur = loan.currency
    paying = settlement_source(ctx, loan, source)
    fee_minor = _fee(fee, cur)
    rows = installment_rows(ctx, loan_id, unpaid=True)
    future = [r for r in rows if r.due_date > ctx.today]
    if future:
        charge = settlement_interest(ctx, loan, future, interest)
        _charge_interest(ctx, loan_id, future, charge)
    # re-read: what each installment owes now; ones that owe nothing any more are done
    rows = installment_rows(ctx, loan_id, unpaid=True)
    nothing = [r.period for r in rows if not owed_of(r).total]
    if nothing:
        ctx.conn.execute(
            update(installments)
            .where(installments.c.loan_id == loan_id, installments.c.period.in_(nothing))
            .values(state=S.INST_PAID, paid_at=ctx.now)
        )
    total = sum(owed_of(r).total for r in rows)
    if total <= 0:
        raise InvalidState(f"loan {loan_id} owes nothing: there is nothing to settle")
    payment = apply_payment(ctx, loan, total, "settlement", paying, extra_fee=fee_minor)
    assert payment is not None  # total > 0 was owed and paid
    return payment


def settle_by(
    ctx: UnitOfWork, loan_id: str, *, payer: str | None = None, interest: str = "accrued"
) -> PaymentRecord:
    """``platform.loans.settle``: :func:`settle` from the borrower's available balance, or from
    ``payer``'s (a registered, verified party paying for the borrower, as ``loans.repay``)."""
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    source = None
    if payer is not None and payer != loan.borrower_id:
        require_party(ctx, payer, verified=True, action=f"settle loan {loan_id}")
        source = ctx.party_account(payer, loan.currency)
    return settle(ctx, loan_id, source, interest=interest)


def settlement_source(ctx: UnitOfWork, loan: Any, source: AccountRef | None) -> AccountRef:
    """The account a settlement of ``loan`` (its row) is paid from, checked.

    ``None``: the borrower's available balance. Otherwise an account that exists as ``source``
    describes it, in the loan's currency: a party's available balance (the party exists) or a
    plugin's or third party's account; never a listing's escrow, a loan's clearing account, a
    platform account or a party's frozen money (``Forbidden``).
    """
    if source is None:
        return ctx.party_account(loan.borrower_id, loan.currency)
    if not isinstance(source, AccountRef):
        raise WrongType(
            f"the settlement source must be an AccountRef (from ctx), got {type(source).__name__}"
        )
    stored = ctx.existing_account(source.code)
    if stored.id != source.id:
        raise NotFound(f"account #{source.id} {source.code!r} does not exist")
    if stored.currency != loan.currency:
        raise CurrencyMismatch(
            f"settlement source {stored.code!r} is in {stored.currency}, loan {loan.id} in"
            f" {loan.currency}"
        )
    kind, owner, purpose, _cur = split_code(stored.code)
    if kind in (LISTING_OWNER, LOAN_OWNER, PLATFORM_OWNER) or (
        kind == PARTY_OWNER and purpose != AVAILABLE
    ):
        raise Forbidden(
            f"loan {loan.id} cannot be settled from {stored.code!r}: a settlement is paid from a"
            " party's available balance or a plugin's or third party's account"
        )
    if kind == PARTY_OWNER:
        require_party(ctx, owner)
    return stored


def settlement_interest(ctx: UnitOfWork, loan: Any, future: Sequence[Any], interest: str) -> int:
    """The interest (minor units) a settlement today still charges on the installments not
    yet due (``future``, rows in period order), beyond what was already paid of them."""
    scheduled: int = sum(r.interest - r.paid_interest for r in future)
    if interest == "scheduled":
        return scheduled
    remaining: int = sum(r.principal - r.paid_principal for r in future)
    paid: int = sum(r.paid_interest for r in future)
    accrued = loan_basis(loan).interest(
        remaining, Decimal(loan.annual_rate), last_due_date(ctx, loan), ctx.today
    )
    return max(0, min(scheduled, accrued - paid))


def charged_interest(future: Sequence[Any], charge: int) -> dict[int, int]:
    """The interest each not-yet-due installment (``future``, rows in period order) carries
    when a settlement charges ``charge`` more interest on them, the first one first: each keeps
    at least what a third party's claim on it says. By period; computed, not written."""
    out: dict[int, int] = {}
    for r in future:
        claimed = r.covered_interest - r.recovered_interest
        take = min(charge, r.interest - r.paid_interest)
        charge -= take
        out[r.period] = r.paid_interest + max(take, claimed)
    return out


def _charge_interest(ctx: UnitOfWork, loan_id: str, future: Sequence[Any], charge: int) -> None:
    """Write :func:`charged_interest` on the not-yet-due installments."""
    charged = charged_interest(future, charge)
    for r in future:
        if charged[r.period] != r.interest:
            ctx.conn.execute(
                update(installments)
                .where(installments.c.loan_id == loan_id, installments.c.period == r.period)
                .values(interest=charged[r.period])
            )


@frozen
class PayoffQuote:
    """What settling a loan today costs (minor units): the due rows' parts (period, due date,
    penalty, interest, principal), the remaining principal of the rows not yet due, the
    interest a settlement charges on it, the prepayment fee, and the total."""

    due: tuple[tuple[int, date, int, int, int], ...]
    principal: int
    interest: int
    fee: int

    @property
    def total(self) -> int:
        return (
            sum(p + i + c for _, _, p, i, c in self.due) + self.principal + self.interest + self.fee
        )


def payoff_quote(ctx: UnitOfWork, loan: Any) -> PayoffQuote:
    """What :func:`settle` charges to close ``loan`` (its row) on ``ctx.today`` with the interest
    accrued to date, plus the prepayment fee (``prepayment_fee_rate`` of the principal not yet
    due, as :func:`lendkit.ops.prepayment.prepay` charges it): the figures of ``loans.payoff``,
    read only. ``InvalidState`` for an open-ended loan (its interest accrues daily: see
    ``loans.open_ended``) and for a loan that no longer takes payments or owes nothing."""
    if loan.method == OPEN_ENDED:
        raise InvalidState(
            f"loan {loan.id} is open-ended: its payoff is the outstanding principal plus the"
            " interest accrued (see loans.open_ended); repay it with repay_principal"
        )
    if loan.state not in S.OPEN_LOAN_STATES:
        raise InvalidState(f"loan {loan.id} is {loan.state}; there is nothing to pay off")
    rows = installment_rows(ctx, loan.id, unpaid=True)
    due = [r for r in rows if r.due_date <= ctx.today]
    future = [r for r in rows if r.due_date > ctx.today]
    charge = settlement_interest(ctx, loan, future, "accrued") if future else 0
    charged = charged_interest(future, charge)
    principal = sum(r.principal - r.paid_principal for r in future)
    interest = sum(charged[r.period] - r.paid_interest + r.penalty - r.paid_penalty for r in future)
    owed = [owed_of(r) for r in due]
    quote = PayoffQuote(
        tuple(
            (r.period, r.due_date, o.penalty, o.interest, o.principal)
            for r, o in zip(due, owed, strict=True)
            if o.total
        ),
        principal,
        interest,
        round_rate(principal, ctx.platform_config.prepayment_fee_rate),
    )
    if quote.total <= 0:
        raise InvalidState(f"loan {loan.id} owes nothing: there is nothing to pay off")
    return quote


def repay_or_settle(
    ctx: UnitOfWork, loan_id: str, amount: Money | None, *, payer: str | None = None
) -> PaymentRecord:
    """``platform.loans.repay``: :func:`lendkit.ops.repayment.repay`, except that an amount
    equal to the loan's payoff today (``loans.payoff``) while installments are not yet due
    settles the loan: :func:`settle` with the interest accrued to date and the prepayment fee,
    so that paying the quoted payoff closes the loan to zero."""
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    if (
        amount is not None
        and amount.currency == loan.currency
        and loan.method != OPEN_ENDED
        and loan.state in S.OPEN_LOAN_STATES
        and any(r.due_date > ctx.today for r in installment_rows(ctx, loan_id, unpaid=True))
    ):
        quote = payoff_quote(ctx, loan)
        if amount.minor == quote.total:
            source = None
            if payer is not None and payer != loan.borrower_id:
                require_party(ctx, payer, verified=True, action=f"pay loan {loan_id}")
                source = ctx.party_account(payer, loan.currency)
            return settle(ctx, loan_id, source, fee=Money.from_minor(quote.fee, loan.currency))
    return repay(ctx, loan_id, amount, payer=payer)


def _fee(fee: object, currency: str) -> int:
    if fee is None:
        return 0
    if not isinstance(fee, Money):
        raise WrongType(f"the settlement fee must be Money, got {type(fee).__name__}")
    if fee.currency != currency:
        raise CurrencyMismatch(f"the settlement fee is in {fee.currency}, the loan in {currency}")
    if fee.is_negative():
        raise InvalidAmount(f"the settlement fee {fee} must not be negative")
    return fee.minor
