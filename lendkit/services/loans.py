"""Loans: disbursement (放款), repayment to investors, prepayment, overdue state, write-off.

Every payment is applied by the configured order (default penalty -> interest -> principal) to
the oldest unpaid installment first, then split among the loan's positions with ``allocate()``
to the cent: principal and penalty by outstanding principal, interest by principal x rate. The
platform's management fee is taken from the interest (rounded per payment, HALF_UP) and split
over the investors' gross interest with ``allocate()`` too. Each payment is one journal entry and
one transaction, so a crash pays nobody half and a rerun pays nobody twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import define
from sqlalchemy import bindparam, delete, func, select, update

from lendkit.core import states as S
from lendkit.core.errors import (
    CurrencyMismatch,
    Forbidden,
    InvalidAmount,
    InvalidSchedule,
    InvalidState,
    InvalidValue,
    NotFound,
    PluginError,
)
from lendkit.core.inputs import (
    MAX_REVIEWER_LENGTH,
    check_choice,
    check_id,
    check_text,
    parse_amount,
)
from lendkit.core.ledger import (
    AVAILABLE,
    LISTING_OWNER,
    LOAN,
    LOAN_OWNER,
    PARTY_OWNER,
    PLATFORM_OWNER,
    REVENUE,
    AccountRef,
    Leg,
    plugin_movement_violation,
    split_code,
)
from lendkit.core.money import DEFAULT_ROUNDING, Money, allocate_minor
from lendkit.core.open_ended import OPEN_ENDED, OpenEndedStatus
from lendkit.core.payments import (
    Allocation,
    ClaimStake,
    Owed,
    Stake,
    allocate_cover,
    allocate_payment,
    interest_weights,
    split_payment,
    split_recovery,
)
from lendkit.core.records import (
    Installment,
    ListingRecord,
    LoanRecord,
    PaymentRecord,
    PositionRecord,
)
from lendkit.core.schedule import (
    METHODS,
    DayCount,
    Schedule,
    build_schedule,
    validate_schedule,
)
from lendkit.ops import holds, open_ended
from lendkit.ops.parties import require_party
from lendkit.ops.records import listing_record
from lendkit.store import ledger as store_ledger
from lendkit.store.ledger import NewEntry
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import (
    agreements,
    bids,
    claims,
    installments,
    listings,
    loans,
    parties,
    payments,
    positions,
)
from lendkit.uow import UnitOfWork

if TYPE_CHECKING:
    from lendkit.platform import Platform

PREPAY_MODES = ("shorten", "reduce")


def _round_rate(amount_minor: int, rate: Decimal) -> int:
    """``amount x rate`` rounded HALF_UP to a whole minor unit (exact Decimal arithmetic)."""
    return int(DEFAULT_ROUNDING.quantize(Decimal(amount_minor) * rate, "JPY"))


class LoansService:
    """``platform.loans``."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    # -- disbursement ------------------------------------------------------------------------------

    def disburse(
        self, listing_id: str, reviewer: str | None = None, key: str | None = None
    ) -> LoanRecord:
        """The reviewer confirms a funded listing: holds post to it, the borrower is paid (less
        fees), and the loan is created with one position and one agreement per winning bid."""
        listing_id = check_id(listing_id, "listing")
        reviewer = (
            None if reviewer is None else check_text(reviewer, "reviewer", MAX_REVIEWER_LENGTH)
        )

        def run(tx: UnitOfWork) -> LoanRecord:
            return self._disburse(tx, listing_id, reviewer)

        return self._p.runner.run(
            "loans.disburse", run, key=key, payload=[listing_id, reviewer], result_type=LoanRecord
        )

    def _disburse(self, ctx: UnitOfWork, listing_id: str, reviewer: str | None) -> LoanRecord:
        row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
        S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.DISBURSED)
        cur = row.currency
        principal = Money.from_minor(row.amount, cur)
        record = listing_record(row)
        rate = Decimal(row.annual_rate)
        schedule = self._new_schedule(ctx, row, record, principal, rate)
        winning = ctx.conn.execute(
            select(bids)
            .where(bids.c.listing_id == listing_id, bids.c.state.in_((S.BID_OPEN, S.BID_WON)))
            .order_by(bids.c.seq)
        ).all()
        for b in winning:
            holds.post_hold(ctx, b.hold_id)
        ctx.conn.execute(
            update(bids)
            .where(bids.c.listing_id == listing_id, bids.c.state.in_((S.BID_OPEN, S.BID_WON)))
            .values(state=S.BID_POSTED, filled=bids.c.amount)
        )
        listing_acct = store_ledger.account_by_id(ctx.conn, row.account_id)
        fee = _round_rate(row.amount, self._p.config.service_fee_rate)
        legs = [Leg(listing_acct, -row.amount)]
        taken = 0
        if fee:
            legs.append(Leg(ctx.system("revenue", REVENUE), fee))
            taken += fee
        service_fee = Money.from_minor(fee, cur)
        for d in self._p.hooks.disbursement_deductions(ctx, record, principal, service_fee):
            legs.append(
                Leg(
                    store_ledger.find_account(ctx.conn, self._p.accounts, d.account), d.amount.minor
                )
            )
            taken += d.amount.minor
        if taken > row.amount:
            raise InvalidState(
                f"disbursement deductions {Money.from_minor(taken, cur)} exceed {principal}"
            )
        proceeds_to = proceeds_account(ctx, self._p.hooks.disbursement_account(ctx, record), record)
        legs.append(Leg(proceeds_to, row.amount - taken))
        ctx.post("loan.disburse", listing_id, legs)

        loan_id = new_id("loan")
        loan_acct = ctx.account("loan", loan_id, LOAN, cur)
        ctx.conn.execute(
            loans.insert().values(
                id=loan_id,
                listing_id=listing_id,
                borrower_id=row.borrower_id,
                product=row.product,
                currency=cur,
                principal=row.amount,
                annual_rate=str(rate),
                months=row.months,
                method=schedule.method,
                start_date=ctx.today,
                state=S.ACTIVE,
                outstanding_principal=row.amount,
                account_id=loan_acct.id,
                reviewer=reviewer,
                created_at=ctx.now,
                day_count=product_basis(ctx, row.product).value,
            )
        )
        more_terms: dict[str, Any] = {}
        if schedule.method == OPEN_ENDED:  # no rows: settlements add them
            open_terms = open_ended.terms_of(ctx, record)
            open_ended.start_loan(ctx, loan_id, open_terms, ctx.today)
            more_terms["open_ended"] = open_ended.agreement_terms(open_terms, ctx.today)
        else:
            ctx.conn.execute(
                installments.insert(),
                [pending_installment_row(loan_id, i.period, i) for i in schedule.installments],
            )
        uniform = row.bidding == "fixed" or row.clearing == "uniform"
        pos_rows, agr_rows = [], []
        for seq, b in enumerate(winning, start=1):
            pos_id = new_id("pos")
            pos_rate = rate if uniform else Decimal(b.rate)
            pos_rows.append(
                {
                    "id": pos_id,
                    "loan_id": loan_id,
                    "investor_id": b.investor_id,
                    "bid_id": b.id,
                    "seq": seq,
                    "principal": b.amount,
                    "annual_rate": str(pos_rate),
                    "received_principal": 0,
                    "received_interest": 0,
                    "received_penalty": 0,
                    "fees_paid": 0,
                    "holder_id": b.investor_id,
                }
            )
            terms = {
                "loan": loan_id,
                "listing": listing_id,
                "borrower": row.borrower_id,
                "investor": b.investor_id,
                "amount": Money.from_minor(b.amount, cur).format(),
                "currency": cur,
                "annual_rate": str(pos_rate),
                "months": row.months,
                "method": schedule.method,
                "start_date": ctx.today.isoformat(),
                "share": f"{b.amount}/{row.amount}",
                "schedule": [
                    [i.period, i.due_date.isoformat(), i.payment.format()]
                    for i in schedule.installments
                ],
                **more_terms,
            }
            agr_rows.append(
                {
                    "id": new_id("agr"),
                    "loan_id": loan_id,
                    "position_id": pos_id,
                    "investor_id": b.investor_id,
                    "borrower_id": row.borrower_id,
                    "terms": json.dumps(terms, sort_keys=True),
                    "created_at": ctx.now,
                }
            )
        if pos_rows:
            ctx.conn.execute(positions.insert(), pos_rows)
            ctx.conn.execute(agreements.insert(), agr_rows)
        ctx.conn.execute(
            update(listings).where(listings.c.id == listing_id).values(state=S.DISBURSED)
        )
        loan = load_loan(ctx, loan_id)
        self._p.hooks.loan_disbursed(ctx, loan)
        return loan

    def _new_schedule(
        self, ctx: UnitOfWork, row: Any, record: ListingRecord, principal: Money, rate: Decimal
    ) -> Schedule:
        """The new loan's schedule: a plugin's (``lendkit_build_schedule``) or the listing's
        standard method; either way validated before any money moves (``InvalidSchedule``)."""
        product = self._p.products.get(row.product)
        allowed = product.allowed_methods if product is not None else METHODS
        if row.method == OPEN_ENDED:
            open_ended.terms_of(ctx, record)  # the product declares the terms
            return open_ended.empty_schedule(record, ctx.today)
        schedule = self._p.hooks.build_schedule(ctx, record, ctx.today)
        if schedule is None:
            if row.method not in METHODS:
                raise InvalidSchedule(
                    f"listing {row.id} uses product {row.product!r}'s own method {row.method!r},"
                    " but no plugin built its schedule (lendkit_build_schedule answered None)",
                    rule="method",
                )
            schedule = build_schedule(
                principal, rate, row.months, row.method, start_date=ctx.today, currency=row.currency
            )
        elif not isinstance(schedule, Schedule):
            raise PluginError(
                f"lendkit_build_schedule returned {type(schedule).__name__} for listing {row.id}:"
                " expected a Schedule or None"
            )
        if schedule.method not in allowed:
            raise InvalidSchedule(
                f"the schedule of listing {row.id} has method {schedule.method!r}, which product"
                f" {row.product!r} does not declare: allowed {', '.join(allowed)}",
                rule="method",
            )
        return validate_schedule(schedule, principal=principal, start=ctx.today)

    # -- repayment ---------------------------------------------------------------------------------

    def repay(
        self,
        loan_id: str,
        amount: object = None,
        key: str | None = None,
        payer: str | None = None,
    ) -> PaymentRecord:
        """Pay from a custody balance: the borrower's, or ``payer``'s (a registered, verified
        party paying for the borrower: an acceptor bank, a core enterprise, a lessee...).

        Without ``amount``: the next unpaid installment in full (also before its due date, no fee).
        With ``amount``: applied to unpaid installments oldest first, each by the allocation order.
        Investors are paid exactly as when the borrower pays; the payment record names the payer.
        """
        loan_id = check_id(loan_id, "loan")
        payer = None if payer is None else check_id(payer, "payer")
        money = (
            None if amount is None else parse_amount(amount, self._p.config.currency, "repayment")
        )

        def run(tx: UnitOfWork) -> PaymentRecord:
            return repay(tx, loan_id, money, payer=payer)

        return self._p.runner.run(
            "loans.repay",
            run,
            key=key,
            # the payer joins the payload only when given: keys stored before it existed replay
            payload=[loan_id, money and money.format(), *([payer] if payer else [])],
            result_type=PaymentRecord,
        )

    def repay_principal(
        self, loan_id: str, amount: object, *, payer: str | None = None, key: str | None = None
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
            payload=[loan_id, money.format(), payer],
            result_type=PaymentRecord,
        )

    def open_ended(self, loan_id: str) -> OpenEndedStatus:
        """Where an open-ended loan's accrual stands: interest accrued, settled, next settlement
        (``InvalidState`` if the loan is not open-ended)."""
        loan_id = check_id(loan_id, "loan")
        return self._p.runner.run("loans.open_ended", lambda tx: open_ended.status(tx, loan_id))

    def prepay(
        self, loan_id: str, amount: object = None, mode: str = "shorten", key: str | None = None
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
            return _prepay(tx, loan_id, money, mode)

        return self._p.runner.run(
            "loans.prepay",
            run,
            key=key,
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
            payload=[loan_id, interest, payer],
            result_type=PaymentRecord,
        )

    def write_off(self, loan_id: str, key: str | None = None) -> LoanRecord:
        """Write off (核销) a defaulted loan: it closes; investors keep what they received."""
        loan_id = check_id(loan_id, "loan")

        def run(tx: UnitOfWork) -> LoanRecord:
            ctx = tx
            loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
            S.check_transition(S.LOAN_TRANSITIONS, "loan", loan_id, loan.state, S.WRITTEN_OFF)
            ctx.conn.execute(
                update(loans)
                .where(loans.c.id == loan_id)
                .values(state=S.WRITTEN_OFF, closed_at=ctx.now)
            )
            _release_credit(ctx, loan)
            record = load_loan(ctx, loan_id)
            self._p.hooks.loan_closed(ctx, record)
            return record

        return self._p.runner.run(
            "loans.write_off", run, key=key, payload=[loan_id], result_type=LoanRecord
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

        def run(tx: UnitOfWork) -> PositionRecord:
            ctx = tx
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
                )
            return total

        return self._p.runner.run("loans.position", run)

    def agreements(self, loan_id: str) -> list[dict[str, Any]]:
        """The loan agreement (借款合同) of every position: parties, amount, rate, schedule."""
        loan_id = check_id(loan_id, "loan")

        def run(tx: UnitOfWork) -> list[dict[str, Any]]:
            get_row(tx.conn, loans, loan_id, "loan")
            rows = tx.conn.execute(
                select(agreements.c.terms)
                .where(agreements.c.loan_id == loan_id)
                .order_by(agreements.c.created_at, agreements.c.id)
            ).all()
            return [json.loads(r.terms) for r in rows]

        return self._p.runner.run("loans.agreements", run)

    def find(self, state: str | None = None) -> list[LoanRecord]:
        """Loans (without positions), optionally in one state."""

        if state is not None:
            state = check_choice(state, "loan state", tuple(S.LOAN_TRANSITIONS))

        def run(tx: UnitOfWork) -> list[LoanRecord]:
            stmt = select(loans).order_by(loans.c.created_at, loans.c.id)
            if state is not None:
                stmt = stmt.where(loans.c.state == state)
            return [_loan_record(r, ()) for r in tx.conn.execute(stmt)]

        return self._p.runner.run("loans.list", run)


def repay(
    ctx: UnitOfWork,
    loan_id: str,
    amount: Money | None,
    source: AccountRef | None = None,
    *,
    payer: str | None = None,
) -> PaymentRecord:
    """Repay ``loan_id`` (``amount``; None: the next unpaid installment in full) from ``source``
    (default: the borrower's available balance) or from ``payer``'s available balance: the one
    repayment path of ``platform.loans.repay`` and ``HookContext.repay``.

    A payer other than the borrower must be a verified party (``Forbidden`` otherwise); a
    ``source`` may be a party's available account (the same rule), a plugin's or a third
    party's account, never a frozen balance, a listing's escrow, a loan's clearing account or
    the gateway (``Forbidden``). The payment record names the paying party.
    """
    loan = _lock_open(ctx, loan_id)
    if payer is not None and payer != loan.borrower_id:
        require_party(ctx, payer, verified=True, action=f"pay loan {loan_id}")
        source = ctx.party_account(payer, loan.currency)
    elif source is not None:
        _check_source(ctx, loan, source)
    if amount is not None and amount.currency != loan.currency:
        raise InvalidAmount(f"repayment {amount} is not in the loan's currency {loan.currency}")
    payment = apply_payment(
        ctx, loan, None if amount is None else amount.minor, "repayment", source
    )
    if payment is None:
        raise InvalidState(f"loan {loan_id} has nothing due")
    return payment


def _check_source(ctx: UnitOfWork, loan: Any, source: AccountRef) -> None:
    """``Forbidden`` unless ``source`` may pay ``loan`` (see ``repay``)."""
    problem = plugin_movement_violation([Leg(source, -1)])
    if problem:
        raise Forbidden(f"loan {loan.id} cannot be repaid from {source.code}: {problem}")
    if source.currency != loan.currency:
        raise InvalidAmount(
            f"loan {loan.id} is in {loan.currency}; it cannot be repaid from {source.code}"
        )
    kind, owner, _purpose, _cur = split_code(source.code)
    if kind == PARTY_OWNER and owner != loan.borrower_id:
        require_party(ctx, owner, verified=True, action=f"pay loan {loan.id}")


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


def _lock_open(ctx: UnitOfWork, loan_id: str) -> Any:
    """The loan's row, locked; ``InvalidState`` unless it still takes payments."""
    loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
    if loan.state not in S.OPEN_LOAN_STATES:
        raise InvalidState(f"loan {loan_id} is {loan.state}; it takes no more payments")
    return loan


def load_loan(ctx: UnitOfWork, loan_id: str, investor_id: str | None = None) -> LoanRecord:
    """The loan with its positions (only ``investor_id``'s when given; the interest still
    outstanding is split over all positions either way).

    What the investors are still owed is what ``investors_owed`` says per installment: unpaid
    by the borrower and not already paid by a third party (guarantor, reserve, insurer), whose
    cover the borrower owes to that payer instead. Principal nets the cover through the
    positions' ``received_principal``; interest nets it here.
    """
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    cur = loan.currency
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
    interest_shares = (
        allocate_minor(int(unpaid_interest), interest_weights(stakes_of(pos))) if pos else []
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
            outstanding_principal=Money.from_minor(p.principal - p.received_principal, cur),
            outstanding_interest=Money.from_minor(share, cur),
            fees_paid=Money.from_minor(p.fees_paid, cur),
        )
        for p, share in zip(pos, interest_shares, strict=True)
        if investor_id is None or p.investor_id == investor_id
    )
    return _loan_record(loan, records)


