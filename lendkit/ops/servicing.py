"""Servicing reads: a loan's status and payoff, an investor's portfolio, a party's statement,
claims, the borrower's all-in cost, and the paginated lists behind ``lendkit party|listing|loan
list``.

Everything here reads; nothing writes except inside a savepoint it rolls back (the borrower's
cost asks the fee hooks what disbursement would deduct, and those hooks keep their own books).
The figures come from the one computation each already has: what an installment owes is
:func:`lendkit.ops.loans.owed_of`, a payoff is what :func:`lendkit.ops.settlement.settle`
charges (:func:`~lendkit.ops.settlement.payoff_quote`), an investor's expected share of an
installment is :func:`lendkit.core.payments.split_payment`, a receipt is
:func:`lendkit.ops.reports.position_history`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from attrs import evolve
from sqlalchemy import Select, and_, func, select

from lendkit.core import states as S
from lendkit.core.errors import InvalidValue, LendkitError
from lendkit.core.ledger import AVAILABLE, FROZEN, PARTY_OWNER, split_code
from lendkit.core.money import Money
from lendkit.core.open_ended import OPEN_ENDED
from lendkit.core.payments import split_payment
from lendkit.core.records import Bid, ListingRecord, PartyRecord, PaymentRecord
from lendkit.core.schedule import Schedule
from lendkit.core.servicing import (
    BorrowerCost,
    ClaimRecord,
    HistoryLine,
    InstallmentStatus,
    LoanLine,
    LoanStatus,
    Page,
    Payoff,
    PayoffRow,
    Portfolio,
    PortfolioPosition,
    aging_bucket,
    borrower_cost,
    bucket_days,
)
from lendkit.core.yields import NoYield, xirr
from lendkit.ops.bidding import find_bids
from lendkit.ops.disbursement import new_schedule, proceeds_account
from lendkit.ops.holds import balance_of
from lendkit.ops.listings import Application, apply
from lendkit.ops.loans import (
    installment_rows,
    load_loan,
    load_schedule,
    loan_record,
    owed_of,
    round_rate,
    stakes_of,
)
from lendkit.ops.parties import REQUIRED_CHECKS, load_party, require_party
from lendkit.ops.records import listing_record
from lendkit.ops.reports import payer_named, position_history
from lendkit.ops.settlement import payoff_quote
from lendkit.store.pages import page_by_created, page_by_seq, parse_seq_cursor
from lendkit.store.rows import get_row
from lendkit.store.tables import (
    accounts,
    claims,
    holds,
    installments,
    journal_entries,
    listings,
    loans,
    parties,
    payments,
    positions,
    postings,
    verifications,
)
from lendkit.uow import UnitOfWork

# -- a loan ----------------------------------------------------------------------------------------


def payment_record(row: Any, currency: str) -> PaymentRecord:
    """A ``lendkit_payments`` row as a record."""

    def m(units: int) -> Money:
        return Money.from_minor(units, currency)

    return PaymentRecord(
        row.id,
        row.loan_id,
        row.kind,
        m(row.amount),
        m(row.penalty),
        m(row.interest),
        m(row.principal),
        m(row.fee),
        row.paid_on,
        row.payer_id,
    )


def claim_rows(ctx: UnitOfWork, loan: Any) -> list[ClaimRecord]:
    """Every claim third parties hold on ``loan`` (its row), oldest first, payer named."""
    rows = ctx.conn.execute(
        select(claims, accounts.c.code)
        .join(accounts, accounts.c.id == claims.c.account_id)
        .where(claims.c.loan_id == loan.id)
        .order_by(claims.c.created_at, claims.c.id)
    ).all()
    cur = loan.currency
    out = []
    for r in rows:
        kind, owner = payer_named(r.code, loan.borrower_id)
        out.append(
            ClaimRecord(
                id=r.id,
                loan_id=loan.id,
                period=r.period,
                reason=r.reason,
                payer_kind=kind,
                payer_id=owner,
                payer_account=r.code,
                principal=Money.from_minor(r.principal, cur),
                interest=Money.from_minor(r.interest, cur),
                recovered_principal=Money.from_minor(r.recovered_principal, cur),
                recovered_interest=Money.from_minor(r.recovered_interest, cur),
                created_at=r.created_at,
            )
        )
    return out


def loan_claims(ctx: UnitOfWork, loan_id: str) -> list[ClaimRecord]:
    """Who covered what on loan ``loan_id`` and how much each recovered (``NotFound``)."""
    return claim_rows(ctx, get_row(ctx.conn, loans, loan_id, "loan"))


def loan_status(ctx: UnitOfWork, loan_id: str, as_of: date | None = None) -> LoanStatus:
    """Loan ``loan_id`` on ``as_of`` (default today): state, days past its oldest unpaid due
    date and aging bucket, each installment (due, paid, covered, penalty accrued, owed), what is
    due today, the next due date and amount, and every payment with its payer."""
    day = as_of or ctx.today
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    cur = loan.currency

    def m(units: int) -> Money:
        return Money.from_minor(units, cur)

    covers: dict[int, list[ClaimRecord]] = defaultdict(list)
    for c in claim_rows(ctx, loan):
        covers[c.period].append(c)
    rows = installment_rows(ctx, loan_id)
    items = []
    unpaid = []
    for r in rows:
        open_ = r.state != S.INST_PAID
        owed = owed_of(r).total if open_ else 0
        if open_:
            unpaid.append((r, owed))
        items.append(
            InstallmentStatus(
                period=r.period,
                due_date=r.due_date,
                state=r.state,
                principal=m(r.principal),
                interest=m(r.interest),
                penalty=m(r.penalty),
                paid_principal=m(r.paid_principal),
                paid_interest=m(r.paid_interest),
                paid_penalty=m(r.paid_penalty),
                owed=m(owed),
                days_past_due=max(0, (day - r.due_date).days) if open_ else 0,
                penalty_through=r.penalty_through,
                covers=tuple(covers.get(r.period, ())),
            )
        )
    past = [r for r, _ in unpaid if r.due_date < day]
    days = (day - past[0].due_date).days if past else 0
    upcoming = [(r, owed) for r, owed in unpaid if r.due_date > day]
    paid = ctx.conn.execute(
        select(payments)
        .where(payments.c.loan_id == loan_id)
        .order_by(payments.c.created_at, payments.c.entry_seq, payments.c.id)
    ).all()
    return LoanStatus(
        loan_id=loan_id,
        borrower_id=loan.borrower_id,
        state=loan.state,
        as_of=day,
        days_past_due=days,
        bucket=aging_bucket(days),
        principal=m(loan.principal),
        outstanding_principal=m(loan.outstanding_principal),
        penalty_accrued=m(sum(r.penalty for r in rows)),
        penalty_unpaid=m(sum(r.penalty - r.paid_penalty for r, _ in unpaid)),
        due_today=m(sum(owed for r, owed in unpaid if r.due_date <= day)),
        next_due_date=upcoming[0][0].due_date if upcoming else None,
        next_due_amount=m(upcoming[0][1]) if upcoming else None,
        installments=tuple(items),
        payments=tuple(payment_record(p, cur) for p in paid),
    )


def loan_payoff(ctx: UnitOfWork, loan_id: str, on: date | None = None) -> Payoff:
    """The exact amount that settles ``loan_id`` on ``on`` (default today), itemised: what
    :func:`lendkit.ops.settlement.payoff_quote` computes on that date. The penalty is what close
    of business has accrued (run it through ``on`` first for a later date)."""
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    day = on or ctx.today
    if day < loan.start_date:
        raise InvalidValue(
            f"payoff date {day.isoformat()} is before loan {loan_id} started"
            f" ({loan.start_date.isoformat()}): allowed that date or later"
        )
    quote = payoff_quote(ctx.on(day), loan)
    cur = loan.currency

    def m(units: int) -> Money:
        return Money.from_minor(units, cur)

    return Payoff(
        loan_id=loan_id,
        on=day,
        overdue=tuple(
            PayoffRow(period, due, m(pen), m(interest), m(principal))
            for period, due, pen, interest, principal in quote.due
        ),
        principal=m(quote.principal),
        interest=m(quote.interest),
        fee=m(quote.fee),
        total=m(quote.total),
    )


# -- the borrower's all-in cost -----------------------------------------------------------------------


class _Undo(Exception):
    """Raised to roll back the savepoint of a quote."""


def listing_cost(ctx: UnitOfWork, listing_id: str) -> BorrowerCost | None:
    """What listing ``listing_id`` costs its borrower, every fee included (``None`` when it
    cannot be known: an open-ended loan, no rate yet, a schedule or fee a plugin cannot give).

    Before disbursement: the schedule disbursement would build today at the listing's rate (an
    auction's maximum rate) and the fees it would deduct (the platform's service fee and every
    plugin's deductions, asked in a savepoint that is rolled back). After: the loan's schedule
    and what its borrower's proceeds account received.
    """
    row = get_row(ctx.conn, listings, listing_id, "listing")
    rate = row.annual_rate or row.max_rate
    if row.method == OPEN_ENDED or rate is None:
        return None
    found: list[BorrowerCost | None] = []
    try:
        with ctx.savepoint():
            found.append(_cost(ctx, row, Decimal(rate)))
            raise _Undo
    except _Undo:
        pass
    except LendkitError:
        return None
    return found[0] if found else None


def _cost(ctx: UnitOfWork, row: Any, rate: Decimal) -> BorrowerCost | None:
    record = listing_record(row)
    cur = row.currency
    principal = Money.from_minor(row.amount, cur)
    schedule: Schedule
    if row.state == S.DISBURSED:
        loan = ctx.conn.execute(select(loans).where(loans.c.listing_id == row.id)).one()
        schedule = load_schedule(ctx, loan.id)
        start = loan.start_date
        to = proceeds_account(ctx, ctx.hooks.disbursement_account(ctx, record), record)
        received = ctx.conn.execute(
            select(func.coalesce(func.sum(postings.c.amount), 0))
            .join(journal_entries, journal_entries.c.seq == postings.c.entry_seq)
            .where(
                journal_entries.c.kind == "loan.disburse",
                journal_entries.c.reference == row.id,
                postings.c.account_id == to.id,
            )
        ).scalar_one()
        fees = principal - Money.from_minor(int(received), cur)
    else:
        schedule = new_schedule(ctx, row, record, principal, rate)
        start = ctx.today
        fee = Money.from_minor(round_rate(row.amount, ctx.platform_config.service_fee_rate), cur)
        fees = fee
        for d in ctx.hooks.disbursement_deductions(ctx, record, principal, fee):
            fees = fees + d.amount
    return borrower_cost(schedule, fees, start, nominal_rate=rate)


def priced(ctx: UnitOfWork, record: ListingRecord) -> ListingRecord:
    """``record`` with its borrower's annual percentage rate (``apr``) filled in."""
    cost = listing_cost(ctx, record.id)
    return record if cost is None else _with_apr(record, cost.apr)


