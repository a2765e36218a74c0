"""The secondary market (debt transfer, 债权转让): offer, buy, cancel and expire transfers.

A holder offers outstanding principal of a loan (:func:`offer`); buyers buy it first come, first
served, trimmed to what remains (:func:`buy`). Each purchase settles at once, in its own
transaction: the buyer's custody hold of price plus accrued interest (destination: the seller's
available balance) is frozen and posted, the seller pays the fee to platform revenue, and the
seller's positions are split exactly (:mod:`lendkit.core.transfer`). A transfer resolves once,
by a guarded update, to ``filled``, ``cancelled`` or ``expired`` (close of business sweeps
expired ones): the principal it locked is then free to offer again.

Never oversold: a purchase locks the loan's row (``SELECT ... FOR UPDATE`` on PostgreSQL, the
immediate write lock on SQLite), then the transfer's, and its update is guarded again by
``sold + fill <= principal``; the seller's positions are taken down by guarded updates too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from lendkit.core import states as S
from lendkit.core.errors import (
    CurrencyMismatch,
    Forbidden,
    InvalidState,
    LimitExceeded,
)
from lendkit.core.inputs import check_choice
from lendkit.core.ledger import AVAILABLE, PARTY_OWNER, REVENUE, Leg
from lendkit.core.money import Money
from lendkit.core.open_ended import OPEN_ENDED
from lendkit.core.records import Disclosure, Receipt, TransferAgreement, TransferRecord
from lendkit.core.transfer import (
    TRANSFER_STATES,
    accrued_interest,
    check_price,
    check_units,
    eligibility_problems,
    fill_of,
    fill_price,
    holding_problem,
    split_weight,
    take_from,
    transfer_fee,
)
from lendkit.ops.holds import freeze, post_hold
from lendkit.ops.loans import (
    holding_of,
    installment_rows,
    last_due_date,
    load_loan,
    loan_basis,
    lock_open,
)
from lendkit.ops.parties import require_party
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import agreements, journal_entries, positions, transfer_fills, transfers
from lendkit.uow import UnitOfWork

OPEN, FILLED, EXPIRED, CANCELLED = TRANSFER_STATES
#: the reason recorded on a buyer's hold
HOLD_REASON = "transfer"


def transfer_record(row: Any) -> TransferRecord:
    """Convert a ``lendkit_transfers`` row."""
    cur = row.currency
    return TransferRecord(
        id=row.id,
        loan_id=row.loan_id,
        seller_id=row.seller_id,
        principal=Money.from_minor(row.principal, cur),
        price=Money.from_minor(row.price, cur),
        sold=Money.from_minor(row.sold, cur),
        state=row.state,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def agreement_record(row: Any, currency: str) -> TransferAgreement:
    """Convert a ``lendkit_transfer_fills`` row."""
    return TransferAgreement(
        id=row.id,
        transfer_id=row.transfer_id,
        loan_id=row.loan_id,
        seller_id=row.seller_id,
        buyer_id=row.buyer_id,
        principal=Money.from_minor(row.principal, currency),
        price=Money.from_minor(row.price, currency),
        accrued_interest=Money.from_minor(row.accrued_interest, currency),
        fee=Money.from_minor(row.fee, currency),
        settled_on=row.settled_on,
        hold_id=row.hold_id,
    )


# -- rules on rows ---------------------------------------------------------------------------------


def loan_problems(ctx: UnitOfWork, loan: Any) -> list[str]:
    """Why ``loan`` (its row) cannot change hands today: its state, an installment past due
    (current-only), the days before a due date, an open-ended loan, a product that is not
    transferable. Empty: it can."""
    cfg = ctx.platform_config
    allowed = (S.ACTIVE,) if cfg.transfer_current_only else (S.ACTIVE, S.OVERDUE)
    unpaid = installment_rows(ctx, loan.id, unpaid=True)
    problems = eligibility_problems(
        loan_id=loan.id,
        loan_state=loan.state,
        allowed_states=allowed,
        overdue_since=min((r.due_date for r in unpaid if r.due_date < ctx.today), default=None),
        today=ctx.today,
        next_due=min((r.due_date for r in unpaid if r.due_date >= ctx.today), default=None),
        blackout_days=cfg.transfer_blackout_days,
    )
    if loan.method == OPEN_ENDED:
        problems.append(f"loan {loan.id} is open-ended: its claim is not transferable")
    product = ctx.products.get(loan.product)
    if product is not None and not product.transferable:
        problems.append(
            f"loan {loan.id} is a {loan.product} loan: that product is not transferable"
        )
    return problems


def _refuse_if(problems: Sequence[str], what: str) -> None:
    if problems:
        raise InvalidState(f"{what} refused: " + "; ".join(problems))


def _acquired(row: Any, loan: Any) -> date:
    return row.acquired_on or loan.start_date  # type: ignore[no-any-return]


def _held_rows(ctx: UnitOfWork, loan: Any, holder_id: str, *, lock: bool = False) -> list[Any]:
    """``holder_id``'s positions in ``loan`` with principal outstanding, in position order."""
    stmt = (
        select(positions)
        .where(positions.c.loan_id == loan.id, positions.c.holder_id == holder_id)
        .order_by(positions.c.seq)
    )
    if lock and ctx.conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(key_share=True)  # FOR NO KEY UPDATE (see store.rows)
    return [r for r in ctx.conn.execute(stmt).all() if holding_of(r).outstanding > 0]