def _allocation_order(ctx: UnitOfWork, loan: Any) -> tuple[str, ...]:
    order = ctx.hooks.payment_allocation_order(ctx, _loan_record(loan, ()))
    return order or ctx.platform_config.allocation_order


def apply_payment(
    ctx: UnitOfWork,
    loan: Any,
    amount: int | None,
    kind: str,
    source: AccountRef | None = None,
    *,
    extra_fee: int = 0,
) -> PaymentRecord | None:
    """Apply ``amount`` (minor units; None: the next unpaid installment in full) to ``loan`` (its
    row, locked) and distribute it, paid from ``source`` (default: the borrower's available
    balance) and booked as a payment of ``kind``. None if nothing was due or paid.
    ``extra_fee`` (minor units) is paid from ``source`` to platform revenue with it (a
    settlement's fee).

    The allocation is :func:`lendkit.core.payments.allocate_payment`: within an installment,
    what a third party already paid investors (covered) is owed to that payer: the borrower's
    payment goes to the investors' unpaid part first, then recovers the payers' claims (追偿).
    """
    rows = installment_rows(ctx, loan.id, unpaid=True)
    if not rows:
        return None
    owed = [owed_of(r) for r in rows]
    if amount is None:
        amount = owed[0].total
    total_owed = sum(o.total for o in owed)
    if amount > total_owed:
        raise InvalidAmount(
            f"payment {Money.from_minor(amount, loan.currency)} exceeds everything owed on loan"
            f" {loan.id} ({Money.from_minor(total_owed, loan.currency)}); use prepay() to pay early"
        )
    if amount == 0:
        return None
    paid = allocate_payment(amount, owed, _allocation_order(ctx, loan))
    ctx.conn.execute(INSTALLMENTS_PAID, installments_paid(loan.id, rows, paid, ctx.now))
    source = source or ctx.party_account(loan.borrower_id, loan.currency)
    return _book(
        ctx,
        loan,
        source,
        kind,
        paid.penalty,
        paid.interest,
        paid.principal,
        extra_fee=extra_fee,
        recoveries=[
            (a.period, a.recovered_principal, a.recovered_interest) for a in paid.recoveries
        ],
    )


