"""Repayment: a payment applied to a loan's installments (``lendkit.core.payments``) and paid to its investors; third parties' cover and recoveries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import define
from sqlalchemy import Connection, bindparam, func, select, text, update

from lendkit.core import states as S
from lendkit.core.errors import (
    CurrencyMismatch,
    Forbidden,
    InvalidAmount,
    InvalidState,
    InvalidValue,
)
from lendkit.core.ledger import (
    PARTY_OWNER,
    REVENUE,
    AccountRef,
    Leg,
    plugin_movement_violation,
    split_code,
)
from lendkit.core.money import Money
from lendkit.core.open_ended import OPEN_ENDED
from lendkit.core.payments import (
    Allocation,
    ClaimStake,
    allocate_cover,
    allocate_payment,
    split_payment,
    split_recovery,
)
from lendkit.core.records import (
    LoanRecord,
    PaymentRecord,
    Repayment,
)
from lendkit.ops import open_ended
from lendkit.ops.parties import require_party
from lendkit.store import ledger as store_ledger
from lendkit.store.ledger import NewEntry
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import (
    claims,
    installments,
    loans,
    parties,
    payments,
    positions,
)
from lendkit.uow import UnitOfWork

if TYPE_CHECKING:
    pass
from lendkit.ops.loans import (
    installment_rows,
    load_loan,
    loan_record,
    lock_open,
    owed_of,
    stakes_of,
)


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
    loan = lock_open(ctx, loan_id)
    if payer is not None and payer != loan.borrower_id:
        require_party(ctx, payer, verified=True, action=f"pay loan {loan_id}")
        source = ctx.party_account(payer, loan.currency)
    elif source is not None:
        check_source(ctx, loan, source)
    if amount is not None and amount.currency != loan.currency:
        raise InvalidAmount(f"repayment {amount} is not in the loan's currency {loan.currency}")
    payment = apply_payment(
        ctx, loan, None if amount is None else amount.minor, "repayment", source
    )
    if payment is None:
        raise InvalidState(f"loan {loan_id} has nothing due")
    return payment


def check_source(ctx: UnitOfWork, loan: Any, source: AccountRef) -> None:
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


def allocation_order(ctx: UnitOfWork, loan: Any) -> tuple[str, ...]:
    order = ctx.hooks.payment_allocation_order(ctx, loan_record(loan, ()))
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
    paid = allocate_payment(amount, owed, allocation_order(ctx, loan))
    ctx.conn.execute(INSTALLMENTS_PAID, installments_paid(loan.id, rows, paid, ctx.now))
    source = source or ctx.party_account(loan.borrower_id, loan.currency)
    return book_payment(
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


def recover_claims(ctx: UnitOfWork, loan: Any, recoveries: list[tuple[int, int, int]]) -> list[Leg]:
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


def book_payment(
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
        recovery_legs=recover_claims(ctx, loan, recoveries or []),
        recovered_principal=sum(r[1] for r in recoveries or ()),
        recovered_interest=sum(r[2] for r in recoveries or ()),
        borrower_pays=borrower_pays,
    )
    write_payments(ctx, [], [booked])
    record = payment_record(booked, cur)
    if borrower_pays:
        after_payment(ctx, loan.id)
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
        repayments_received(ctx, [record])
    return record


def payment_record(booked: Booking, currency: str) -> PaymentRecord:
    """The :class:`PaymentRecord` of a written payment (hooks and callers see this)."""
    row = booked.payment
    return PaymentRecord(
        booked.payment_id,
        booked.loan_id,
        booked.kind,
        Money.from_minor(row["amount"], currency),
        Money.from_minor(row["penalty"], currency),
        Money.from_minor(row["interest"], currency),
        Money.from_minor(row["principal"], currency),
        Money.from_minor(row["fee"], currency),
        row["paid_on"],
        row["payer_id"],
    )


def repayments_received(ctx: UnitOfWork, records: Sequence[PaymentRecord]) -> None:
    """Tell ``lendkit_repayments_received`` about borrowers' payments: at once, or at the end of
    close of business's chunk while it defers them (``defer_repayments``)."""
    if ctx.deferred_repayments is not None:
        ctx.deferred_repayments.extend(records)
        return
    if not records or not ctx.hooks.implemented("repayments_received"):
        return
    ids = sorted({r.loan_id for r in records})
    now: dict[str, Any] = {}
    for start in range(0, len(ids), 500):
        for row in ctx.conn.execute(
            select(
                loans.c.id,
                loans.c.product,
                loans.c.borrower_id,
                loans.c.state,
                loans.c.outstanding_principal,
                loans.c.currency,
            ).where(loans.c.id.in_(ids[start : start + 500]))
        ):
            now[row.id] = row
    ctx.hooks.repayments_received(
        ctx,
        [
            Repayment(
                r.loan_id,
                now[r.loan_id].product,
                now[r.loan_id].borrower_id,
                now[r.loan_id].state,
                Money.from_minor(now[r.loan_id].outstanding_principal, now[r.loan_id].currency),
                r,
            )
            for r in records
        ],
    )


@contextmanager
def defer_repayments(ctx: UnitOfWork) -> Iterator[None]:
    """Collect the borrowers' payments booked in the block and tell
    ``lendkit_repayments_received`` about them once, when the block ends without an error:
    close of business wraps each chunk in it, so both its bulk and its one-loan paths notify
    the same batch at the same point (and the ledgers they write stay identical)."""
    if ctx.deferred_repayments is not None:  # nested: the outer block delivers
        yield
        return
    pending: list[PaymentRecord] = []
    ctx.deferred_repayments = pending
    try:
        yield
    finally:
        ctx.deferred_repayments = None
    repayments_received(ctx, pending)