def _listed(ctx: UnitOfWork, loan_id: str, seller_id: str, exclude: str | None = None) -> int:
    """Principal ``seller_id`` has on offer in ``loan_id`` (open, unexpired transfers)."""
    t = transfers.c
    stmt = select(func.coalesce(func.sum(t.principal - t.sold), 0)).where(
        t.loan_id == loan_id, t.seller_id == seller_id, t.state == OPEN, t.expires_at > ctx.now
    )
    if exclude is not None:
        stmt = stmt.where(t.id != exclude)
    return int(ctx.conn.execute(stmt).scalar_one())


# -- commands ----------------------------------------------------------------------------------------


def offer(
    ctx: UnitOfWork, loan_id: str, seller_id: str, principal: Money, price: Money | None
) -> TransferRecord:
    """``seller_id`` offers ``principal`` of its outstanding principal in ``loan_id`` for
    ``price`` (None: par), open for ``transfer_expiry_days``.

    Refused, changing nothing: a loan that is not current (``InvalidState``), within
    ``transfer_blackout_days`` of a due date, open-ended or of a product that is not
    transferable; positions held fewer than ``transfer_min_holding_days``; a principal that is
    not a multiple of ``transfer_unit`` (unless it is all that is free), or more than the
    seller holds outstanding less what it already has on offer (``LimitExceeded``); a price
    outside ``transfer_price_min``..``transfer_price_max`` times the principal; a plugin's
    ``lendkit_validate_transfer`` violation.
    """
    cfg = ctx.platform_config
    loan = lock_open(ctx, loan_id)
    require_party(ctx, seller_id)
    for amount in (principal, price):
        if amount is not None and amount.currency != loan.currency:
            raise CurrencyMismatch(f"{amount} is not in loan {loan_id}'s currency {loan.currency}")
    _refuse_if(loan_problems(ctx, loan), f"transfer of loan {loan_id}")
    rows = _held_rows(ctx, loan, seller_id)
    if not rows:
        raise Forbidden(f"party {seller_id} holds no outstanding principal in loan {loan_id}")
    held_since = ctx.today - timedelta(days=cfg.transfer_min_holding_days)
    eligible = [r for r in rows if _acquired(r, loan) <= held_since]
    if not eligible:
        first = min(_acquired(r, loan) for r in rows)
        raise InvalidState(
            f"transfer of loan {loan_id} refused: party {seller_id}'s position is "
            + str(holding_problem(first, ctx.today, cfg.transfer_min_holding_days))
        )
    free = sum(holding_of(r).outstanding for r in eligible) - _listed(ctx, loan_id, seller_id)
    cur = loan.currency
    unit = Money.of(cfg.transfer_unit, cur)
    check_units(principal, unit, Money.from_minor(max(0, free), cur), "transfer principal")
    price = principal if price is None else price
    check_price(principal, price, cfg.transfer_price_min, cfg.transfer_price_max)
    row = {
        "id": new_id("trf"),
        "loan_id": loan_id,
        "seller_id": seller_id,
        "currency": cur,
        "principal": principal.minor,
        "price": price.minor,
        "sold": 0,
        "price_paid": 0,
        "held_since": held_since,
        "state": OPEN,
        "created_at": ctx.now,
        "expires_at": ctx.now + timedelta(days=cfg.transfer_expiry_days),
        "closed_at": None,
    }
    record = TransferRecord(
        row["id"],
        loan_id,
        seller_id,
        principal,
        price,
        Money.zero(cur),
        OPEN,
        ctx.now,
        row["expires_at"],
    )
    ctx.hooks.validate_transfer(ctx, record, load_loan(ctx, loan_id), None, principal)
    ctx.conn.execute(transfers.insert().values(**row))
    return record