def _recover(ctx: UnitOfWork, loan: Any, recoveries: list[tuple[int, int, int]]) -> list[Leg]:
    """Legs paying third parties back what they covered, pro rata per installment."""
    legs: list[Leg] = []
    for period, principal, interest in recoveries:
        rows = ctx.conn.execute(
            select(claims)
            .where(claims.c.loan_id == loan.id, claims.c.period == period)
            .order_by(claims.c.created_at, claims.c.id)
        ).all()
        shares = split_recovery(
            principal,
            interest,
            [
                ClaimStake(c.principal - c.recovered_principal, c.interest - c.recovered_interest)
                for c in rows
            ],
        )
        for c, (ps, is_) in zip(rows, shares, strict=True):
            if ps or is_:
                legs.append(Leg(store_ledger.account_by_id(ctx.conn, c.account_id), ps + is_))
                ctx.conn.execute(
                    update(claims)
                    .where(claims.c.id == c.id)
                    .values(
                        recovered_principal=c.recovered_principal + ps,
                        recovered_interest=c.recovered_interest + is_,
                    )
                )
    return legs


def _book(
    ctx: UnitOfWork,
    loan: Any,
    source: AccountRef,
    kind: str,
    penalty: int,
    interest: int,
    principal: int,
    *,
    extra_fee: int,
    borrower_pays: bool = True,
    recoveries: list[tuple[int, int, int]] | None = None,
) -> PaymentRecord:
    """Move one payment from ``source`` to investors (and fees to revenue, recoveries to the
    third parties that covered installments); update the loan."""
    cur = loan.currency
    pos = ctx.conn.execute(
        select(positions).where(positions.c.loan_id == loan.id).order_by(positions.c.seq)
    ).all()
    holders = store_ledger.party_accounts(ctx.conn, [p.holder_id for p in pos], cur)
    booked = booking(
        ctx,
        loan,
        source,
        kind,
        pos,
        holders,
        penalty,
        interest,
        principal,
        extra_fee=extra_fee,
        recovery_legs=_recover(ctx, loan, recoveries or []),
        recovered_principal=sum(r[1] for r in recoveries or ()),
        recovered_interest=sum(r[2] for r in recoveries or ()),
        borrower_pays=borrower_pays,
    )
    write_payments(ctx, [], [booked])
    row = booked.payment
    record = PaymentRecord(
        booked.payment_id,
        loan.id,
        kind,
        Money.from_minor(row["amount"], cur),
        Money.from_minor(penalty, cur),
        Money.from_minor(row["interest"], cur),
        Money.from_minor(row["principal"], cur),
        Money.from_minor(row["fee"], cur),
        ctx.today,
        row["payer_id"],
    )
    if borrower_pays:
        _after_payment(ctx, loan.id)
        current = load_loan(ctx, loan.id)
        for period, principal_back, interest_back in recoveries or ():  # each nonzero
            ctx.hooks.recovery_received(
                ctx,
                current,
                payer=source,
                period=period,
                principal=Money.from_minor(principal_back, cur),
                interest=Money.from_minor(interest_back, cur),
            )
        ctx.hooks.repayment_received(ctx, current, record)
    return record


