"""Disbursement: a funded listing becomes a loan (schedule checked, escrow posted, fees, proceeds)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from lendkit.core import states as S
from lendkit.core.errors import (
    InvalidSchedule,
    InvalidState,
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
    split_code,
)
from lendkit.core.money import Money
from lendkit.core.open_ended import OPEN_ENDED
from lendkit.core.records import (
    Installment,
    ListingRecord,
    LoanRecord,
)
from lendkit.core.schedule import (
    METHODS,
    Schedule,
    build_schedule,
    validate_schedule,
)
from lendkit.ops import holds, open_ended
from lendkit.ops.records import listing_record
from lendkit.store import ledger as store_ledger
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import (
    agreements,
    bids,
    installments,
    listings,
    loans,
    parties,
    positions,
)
from lendkit.uow import UnitOfWork

if TYPE_CHECKING:
    pass
from lendkit.ops.loans import load_loan, product_basis, round_rate


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


def disburse(ctx: UnitOfWork, listing_id: str, reviewer: str | None) -> LoanRecord:
    row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
    S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.DISBURSED)
    cur = row.currency
    principal = Money.from_minor(row.amount, cur)
    record = listing_record(row)
    rate = Decimal(row.annual_rate)
    schedule = new_schedule(ctx, row, record, principal, rate)
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
    fee = round_rate(row.amount, ctx.platform_config.service_fee_rate)
    legs = [Leg(listing_acct, -row.amount)]
    taken = 0
    if fee:
        legs.append(Leg(ctx.system("revenue", REVENUE), fee))
        taken += fee
    service_fee = Money.from_minor(fee, cur)
    for d in ctx.hooks.disbursement_deductions(ctx, record, principal, service_fee):
        legs.append(
            Leg(store_ledger.find_account(ctx.conn, ctx.accounts, d.account), d.amount.minor)
        )
        taken += d.amount.minor
    if taken > row.amount:
        raise InvalidState(
            f"disbursement deductions {Money.from_minor(taken, cur)} exceed {principal}"
        )
    proceeds_to = proceeds_account(ctx, ctx.hooks.disbursement_account(ctx, record), record)
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
    ctx.conn.execute(update(listings).where(listings.c.id == listing_id).values(state=S.DISBURSED))
    loan = load_loan(ctx, loan_id)
    ctx.hooks.loan_disbursed(ctx, loan)
    return loan


def new_schedule(
    ctx: UnitOfWork, row: Any, record: ListingRecord, principal: Money, rate: Decimal
) -> Schedule:
    """The new loan's schedule: a plugin's (``lendkit_build_schedule``) or the listing's
    standard method; either way validated before any money moves (``InvalidSchedule``)."""
    product = ctx.products.get(row.product)
    allowed = product.allowed_methods if product is not None else METHODS
    if row.method == OPEN_ENDED:
        open_ended.terms_of(ctx, record)  # the product declares the terms
        return open_ended.empty_schedule(record, ctx.today)
    schedule = ctx.hooks.build_schedule(ctx, record, ctx.today)
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