def buy(ctx: UnitOfWork, transfer_id: str, buyer_id: str, principal: Money) -> TransferAgreement:
    """``buyer_id`` buys ``principal`` of transfer ``transfer_id`` (trimmed to what remains) and
    the purchase settles at once.

    The buyer pays the fill's share of the price plus the interest accrued on the principal
    bought since the last due date (on the loan's day-count basis, at each sold position's
    rate) to the seller, through a custody hold frozen and posted in this transaction; the
    seller pays ``transfer_fee_rate`` of the price to platform revenue. The seller's positions
    give up the principal oldest first, each split exactly (:func:`split_weight`); the buyer
    gets one new position per position it bought from, acquired today. Refused, changing
    nothing: a transfer that is not open or has expired, the seller or the borrower buying, an
    unverified buyer, a loan no longer eligible, a principal that is not a multiple of the
    unit and less than what remains, nothing left, the buyer's funds short
    (``InsufficientFunds``), a plugin's violation.
    """
    cfg = ctx.platform_config
    first = get_row(ctx.conn, transfers, transfer_id, "transfer")
    loan = lock_open(ctx, first.loan_id)
    t = get_row(ctx.conn, transfers, transfer_id, "transfer", lock=True)
    cur = loan.currency
    if t.state != OPEN:
        raise InvalidState(f"transfer {transfer_id} is {t.state}; only open transfers are bought")
    if ctx.now >= t.expires_at:
        raise InvalidState(f"transfer {transfer_id} expired at {t.expires_at:%Y-%m-%d %H:%M}")
    if buyer_id == t.seller_id:
        raise Forbidden(f"party {buyer_id} cannot buy its own transfer {transfer_id}")
    if buyer_id == loan.borrower_id:
        raise Forbidden(f"party {buyer_id} is loan {loan.id}'s borrower: it cannot buy its claims")
    if principal.currency != cur:
        raise CurrencyMismatch(f"purchase {principal} is not in the transfer's currency {cur}")
    require_party(ctx, buyer_id, verified=True, action="buy a transfer")
    _refuse_if(loan_problems(ctx, loan), f"purchase of transfer {transfer_id}")
    rows = [
        r
        for r in _held_rows(ctx, loan, t.seller_id, lock=True)
        if _acquired(r, loan) <= t.held_since
    ]
    held = sum(holding_of(r).outstanding for r in rows) - _listed(ctx, loan.id, t.seller_id, t.id)
    remaining = max(0, min(t.principal - t.sold, held))
    fill = fill_of(principal, Money.from_minor(remaining, cur), Money.of(cfg.transfer_unit, cur))
    units = fill.minor
    price = fill_price(t.price - t.price_paid, t.principal - t.sold, units)
    takes = take_from([holding_of(r).outstanding for r in rows], units)
    since = last_due_date(ctx, loan)
    basis = loan_basis(loan)
    accrued = sum(
        accrued_interest(take, Decimal(r.annual_rate), since, ctx.today, basis)
        for r, take in zip(rows, takes, strict=True)
        if take
    )
    fee = transfer_fee(price, cfg.transfer_fee_rate)
    ctx.hooks.validate_transfer(ctx, transfer_record(t), load_loan(ctx, loan.id), buyer_id, fill)
    # filled: the whole offer is sold, or the seller holds nothing more to sell into it (a
    # prepayment or repayment while it was open reduced what it holds)
    filled = units == remaining
    done = ctx.conn.execute(
        update(transfers)
        .where(
            transfers.c.id == transfer_id,
            transfers.c.state == OPEN,
            transfers.c.sold + units <= transfers.c.principal,
        )
        .values(
            sold=transfers.c.sold + units,
            price_paid=transfers.c.price_paid + price,
            state=FILLED if filled else OPEN,
            closed_at=ctx.now if filled else None,
        )
    )
    if done.rowcount != 1:
        raise LimitExceeded(f"transfer {transfer_id} no longer has {fill} left")
    fill_id = new_id("tfa")
    new_positions = _split_positions(ctx, loan, rows, takes, buyer_id, fill_id, t.id)
    seller_account = ctx.party_account(t.seller_id, cur)
    # the buyer's authorised movement: a hold whose only destination is the seller, posted now
    hold = freeze(
        ctx,
        buyer_id,
        Money.from_minor(price + accrued, cur),
        seller_account,
        reference=transfer_id,
        reason=HOLD_REASON,
        expires_at=t.expires_at,
    )
    post_hold(ctx, hold.id)
    if fee:
        ctx.post(
            "transfer.fee",
            fill_id,
            [Leg(seller_account, -fee), Leg(ctx.system("revenue", REVENUE), fee)],
        )
    ctx.conn.execute(
        transfer_fills.insert().values(
            id=fill_id,
            transfer_id=transfer_id,
            loan_id=loan.id,
            seller_id=t.seller_id,
            buyer_id=buyer_id,
            principal=units,
            price=price,
            accrued_interest=accrued,
            fee=fee,
            hold_id=hold.id,
            settled_on=ctx.today,
            created_at=ctx.now,
        )
    )
    agreement = TransferAgreement(
        fill_id,
        transfer_id,
        loan.id,
        t.seller_id,
        buyer_id,
        fill,
        Money.from_minor(price, cur),
        Money.from_minor(accrued, cur),
        Money.from_minor(fee, cur),
        ctx.today,
        hold.id,
    )
    terms = {
        "kind": "transfer",
        "agreement": fill_id,
        "transfer": transfer_id,
        "loan": loan.id,
        "borrower": loan.borrower_id,
        "seller": t.seller_id,
        "buyer": buyer_id,
        "principal": fill.format(),
        "price": agreement.price.format(),
        "accrued_interest": agreement.accrued_interest.format(),
        "fee": agreement.fee.format(),
        "currency": cur,
        "date": ctx.today.isoformat(),
    }
    ctx.conn.execute(
        agreements.insert(),
        [
            {
                "id": new_id("agr"),
                "loan_id": loan.id,
                "position_id": pid,
                "investor_id": buyer_id,
                "borrower_id": loan.borrower_id,
                "terms": json.dumps({**terms, "position": pid}, sort_keys=True),
                "created_at": ctx.now,
            }
            for pid in new_positions
        ],
    )
    after = get_row(ctx.conn, transfers, transfer_id, "transfer")
    ctx.hooks.transfer_settled(ctx, transfer_record(after), agreement, load_loan(ctx, loan.id))
    return agreement