def payer_of(source: AccountRef) -> str | None:
    """The party whose account ``source`` is (``None``: a platform, plugin or loan account)."""
    kind, owner, _purpose, _cur = split_code(source.code)
    return owner if kind == PARTY_OWNER else None


def _after_payment(ctx: UnitOfWork, loan_id: str) -> None:
    """Settle a fully repaid loan; an overdue loan with nothing overdue is active again."""
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    unpaid = installment_rows(ctx, loan_id, unpaid=True)
    if (
        not unpaid
        and loan.state in S.OPEN_LOAN_STATES
        # an open-ended loan with nothing due still owes its principal until it is repaid
        and (loan.method != OPEN_ENDED or loan.outstanding_principal == 0)
    ):
        ctx.conn.execute(
            update(loans).where(loans.c.id == loan_id).values(state=S.SETTLED, closed_at=ctx.now)
        )
        _release_credit(ctx, loan)
        ctx.hooks.loan_closed(ctx, load_loan(ctx, loan_id))
    elif loan.state == S.OVERDUE and not any(r.state == S.INST_OVERDUE for r in unpaid):
        ctx.conn.execute(update(loans).where(loans.c.id == loan_id).values(state=S.ACTIVE))


def _release_credit(ctx: UnitOfWork, loan: Any) -> None:
    ctx.conn.execute(
        update(parties)
        .where(parties.c.id == loan.borrower_id)
        .values(
            credit_used=func.max(parties.c.credit_used - loan.principal, 0)
            if ctx.conn.dialect.name == "sqlite"
            else func.greatest(parties.c.credit_used - loan.principal, 0)
        )
    )


