"""Custody: available and frozen balances, holds, deposits, withdrawals, reconciliation.

A hold freezes part of a party's available balance for exactly one destination recorded at freeze
time (and hashed into the entry that froze it, so ``verify`` catches an edited hold). It resolves
once: posted (fully or partly to that destination, the rest back), voided, or expired. The
platform operator can freeze, unfreeze and refund, and nothing else: there is no API that moves a
user's money to an arbitrary account, and unfreeze releases only holds the operator made.

Calls to an outside gateway (a bank) never run inside a transaction that may be retried. A
deposit or withdrawal records its movement and an outbox row (id = the movement id, derived from
the idempotency key when there is one) in its transaction; after commit the gateway is asked
once, and its answer is booked in a second unit of work. A process killed in between leaves the
row for ``custody.flush()`` (run by ``Platform.open``, ``lendkit custody flush``), which sends it
again with the same id so the bank can deduplicate it. The embedded gateway keeps the escrow in
the same database (``external = False``): it is asked inside the transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from attrs import frozen
from sqlalchemy import and_, func, or_, select, update

from lendkit.core.errors import (
    Forbidden,
    HoldResolved,
    InvalidAmount,
    InvalidState,
    InvalidValue,
    LimitExceeded,
)
from lendkit.core.ledger import GATEWAY, AccountRef, Leg, hold_routing
from lendkit.core.money import Money
from lendkit.core.records import Balance, HoldRecord, Movement
from lendkit.services.common import (
    check_date,
    check_id,
    check_text,
    get_row,
    new_id,
    parse_amount,
)
from lendkit.services.parties import require_party
from lendkit.store import ledger as store_ledger
from lendkit.store.tables import accounts, external_movements, holds, outbox
from lendkit.uow import OwnRunner, UnitOfWork, check_key

log = logging.getLogger("lendkit.custody")

#: how long a process that claimed an outbox row has to send it before ``flush`` may resend it
SEND_LEASE = timedelta(minutes=1)
#: the answers a gateway may give
GATEWAY_STATES = ("completed", "pending", "failed")

if TYPE_CHECKING:
    from lendkit.platform import Platform


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


@frozen
class StatementLine:
    """One movement on the custodian's statement."""

    external_ref: str
    party_id: str
    kind: str  # deposit | withdrawal | refund
    amount: Money


@frozen
class Difference:
    """A mismatch between the statement and the books."""

    external_ref: str
    #: missing_in_books | missing_in_statement | amount_mismatch | party_mismatch |
    #: pending_in_books (the custodian completed it; complete_deposit/withdrawal books it)
    problem: str
    books: Money | None
    statement: Money | None


@frozen
class FlushResult:
    """What ``custody.flush()`` did: requests sent (answers booked), failures, rows left alone.

    ``failed`` names each movement whose request raised (it stays queued for the next flush);
    ``other_gateway`` counts queued rows recorded through a gateway of another name.
    """

    sent: int
    failed: tuple[str, ...] = ()
    other_gateway: int = 0


@frozen
class Reconciliation:
    """Result of reconciling one day: ``ok`` when there is no difference."""

    day: date
    matched: int
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        return not self.differences


#: the longest operator freeze reason (its hold reference is ``operator:<reason>``)
MAX_FREEZE_REASON = 100

HOLD_OPEN, HOLD_POSTED, HOLD_VOIDED, HOLD_EXPIRED = "open", "posted", "voided", "expired"


def hold_record(row: Any, destination_code: str | None = None) -> HoldRecord:
    r = row  # a Row of lendkit_holds
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


# -- the operations, on a UnitOfWork (used by every service that moves custody money) -------------------


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
        holds.insert().values(
            id=hold_id,
            owner_id=party_id,
            currency=amount.currency,
            amount=amount.minor,
            source_account_id=available.id,
            frozen_account_id=frozen_acct.id,
            destination_account_id=destination.id,
            reference=reference,
            reason=reason,
            state=HOLD_OPEN,
            posted_amount=0,
            created_at=ctx.now,
            expires_at=expires_at,
        )
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


def balance_of(ctx: UnitOfWork, party_id: str, currency: str) -> Balance:
    codes = [f"party:{party_id}:available:{currency}", f"party:{party_id}:frozen:{currency}"]
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


