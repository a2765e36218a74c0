"""Holds and balances: freeze, post, void, release and expire custody holds.

A hold freezes part of a party's available balance for exactly one destination recorded at freeze
time (and hashed into the entry that froze it, so ``verify`` catches an edited hold). It resolves
once: posted (fully or partly to that destination, the rest back), voided, or expired. Every
operation that moves custody money (bids, auctions, withdrawals, disbursement) uses these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update

from lendkit.core.errors import Forbidden, HoldResolved, InvalidAmount, InvalidState, LimitExceeded
from lendkit.core.ledger import AccountRef, Leg, hold_routing
from lendkit.core.money import Money
from lendkit.core.records import Balance, HoldRecord
from lendkit.ops.parties import require_party
from lendkit.store import ledger as store_ledger
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import accounts, holds
from lendkit.uow import UnitOfWork

HOLD_OPEN, HOLD_POSTED, HOLD_VOIDED, HOLD_EXPIRED = "open", "posted", "voided", "expired"
#: the reason recorded on holds the platform operator made (the only ones ``unfreeze`` releases)
OPERATOR_REASON = "operator"
_INSERT_HOLD = holds.insert()


def hold_record(row: Any, destination_code: str | None = None) -> HoldRecord:
    """Convert a ``lendkit_holds`` row (``destination`` is the account's code when given)."""
    r = row
    return HoldRecord(
        id=r.id,
        owner_id=r.owner_id,
        amount=Money.from_minor(r.amount, r.currency),
        destination=destination_code or str(r.destination_account_id),
        reference=r.reference,
        state=r.state,
        posted_amount=Money.from_minor(r.posted_amount, r.currency),
        expires_at=r.expires_at,
    )


def freeze(
    ctx: UnitOfWork,
    party_id: str,
    amount: Money,
    destination: AccountRef,
    *,
    reference: str,
    reason: str,
    expires_at: datetime | None = None,
    hold_id: str | None = None,
) -> HoldRecord:
    """Move ``amount`` from available to frozen for ``destination``; refused if not available.

    The journal entry is written last, so the ledger head is locked as briefly as possible.
    """
    if not amount.is_positive():
        raise InvalidAmount(f"hold amount {amount} must be more than zero")
    if destination.currency != amount.currency:
        raise InvalidAmount(
            f"hold of {amount} cannot go to {destination.code} ({destination.currency})"
        )
    available = ctx.party_account(party_id, amount.currency)
    frozen_acct = ctx.party_frozen(party_id, amount.currency)
    hold_id = hold_id or new_id("hld")
    ctx.conn.execute(
        _INSERT_HOLD,  # values as parameters: compiled once per process
        {
            "id": hold_id,
            "owner_id": party_id,
            "currency": amount.currency,
            "amount": amount.minor,
            "source_account_id": available.id,
            "frozen_account_id": frozen_acct.id,
            "destination_account_id": destination.id,
            "reference": reference,
            "reason": reason,
            "state": HOLD_OPEN,
            "posted_amount": 0,
            "created_at": ctx.now,
            "expires_at": expires_at,
        },
    )
    routing = hold_routing(
        party_id, amount.currency, amount.minor, available.id, frozen_acct.id, destination.id
    )
    ctx.post_many(
        [
            store_ledger.NewEntry(
                "hold.freeze",
                hold_id,
                [Leg(available, -amount.minor), Leg(frozen_acct, amount.minor)],
                detail=routing,
            )
        ]
    )
    return HoldRecord(
        id=hold_id,
        owner_id=party_id,
        amount=amount,
        destination=destination.code,
        reference=reference,
        state=HOLD_OPEN,
        posted_amount=Money.zero(amount.currency),
        expires_at=expires_at,
    )


def _resolve(ctx: UnitOfWork, hold_id: str, state: str, posted: int | None) -> Any:
    """Flip an open hold to ``state`` exactly once (guarded update); returns the row before."""
    row = get_row(ctx.conn, holds, hold_id, "hold")
    values: dict[str, object] = {"state": state, "resolved_at": ctx.now}
    if posted is not None:
        if posted > row.amount:
            raise LimitExceeded(
                f"cannot post {Money.from_minor(posted, row.currency)} from hold {hold_id}:"
                f" it holds {Money.from_minor(row.amount, row.currency)}"
            )
        values["posted_amount"] = posted
    result = ctx.conn.execute(
        update(holds).where(and_(holds.c.id == hold_id, holds.c.state == HOLD_OPEN)).values(values)
    )
    if result.rowcount != 1:
        current = ctx.conn.execute(select(holds.c.state).where(holds.c.id == hold_id)).scalar()
        raise HoldResolved(f"hold {hold_id} is already {current}; a hold resolves exactly once")
    return row


def post_hold(
    ctx: UnitOfWork,
    hold_id: str,
    amount: Money | None = None,
    destination: AccountRef | None = None,
) -> HoldRecord:
    """Post ``amount`` (default all) of a hold to its recorded destination; the rest goes back.

    Naming a destination other than the one recorded at freeze time is refused.
    """
    row = get_row(ctx.conn, holds, hold_id, "hold")
    if destination is not None and destination.id != row.destination_account_id:
        raise InvalidState(
            f"hold {hold_id} may only be posted to the destination recorded when it was frozen,"
            f" not to {destination.code}"
        )
    posted = row.amount if amount is None else amount.minor
    if posted < 0:
        raise InvalidAmount(f"cannot post a negative amount from hold {hold_id}")
    _resolve(ctx, hold_id, HOLD_POSTED, posted)
    dest = store_ledger.account_by_id(ctx.conn, row.destination_account_id)
    src = store_ledger.account_by_id(ctx.conn, row.source_account_id)
    frozen_acct = store_ledger.account_by_id(ctx.conn, row.frozen_account_id)
    legs = [Leg(frozen_acct, -row.amount), Leg(dest, posted), Leg(src, row.amount - posted)]
    ctx.post("hold.post", hold_id, legs)
    return HoldRecord(
        id=hold_id,
        owner_id=row.owner_id,
        amount=Money.from_minor(row.amount, row.currency),
        destination=dest.code,
        reference=row.reference,
        state=HOLD_POSTED,
        posted_amount=Money.from_minor(posted, row.currency),
        expires_at=row.expires_at,
    )


def void_hold(ctx: UnitOfWork, hold_id: str, *, state: str = HOLD_VOIDED) -> HoldRecord:
    """Return a hold's whole amount to its owner (``voided`` or ``expired``)."""
    row = _resolve(ctx, hold_id, state, None)
    src = store_ledger.account_by_id(ctx.conn, row.source_account_id)
    frozen_acct = store_ledger.account_by_id(ctx.conn, row.frozen_account_id)
    amount = row.amount
    ctx.post(
        f"hold.{'void' if state == HOLD_VOIDED else 'expire'}",
        hold_id,
        [Leg(frozen_acct, -amount), Leg(src, amount)],
    )
    return hold_record(row)


def release_holds(
    ctx: UnitOfWork, hold_ids: Sequence[str], *, state: str = HOLD_VOIDED
) -> list[str]:
    """Return many holds to their owners in one journal entry (sweeps, failed listings).

    Each hold flips from open by one guarded statement that reports the rows it changed
    (``UPDATE ... WHERE state = 'open' RETURNING id``), so a hold a concurrent sweeper already
    released is skipped, never released twice. Returns the ids released here.
    """
    released: list[str] = []
    legs: list[Leg] = []
    refs: dict[int, AccountRef] = {}
    for start in range(0, len(hold_ids), 900):
        chunk = list(hold_ids[start : start + 900])
        rows = ctx.conn.execute(
            update(holds)
            .where(holds.c.id.in_(chunk), holds.c.state == HOLD_OPEN)
            .values(state=state, resolved_at=ctx.now)
            .returning(
                holds.c.id, holds.c.amount, holds.c.source_account_id, holds.c.frozen_account_id
            )
        ).all()
        for r in rows:
            for aid in (r.source_account_id, r.frozen_account_id):
                if aid not in refs:
                    refs[aid] = store_ledger.account_by_id(ctx.conn, aid)
            legs.append(Leg(refs[r.frozen_account_id], -r.amount))
            legs.append(Leg(refs[r.source_account_id], r.amount))
            released.append(r.id)
    if released:
        kind = "hold.void" if state == HOLD_VOIDED else "hold.expire"
        ctx.post(kind, f"{len(released)} holds from {min(released)}", legs)
    return released


def expire_holds(ctx: UnitOfWork, now: datetime | None = None, limit: int | None = None) -> int:
    """Release (as ``expired``) the open holds whose ``expires_at`` is at or before ``now``
    (default: the unit of work's clock), at most ``limit`` of them (oldest id first); returns how
    many this unit of work released (a hold a concurrent sweeper took is skipped)."""
    cutoff = now or ctx.now
    stmt = (
        select(holds.c.id)
        .where(holds.c.state == HOLD_OPEN, holds.c.expires_at <= cutoff)
        .order_by(holds.c.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    ids = ctx.conn.execute(stmt).scalars().all()
    return len(release_holds(ctx, ids, state=HOLD_EXPIRED))


def balance_of(ctx: UnitOfWork, party_id: str, currency: str) -> Balance:
    """A party's available and frozen balances in ``currency`` (zero for accounts not opened)."""
    codes = [f"party:{party_id}:available:{currency}", f"party:{party_id}:frozen:{currency}"]
    ctx.flush()  # with what this unit of work booked
    found = dict(
        ctx.conn.execute(
            select(accounts.c.code, accounts.c.balance).where(accounts.c.code.in_(codes))
        ).all()
    )
    return Balance(
        party_id=party_id,
        available=Money.from_minor(int(found.get(codes[0], 0)), currency),
        frozen=Money.from_minor(int(found.get(codes[1], 0)), currency),
    )


def balance(ctx: UnitOfWork, party_id: str) -> Balance:
    """The balances of the party ``party_id`` (``NotFound`` if none) in the platform currency."""
    require_party(ctx, party_id)
    return balance_of(ctx, party_id, ctx.currency)


def load_hold(ctx: UnitOfWork, hold_id: str) -> HoldRecord:
    """The hold ``hold_id`` as it is now, naming its destination account's code."""
    row = get_row(ctx.conn, holds, hold_id, "hold")
    return hold_record(row, store_ledger.account_by_id(ctx.conn, row.destination_account_id).code)


def operator_freeze(ctx: UnitOfWork, party_id: str, amount: Money, reason: str) -> HoldRecord:
    """The operator freezes ``amount`` of the party's available money; only ``unfreeze``
    returns it (the hold's destination is the party's own available account)."""
    require_party(ctx, party_id)
    return freeze(
        ctx,
        party_id,
        amount,
        ctx.party_account(party_id),
        reference=f"operator:{reason}",
        reason=OPERATOR_REASON,
    )


def unfreeze(ctx: UnitOfWork, hold_id: str) -> HoldRecord:
    """Void a hold the operator made (``Forbidden`` for any other hold)."""
    row = get_row(ctx.conn, holds, hold_id, "hold")
    if row.reason != OPERATOR_REASON:
        raise Forbidden(
            f"hold {hold_id} is a {row.reason} hold (reference {row.reference}), not one"
            " the operator made: unfreeze releases only holds made by operator_freeze"
            " (a bid's hold is released by its listing, a withdrawal's by"
            " complete_withdrawal / fail_withdrawal)"
        )
    return void_hold(ctx, hold_id)