def _prepay(ctx: UnitOfWork, loan_id: str, money: Money | None, mode: str) -> PaymentRecord:
    loan = _lock_open(ctx, loan_id)
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
    fee = _round_rate(amount, ctx.platform_config.prepayment_fee_rate)
    first = rows[0].period
    rest = outstanding - amount
    plan = _replan(ctx, loan, rows, rest, since, mode) if rest else None
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
    return _book(ctx, loan, source, "prepayment", 0, accrued, amount, extra_fee=fee)


def repay_principal(
    ctx: UnitOfWork, loan_id: str, money: Money, payer: str | None
) -> PaymentRecord:
    """Repay ``money`` of open-ended loan ``loan_id``'s principal from the borrower's or
    ``payer``'s available balance (see ``LoansService.repay_principal``)."""
    loan = _lock_open(ctx, loan_id)
    if loan.method != OPEN_ENDED:
        raise InvalidState(
            f"loan {loan_id} is not open-ended (method {loan.method}): pay it with repay or prepay"
        )
    if money.currency != loan.currency:
        raise CurrencyMismatch(
            f"principal repayment {money} is not in the loan's currency {loan.currency}"
        )
    outstanding = Money.from_minor(loan.outstanding_principal, loan.currency)
    if money > outstanding:
        raise InvalidAmount(
            f"principal repayment {money} exceeds loan {loan_id}'s outstanding principal"
            f" {outstanding}: allowed more than zero up to it"
        )
    source = ctx.party_account(loan.borrower_id, loan.currency)
    if payer is not None and payer != loan.borrower_id:
        require_party(ctx, payer, verified=True, action=f"repay loan {loan_id}'s principal")
        source = ctx.party_account(payer, loan.currency)
    open_ended.take_principal(ctx, loan, money.minor)
    return _book(ctx, loan, source, "principal", 0, 0, money.minor, extra_fee=0)


