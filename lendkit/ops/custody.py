"""Custody: deposits, withdrawals, refunds and the gateway's answers, on a unit of work.

Calls to an outside gateway (a bank) never run inside a transaction that may be retried. A
deposit or withdrawal records its movement and an outbox row (id = the movement id, derived from
the idempotency key when there is one) in its transaction; after commit the gateway is asked
once (the facade's ``send``), and its answer is booked in a second unit of work
(:func:`record_answer`). A process killed in between leaves the row for ``custody.flush()``
(:func:`claim_queued`), which sends it again with the same id so the bank can deduplicate it.
The embedded gateway keeps the escrow in the same database (``external = False``): it is asked
inside the transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, Protocol

from sqlalchemy import and_, func, or_, select, update

from lendkit.core.errors import InvalidState, InvalidValue
from lendkit.core.ledger import GATEWAY, AccountRef, Leg
from lendkit.core.money import Money
from lendkit.core.records import Movement
from lendkit.ops.holds import freeze, post_hold, void_hold
from lendkit.ops.parties import require_party
from lendkit.store import ledger as store_ledger
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import external_movements, outbox
from lendkit.uow import UnitOfWork

#: the movement kinds a gateway's answer about a ``deposit`` / ``withdrawal`` settles: a refund is
#: paid out like a withdrawal and is answered the same way
SETTLED_AS: Final = {"deposit": ("deposit",), "withdrawal": ("withdrawal", "refund")}

#: how long a process that claimed an outbox row has to send it before ``flush`` may resend it
SEND_LEASE = timedelta(minutes=1)
#: the answers a gateway may give
GATEWAY_STATES = ("completed", "pending", "failed")


class CustodyGateway(Protocol):
    """How money enters and leaves the platform (a bank or payment company's custody API).

    ``deposit``/``withdraw`` return ``(state, external_ref)`` with state ``completed``,
    ``pending`` or ``failed``. A pending deposit is credited by ``custody.complete_deposit`` (or
    dropped by ``custody.fail_deposit``); a pending withdrawal keeps its hold until
    ``custody.complete_withdrawal`` or ``custody.fail_withdrawal`` is called with the answer.

    ``movement_id`` is the same on every resend of one command (it is derived from the command's
    idempotency key when there is one): the gateway must treat a repeated id as the same request.
    A gateway is called after the command committed, never inside a transaction, unless it sets
    ``external = False`` (its escrow lives in lendkit's own database, like the embedded one).
    """

    name: str

    def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]: ...

    def withdraw(
        self, party_id: str, amount: Money, movement_id: str
    ) -> tuple[str, str | None]: ...


class EmbeddedGateway:
    """The default gateway: the escrow is kept in the same database; movements complete at once."""

    name = "embedded"
    #: the escrow is in lendkit's database: asking it inside a transaction reaches nobody outside
    external = False

    def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        return "completed", movement_id

    def withdraw(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        return "completed", movement_id


#: sends one queued movement to the gateway after commit and books the answer (the facade's)
Send = Callable[[Movement], object]


def is_external(gateway: CustodyGateway) -> bool:
    """True when the gateway reaches the outside world (asked only after commit)."""
    return bool(getattr(gateway, "external", True))


def movement_id_for(command: str, key: str | None) -> str:
    """The id a movement gets: derived from the command's idempotency key, else fresh.

    The gateway receives it as ``movement_id``; a resend of the same command (after a crash, or
    a client retrying with its key) carries the same id, so the bank can deduplicate it.
    """
    if key is None:
        return new_id("mov")
    return "mov_" + hashlib.sha256(f"{command}\n{key}".encode()).hexdigest()[:32]


def movement_record(row: Any, state: str | None = None) -> Movement:
    """Convert a ``lendkit_external_movements`` row (as ``state`` when given)."""
    r = row
    return Movement(
        r.id,
        r.party_id,
        r.kind,
        Money.from_minor(r.amount, r.currency),
        r.state if state is None else state,
        r.external_ref,
    )


def gateway_account(ctx: UnitOfWork, gateway: CustodyGateway) -> AccountRef:
    """The gateway's own account (it may go negative: money the platform owes the bank)."""
    return ctx.account("gateway", gateway.name, GATEWAY, ctx.currency, allow_negative=True)


def call_gateway(gateway: CustodyGateway, movement: Movement) -> tuple[str, str | None]:
    """The gateway's answer to one movement: ``(state, external_ref)`` (``InvalidValue`` if the
    gateway answered something else). Outside any transaction unless the gateway is in-database."""
    ask = gateway.deposit if movement.kind == "deposit" else gateway.withdraw
    answer = ask(movement.party_id, movement.amount, movement.id)
    if (
        not isinstance(answer, tuple)
        or len(answer) != 2
        or answer[0] not in GATEWAY_STATES
        or not (answer[1] is None or isinstance(answer[1], str))
    ):
        raise InvalidValue(
            f"gateway {gateway.name!r} answered {str(answer)[:80]} for {movement.kind}"
            f" {movement.id}: expected (state, external_ref) with state one of"
            f" {', '.join(GATEWAY_STATES)}"
        )
    return answer[0], None if answer[1] is None else answer[1][:200]


def record_movement(
    ctx: UnitOfWork,
    gateway: CustodyGateway,
    movement_id: str,
    party_id: str,
    kind: str,
    money: Money,
    hold_id: str | None = None,
    *,
    state: str = "pending",
    ref: str | None = None,
) -> Movement:
    """Record a movement; a pending one waits for its gateway's answer (:func:`book_answer`)."""
    ctx.conn.execute(
        external_movements.insert().values(
            id=movement_id,
            gateway=gateway.name,
            party_id=party_id,
            kind=kind,
            currency=money.currency,
            amount=money.minor,
            state=state,
            external_ref=ref,
            hold_id=hold_id,
            created_at=ctx.now,
            completed_at=None if state == "pending" else ctx.now,
        )
    )
    return Movement(movement_id, party_id, kind, money, state, ref)


def ask_gateway(
    ctx: UnitOfWork, gateway: CustodyGateway, movement: Movement, send: Send | None
) -> Movement:
    """Ask the gateway about a new movement: now if it is in-database, else after commit.

    For an outside gateway an outbox row (id = the movement id) is written in this unit of work.
    With ``send`` (lendkit owns the transaction) the row is claimed by this process and ``send``
    runs once after commit; without it (a host's transaction) ``flush`` sends it.
    """
    if not is_external(gateway):
        return book_answer(ctx, gateway, movement, *call_gateway(gateway, movement))
    own = send is not None
    ctx.conn.execute(
        outbox.insert().values(
            id=movement.id,
            kind=movement.kind,
            state="pending",
            attempts=1 if own else 0,
            created_at=ctx.now,
            claimed_at=ctx.now if own else None,
        )
    )
    if send is not None:

        def after() -> None:
            send(movement)

        ctx.after_commit(after)
    return movement


def deposit(
    ctx: UnitOfWork,
    gateway: CustodyGateway,
    party_id: str,
    money: Money,
    movement_id: str,
    send: Send | None,
) -> Movement:
    """Book money arriving at the custodian for ``party_id`` (充值) as movement ``movement_id``
    (see :func:`ask_gateway` for ``send``)."""
    require_party(ctx, party_id)
    ctx.hooks.validate_deposit(ctx, party_id, money)
    movement = record_movement(ctx, gateway, movement_id, party_id, "deposit", money)
    return ask_gateway(ctx, gateway, movement, send)


def withdraw(
    ctx: UnitOfWork,
    gateway: CustodyGateway,
    party_id: str,
    money: Money,
    movement_id: str,
    send: Send | None,
) -> Movement:
    """Withdraw (提现) ``money`` of a verified party: hold it for the gateway, then ask the
    gateway (see :func:`ask_gateway` for ``send``)."""
    require_party(ctx, party_id, verified=True, action="withdraw")
    ctx.hooks.validate_withdrawal(ctx, party_id, money)
    return pay_out(ctx, gateway, party_id, money, movement_id, send, "withdrawal")


def refund(
    ctx: UnitOfWork,
    gateway: CustodyGateway,
    party_id: str,
    money: Money,
    movement_id: str,
    send: Send | None,
) -> Movement:
    """Operator refund: pay a party's available ``money`` back out to its own bank.

    It travels like a withdrawal (a hold, then the gateway's answer through the outbox), so an
    outside gateway is really asked to pay it, once; unlike a withdrawal the party need not be
    verified and the withdrawal validators do not run (an operator acts, not the party).
    """
    require_party(ctx, party_id)
    return pay_out(ctx, gateway, party_id, money, movement_id, send, "refund")


def pay_out(
    ctx: UnitOfWork,
    gateway: CustodyGateway,
    party_id: str,
    money: Money,
    movement_id: str,
    send: Send | None,
    kind: str,
) -> Movement:
    """Hold ``money`` of ``party_id`` for the gateway and ask it to pay the ``kind`` out."""
    account = gateway_account(ctx, gateway)
    if not is_external(gateway):
        # the hold and its posting to the gateway are booked together: lock every
        # account of both entries first, in id order, so the ledger head comes last
        store_ledger.lock_accounts(
            ctx.conn,
            [ctx.party_account(party_id).id, ctx.party_frozen(party_id).id, account.id],
        )
    hold = freeze(ctx, party_id, money, account, reference=movement_id, reason=kind)
    movement = record_movement(ctx, gateway, movement_id, party_id, kind, money, hold.id)
    return ask_gateway(ctx, gateway, movement, send)


def record_answer(
    ctx: UnitOfWork, gateway: CustodyGateway, movement_id: str, state: str, ref: str | None
) -> None:
    """Mark the outbox row sent and book the answer, once (a concurrent resend is ignored)."""
    sent = ctx.conn.execute(
        update(outbox)
        .where(outbox.c.id == movement_id, outbox.c.state == "pending")
        .values(state="sent", sent_at=ctx.now)
    ).rowcount
    if sent != 1:
        return
    row = get_row(ctx.conn, external_movements, movement_id, "movement")
    if row.state == "pending":
        book_answer(ctx, gateway, movement_record(row, "pending"), state, ref)


def book_answer(
    ctx: UnitOfWork, gateway: CustodyGateway, movement: Movement, state: str, ref: str | None
) -> Movement:
    """Book a gateway's answer to a pending movement (``pending`` only records its ref)."""
    if state == "pending":
        if ref is not None:
            ctx.conn.execute(
                update(external_movements)
                .where(external_movements.c.id == movement.id)
                .values(external_ref=ref)
            )
        return Movement(movement.id, movement.party_id, movement.kind, movement.amount, state, ref)
    row = get_row(ctx.conn, external_movements, movement.id, "movement")
    return settle_movement(ctx, gateway, row, state, ref)


def settle(
    ctx: UnitOfWork, gateway: CustodyGateway, movement_id: str, kind: str, outcome: str
) -> Movement:
    """The custodian's final answer (``completed``/``failed``) to the pending ``kind`` movement
    ``movement_id``, booked once; refused while its request still waits in the outbox."""
    row = pending_movement(ctx, movement_id, kind)
    queued = ctx.conn.execute(select(outbox.c.state).where(outbox.c.id == movement_id)).scalar()
    if queued == "pending":
        raise InvalidState(
            f"{kind} {movement_id} has not reached the gateway yet: run `lendkit custody"
            " flush` (custody.flush()) first; the gateway's answer settles it"
        )
    return settle_movement(ctx, gateway, row, outcome)


def pending_movement(ctx: UnitOfWork, movement_id: str, kind: str) -> Any:
    """The row of the pending ``kind`` movement ``movement_id`` (``InvalidState`` otherwise)."""
    row = get_row(ctx.conn, external_movements, movement_id, "movement")
    if row.kind not in SETTLED_AS[kind] or row.state != "pending":
        raise InvalidState(
            f"movement {movement_id} is a {row.state} {row.kind}, not a pending {kind}"
        )
    return row


def settle_movement(
    ctx: UnitOfWork, gateway: CustodyGateway, row: Any, outcome: str, ref: str | None = None
) -> Movement:
    """Flip a pending movement to ``completed``/``failed`` once, then move the money.

    The flip is a guarded update, so two answers racing each other book one outcome.
    """
    values: dict[str, object] = {"state": outcome, "completed_at": ctx.now}
    if ref is not None:
        values["external_ref"] = ref
    flipped = ctx.conn.execute(
        update(external_movements)
        .where(external_movements.c.id == row.id, external_movements.c.state == "pending")
        .values(values)
    ).rowcount
    if flipped != 1:
        raise InvalidState(f"movement {row.id} was settled by another call; it settles once")
    money = Money.from_minor(row.amount, row.currency)
    if row.kind == "deposit":
        if outcome == "completed":
            ctx.post(
                "deposit",
                row.id,
                [
                    Leg(gateway_account(ctx, gateway), -money.minor),
                    Leg(ctx.party_account(row.party_id), money.minor),
                ],
            )
            ctx.hooks.deposit_completed(ctx, row.party_id, money, row.id)
    elif outcome == "completed":
        post_hold(ctx, row.hold_id)
        if row.kind == "withdrawal":
            ctx.hooks.withdrawal_completed(ctx, row.party_id, money, row.id)
    else:
        void_hold(ctx, row.hold_id)
    return Movement(
        row.id,
        row.party_id,
        row.kind,
        money,
        outcome,
        ref if ref is not None else row.external_ref,
    )


def load_movement(ctx: UnitOfWork, movement_id: str) -> Movement:
    """The movement ``movement_id`` as it is now (``NotFound`` if none)."""
    return movement_record(get_row(ctx.conn, external_movements, movement_id, "movement"))


def claim_queued(ctx: UnitOfWork, gateway: CustodyGateway, limit: int) -> list[Movement]:
    """Claim up to ``limit`` queued requests of ``gateway`` nobody is sending (never claimed, or
    claimed more than ``SEND_LEASE`` ago), oldest first, for this process to send."""
    due = and_(
        outbox.c.state == "pending",
        or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at <= ctx.now - SEND_LEASE),
    )
    rows = ctx.conn.execute(
        select(external_movements)
        .join(outbox, outbox.c.id == external_movements.c.id)
        .where(due, external_movements.c.gateway == gateway.name)
        .order_by(outbox.c.created_at, outbox.c.id)
        .limit(limit)
    ).all()
    mine = []
    for r in rows:
        taken = ctx.conn.execute(
            update(outbox)
            .where(outbox.c.id == r.id, due)
            .values(claimed_at=ctx.now, attempts=outbox.c.attempts + 1)
        ).rowcount
        if taken == 1:
            mine.append(movement_record(r))
    return mine


def queued_elsewhere(ctx: UnitOfWork, gateway: CustodyGateway) -> int:
    """How many queued requests were recorded through a gateway of another name."""
    return int(
        ctx.conn.execute(
            select(func.count())
            .select_from(outbox.join(external_movements, outbox.c.id == external_movements.c.id))
            .where(outbox.c.state == "pending", external_movements.c.gateway != gateway.name)
        ).scalar_one()
    )