def _with_apr(record: ListingRecord, apr: Decimal) -> ListingRecord:
    return evolve(record, apr=apr)


def apply_priced(ctx: UnitOfWork, application: Application) -> ListingRecord:
    """``platform.listings.apply``: :func:`lendkit.ops.listings.apply`, the record priced
    (the borrower's annual percentage rate next to the nominal rate)."""
    return priced(ctx, apply(ctx, application))


def listing(ctx: UnitOfWork, listing_id: str) -> ListingRecord:
    """Listing ``listing_id`` with its borrower's annual percentage rate."""
    return priced(ctx, listing_record(get_row(ctx.conn, listings, listing_id, "listing")))


# -- lists -------------------------------------------------------------------------------------------


def list_parties(
    ctx: UnitOfWork,
    *,
    kind: str | None = None,
    verified: bool | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[PartyRecord]:
    """Parties, oldest first, optionally of one ``kind`` and verified or not."""
    stmt: Select[Any] = select(parties.c.id, parties.c.created_at)
    if kind is not None:
        stmt = stmt.where(parties.c.kind == kind)
    if verified is not None:
        passed = (
            select(func.count())
            .where(
                verifications.c.party_id == parties.c.id,
                verifications.c.check.in_(REQUIRED_CHECKS),
                verifications.c.state == "verified",
            )
            .scalar_subquery()
        )
        full = passed >= len(REQUIRED_CHECKS)
        stmt = stmt.where(full if verified else ~full)
    rows, nxt = page_by_created(ctx.conn, stmt, parties, after, limit)
    return Page(tuple(load_party(ctx, r.id) for r in rows), nxt)


def list_listings(
    ctx: UnitOfWork,
    *,
    state: str | None = None,
    product: str | None = None,
    borrower_id: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[ListingRecord]:
    """Listings, oldest first, by ``state``, ``product`` and ``borrower_id`` (each optional),
    each with its borrower's annual percentage rate."""
    stmt: Select[Any] = select(listings)
    if state is not None:
        stmt = stmt.where(listings.c.state == state)
    if product is not None:
        stmt = stmt.where(listings.c.product == product)
    if borrower_id is not None:
        stmt = stmt.where(listings.c.borrower_id == borrower_id)
    rows, nxt = page_by_created(ctx.conn, stmt, listings, after, limit)
    return Page(tuple(priced(ctx, listing_record(r)) for r in rows), nxt)


def list_loans(
    ctx: UnitOfWork,
    *,
    borrower_id: str | None = None,
    state: str | None = None,
    bucket: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[LoanLine]:
    """Loans, oldest first, by ``borrower_id``, ``state`` and aging ``bucket`` (each optional),
    each with its days past due and bucket today."""
    today = ctx.today
    i = installments
    oldest = (
        select(i.c.loan_id, func.min(i.c.due_date).label("oldest"))
        .where(i.c.state.notin_((S.INST_PAID, S.INST_CANCELLED)), i.c.due_date < today)
        .group_by(i.c.loan_id)
        .subquery()
    )
    stmt: Select[Any] = select(loans, oldest.c.oldest).outerjoin(
        oldest, oldest.c.loan_id == loans.c.id
    )
    if borrower_id is not None:
        stmt = stmt.where(loans.c.borrower_id == borrower_id)
    if state is not None:
        stmt = stmt.where(loans.c.state == state)
    if bucket is not None:
        low, high = bucket_days(bucket)
        if low == 0:
            stmt = stmt.where(oldest.c.oldest.is_(None))
        else:
            cond = oldest.c.oldest <= today - timedelta(days=low)
            if high is not None:
                cond = and_(cond, oldest.c.oldest >= today - timedelta(days=high))
            stmt = stmt.where(cond)
    rows, nxt = page_by_created(ctx.conn, stmt, loans, after, limit)
    out = []
    for r in rows:
        days = 0 if r.oldest is None else (today - r.oldest).days
        out.append(LoanLine(loan_record(r, ()), days, aging_bucket(days)))
    return Page(tuple(out), nxt)


# -- an investor's portfolio --------------------------------------------------------------------------


def portfolio(ctx: UnitOfWork, investor_id: str) -> Portfolio:
    """``investor_id``'s positions across loans, cash, open bids and yields (see
    :class:`~lendkit.core.servicing.Portfolio`)."""
    require_party(ctx, investor_id)
    today = ctx.today
    cur = ctx.currency
    zero = Money.zero(cur)
    loan_ids = list(
        dict.fromkeys(
            ctx.conn.execute(
                select(positions.c.loan_id)
                .join(loans, loans.c.id == positions.c.loan_id)
                .where(positions.c.investor_id == investor_id)
                .order_by(loans.c.created_at, loans.c.id, positions.c.seq)
            ).scalars()
        )
    )
    realised: list[tuple[date, Money]] = []
    expected_flows: list[tuple[date, Money]] = []
    out = []
    fee_rate = ctx.platform_config.management_fee_rate
    for loan_id in loan_ids:
        record = load_loan(ctx, loan_id, investor_id)
        mine = record.positions
        principal = sum((p.principal for p in mine), zero)
        outstanding = sum((p.outstanding_principal for p in mine), zero)
        receipts = position_history(ctx, loan_id, investor_id)
        covered = sum((r.amount for r in receipts if r.kind == "cover"), zero)
        flows = [(record.start_date, -principal), *((r.paid_on, r.amount) for r in receipts)]
        ahead = (
            _expected(ctx, loan_id, investor_id, fee_rate, today)
            if record.state in S.OPEN_LOAN_STATES
            else []
        )
        expected = sum((m for _, m in ahead), zero)
        realised += flows
        if outstanding.is_positive() and record.state in S.OPEN_LOAN_STATES:
            realised.append((today, outstanding))
        expected_flows += flows + ahead
        out.append(
            PortfolioPosition(
                loan_id=loan_id,
                loan_state=record.state,
                principal=principal,
                outstanding_principal=outstanding,
                received_principal=sum((p.received_principal for p in mine), zero),
                received_interest=sum((p.received_interest for p in mine), zero),
                received_penalty=sum((p.received_penalty for p in mine), zero),
                fees_paid=sum((p.fees_paid for p in mine), zero),
                covered=covered,
                expected=expected,
            )
        )
    cash = balance_of(ctx, investor_id, cur)
    bids: tuple[Bid, ...] = tuple(find_bids(ctx, investor_id=investor_id, state=S.BID_OPEN))
    return Portfolio(
        investor_id=investor_id,
        as_of=today,
        positions=tuple(out),
        available=cash.available,
        frozen=cash.frozen,
        open_bids=bids,
        realised_yield=_yield(realised),
        expected_yield=_yield(expected_flows),
    )


def _expected(
    ctx: UnitOfWork, loan_id: str, investor_id: str, fee_rate: Decimal, today: date
) -> list[tuple[date, Money]]:
    """What ``investor_id`` is still to receive on each unpaid installment of ``loan_id`` (its
    share by :func:`~lendkit.core.payments.split_payment`, interest net of the management fee),
    on the installment's due date (an overdue one: today)."""
    pos = ctx.conn.execute(
        select(positions).where(positions.c.loan_id == loan_id).order_by(positions.c.seq)
    ).all()
    loan = get_row(ctx.conn, loans, loan_id, "loan")
    mine = [k for k, p in enumerate(pos) if p.investor_id == investor_id]
    out = []
    for r in installment_rows(ctx, loan_id, unpaid=True):
        owed = owed_of(r)
        split = split_payment(
            stakes_of(pos), 0, owed.investors_interest, owed.investors_principal, fee_rate
        )
        units = sum(split.principal[k] + split.interest[k] - split.fees[k] for k in mine)
        if units:
            out.append((max(r.due_date, today), Money.from_minor(units, loan.currency)))
    return out


def _yield(flows: Sequence[tuple[date, Money]]) -> Decimal | None:
    """The annual XIRR of ``flows``, ``None`` when they have no rate (or all fall on one day)."""
    if len({d for d, _ in flows}) < 2:
        return None
    try:
        return xirr(list(flows))
    except NoYield:
        return None


# -- a party's statement -----------------------------------------------------------------------------


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def history(
    ctx: UnitOfWork,
    party_id: str,
    *,
    since: date | None = None,
    until: date | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[HistoryLine]:
    """Every movement of ``party_id``'s custody accounts (available and frozen, the platform's
    currency) from ``since`` through ``until`` (UTC dates, inclusive), oldest first, each with
    a description and the balances after it."""
    require_party(ctx, party_id)
    cur = ctx.currency
    if since is not None and until is not None and until < since:
        raise InvalidValue(
            f"history until {until.isoformat()} is before since {since.isoformat()}:"
            " allowed until on or after since"
        )
    mine = {
        r.id: r.purpose
        for r in ctx.conn.execute(
            select(accounts.c.id, accounts.c.purpose).where(
                accounts.c.owner_kind == PARTY_OWNER,
                accounts.c.owner_id == party_id,
                accounts.c.currency == cur,
                accounts.c.purpose.in_((AVAILABLE, FROZEN)),
            )
        )
    }
    start = parse_seq_cursor(after)
    if not mine:
        return Page(())
    seq_stmt = (
        select(journal_entries.c.seq)
        .where(
            journal_entries.c.seq > start,
            journal_entries.c.seq.in_(
                select(postings.c.entry_seq).where(postings.c.account_id.in_(list(mine)))
            ),
        )
        .order_by(journal_entries.c.seq)
        .limit(limit + 1)
    )
    if since is not None:
        seq_stmt = seq_stmt.where(journal_entries.c.created_at >= _start_of(since))
    if until is not None:
        seq_stmt = seq_stmt.where(
            journal_entries.c.created_at < _start_of(until + timedelta(days=1))
        )
    seqs = list(ctx.conn.execute(seq_stmt).scalars())
    if not seqs:
        return Page(())
    entries = {
        e.seq: e
        for e in ctx.conn.execute(
            select(journal_entries).where(journal_entries.c.seq.in_(seqs[: limit + 1]))
        )
    }
    page, nxt = page_by_seq([entries[s] for s in seqs], limit)
    shown = [e.seq for e in page]
    moves: dict[int, dict[str, int]] = defaultdict(lambda: {AVAILABLE: 0, FROZEN: 0})
    others: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for seq, account_id, amount, code in ctx.conn.execute(
        select(postings.c.entry_seq, postings.c.account_id, postings.c.amount, accounts.c.code)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.entry_seq.in_(shown))
    ):
        if account_id in mine:
            moves[seq][mine[account_id]] += amount
        else:
            others[seq].append((code, amount))
    opening = dict(
        ctx.conn.execute(
            select(postings.c.account_id, func.coalesce(func.sum(postings.c.amount), 0))
            .where(postings.c.account_id.in_(list(mine)), postings.c.entry_seq < shown[0])
            .group_by(postings.c.account_id)
        ).all()
    )
    bal = {AVAILABLE: 0, FROZEN: 0}
    for account_id, total in opening.items():
        bal[mine[account_id]] += int(total)
    describe = _Describer(ctx, party_id, page)
    lines = []
    for e in page:
        move = moves[e.seq]
        bal = {k: bal[k] + move[k] for k in bal}
        lines.append(
            HistoryLine(
                seq=e.seq,
                at=e.created_at,
                kind=e.kind,
                reference=e.reference,
                description=describe(e, move, others[e.seq]),
                available=Money.from_minor(move[AVAILABLE], cur),
                frozen=Money.from_minor(move[FROZEN], cur),
                available_balance=Money.from_minor(bal[AVAILABLE], cur),
                frozen_balance=Money.from_minor(bal[FROZEN], cur),
            )
        )
    return Page(tuple(lines), nxt)


class _Describer:
    """Human descriptions of journal entries, from their kind, reference and memo."""

    def __init__(self, ctx: UnitOfWork, party_id: str, entries: Sequence[Any]) -> None:
        self.party_id = party_id
        refs = [e.reference for e in entries if e.kind.startswith("hold.")]
        self.holds = {
            h.id: h
            for h in ctx.conn.execute(
                select(holds.c.id, holds.c.reason, holds.c.reference).where(holds.c.id.in_(refs))
            )
        }
        # holds released together (one entry, "N holds from ID"): the party's, by release time
        bulk = [e.created_at for e in entries if e.kind.startswith("hold.") and " " in e.reference]
        self.released: dict[datetime, Any] = {}
        if bulk:
            for h in ctx.conn.execute(
                select(holds.c.id, holds.c.reason, holds.c.reference, holds.c.resolved_at)
                .where(holds.c.owner_id == party_id, holds.c.resolved_at.in_(bulk))
                .order_by(holds.c.id)
            ):
                self.released.setdefault(h.resolved_at, h)
        pay_refs = [e.reference for e in entries if e.kind.startswith("loan.")]
        self.payments = {
            p.id: p
            for p in ctx.conn.execute(
                select(payments.c.id, payments.c.loan_id, payments.c.kind).where(
                    payments.c.id.in_(pay_refs)
                )
            )
        }
        listing_refs = [e.reference for e in entries if e.kind == "loan.disburse"]
        self.loans = dict(
            ctx.conn.execute(
                select(loans.c.listing_id, loans.c.id).where(loans.c.listing_id.in_(listing_refs))
            ).all()
        )

    def __call__(self, e: Any, move: dict[str, int], others: list[tuple[str, int]]) -> str:
        kind, ref = e.kind, e.reference
        net = move[AVAILABLE] + move[FROZEN]
        if kind == "deposit":
            return "deposit"
        if kind == "refund":
            return "refund to the party's bank"
        if kind == "hold.freeze":
            h = self.holds.get(ref)
            if h is not None and h.reason == "bid":
                return f"bid hold on listing {h.reference}"
            if h is not None and h.reason == "withdrawal":
                return "withdrawal requested (held)"
            return f"frozen ({h.reference if h is not None else ref})"
        if kind in ("hold.void", "hold.expire"):
            h = self.holds.get(ref) or self.released.get(e.created_at)
            what = "expired" if kind == "hold.expire" else "released"
            if h is not None and h.reason == "bid":
                return f"bid hold {what} (listing {h.reference})"
            if h is not None and h.reason == "withdrawal":
                return "withdrawal failed: hold released"
            return f"hold {what}"
        if kind == "hold.post":
            h = self.holds.get(ref)
            if h is not None and h.reason == "bid":
                return f"bid posted to listing {h.reference}"
            if h is not None and h.reason == "withdrawal":
                return "withdrawal"
            return "hold posted"
        if kind == "loan.disburse":
            loan = self.loans.get(ref)
            return f"disbursement of loan {loan or '?'} (listing {ref})"
        if kind.startswith("loan."):
            p = self.payments.get(ref)
            loan = p.loan_id if p is not None else e.memo
            what = kind.removeprefix("loan.")
            if net > 0:
                payer = min(others, key=lambda o: o[1])[0] if others else ""
                by = ""
                if payer:
                    pkind, owner = payer_named(payer, "")
                    if pkind not in ("party", "loan"):
                        by = f" from {owner if pkind == 'plugin' else f'{pkind} {owner}'}"
                return f"repayment received on loan {loan} ({what}){by}"
            if what == "cover":
                return f"cover paid on loan {loan}"
            return f"{what} paid on loan {loan}"
        if net < 0 and any(split_code(code)[2] == "revenue" for code, _ in others):
            return f"fee ({kind} {ref})"
        return f"{kind} {ref}"
