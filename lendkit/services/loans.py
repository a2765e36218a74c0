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
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, select, update

from lendkit.core import states as S
from lendkit.core.errors import (
    Forbidden,
    InvalidAmount,
    InvalidSchedule,
    InvalidState,
    InvalidValue,
    NotFound,
    PluginError,
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
from lendkit.core.records import (
    Installment,
    ListingRecord,
    LoanRecord,
    PaymentRecord,
    PositionRecord,
)
from lendkit.core.schedule import METHODS, Schedule, build_schedule, validate_schedule
from lendkit.services import custody
from lendkit.services.common import (
    MAX_REVIEWER_LENGTH,
    check_choice,
    check_id,
    check_text,
    get_row,
    new_id,
    parse_amount,
)
from lendkit.services.context import Ctx
from lendkit.services.parties import require_party
from lendkit.services.records import listing_record
from lendkit.services.uow import Tx
from lendkit.store import ledger as store_ledger
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

if TYPE_CHECKING:
    from lendkit.platform import Platform

PREPAY_MODES = ("shorten", "reduce")
DAYS_PER_YEAR = 360  # interest to the payment date uses the Chinese banking day count (annual/360)


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

        def run(tx: Tx) -> LoanRecord:
            return self._disburse(Ctx(tx), listing_id, reviewer)

        return self._p.runner.run(
            "loans.disburse", run, key=key, payload=[listing_id, reviewer], result_type=LoanRecord
        )

    def _disburse(self, ctx: Ctx, listing_id: str, reviewer: str | None) -> LoanRecord:
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
            custody.post_hold(ctx, b.hold_id)
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
            )
        )
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
        self, ctx: Ctx, row: Any, record: ListingRecord, principal: Money, rate: Decimal
    ) -> Schedule:
        """The new loan's schedule: a plugin's (``lendkit_build_schedule``) or the listing's
        standard method; either way validated before any money moves (``InvalidSchedule``)."""
        product = self._p.products.get(row.product)
        allowed = product.allowed_methods if product is not None else METHODS
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

        def run(tx: Tx) -> PaymentRecord:
            return repay(Ctx(tx), loan_id, money, payer=payer)

        return self._p.runner.run(
            "loans.repay",
            run,
            key=key,
            # the payer joins the payload only when given: keys stored before it existed replay
            payload=[loan_id, money and money.format(), *([payer] if payer else [])],
            result_type=PaymentRecord,
        )

    def prepay(
        self, loan_id: str, amount: object = None, mode: str = "shorten", key: str | None = None
    ) -> PaymentRecord:
        """Prepay (提前还款) all (``amount=None``) or part of the outstanding principal.

        The borrower pays the principal, interest accrued on it since the last due date
        (annual/360 per day) and the prepayment fee (``prepayment_fee_rate`` of the principal, to
        platform revenue). A partial prepayment re-plans the rest: ``shorten`` keeps the payment
        and ends earlier, ``reduce`` keeps the end date and lowers the payment.
        """
        loan_id = check_id(loan_id, "loan")
        mode = check_choice(mode, "prepayment mode", PREPAY_MODES)
        money = (
            None
            if amount is None
            else parse_amount(amount, self._p.config.currency, "prepaid principal")
        )

        def run(tx: Tx) -> PaymentRecord:
            return _prepay(Ctx(tx), loan_id, money, mode)

        return self._p.runner.run(
            "loans.prepay",
            run,
            key=key,
            payload=[loan_id, money and money.format(), mode],
            result_type=PaymentRecord,
        )

    def write_off(self, loan_id: str, key: str | None = None) -> LoanRecord:
        """Write off (核销) a defaulted loan: it closes; investors keep what they received."""
        loan_id = check_id(loan_id, "loan")

        def run(tx: Tx) -> LoanRecord:
            ctx = Ctx(tx)
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
        return self._p.runner.run("loans.get", lambda tx: load_loan(Ctx(tx), loan_id))

    def for_listing(self, listing_id: str) -> LoanRecord:
        """The loan a listing became."""
        listing_id = check_id(listing_id, "listing")

        return self._p.runner.run(
            "loans.for_listing", lambda tx: loan_for_listing(Ctx(tx), listing_id)
        )

    def schedule(self, loan_id: str) -> Schedule:
        """The loan's current schedule (after any prepayment re-plan)."""
        loan_id = check_id(loan_id, "loan")

        return self._p.runner.run("loans.schedule", lambda tx: load_schedule(Ctx(tx), loan_id))

    def position(self, loan_id: str, investor_id: str) -> PositionRecord:
        """What an investor has received and is still owed on a loan (all their positions)."""
        loan_id = check_id(loan_id, "loan")
        investor_id = check_id(investor_id, "investor")

        def run(tx: Tx) -> PositionRecord:
            ctx = Ctx(tx)
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

        def run(tx: Tx) -> list[dict[str, Any]]:
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

        def run(tx: Tx) -> list[LoanRecord]:
            stmt = select(loans).order_by(loans.c.created_at, loans.c.id)
            if state is not None:
                stmt = stmt.where(loans.c.state == state)
            return [_loan_record(r, ()) for r in tx.conn.execute(stmt)]

        return self._p.runner.run("loans.list", run)