def _split_positions(
    ctx: UnitOfWork,
    loan: Any,
    rows: Sequence[Any],
    takes: Sequence[int],
    buyer_id: str,
    fill_id: str,
    transfer_id: str,
) -> list[str]:
    """Move ``takes`` of each seller position in ``rows`` to new positions of ``buyer_id``;
    returns the new positions' ids."""
    seq = int(
        ctx.conn.execute(
            select(func.coalesce(func.max(positions.c.seq), 0)).where(
                positions.c.loan_id == loan.id
            )
        ).scalar_one()
    )
    created: list[str] = []
    for r, take in zip(rows, takes, strict=True):
        if not take:
            continue
        h = holding_of(r)
        kept, sold_weight = split_weight(h.face, h.outstanding, take)
        p = positions.c
        done = ctx.conn.execute(
            update(positions)
            .where(
                p.id == r.id,
                p.principal - p.received_principal - p.sold_principal >= take,
            )
            .values(weight=kept, sold_principal=p.sold_principal + take)
        )
        if done.rowcount != 1:  # a payment moved it under us: the retry reads again
            raise LimitExceeded(f"position {r.id} no longer holds {take} (minor units) outstanding")
        seq += 1
        pid = new_id("pos")
        ctx.conn.execute(
            positions.insert().values(
                id=pid,
                loan_id=loan.id,
                investor_id=buyer_id,
                bid_id=fill_id,
                seq=seq,
                principal=take,
                annual_rate=r.annual_rate,
                received_principal=0,
                received_interest=0,
                received_penalty=0,
                fees_paid=0,
                holder_id=buyer_id,
                weight=sold_weight,
                sold_principal=0,
                transfer_id=transfer_id,
                acquired_on=ctx.today,
            )
        )
        created.append(pid)
    return created