def pending_installment_row(loan_id: str, period: int, row: Installment) -> dict[str, Any]:
    """The ``lendkit_installments`` values of schedule ``row`` as installment ``period``, unpaid."""
    return {
        "loan_id": loan_id,
        "period": period,
        "due_date": row.due_date,
        "principal": row.principal.minor,
        "interest": row.interest.minor,
        "paid_principal": 0,
        "paid_interest": 0,
        "penalty": 0,
        "paid_penalty": 0,
        "penalty_through": None,
        "state": S.INST_PENDING,
        "paid_at": None,
    }


def _replan(
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


def pay_investors_from(
    ctx: UnitOfWork,
    loan_id: str,
    source: AccountRef,
    principal: Money,
    interest: Money,
    *,
    reason: str,
    period: int | None = None,
    include_future: bool = False,
    penalty: Money | None = None,
) -> Money:
    """A third party (guarantor, reserve, insurer) pays investors from ``source`` (代偿).

    Pays what investors are still owed on due installments (``period`` or oldest first; with
    ``include_future``, the not-yet-due ones too: a buy-out of the whole remaining claim), at
    most ``principal`` and ``interest``; records the payer's claim so the borrower's later
    payments on those installments go to the payer. ``penalty`` (at most) pays investors the
    penalty the borrower owes on those installments: the borrower no longer owes what the payer
    paid of it (no claim is kept on penalty). Returns what was paid.
    """
    loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
    if penalty is None:
        penalty = Money.zero(loan.currency)
    if principal.is_negative() or interest.is_negative() or penalty.is_negative():
        raise InvalidValue("compensation amounts must not be negative")
    rows = [
        r
        for r in installment_rows(ctx, loan_id, unpaid=True)
        if (include_future or r.due_date <= ctx.today) and (period is None or r.period == period)
    ]
    by_period = {r.period: r for r in rows}
    owed = {r.period: owed_of(r) for r in rows}
    covered = allocate_cover(principal.minor, interest.minor, list(owed.values()), penalty.minor)
    closed_rows = False
    for c in covered:
        r = by_period[c.period]
        # a row that owed only the penalty the payer just paid is paid
        done = owed[c.period].total == c.penalty
        closed_rows = closed_rows or done
        ctx.conn.execute(
            update(installments)
            .where(installments.c.loan_id == loan_id, installments.c.period == r.period)
            .values(
                covered_principal=r.covered_principal + c.principal,
                covered_interest=r.covered_interest + c.interest,
                paid_penalty=r.paid_penalty + c.penalty,
                state=S.INST_PAID if done else r.state,
                paid_at=ctx.now if done else r.paid_at,
            )
        )
        if not (c.principal or c.interest):
            continue
        ctx.conn.execute(
            claims.insert().values(
                id=new_id("clm"),
                loan_id=loan_id,
                period=r.period,
                account_id=source.id,
                reason=str(reason)[:40],
                principal=c.principal,
                interest=c.interest,
                recovered_principal=0,
                recovered_interest=0,
                created_at=ctx.now,
            )
        )
    paid_p, paid_i = sum(c.principal for c in covered), sum(c.interest for c in covered)
    paid_n = sum(c.penalty for c in covered)
    if not (paid_p or paid_i or paid_n):
        return Money.zero(loan.currency)
    record = _book(
        ctx, loan, source, "cover", paid_n, paid_i, paid_p, extra_fee=0, borrower_pays=False
    )
    if closed_rows:
        _after_payment(ctx, loan_id)
    return record.amount


#: executemany with the updates split_to_positions() returns
POSITIONS_RECEIVED = (
    update(positions)
    .where(positions.c.id == bindparam("pid"))
    .values(
        received_principal=positions.c.received_principal + bindparam("p"),
        received_penalty=positions.c.received_penalty + bindparam("n"),
        received_interest=positions.c.received_interest + bindparam("i"),
        fees_paid=positions.c.fees_paid + bindparam("f"),
    )
)
#: executemany with the updates installments_paid() returns
INSTALLMENTS_PAID = (
    update(installments)
    .where(installments.c.loan_id == bindparam("lid"), installments.c.period == bindparam("per"))
    .values(
        paid_principal=bindparam("pp"),
        paid_interest=bindparam("pi"),
        paid_penalty=bindparam("pn"),
        recovered_principal=bindparam("rp"),
        recovered_interest=bindparam("ri"),
        state=bindparam("st"),
        paid_at=bindparam("pa"),
    )
)
#: executemany with each ``Booking``'s principal repaid (``lid``, ``p``)
LOANS_REPAID = (
    update(loans)
    .where(loans.c.id == bindparam("lid"))
    .values(outstanding_principal=loans.c.outstanding_principal - bindparam("p"))
)


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


def installments_paid(
    loan_id: str, rows: Sequence[Any], paid: Allocation, now: datetime
) -> list[dict[str, Any]]:
    """``INSTALLMENTS_PAID`` parameters for the installment ``rows`` (the loan's unpaid rows
    that ``allocate_payment`` was given) as the allocation ``paid`` leaves them."""
    return [
        {
            "lid": loan_id,
            "per": r.period,
            "pp": r.paid_principal + a.principal,
            "pi": r.paid_interest + a.interest,
            "pn": r.paid_penalty + a.penalty,
            "rp": r.recovered_principal + a.recovered_principal,
            "ri": r.recovered_interest + a.recovered_interest,
            "st": S.INST_PAID if a.settled else r.state,
            "pa": now if a.settled else None,
        }
        for r, a in zip(rows[: len(paid.installments)], paid.installments, strict=True)
    ]


def stakes_of(pos: Sequence[Any]) -> list[Stake]:
    """The positions' rows as :class:`~lendkit.core.payments.Stake` (weights in payments)."""
    return [Stake(p.principal, p.received_principal, Decimal(p.annual_rate)) for p in pos]


def split_to_positions(
    pos: Sequence[Any],
    holders: Mapping[str, AccountRef],
    penalty: int,
    interest: int,
    principal: int,
    fee_rate: Decimal,
) -> tuple[int, list[Leg], list[dict[str, Any]]]:
    """Split one payment over a loan's positions (rows), to the cent, by
    :func:`lendkit.core.payments.split_payment`. Returns the management fee, the legs paying
    each holder and the position updates for ``POSITIONS_RECEIVED`` (``pid``, ``p``, ``n``,
    ``i`` net of fee, ``f``). Every payment path (a single repayment, a bulk close-of-business
    chunk, a third party's cover, a prepayment) uses this, through :func:`booking`.
    """
    split = split_payment(stakes_of(pos), penalty, interest, principal, fee_rate)
    legs: list[Leg] = []
    updates: list[dict[str, Any]] = []
    for p, ps, ns, is_, fs in zip(
        pos, split.principal, split.penalty, split.interest, split.fees, strict=True
    ):
        net = ps + ns + is_ - fs
        if net:
            legs.append(Leg(holders[p.holder_id], net))
        if ps or ns or is_:
            updates.append({"pid": p.id, "p": ps, "n": ns, "i": is_ - fs, "f": fs})
    return split.fee, legs, updates


@define
class Booking:
    """One payment, computed and not yet written: its journal entry's legs, the positions'
    updates, its ``lendkit_payments`` row (``entry_seq`` filled in when written) and the
    principal the loan's outstanding falls by (None: it does not, a third party's cover)."""

    payment_id: str
    kind: str
    loan_id: str
    legs: list[Leg]
    positions: list[dict[str, Any]]
    payment: dict[str, Any]
    repaid: int | None


def booking(
    ctx: UnitOfWork,
    loan: Any,
    source: AccountRef,
    kind: str,
    pos: Sequence[Any],
    holders: Mapping[str, AccountRef],
    penalty: int,
    interest: int,
    principal: int,
    *,
    extra_fee: int = 0,
    recovery_legs: Sequence[Leg] = (),
    recovered_principal: int = 0,
    recovered_interest: int = 0,
    borrower_pays: bool = True,
    revenue: Callable[[], AccountRef] | None = None,
) -> Booking:
    """Compute one payment of ``kind`` from ``source``: the investors' ``penalty``,
    ``interest`` and ``principal`` split over ``pos`` (held by ``holders``), the management fee
    plus ``extra_fee`` to platform revenue, and the recoveries (already split over the claims,
    ``recovery_legs``) to third parties. A single repayment writes it at once, a
    close-of-business chunk with the others it computed (:func:`write_payments`; it passes
    ``revenue``, the platform revenue account found once per chunk, not once per loan)."""
    fee_total, investor_legs, updates = split_to_positions(
        pos, holders, penalty, interest, principal, ctx.platform_config.management_fee_rate
    )
    total = penalty + interest + principal + extra_fee + recovered_principal + recovered_interest
    legs = [Leg(source, -total)]
    if fee_total + extra_fee:
        to = revenue() if revenue is not None else ctx.system("revenue", REVENUE)
        legs.append(Leg(to, fee_total + extra_fee))
    legs.extend(recovery_legs)
    legs.extend(investor_legs)
    payment_id = new_id("pay")
    row = {
        "id": payment_id,
        "loan_id": loan.id,
        "kind": kind,
        "amount": total,
        "penalty": penalty,
        "interest": interest + recovered_interest,
        "principal": principal + recovered_principal,
        "fee": fee_total + extra_fee,
        "paid_on": ctx.today,
        "entry_seq": None,
        "created_at": ctx.now,
        "payer_id": payer_of(source),
    }
    repaid = principal + recovered_principal if borrower_pays else None
    return Booking(payment_id, kind, loan.id, legs, updates, row, repaid)


def write_payments(
    ctx: UnitOfWork, installment_updates: Sequence[dict[str, Any]], booked: Sequence[Booking]
) -> None:
    """Write computed payments: the installments (``INSTALLMENTS_PAID`` parameters), each
    payment's journal entry (in order), the positions, the payment rows and the loans'
    outstanding principal, one statement per table however many payments there are."""
    conn = ctx.conn
    if installment_updates:
        conn.execute(INSTALLMENTS_PAID, installment_updates)
    if not booked:
        return
    seqs = ctx.post_many(
        [NewEntry(f"loan.{b.kind}", b.payment_id, b.legs, b.loan_id) for b in booked]
    )
    for b, seq in zip(booked, seqs, strict=True):
        b.payment["entry_seq"] = seq
    updates = [u for b in booked for u in b.positions]
    if updates:
        conn.execute(POSITIONS_RECEIVED, updates)
    conn.execute(payments.insert(), [b.payment for b in booked])
    repaid = [{"lid": b.loan_id, "p": b.repaid} for b in booked if b.repaid is not None]
    if repaid:
        conn.execute(LOANS_REPAID, repaid)


def proceeds_account(ctx: UnitOfWork, answer: AccountRef, listing: ListingRecord) -> AccountRef:
    """``lendkit_disbursement_account``'s ``answer``, checked (``PluginError`` otherwise): an
    account that exists in this transaction as the answer describes it, in the listing's
    currency, a party's available balance (the party exists) or a plugin's or third party's
    account; never a listing's escrow, a loan's clearing account or a platform account."""
    cur = listing.amount.currency

    def refuse(why: str) -> PluginError:
        return PluginError(
            f"lendkit_disbursement_account answered {answer.code!r} for listing {listing.id}: {why}"
        )

    stored = ctx.accounts.get(answer.code)  # committed accounts, as they are
    if stored != answer:
        try:
            stored = store_ledger.account_by_id(ctx.conn, answer.id)
        except NotFound:
            raise refuse("no such account") from None
        if stored.code != answer.code or stored.currency != answer.currency:
            raise refuse(f"account #{answer.id} is {stored.code!r}")
    if stored.currency != cur:
        raise refuse(f"the account is in {stored.currency}, the listing in {cur}")
    kind, owner, purpose, _cur = split_code(stored.code)
    if kind in (LISTING_OWNER, LOAN_OWNER, PLATFORM_OWNER):
        raise refuse(
            "proceeds may go to a party's available account or a plugin's account, never to a"
            " listing's escrow, a loan's clearing account or a platform account"
        )
    if kind == PARTY_OWNER:
        if purpose != AVAILABLE:
            raise refuse("a party's proceeds go to its available balance only")
        if (
            owner != listing.borrower_id
            and ctx.conn.execute(select(parties.c.id).where(parties.c.id == owner)).first() is None
        ):
            raise refuse(f"party {owner!r} does not exist")
    return stored


def owed_by_part(r: Any) -> dict[str, int]:
    """What the borrower still owes on an installment, by part."""
    owed = owed_of(r)
    return {"penalty": owed.penalty, "interest": owed.interest, "principal": owed.principal}


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


def investors_owed(r: Any) -> tuple[int, int]:
    """(principal, interest) investors are still owed on an installment: unpaid and not covered."""
    owed = owed_of(r)
    return owed.investors_principal, owed.investors_interest


def _loan_record(loan: Any, pos: tuple[PositionRecord, ...]) -> LoanRecord:
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
