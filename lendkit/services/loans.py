"""Loans: disbursement (放款), repayment to investors, prepayment, overdue state, write-off.

Every payment is applied by the configured order (default penalty -> interest -> principal) to
the oldest unpaid installment first, then split among the loan's positions with ``allocate()``
to the cent: principal and penalty by outstanding principal, interest by principal x rate. The
platform's management fee is taken from the interest (rounded per payment, HALF_UP) and split
over the investors' gross interest with ``allocate()`` too. Each payment is one journal entry and
one transaction, so a crash pays nobody half and a rerun pays nobody twice.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from lendkit.core import states as S
from lendkit.core.access import Actor, Subject
from lendkit.core.inputs import (
    MAX_REVIEWER_LENGTH,
    check_choice,
    check_date,
    check_id,
    check_text,
    parse_amount,
)
from lendkit.core.open_ended import OpenEndedStatus
from lendkit.core.records import (
    LoanRecord,
    PaymentRecord,
    PositionRecord,
)
from lendkit.core.schedule import (
    Schedule,
)
from lendkit.core.servicing import (
    BUCKETS,
    ClaimRecord,
    LoanLine,
    LoanStatus,
    Page,
    Payoff,
    check_limit,
)
from lendkit.ops import access, open_ended, servicing
from lendkit.ops.disbursement import disburse
from lendkit.ops.loans import (
    find_loans,
    load_loan,
    load_schedule,
    loan_agreements,
    loan_for_listing,
    position,
)
from lendkit.ops.prepayment import PREPAY_MODES, prepay
from lendkit.ops.repayment import repay_principal, write_off
from lendkit.ops.settlement import repay_or_settle
from lendkit.uow import UnitOfWork

if TYPE_CHECKING:
    from lendkit.platform import Platform


class LoansService:
    """``platform.loans``."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    # -- disbursement ------------------------------------------------------------------------------

    def disburse(
        self,
        listing_id: str,
        reviewer: str | None = None,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> LoanRecord:
        """The reviewer confirms a funded listing: holds post to it, the borrower is paid (less
        fees), and the loan is created with one position and one agreement per winning bid."""
        listing_id = check_id(listing_id, "listing")
        reviewer = (
            None if reviewer is None else check_text(reviewer, "reviewer", MAX_REVIEWER_LENGTH)
        )

        def run(tx: UnitOfWork) -> LoanRecord:
            return disburse(tx, listing_id, reviewer)

        return self._p.runner.run(
            "loans.disburse",
            run,
            key=key,
            actor=actor,
            subject=Subject("listing", listing_id),
            payload=[listing_id, reviewer],
            result_type=LoanRecord,
        )

    def repay(
        self,
        loan_id: str,
        amount: object = None,
        key: str | None = None,
        payer: str | None = None,
        actor: Actor | str | None = None,
    ) -> PaymentRecord:
        """Pay from a custody balance: the borrower's, or ``payer``'s (a registered, verified
        party paying for the borrower: an acceptor bank, a core enterprise, a lessee...).

        Without ``amount``: the next unpaid installment in full (also before its due date, no fee).
        With ``amount``: applied to unpaid installments oldest first, each by the allocation order;
        exactly :meth:`payoff`'s total today settles the loan (as :meth:`settle`, with the
        prepayment fee the payoff names).
        Investors are paid exactly as when the borrower pays; the payment record names the payer.
        """
        loan_id = check_id(loan_id, "loan")
        payer = None if payer is None else check_id(payer, "payer")
        money = (
            None if amount is None else parse_amount(amount, self._p.config.currency, "repayment")
        )

        def run(tx: UnitOfWork) -> PaymentRecord:
            return repay_or_settle(tx, loan_id, money, payer=payer)

        return self._p.runner.run(
            "loans.repay",
            run,
            key=key,
            actor=actor,
            subject=Subject("loan", loan_id, owner=payer),
            # the payer joins the payload only when given: keys stored before it existed replay
            payload=[loan_id, money and money.format(), *([payer] if payer else [])],
            result_type=PaymentRecord,
        )

    def repay_principal(
        self,
        loan_id: str,
        amount: object,
        *,
        payer: str | None = None,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> PaymentRecord:
        """Repay ``amount`` of an open-ended loan's principal, any amount at any time before it
        matures, from the borrower's available balance or ``payer``'s (a registered, verified
        party). Interest accrues to the day at the old balance first; investors receive the
        principal pro rata; when no principal is left, the interest accrued and not yet settled
        falls due that day and the loan closes once it is paid. Refused (nothing changes): a
        loan that is not open-ended or has matured, an amount that is not positive, in another
        currency or more than the outstanding principal, a payer without the funds."""
        loan_id = check_id(loan_id, "loan")
        payer = None if payer is None else check_id(payer, "payer")
        money = parse_amount(amount, self._p.config.currency, "principal repayment")

        def run(tx: UnitOfWork) -> PaymentRecord:
            return repay_principal(tx, loan_id, money, payer)

        return self._p.runner.run(
            "loans.repay_principal",
            run,
            key=key,
            actor=actor,
            subject=Subject("loan", loan_id, owner=payer),
            payload=[loan_id, money.format(), payer],
            result_type=PaymentRecord,
        )

    def open_ended(self, loan_id: str) -> OpenEndedStatus:
        """Where an open-ended loan's accrual stands: interest accrued, settled, next settlement
        (``InvalidState`` if the loan is not open-ended)."""
        loan_id = check_id(loan_id, "loan")
        return self._p.runner.run("loans.open_ended", lambda tx: open_ended.status(tx, loan_id))

    def prepay(
        self,
        loan_id: str,
        amount: object = None,
        mode: str = "shorten",
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> PaymentRecord:
        """Prepay (提前还款) all (``amount=None``) or part of the outstanding principal.

        The borrower pays the principal, interest accrued on it since the last due date (on the
        product's day-count basis, ACT/360 by default) and the prepayment fee
        (``prepayment_fee_rate`` of the principal, to platform revenue). A partial prepayment
        re-plans the rest: ``shorten`` keeps the payment and ends earlier, ``reduce`` keeps the
        end date and lowers the payment.
        """
        loan_id = check_id(loan_id, "loan")
        mode = check_choice(mode, "prepayment mode", PREPAY_MODES)
        money = (
            None
            if amount is None
            else parse_amount(amount, self._p.config.currency, "prepaid principal")
        )

        def run(tx: UnitOfWork) -> PaymentRecord:
            return prepay(tx, loan_id, money, mode)

        return self._p.runner.run(
            "loans.prepay",
            run,
            key=key,
            actor=actor,
            subject=Subject("loan", loan_id),
            payload=[loan_id, money and money.format(), mode],
            result_type=PaymentRecord,
        )

    def settle(
        self,
        loan_id: str,
        *,
        interest: str = "accrued",
        payer: str | None = None,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> PaymentRecord:
        """Settle the loan early (结清) in one payment, whatever its state: the installments due
        with their penalty, then the remaining principal with the interest to date
        (``interest="accrued"``, on the product's day-count basis) or the scheduled interest
        (``"scheduled"``). No prepayment fee and none of prepayment's refusals; the loan
        closes. Paid from the borrower's available balance, or ``payer``'s (a registered,
        verified party, as in :meth:`repay`). See :func:`lendkit.ops.settlement.settle`.
        """
        # imported here: settlement builds on this module's payment path
        from lendkit.ops.settlement import SETTLE_INTEREST, settle_by

        loan_id = check_id(loan_id, "loan")
        interest = check_choice(interest, "settlement interest", SETTLE_INTEREST)
        payer = None if payer is None else check_id(payer, "payer")

        def run(tx: UnitOfWork) -> PaymentRecord:
            return settle_by(tx, loan_id, payer=payer, interest=interest)

        return self._p.runner.run(
            "loans.settle",
            run,
            key=key,
            actor=actor,
            subject=Subject("loan", loan_id, owner=payer),
            payload=[loan_id, interest, payer],
            result_type=PaymentRecord,
        )

    def request_write_off(
        self, loan_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> LoanRecord:
        """Ask for a defaulted loan's write-off: the first pair of eyes. With ``four_eyes`` (the
        default) a staff member's :meth:`write_off` needs such a request by another staff
        member first. Changes nothing but the audit trail; refused unless the loan is
        defaulted."""
        loan_id = check_id(loan_id, "loan")
        return self._p.runner.run(
            "loans.request_write_off",
            lambda tx: access.request_write_off(tx, loan_id),
            key=key,
            actor=actor,
            subject=Subject("loan", loan_id),
            payload=[loan_id],
            result_type=LoanRecord,
        )

    def write_off(
        self, loan_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> LoanRecord:
        """Write off (核销) a defaulted loan: it closes; investors keep what they received.

        With ``four_eyes`` (the default) a staff member may write off only a loan another staff
        member asked to write off (:meth:`request_write_off`): ``FourEyesRequired`` otherwise.
        """
        loan_id = check_id(loan_id, "loan")

        return self._p.runner.run(
            "loans.write_off",
            lambda tx: write_off(tx, loan_id),
            key=key,
            actor=actor,
            subject=Subject("loan", loan_id),
            payload=[loan_id],
            result_type=LoanRecord,
        )

    # -- reading -----------------------------------------------------------------------------------

    def get(self, loan_id: str) -> LoanRecord:
        """A loan with its positions."""
        loan_id = check_id(loan_id, "loan")
        return self._p.runner.run("loans.get", lambda tx: load_loan(tx, loan_id))

    def for_listing(self, listing_id: str) -> LoanRecord:
        """The loan a listing became."""
        listing_id = check_id(listing_id, "listing")

        return self._p.runner.run("loans.for_listing", lambda tx: loan_for_listing(tx, listing_id))

    def schedule(self, loan_id: str) -> Schedule:
        """The loan's current schedule (after any prepayment re-plan)."""
        loan_id = check_id(loan_id, "loan")

        return self._p.runner.run("loans.schedule", lambda tx: load_schedule(tx, loan_id))

    def position(self, loan_id: str, investor_id: str) -> PositionRecord:
        """What an investor has received and is still owed on a loan (all their positions)."""
        loan_id = check_id(loan_id, "loan")
        investor_id = check_id(investor_id, "investor")

        return self._p.runner.run("loans.position", lambda tx: position(tx, loan_id, investor_id))

    def agreements(self, loan_id: str) -> list[dict[str, Any]]:
        """The loan agreement (借款合同) of every position: parties, amount, rate, schedule."""
        loan_id = check_id(loan_id, "loan")

        return self._p.runner.run("loans.agreements", lambda tx: loan_agreements(tx, loan_id))

    def status(self, loan_id: str, as_of: object = None) -> LoanStatus:
        """Where loan ``loan_id`` stands on ``as_of`` (a date, default today): state, days past
        due and aging bucket (current, M1 1-30, M2 31-60, M3 61-90, M3+), each installment (due,
        paid, covered by third parties, penalty accrued, owed), what is due today, the next due
        date and amount, every payment with its payer and fee."""
        loan_id = check_id(loan_id, "loan")
        day = None if as_of is None else check_date(as_of, "status date")
        return self._p.runner.run(
            "loans.status", lambda tx: servicing.loan_status(tx, loan_id, day)
        )

    def payoff(self, loan_id: str, on: object = None) -> Payoff:
        """The exact amount that settles loan ``loan_id`` on ``on`` (a date, default today),
        itemised: the due installments with their penalty, the remaining principal, the
        interest to that date on the product's day-count basis and the prepayment fee.
        :meth:`repay` of exactly ``.total`` on that date settles the loan to zero."""
        loan_id = check_id(loan_id, "loan")
        day = None if on is None else check_date(on, "payoff date")
        return self._p.runner.run(
            "loans.payoff", lambda tx: servicing.loan_payoff(tx, loan_id, day)
        )

    def claims(self, loan_id: str) -> list[ClaimRecord]:
        """What third parties covered on loan ``loan_id`` (代偿), per installment, and what
        each recovered (追偿), oldest first."""
        loan_id = check_id(loan_id, "loan")
        return self._p.runner.run("loans.claims", lambda tx: servicing.loan_claims(tx, loan_id))

    def list(
        self,
        *,
        borrower_id: str | None = None,
        state: str | None = None,
        bucket: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[LoanLine]:
        """Loans, oldest first, a page at a time (``after``: the previous page's ``next``), by
        borrower, state and aging bucket, each with its days past due."""
        borrower_id = None if borrower_id is None else check_id(borrower_id, "borrower")
        if state is not None:
            state = check_choice(state, "loan state", tuple(S.LOAN_TRANSITIONS))
        if bucket is not None:
            bucket = check_choice(bucket, "aging bucket", BUCKETS)
        after = None if after is None else check_id(after, "page cursor")
        limit = check_limit(limit)
        return self._p.runner.run(
            "loans.list",
            lambda tx: servicing.list_loans(
                tx, borrower_id=borrower_id, state=state, bucket=bucket, after=after, limit=limit
            ),
        )

    def find(self, state: str | None = None) -> builtins.list[LoanRecord]:
        """Loans (without positions), optionally in one state."""

        if state is not None:
            state = check_choice(state, "loan state", tuple(S.LOAN_TRANSITIONS))

        return self._p.runner.run("loans.list", lambda tx: find_loans(tx, state))


# -- repayment ---------------------------------------------------------------------------------