def repay(
    ctx: Ctx,
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


def _check_source(ctx: Ctx, loan: Any, source: AccountRef) -> None:
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


def loan_for_listing(ctx: Ctx, listing_id: str) -> LoanRecord:
    """The loan ``listing_id`` became (``NotFound`` if it was not disbursed)."""
    loan_id = ctx.conn.execute(select(loans.c.id).where(loans.c.listing_id == listing_id)).scalar()
    if loan_id is None:
        raise NotFound(f"listing {listing_id} has no loan (not disbursed)")
    return load_loan(ctx, loan_id)


def load_schedule(ctx: Ctx, loan_id: str) -> Schedule:
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


def installment_rows(ctx: Ctx, loan_id: str, *, unpaid: bool = False) -> list[Any]:
    """The loan's ``lendkit_installments`` rows in period order, cancelled ones left out (with
    ``unpaid``, the paid ones too)."""
    stmt = select(installments).where(
        installments.c.loan_id == loan_id, installments.c.state != S.INST_CANCELLED
    )
    if unpaid:
        stmt = stmt.where(installments.c.state != S.INST_PAID)
    return list(ctx.conn.execute(stmt.order_by(installments.c.period)).all())


def _lock_open(ctx: Ctx, loan_id: str) -> Any:
    """The loan's row, locked; ``InvalidState`` unless it still takes payments."""
    loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
    if loan.state not in S.OPEN_LOAN_STATES:
        raise InvalidState(f"loan {loan_id} is {loan.state}; it takes no more payments")
    return loan


def load_loan(ctx: Ctx, loan_id: str, investor_id: str | None = None) -> LoanRecord:
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
    interest_shares = allocate_minor(int(unpaid_interest), _interest_weights(pos)) if pos else []
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


def _allocation_order(ctx: Ctx, loan: Any) -> tuple[str, ...]:
    order = ctx.hooks.payment_allocation_order(ctx, _loan_record(loan, ()))
    return order or ctx.platform_config.allocation_order


def apply_payment(
    ctx: Ctx, loan: Any, amount: int | None, kind: str, source: AccountRef | None = None
) -> PaymentRecord | None:
    """Apply ``amount`` (minor units; None: the next unpaid installment in full) to ``loan`` (its
    row, locked) and distribute it, paid from ``source`` (default: the borrower's available
    balance) and booked as a payment of ``kind``. None if nothing was due or paid.

    Within an installment, what a third party already paid investors (covered) is owed to that
    payer: the borrower's payment goes to the investors' unpaid part first, then recovers
    the payers' claims (追偿).
    """
    rows = installment_rows(ctx, loan.id, unpaid=True)
    if not rows:
        return None
    if amount is None:
        amount = sum(owed_by_part(rows[0]).values())
    total_owed = sum(sum(owed_by_part(r).values()) for r in rows)
    if amount > total_owed:
        raise InvalidAmount(
            f"payment {Money.from_minor(amount, loan.currency)} exceeds everything owed on loan"
            f" {loan.id} ({Money.from_minor(total_owed, loan.currency)}); use prepay() to pay early"
        )
    if amount == 0:
        return None
    order = _allocation_order(ctx, loan)
    parts = {"penalty": 0, "interest": 0, "principal": 0}
    recoveries: list[tuple[int, int, int]] = []
    left = amount
    for r in rows:
        if left == 0:
            break
        due = owed_by_part(r)
        took = {}
        for part in order:
            took[part] = min(due[part], left)
            left -= took[part]
        to_payers = {}
        for part in ("principal", "interest"):
            claimed = getattr(r, f"covered_{part}") - getattr(r, f"recovered_{part}")
            to_payers[part] = max(0, took[part] - (due[part] - claimed))
            parts[part] += took[part] - to_payers[part]
        parts["penalty"] += took["penalty"]
        if to_payers["principal"] or to_payers["interest"]:
            recoveries.append((r.period, to_payers["principal"], to_payers["interest"]))
        paid_all = all(due[k] == took[k] for k in due)
        ctx.conn.execute(
            update(installments)
            .where(installments.c.loan_id == loan.id, installments.c.period == r.period)
            .values(
                paid_principal=r.paid_principal + took["principal"],
                paid_interest=r.paid_interest + took["interest"],
                paid_penalty=r.paid_penalty + took["penalty"],
                recovered_principal=r.recovered_principal + to_payers["principal"],
                recovered_interest=r.recovered_interest + to_payers["interest"],
                state=S.INST_PAID if paid_all else r.state,
                paid_at=ctx.now if paid_all else None,
            )
        )
    source = source or ctx.party_account(loan.borrower_id, loan.currency)
    return _book(
        ctx,
        loan,
        source,
        kind,
        parts["penalty"],
        parts["interest"],
        parts["principal"],
        extra_fee=0,
        recoveries=recoveries,
    )


def _recover(ctx: Ctx, loan: Any, recoveries: list[tuple[int, int, int]]) -> list[Leg]:
    """Legs paying third parties back what they covered, pro rata per installment."""
    legs: list[Leg] = []
    for period, principal, interest in recoveries:
        rows = ctx.conn.execute(
            select(claims)
            .where(claims.c.loan_id == loan.id, claims.c.period == period)
            .order_by(claims.c.created_at, claims.c.id)
        ).all()
        p_sh = allocate_minor(principal, [c.principal - c.recovered_principal for c in rows])
        i_sh = allocate_minor(interest, [c.interest - c.recovered_interest for c in rows])
        for c, ps, is_ in zip(rows, p_sh, i_sh, strict=True):
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
    ctx: Ctx,
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
    accounts = store_ledger.party_accounts(ctx.conn, [p.holder_id for p in pos], cur)
    fee_total, investor_legs, updates = split_to_positions(
        pos, accounts, penalty, interest, principal, ctx.platform_config.management_fee_rate
    )
    recovered_p = sum(r[1] for r in recoveries or ())
    recovered_i = sum(r[2] for r in recoveries or ())
    total = penalty + interest + principal + extra_fee + recovered_p + recovered_i
    legs = [Leg(source, -total)]
    if fee_total + extra_fee:
        legs.append(Leg(ctx.system("revenue", REVENUE), fee_total + extra_fee))
    legs.extend(_recover(ctx, loan, recoveries or []))
    legs.extend(investor_legs)
    payment_id = new_id("pay")
    seq = ctx.post(f"loan.{kind}", payment_id, legs, memo=loan.id)
    payer = payer_of(source)
    if updates:
        ctx.conn.execute(POSITIONS_RECEIVED, updates)
    ctx.conn.execute(
        payments.insert().values(
            id=payment_id,
            loan_id=loan.id,
            kind=kind,
            amount=total,
            penalty=penalty,
            interest=interest + recovered_i,
            principal=principal + recovered_p,
            fee=fee_total + extra_fee,
            paid_on=ctx.today,
            entry_seq=seq,
            created_at=ctx.now,
            payer_id=payer,
        )
    )
    if borrower_pays:
        ctx.conn.execute(
            update(loans)
            .where(loans.c.id == loan.id)
            .values(outstanding_principal=loans.c.outstanding_principal - principal - recovered_p)
        )
    record = PaymentRecord(
        payment_id,
        loan.id,
        kind,
        Money.from_minor(total, cur),
        Money.from_minor(penalty, cur),
        Money.from_minor(interest + recovered_i, cur),
        Money.from_minor(principal + recovered_p, cur),
        Money.from_minor(fee_total + extra_fee, cur),
        ctx.today,
        payer,
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


def _after_payment(ctx: Ctx, loan_id: str) -> None:
    """Settle a fully repaid loan; an overdue loan with nothing overdue is active again."""
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    unpaid = installment_rows(ctx, loan_id, unpaid=True)
    if not unpaid and loan.state in S.OPEN_LOAN_STATES:
        ctx.conn.execute(
            update(loans).where(loans.c.id == loan_id).values(state=S.SETTLED, closed_at=ctx.now)
        )
        _release_credit(ctx, loan)
        ctx.hooks.loan_closed(ctx, load_loan(ctx, loan_id))
    elif loan.state == S.OVERDUE and not any(r.state == S.INST_OVERDUE for r in unpaid):
        ctx.conn.execute(update(loans).where(loans.c.id == loan_id).values(state=S.ACTIVE))


def _release_credit(ctx: Ctx, loan: Any) -> None:
    ctx.conn.execute(
        update(parties)
        .where(parties.c.id == loan.borrower_id)
        .values(
            credit_used=func.max(parties.c.credit_used - loan.principal, 0)
            if ctx.conn.dialect.name == "sqlite"
            else func.greatest(parties.c.credit_used - loan.principal, 0)
        )
    )


def _prepay(ctx: Ctx, loan_id: str, money: Money | None, mode: str) -> PaymentRecord:
    loan = _lock_open(ctx, loan_id)
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
    days = max(0, (ctx.today - since).days)
    rate = Decimal(loan.annual_rate)
    accrued = _round_rate(amount * days, rate / DAYS_PER_YEAR)
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
    ctx: Ctx, loan: Any, rows: Sequence[Any], rest: int, since: date, mode: str
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
    ctx: Ctx,
    loan_id: str,
    source: AccountRef,
    principal: Money,
    interest: Money,
    *,
    reason: str,
    period: int | None = None,
) -> Money:
    """A third party (guarantor, reserve, insurer) pays investors from ``source`` (代偿).

    Pays what investors are still owed on due installments (``period`` or oldest first), at
    most ``principal`` and ``interest``; records the payer's claim so the borrower's later
    payments on those installments go to the payer. Returns what was paid.
    """
    loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
    if principal.is_negative() or interest.is_negative():
        raise InvalidValue("compensation amounts must not be negative")
    rows = [
        r
        for r in installment_rows(ctx, loan_id, unpaid=True)
        if r.due_date <= ctx.today and (period is None or r.period == period)
    ]
    want_p, want_i = principal.minor, interest.minor
    paid_p = paid_i = 0
    for r in rows:
        owed_p, owed_i = investors_owed(r)
        take_p, take_i = min(owed_p, want_p - paid_p), min(owed_i, want_i - paid_i)
        if not (take_p or take_i):
            continue
        paid_p, paid_i = paid_p + take_p, paid_i + take_i
        ctx.conn.execute(
            update(installments)
            .where(installments.c.loan_id == loan_id, installments.c.period == r.period)
            .values(
                covered_principal=r.covered_principal + take_p,
                covered_interest=r.covered_interest + take_i,
            )
        )
        ctx.conn.execute(
            claims.insert().values(
                id=new_id("clm"),
                loan_id=loan_id,
                period=r.period,
                account_id=source.id,
                reason=str(reason)[:40],
                principal=take_p,
                interest=take_i,
                recovered_principal=0,
                recovered_interest=0,
                created_at=ctx.now,
            )
        )
    if not (paid_p or paid_i):
        return Money.zero(loan.currency)
    record = _book(ctx, loan, source, "cover", 0, paid_i, paid_p, extra_fee=0, borrower_pays=False)
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


def split_to_positions(
    pos: Sequence[Any],
    holders: Mapping[str, AccountRef],
    penalty: int,
    interest: int,
    principal: int,
    fee_rate: Decimal,
) -> tuple[int, list[Leg], list[dict[str, Any]]]:
    """Split one payment over a loan's positions, to the cent.

    Principal and penalty go by outstanding principal, interest by principal x rate, each with
    ``allocate_minor``; the management fee (``interest x fee_rate``, HALF_UP) is split over the
    investors' gross interest the same way. Returns the fee, the legs paying each holder and the
    position updates (``pid``, ``p``, ``n``, ``i`` net of fee, ``f``). Every payment path (a
    single repayment, a bulk close-of-business chunk, a third party's cover) uses this.
    """
    n = len(pos)
    fee_total = _round_rate(interest, fee_rate)
    p_shares = allocate_minor(principal, _principal_weights(pos)) if principal else [0] * n
    n_shares = allocate_minor(penalty, _principal_weights(pos)) if penalty else [0] * n
    i_shares = allocate_minor(interest, _interest_weights(pos)) if interest else [0] * n
    f_shares = allocate_minor(fee_total, i_shares) if fee_total else [0] * n
    legs: list[Leg] = []
    updates: list[dict[str, Any]] = []
    for p, ps, ns, is_, fs in zip(pos, p_shares, n_shares, i_shares, f_shares, strict=True):
        net = ps + ns + is_ - fs
        if net:
            legs.append(Leg(holders[p.holder_id], net))
        if ps or ns or is_:
            updates.append({"pid": p.id, "p": ps, "n": ns, "i": is_ - fs, "f": fs})
    return fee_total, legs, updates


def proceeds_account(ctx: Ctx, answer: AccountRef, listing: ListingRecord) -> AccountRef:
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
    return {
        "penalty": r.penalty - r.paid_penalty,
        "interest": r.interest - r.paid_interest,
        "principal": r.principal - r.paid_principal,
    }


def accrue_penalty(r: Any, days: int, daily_rate: Decimal) -> tuple[int, int]:
    """Penalty interest (罚息) on installment row ``r`` for ``days`` more days overdue.

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
    owed = owed_by_part(r)
    return (
        owed["principal"] - (r.covered_principal - r.recovered_principal),
        owed["interest"] - (r.covered_interest - r.recovered_interest),
    )


def _principal_weights(pos: Sequence[Any]) -> list[int]:
    weights = [p.principal - p.received_principal for p in pos]
    return weights if any(weights) else [p.principal for p in pos]


def _interest_weights(pos: Sequence[Any]) -> list[Decimal]:
    return [Decimal(p.principal) * Decimal(p.annual_rate) for p in pos]


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
    )