def cancel(ctx: UnitOfWork, transfer_id: str) -> TransferRecord:
    """Withdraw an open transfer: what it did not sell is free again (``InvalidState`` if it is
    not open; what was bought stays bought)."""
    row = get_row(ctx.conn, transfers, transfer_id, "transfer")
    done = ctx.conn.execute(
        update(transfers)
        .where(transfers.c.id == transfer_id, transfers.c.state == OPEN)
        .values(state=CANCELLED, closed_at=ctx.now)
    )
    if done.rowcount != 1:
        current = get_row(ctx.conn, transfers, transfer_id, "transfer").state
        raise InvalidState(
            f"transfer {transfer_id} is {current}; only an open transfer is cancelled"
        )
    return transfer_record(get_row(ctx.conn, transfers, row.id, "transfer"))


def expire_transfers(ctx: UnitOfWork, now: datetime | None = None, limit: int = 500) -> int:
    """Expire up to ``limit`` open transfers whose ``expires_at`` is at or before ``now``
    (default: the unit of work's clock): each flips once by a guarded update, so a concurrent
    sweeper never expires one twice. Returns how many this unit of work expired."""
    cutoff = now or ctx.now
    ids = (
        ctx.conn.execute(
            select(transfers.c.id)
            .where(transfers.c.state == OPEN, transfers.c.expires_at <= cutoff)
            .order_by(transfers.c.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    done = ctx.conn.execute(
        update(transfers)
        .where(transfers.c.id.in_(ids), transfers.c.state == OPEN)
        .values(state=EXPIRED, closed_at=ctx.now)
    )
    return int(done.rowcount)


# -- reading ---------------------------------------------------------------------------------------


def get_transfer(ctx: UnitOfWork, transfer_id: str) -> TransferRecord:
    """The transfer ``transfer_id`` (``NotFound`` if none)."""
    return transfer_record(get_row(ctx.conn, transfers, transfer_id, "transfer"))


def find_transfers(
    ctx: UnitOfWork,
    *,
    loan_id: str | None = None,
    seller_id: str | None = None,
    state: str | None = None,
) -> list[TransferRecord]:
    """Transfers of ``loan_id``, by ``seller_id``, in ``state`` (each optional), oldest first.
    Open transfers past their expiry are shown as they are stored until close of business
    expires them (no purchase is taken after ``expires_at``)."""
    stmt = select(transfers)
    if loan_id is not None:
        stmt = stmt.where(transfers.c.loan_id == loan_id)
    if seller_id is not None:
        stmt = stmt.where(transfers.c.seller_id == seller_id)
    if state is not None:
        stmt = stmt.where(
            transfers.c.state == check_choice(state, "transfer state", TRANSFER_STATES)
        )
    rows = ctx.conn.execute(stmt.order_by(transfers.c.created_at, transfers.c.id)).all()
    return [transfer_record(r) for r in rows]


def find_agreements(
    ctx: UnitOfWork,
    *,
    transfer_id: str | None = None,
    loan_id: str | None = None,
    investor_id: str | None = None,
) -> list[TransferAgreement]:
    """Transfer agreements (settled purchases) of ``transfer_id``, on ``loan_id``, with
    ``investor_id`` as seller or buyer (each optional), oldest first."""
    f = transfer_fills.c
    stmt = select(transfer_fills, transfers.c.currency).join(
        transfers, transfers.c.id == f.transfer_id
    )
    if transfer_id is not None:
        stmt = stmt.where(f.transfer_id == transfer_id)
    if loan_id is not None:
        stmt = stmt.where(f.loan_id == loan_id)
    if investor_id is not None:
        stmt = stmt.where((f.seller_id == investor_id) | (f.buyer_id == investor_id))
    rows = ctx.conn.execute(stmt.order_by(f.created_at, f.id)).all()
    return [agreement_record(r, r.currency) for r in rows]


def transfer_receipts(
    ctx: UnitOfWork, loan_id: str, investor_id: str, currency: str
) -> list[tuple[int, Receipt]]:
    """``investor_id``'s transfers of ``loan_id`` as lines of its position history, each with
    the journal entry that settled it (for ordering): a sale is what the seller received net of
    the fee (the buyer paid it), a purchase is a negative amount, what the buyer paid."""
    out: list[tuple[int, Receipt]] = []
    for a in find_agreements(ctx, loan_id=loan_id, investor_id=investor_id):
        seq = int(
            ctx.conn.execute(
                select(func.coalesce(func.max(journal_entries.c.seq), 0)).where(
                    journal_entries.c.reference == a.hold_id
                )
            ).scalar_one()
        )
        sold = a.seller_id == investor_id
        out.append(
            (
                seq,
                Receipt(
                    payment_id=a.id,
                    loan_id=loan_id,
                    investor_id=investor_id,
                    paid_on=a.settled_on,
                    kind="transfer-sale" if sold else "transfer-purchase",
                    amount=a.seller_received if sold else -a.buyer_paid,
                    payer_kind="party",
                    payer_id=a.buyer_id,
                    payer_account=f"{PARTY_OWNER}:{a.buyer_id}:{AVAILABLE}:{currency}",
                ),
            )
        )
    return out


def disclosures(ctx: UnitOfWork) -> list[Disclosure]:
    """The secondary market's figures: principal sold, its average discount to par (negative:
    a premium), and the share of positions that sold principal."""
    cur = ctx.currency
    sold, paid = ctx.conn.execute(
        select(
            func.coalesce(func.sum(transfer_fills.c.principal), 0),
            func.coalesce(func.sum(transfer_fills.c.price), 0),
        )
    ).one()
    total = int(ctx.conn.execute(select(func.count()).select_from(positions)).scalar_one())
    selling = int(
        ctx.conn.execute(
            select(func.count()).select_from(positions).where(positions.c.sold_principal > 0)
        ).scalar_one()
    )
    discount = (Decimal(1) - Decimal(int(paid)) / Decimal(int(sold))) * 100 if sold else Decimal(0)
    share = Decimal(selling * 100) / Decimal(total) if total else Decimal(0)
    cent = Decimal("0.01")
    return [
        Disclosure(
            "platform", "transfer volume (principal sold)", str(Money.from_minor(int(sold), cur))
        ),
        Disclosure(
            "platform",
            "average transfer discount (1 - price / principal sold)",
            f"{discount.quantize(cent)}%",
        ),
        Disclosure(
            "platform",
            "positions transferred (positions that sold principal / all positions)",
            f"{share.quantize(cent)}%",
        ),
    ]


def require_transfer_state(state: str | None) -> str | None:
    """``state`` if it names a transfer state (``InvalidValue`` otherwise), or None."""
    return None if state is None else check_choice(state, "transfer state", TRANSFER_STATES)


__all__ = [
    "CANCELLED",
    "EXPIRED",
    "FILLED",
    "OPEN",
    "agreement_record",
    "buy",
    "cancel",
    "disclosures",
    "expire_transfers",
    "find_agreements",
    "find_transfers",
    "get_transfer",
    "loan_problems",
    "offer",
    "transfer_receipts",
    "transfer_record",
]