def payer_of(source: AccountRef) -> str | None:
    """The party whose account ``source`` is (``None``: a platform, plugin or loan account)."""
    kind, owner, _purpose, _cur = split_code(source.code)
    return owner if kind == PARTY_OWNER else None


def after_payment(ctx: UnitOfWork, loan_id: str) -> None:
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
        release_credit(ctx, loan)
        ctx.hooks.loan_closed(ctx, load_loan(ctx, loan_id))
    elif loan.state == S.OVERDUE and not any(r.state == S.INST_OVERDUE for r in unpaid):
        ctx.conn.execute(update(loans).where(loans.c.id == loan_id).values(state=S.ACTIVE))


def release_credit(ctx: UnitOfWork, loan: Any) -> None:
    ctx.conn.execute(
        update(parties)
        .where(parties.c.id == loan.borrower_id)
        .values(
            credit_used=func.max(parties.c.credit_used - loan.principal, 0)
            if ctx.conn.dialect.name == "sqlite"
            else func.greatest(parties.c.credit_used - loan.principal, 0)
        )
    )


def repay_principal(
    ctx: UnitOfWork,
    loan_id: str,
    money: Money,
    payer: str | None,
    *,
    source: AccountRef | None = None,
) -> PaymentRecord:
    """Repay ``money`` of open-ended loan ``loan_id``'s principal from the borrower's or
    ``payer``'s available balance (see ``LoansService.repay_principal``), or from ``source``
    (a plugin's or third party's account, checked as ``repay`` checks it:
    ``HookContext.repay_principal``)."""
    loan = lock_open(ctx, loan_id)
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
    if source is not None:
        check_source(ctx, loan, source)
    else:
        source = ctx.party_account(loan.borrower_id, loan.currency)
        if payer is not None and payer != loan.borrower_id:
            require_party(ctx, payer, verified=True, action=f"repay loan {loan_id}'s principal")
            source = ctx.party_account(payer, loan.currency)
    open_ended.take_principal(ctx, loan, money.minor)
    return book_payment(ctx, loan, source, "principal", 0, 0, money.minor, extra_fee=0)


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
    record = book_payment(
        ctx, loan, source, "cover", paid_n, paid_i, paid_p, extra_fee=0, borrower_pays=False
    )
    if closed_rows:
        after_payment(ctx, loan_id)
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


#: PostgreSQL, many positions at once: the same change in one statement (every position's sums
#: once: ``UPDATE ... FROM`` applies one source row per target row)
_POSITIONS_RECEIVED_SET = text(
    f"UPDATE {positions.name} AS t SET"
    " received_principal = t.received_principal + v.p,"
    " received_penalty = t.received_penalty + v.n,"
    " received_interest = t.received_interest + v.i,"
    " fees_paid = t.fees_paid + v.f"
    " FROM unnest(CAST(:pid AS text[]), CAST(:p AS bigint[]), CAST(:n AS bigint[]),"
    " CAST(:i AS bigint[]), CAST(:f AS bigint[])) AS v(pid, p, n, i, f) WHERE t.id = v.pid"
)
#: from this many position updates on, PostgreSQL takes them in one statement
POSITIONS_SET_FROM = 16


def summed_position_updates(updates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``POSITIONS_RECEIVED`` parameters with one row per position (``pid``), its amounts
    (``p``, ``n``, ``i``, ``f``) summed, in first-seen order."""
    out: dict[str, dict[str, Any]] = {}
    for u in updates:
        row = out.get(u["pid"])
        if row is None:
            out[u["pid"]] = dict(u)
        else:
            for k in ("p", "n", "i", "f"):
                row[k] += u[k]
    return list(out.values())


def write_position_updates(conn: Connection, updates: Sequence[Mapping[str, Any]]) -> None:
    """Add received amounts to positions (``POSITIONS_RECEIVED`` parameters): an
    ``executemany``, or on PostgreSQL for many positions one ``UPDATE ... FROM unnest`` of their
    sums (the loans' rows are locked by every writer of their positions first, so the order in
    which one statement takes the positions' row locks does not matter)."""
    if len(updates) < POSITIONS_SET_FROM or conn.dialect.name != "postgresql":
        conn.execute(POSITIONS_RECEIVED, list(updates))
        return
    rows = summed_position_updates(updates)
    conn.execute(
        _POSITIONS_RECEIVED_SET,
        {k: [r[k] for r in rows] for k in ("pid", "p", "n", "i", "f")},
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
        write_position_updates(conn, updates)
    conn.execute(payments.insert(), [b.payment for b in booked])
    repaid = [{"lid": b.loan_id, "p": b.repaid} for b in booked if b.repaid is not None]
    if repaid:
        conn.execute(LOANS_REPAID, repaid)


def write_off(ctx: UnitOfWork, loan_id: str) -> LoanRecord:
    """Write off a defaulted loan: it closes; investors keep what they received."""
    loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
    S.check_transition(S.LOAN_TRANSITIONS, "loan", loan_id, loan.state, S.WRITTEN_OFF)
    ctx.conn.execute(
        update(loans).where(loans.c.id == loan_id).values(state=S.WRITTEN_OFF, closed_at=ctx.now)
    )
    release_credit(ctx, loan)
    record = load_loan(ctx, loan_id)
    ctx.hooks.loan_closed(ctx, record)
    return record