class CustodyService:
    """Deposits, withdrawals, balances, holds and reconciliation (``platform.custody``)."""

    def __init__(self, platform: Platform, gateway: CustodyGateway | None = None) -> None:
        self._p = platform
        self.gateway: CustodyGateway = gateway or EmbeddedGateway()
        #: what ``recover()`` (run by ``Platform.open``) sent, if it ran
        self.recovered: FlushResult | None = None

    @property
    def _currency(self) -> str:
        return self._p.config.currency

    @property
    def _external(self) -> bool:
        """True when the gateway reaches the outside world (asked only after commit)."""
        return bool(getattr(self.gateway, "external", True))

    def _gateway_account(self, ctx: UnitOfWork) -> AccountRef:
        return ctx.account(
            "gateway", self.gateway.name, GATEWAY, self._currency, allow_negative=True
        )

    # -- user-initiated ---------------------------------------------------------------------------

    def deposit(self, party_id: str, amount: object, key: str | None = None) -> Movement:
        """Book money arriving at the custodian for ``party_id`` (充值). Idempotent on ``key``.

        With an outside gateway the request is sent once after commit (see the module doc); the
        movement returned is ``completed`` (credited), ``pending`` (``complete_deposit`` or
        ``fail_deposit`` books the custodian's answer later) or ``failed``.
        """
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, "deposit amount")
        key = check_key(key)
        movement_id = movement_id_for("custody.deposit", key)

        def run(tx: UnitOfWork) -> Movement:
            ctx = tx
            require_party(ctx, party_id)
            self._p.hooks.validate_deposit(ctx, party_id, money)
            movement = self._movement(ctx, movement_id, party_id, "deposit", money)
            return self._ask(ctx, movement)

        return self._run_and_send("custody.deposit", run, key, [party_id, money.format()])

    def withdraw(self, party_id: str, amount: object, key: str | None = None) -> Movement:
        """Withdraw (提现): hold the funds, then complete (or stay pending with an outside gateway).

        The request reaches an outside gateway once, after commit, with the same movement id on
        every resend (derived from ``key``); the hold stays until the gateway's answer is booked.
        """
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, "withdrawal amount")
        key = check_key(key)
        movement_id = movement_id_for("custody.withdraw", key)

        def run(tx: UnitOfWork) -> Movement:
            ctx = tx
            require_party(ctx, party_id, verified=True, action="withdraw")
            self._p.hooks.validate_withdrawal(ctx, party_id, money)
            gateway = self._gateway_account(ctx)
            if not self._external:
                # the hold and its posting to the gateway are booked together: lock every
                # account of both entries first, in id order, so the ledger head comes last
                store_ledger.lock_accounts(
                    ctx.conn,
                    [ctx.party_account(party_id).id, ctx.party_frozen(party_id).id, gateway.id],
                )
            hold = freeze(ctx, party_id, money, gateway, reference=movement_id, reason="withdrawal")
            movement = self._movement(ctx, movement_id, party_id, "withdrawal", money, hold.id)
            return self._ask(ctx, movement)

        return self._run_and_send("custody.withdraw", run, key, [party_id, money.format()])

    def complete_deposit(self, movement_id: str, key: str | None = None) -> Movement:
        """The custodian received a pending deposit: credit the party's available balance."""
        return self._settle_command("custody.complete_deposit", movement_id, "deposit", key)

    def fail_deposit(self, movement_id: str, key: str | None = None) -> Movement:
        """The custodian did not receive a pending deposit: it is marked failed, nothing moves."""
        return self._settle_command("custody.fail_deposit", movement_id, "deposit", key)

    def complete_withdrawal(self, movement_id: str, key: str | None = None) -> Movement:
        """The gateway paid a pending withdrawal out: post its hold to the gateway."""
        return self._settle_command("custody.complete_withdrawal", movement_id, "withdrawal", key)

    def fail_withdrawal(self, movement_id: str, key: str | None = None) -> Movement:
        """The gateway could not pay a pending withdrawal: the hold goes back to available."""
        return self._settle_command("custody.fail_withdrawal", movement_id, "withdrawal", key)

    def recover(self) -> FlushResult | None:
        """Send what a previous process left queued (``Platform.open`` calls this at start).

        Only an outside gateway queues requests; with the embedded one this does nothing. The
        result is kept as ``recovered``.
        """
        self.recovered = self.flush() if self._external else None
        return self.recovered

    def flush(self, limit: int = 500) -> FlushResult:
        """Send every queued gateway request nobody is sending, and book each answer.

        A request is queued by a deposit or withdrawal through an outside gateway and normally
        sent right after its commit; one left behind (process killed after commit, gateway
        unreachable, a command made inside the host's transaction) is sent here with the same
        movement id, so the bank can deduplicate it. A request claimed by another process is
        left to it for ``SEND_LEASE``. ``Platform.open`` and ``lendkit custody flush`` call this.
        """
        if not isinstance(self._p.runner, OwnRunner):
            raise InvalidState(
                "custody.flush calls the gateway, which must not happen inside your transaction:"
                " call it on the Platform itself after you commit"
            )
        name = self.gateway.name

        def claim(tx: UnitOfWork) -> list[Movement]:
            ctx = tx
            due = and_(
                outbox.c.state == "pending",
                or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at <= ctx.now - SEND_LEASE),
            )
            rows = ctx.conn.execute(
                select(external_movements)
                .join(outbox, outbox.c.id == external_movements.c.id)
                .where(due, external_movements.c.gateway == name)
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
                    mine.append(_movement_of(r, r.state))
            return mine

        sent, failed = 0, []
        while True:
            batch = self._p.runner.run("custody.flush", claim)
            for movement in batch:
                if self._send(movement):
                    sent += 1
                else:
                    failed.append(movement.id)
            if len(batch) < limit:
                break

        def others(tx: UnitOfWork) -> int:
            return int(
                tx.conn.execute(
                    select(func.count())
                    .select_from(
                        outbox.join(external_movements, outbox.c.id == external_movements.c.id)
                    )
                    .where(outbox.c.state == "pending", external_movements.c.gateway != name)
                ).scalar_one()
            )

        return FlushResult(sent, tuple(failed), self._p.runner.run("custody.flush", others))

    def balance(self, party_id: str) -> Balance:
        """A party's available and frozen balances."""
        party_id = check_id(party_id, "party")

        def run(tx: UnitOfWork) -> Balance:
            ctx = tx
            require_party(ctx, party_id)
            return balance_of(ctx, party_id, self._currency)

        return self._p.runner.run("custody.balance", run)

    def hold(self, hold_id: str) -> HoldRecord:
        """One hold by id."""
        hold_id = check_id(hold_id, "hold")

        def run(tx: UnitOfWork) -> HoldRecord:
            ctx = tx
            row = get_row(ctx.conn, holds, hold_id, "hold")
            return hold_record(
                row, store_ledger.account_by_id(ctx.conn, row.destination_account_id).code
            )

        return self._p.runner.run("custody.hold", run)

    # -- operator capabilities: freeze, unfreeze, refund ------------------------------------------

    def operator_freeze(
        self, party_id: str, amount: object, reason: str, key: str | None = None
    ) -> HoldRecord:
        """Freeze part of a party's available funds (e.g. a court order); only unfreeze returns it.

        The hold's destination is the party's own available account, so it can never move the
        money anywhere else.
        """
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, "freeze amount")
        reason = check_text(reason, "freeze reason", MAX_FREEZE_REASON)

        def run(tx: UnitOfWork) -> HoldRecord:
            ctx = tx
            require_party(ctx, party_id)
            return freeze(
                ctx,
                party_id,
                money,
                ctx.party_account(party_id),
                reference=f"operator:{reason}",
                reason=OPERATOR_REASON,
            )

        return self._p.runner.run(
            "custody.operator_freeze",
            run,
            key=key,
            payload=[party_id, money.format(), reason],
            result_type=HoldRecord,
        )

    def unfreeze(self, hold_id: str, key: str | None = None) -> HoldRecord:
        """Void a hold the operator made: its whole amount returns to the owner's available balance.

        Only holds made by ``operator_freeze`` may be unfrozen; a bid's hold is released by its
        listing and a withdrawal's by the gateway's answer, so they are refused (``Forbidden``).
        """
        hold_id = check_id(hold_id, "hold")

        def run(tx: UnitOfWork) -> HoldRecord:
            ctx = tx
            row = get_row(ctx.conn, holds, hold_id, "hold")
            if row.reason != OPERATOR_REASON:
                raise Forbidden(
                    f"hold {hold_id} is a {row.reason} hold (reference {row.reference}), not one"
                    " the operator made: unfreeze releases only holds made by operator_freeze"
                    " (a bid's hold is released by its listing, a withdrawal's by"
                    " complete_withdrawal / fail_withdrawal)"
                )
            return void_hold(ctx, hold_id)

        return self._p.runner.run(
            "custody.unfreeze", run, key=key, payload=[hold_id], result_type=HoldRecord
        )

    def refund(self, party_id: str, amount: object, key: str | None = None) -> Movement:
        """Operator refund: pay a party's available money back out to that party's own bank.

        Only available money can be refunded: money frozen by a hold (a bid, a withdrawal, an
        operator freeze) is out of its reach (``InsufficientFunds``).
        """
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, "refund amount")

        def run(tx: UnitOfWork) -> Movement:
            ctx = tx
            require_party(ctx, party_id)
            movement_id = new_id("mov")
            ctx.post(
                "refund",
                movement_id,
                [
                    Leg(ctx.party_account(party_id), -money.minor),
                    Leg(self._gateway_account(ctx), money.minor),
                ],
            )
            return self._movement(
                ctx, movement_id, party_id, "refund", money, state="completed", ref=movement_id
            )

        return self._p.runner.run(
            "custody.refund", run, key=key, payload=[party_id, money.format()], result_type=Movement
        )

    def expire_holds(self, now: datetime | None = None, limit: int = 1000) -> int:
        """Release every open hold whose ``expires_at`` has passed; returns how many.

        Each hold is flipped by a guarded update, so concurrent sweepers never release one twice.
        """
        total = 0
        while True:

            def run(tx: UnitOfWork) -> int:
                ctx = tx
                cutoff = now or ctx.now
                ids = (
                    ctx.conn.execute(
                        select(holds.c.id)
                        .where(holds.c.state == HOLD_OPEN, holds.c.expires_at <= cutoff)
                        .order_by(holds.c.id)
                        .limit(limit)
                    )
                    .scalars()
                    .all()
                )
                done = len(release_holds(ctx, ids, state=HOLD_EXPIRED))
                return done if ids else -1

            done = self._p.runner.run("custody.expire_holds", run)
            if done < 0:
                return total
            total += done
            if done == 0:
                return total

    # -- reconciliation ---------------------------------------------------------------------------

    def reconcile(self, statement: Iterable[StatementLine], day: date) -> Reconciliation:
        """Compare the custodian's statement for ``day`` with the completed movements booked that day.

        A statement line for a movement the books still hold as pending (a deposit or withdrawal
        whose answer was never booked) is a ``pending_in_books`` difference: book it with
        ``complete_deposit`` / ``complete_withdrawal``.
        """
        day = check_date(day, "reconciliation day")
        lines = list(statement)

        def run(tx: UnitOfWork) -> Reconciliation:
            ctx = tx
            start = datetime.combine(day, datetime.min.time(), tzinfo=ctx.now.tzinfo)
            rows = ctx.conn.execute(
                select(external_movements).where(
                    external_movements.c.state == "completed",
                    external_movements.c.completed_at >= start,
                    external_movements.c.completed_at < start + timedelta(days=1),
                )
            ).all()
            books = {r.external_ref or r.id: r for r in rows}
            refs = sorted({line.external_ref for line in lines} - set(books))
            pending: dict[str, Any] = {}
            for start_at in range(0, len(refs), 400):
                chunk = refs[start_at : start_at + 400]
                for r in ctx.conn.execute(
                    select(external_movements).where(
                        external_movements.c.state == "pending",
                        or_(
                            external_movements.c.external_ref.in_(chunk),
                            external_movements.c.id.in_(chunk),
                        ),
                    )
                ):
                    pending[r.external_ref if r.external_ref in chunk else r.id] = r
            diffs: list[Difference] = []
            matched = 0
            seen: set[str] = set()
            for line in lines:
                seen.add(line.external_ref)
                row = books.get(line.external_ref)
                if row is None:
                    waiting = pending.get(line.external_ref)
                    diffs.append(
                        Difference(line.external_ref, "missing_in_books", None, line.amount)
                        if waiting is None
                        else Difference(
                            line.external_ref,
                            "pending_in_books",
                            Money.from_minor(waiting.amount, waiting.currency),
                            line.amount,
                        )
                    )
                    continue
                booked = Money.from_minor(row.amount, row.currency)
                if booked != line.amount or row.kind != line.kind:
                    diffs.append(
                        Difference(line.external_ref, "amount_mismatch", booked, line.amount)
                    )
                elif row.party_id != line.party_id:
                    diffs.append(
                        Difference(line.external_ref, "party_mismatch", booked, line.amount)
                    )
                else:
                    matched += 1
            for ref, row in sorted(books.items()):
                if ref not in seen:
                    diffs.append(
                        Difference(
                            ref,
                            "missing_in_statement",
                            Money.from_minor(row.amount, row.currency),
                            None,
                        )
                    )
            return Reconciliation(day, matched, tuple(diffs))

        return self._p.runner.run("custody.reconcile", run)

    def statement(self, day: date) -> list[StatementLine]:
        """The embedded gateway's statement for ``day``: the completed movements it carried."""
        day = check_date(day, "statement day")

        def run(tx: UnitOfWork) -> list[StatementLine]:
            ctx = tx
            start = datetime.combine(day, datetime.min.time(), tzinfo=ctx.now.tzinfo)
            rows = ctx.conn.execute(
                select(external_movements)
                .where(
                    external_movements.c.state == "completed",
                    external_movements.c.completed_at >= start,
                    external_movements.c.completed_at < start + timedelta(days=1),
                )
                .order_by(external_movements.c.completed_at)
            ).all()
            return [
                StatementLine(
                    r.external_ref or r.id,
                    r.party_id,
                    r.kind,
                    Money.from_minor(r.amount, r.currency),
                )
                for r in rows
            ]

        return self._p.runner.run("custody.statement", run)

    # -- internals --------------------------------------------------------------------------------

    def _movement(
        self,
        ctx: UnitOfWork,
        movement_id: str,
        party_id: str,
        kind: str,
        money: Money,
        hold_id: str | None = None,
        *,
        state: str = "pending",
        ref: str | None = None,
    ) -> Movement:
        """Record a movement; a pending one waits for its gateway's answer (``_answer``)."""
        ctx.conn.execute(
            external_movements.insert().values(
                id=movement_id,
                gateway=self.gateway.name,
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

    def _ask(self, ctx: UnitOfWork, movement: Movement) -> Movement:
        """Ask the gateway about a new movement: now if it is in-database, else after commit.

        For an outside gateway an outbox row (id = the movement id) is written in this
        transaction; when lendkit owns the transaction the row is claimed by this process and
        sent once after commit, otherwise ``flush`` sends it.
        """
        if not self._external:
            return self._answer(ctx, movement, *self._call(movement))
        own = isinstance(self._p.runner, OwnRunner)
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
        if own:

            def send() -> None:
                self._send(movement)

            ctx.after_commit(send)
        return movement

    def _call(self, movement: Movement) -> tuple[str, str | None]:
        """The gateway's answer to one movement: ``(state, external_ref)``."""
        ask = self.gateway.deposit if movement.kind == "deposit" else self.gateway.withdraw
        answer = ask(movement.party_id, movement.amount, movement.id)
        if (
            not isinstance(answer, tuple)
            or len(answer) != 2
            or answer[0] not in GATEWAY_STATES
            or not (answer[1] is None or isinstance(answer[1], str))
        ):
            raise InvalidValue(
                f"gateway {self.gateway.name!r} answered {str(answer)[:80]} for {movement.kind}"
                f" {movement.id}: expected (state, external_ref) with state one of"
                f" {', '.join(GATEWAY_STATES)}"
            )
        return answer[0], None if answer[1] is None else answer[1][:200]

    def _send(self, movement: Movement) -> bool:
        """Send one claimed outbox request and book the answer; False (logged) if that failed.

        Never raises: it runs after a commit, where an error must not make the runner run the
        command again. A request that failed stays queued and is resent, with the same id, by
        ``flush`` once its claim has lapsed.
        """
        try:
            state, ref = self._call(movement)
        except Exception:
            log.exception("custody gateway request %s failed; it stays queued", movement.id)
            return False
        try:
            self._p.runner.run(
                "custody.gateway_answer",
                lambda tx: self._record_answer(tx, movement.id, state, ref),
            )
        except Exception:
            log.exception("booking the gateway's answer to %s failed; it stays queued", movement.id)
            return False
        return True

    def _record_answer(
        self, ctx: UnitOfWork, movement_id: str, state: str, ref: str | None
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
            self._answer(ctx, _movement_of(row, "pending"), state, ref)

    def _answer(self, ctx: UnitOfWork, movement: Movement, state: str, ref: str | None) -> Movement:
        """Book a gateway's answer to a pending movement (``pending`` only records its ref)."""
        if state == "pending":
            if ref is not None:
                ctx.conn.execute(
                    update(external_movements)
                    .where(external_movements.c.id == movement.id)
                    .values(external_ref=ref)
                )
            return Movement(
                movement.id, movement.party_id, movement.kind, movement.amount, state, ref
            )
        row = get_row(ctx.conn, external_movements, movement.id, "movement")
        return self._settle(ctx, row, state, ref)

    def _settle_command(
        self, command: str, movement_id: str, kind: str, key: str | None
    ) -> Movement:
        """complete_/fail_ deposit or withdrawal: the custodian's final answer, booked once."""
        movement_id = check_id(movement_id, "movement")
        outcome = "completed" if command.split(".")[1].startswith("complete") else "failed"

        def run(tx: UnitOfWork) -> Movement:
            ctx = tx
            row = self._pending(ctx, movement_id, kind)
            queued = ctx.conn.execute(
                select(outbox.c.state).where(outbox.c.id == movement_id)
            ).scalar()
            if queued == "pending":
                raise InvalidState(
                    f"{kind} {movement_id} has not reached the gateway yet: run `lendkit custody"
                    " flush` (custody.flush()) first; the gateway's answer settles it"
                )
            return self._settle(ctx, row, outcome)

        return self._p.runner.run(
            command, run, key=key, payload=[movement_id], result_type=Movement
        )

    def _pending(self, ctx: UnitOfWork, movement_id: str, kind: str) -> Any:
        row = get_row(ctx.conn, external_movements, movement_id, "movement")
        if row.kind != kind or row.state != "pending":
            raise InvalidState(
                f"movement {movement_id} is a {row.state} {row.kind}, not a pending {kind}"
            )
        return row

    def _settle(self, ctx: UnitOfWork, row: Any, outcome: str, ref: str | None = None) -> Movement:
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
                        Leg(self._gateway_account(ctx), -money.minor),
                        Leg(ctx.party_account(row.party_id), money.minor),
                    ],
                )
                self._p.hooks.deposit_completed(ctx, row.party_id, money, row.id)
        elif outcome == "completed":
            post_hold(ctx, row.hold_id)
            self._p.hooks.withdrawal_completed(ctx, row.party_id, money, row.id)
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

    def _run_and_send(
        self,
        command: str,
        run: Callable[[UnitOfWork], Movement],
        key: str | None,
        payload: list[str],
    ) -> Movement:
        """Run a deposit/withdrawal; with an outside gateway, return its state after sending."""
        movement = self._p.runner.run(command, run, key=key, payload=payload, result_type=Movement)
        if movement.state != "pending" or not self._external:
            return movement
        if not isinstance(self._p.runner, OwnRunner):
            return movement  # sent by flush once the host has committed

        def current(tx: UnitOfWork) -> Movement:
            row = get_row(tx.conn, external_movements, movement.id, "movement")
            return _movement_of(row, row.state)

        return self._p.runner.run(f"{command}.state", current)


def movement_id_for(command: str, key: str | None) -> str:
    """The id a movement gets: derived from the command's idempotency key, else fresh.

    The gateway receives it as ``movement_id``; a resend of the same command (after a crash, or
    a client retrying with its key) carries the same id, so the bank can deduplicate it.
    """
    if key is None:
        return new_id("mov")
    return "mov_" + hashlib.sha256(f"{command}\n{key}".encode()).hexdigest()[:32]


OPERATOR_REASON = "operator"


def _movement_of(row: Any, state: str) -> Movement:
    r = row
    return Movement(
        r.id,
        r.party_id,
        r.kind,
        Money.from_minor(r.amount, r.currency),
        state,
        r.external_ref,
    )


__all__ = [
    "CustodyGateway",
    "CustodyService",
    "Difference",
    "EmbeddedGateway",
    "FlushResult",
    "Reconciliation",
    "StatementLine",
    "freeze",
    "movement_id_for",
    "post_hold",
    "void_hold",
]
