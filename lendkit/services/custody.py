"""Custody: available and frozen balances, holds, deposits, withdrawals, reconciliation.

A hold freezes part of a party's available balance for exactly one destination recorded at freeze
time. It resolves once: posted (fully or partly to that destination, the rest back), voided, or
expired. The platform operator can freeze, unfreeze and refund, and nothing else: there is no API
that moves a user's money to an arbitrary account.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from attrs import frozen
from sqlalchemy import and_, select, update

from lendkit.core.errors import HoldResolved, InvalidAmount, InvalidState, LimitExceeded
from lendkit.core.ledger import GATEWAY, AccountRef, Leg
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
from lendkit.services.context import Ctx
from lendkit.services.uow import Tx
from lendkit.store import ledger as store_ledger
from lendkit.store.tables import accounts, external_movements, holds

if TYPE_CHECKING:
    from lendkit.platform import Platform


class CustodyGateway(Protocol):
    """How money enters and leaves the platform (a bank or payment company's custody API).

    ``deposit``/``withdraw`` return ``(state, external_ref)`` with state ``completed`` or
    ``pending``; a pending withdrawal keeps its hold until ``custody.complete_withdrawal`` or
    ``custody.fail_withdrawal`` is called with the gateway's answer.
    """

    name: str

    def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]: ...

    def withdraw(
        self, party_id: str, amount: Money, movement_id: str
    ) -> tuple[str, str | None]: ...


class EmbeddedGateway:
    """The default gateway: the escrow is kept in the same database; movements complete at once."""

    name = "embedded"

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
    problem: str  # missing_in_books | missing_in_statement | amount_mismatch | party_mismatch
    books: Money | None
    statement: Money | None


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


# -- the operations, on a Ctx (used by every service that moves custody money) -------------------


def freeze(
    ctx: Ctx,
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
    ctx.post(
        "hold.freeze",
        hold_id,
        [Leg(available, -amount.minor), Leg(frozen_acct, amount.minor)],
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


def _resolve(ctx: Ctx, hold_id: str, state: str, posted: int | None) -> Any:
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
    ctx: Ctx, hold_id: str, amount: Money | None = None, destination: AccountRef | None = None
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


def void_hold(ctx: Ctx, hold_id: str, *, state: str = HOLD_VOIDED) -> HoldRecord:
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


def release_holds(ctx: Ctx, hold_ids: Sequence[str], *, state: str = HOLD_VOIDED) -> list[str]:
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


def balance_of(ctx: Ctx, party_id: str, currency: str) -> Balance:
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

    @property
    def _currency(self) -> str:
        return self._p.config.currency

    def _gateway_account(self, ctx: Ctx) -> AccountRef:
        return ctx.account(
            "gateway", self.gateway.name, GATEWAY, self._currency, allow_negative=True
        )

    # -- user-initiated ---------------------------------------------------------------------------

    def deposit(self, party_id: str, amount: object, key: str | None = None) -> Movement:
        """Book money arriving at the custodian for ``party_id`` (充值). Idempotent on ``key``."""
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, "deposit amount")

        def run(tx: Tx) -> Movement:
            ctx = Ctx(tx)
            self._p.parties._require(ctx, party_id)
            self._p.hooks.validate_deposit(ctx, party_id, money)
            movement_id = new_id("mov")
            state, ref = self.gateway.deposit(party_id, money, movement_id)
            self._movement(ctx, movement_id, party_id, "deposit", money, state, ref)
            if state == "completed":
                ctx.post(
                    "deposit",
                    movement_id,
                    [
                        Leg(self._gateway_account(ctx), -money.minor),
                        Leg(ctx.party_account(party_id), money.minor),
                    ],
                )
                self._p.hooks.deposit_completed(ctx, party_id, money, movement_id)
            return Movement(movement_id, party_id, "deposit", money, state, ref)

        return self._p.runner.run(
            "custody.deposit",
            run,
            key=key,
            payload=[party_id, money.format()],
            result_type=Movement,
        )

    def withdraw(self, party_id: str, amount: object, key: str | None = None) -> Movement:
        """Withdraw (提现): hold the funds, then complete (or stay pending with an outside gateway)."""
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, "withdrawal amount")

        def run(tx: Tx) -> Movement:
            ctx = Ctx(tx)
            self._p.parties._require(ctx, party_id, verified=True, action="withdraw")
            self._p.hooks.validate_withdrawal(ctx, party_id, money)
            movement_id = new_id("mov")
            hold = freeze(
                ctx,
                party_id,
                money,
                self._gateway_account(ctx),
                reference=movement_id,
                reason="withdrawal",
            )
            state, ref = self.gateway.withdraw(party_id, money, movement_id)
            self._movement(ctx, movement_id, party_id, "withdrawal", money, "pending", ref, hold.id)
            if state == "completed":
                self._complete(ctx, movement_id)
            return Movement(movement_id, party_id, "withdrawal", money, state, ref)

        return self._p.runner.run(
            "custody.withdraw",
            run,
            key=key,
            payload=[party_id, money.format()],
            result_type=Movement,
        )

    def complete_withdrawal(self, movement_id: str, key: str | None = None) -> Movement:
        """The gateway paid a pending withdrawal out: post its hold to the gateway."""
        movement_id = check_id(movement_id, "movement")

        def run(tx: Tx) -> Movement:
            return self._complete(Ctx(tx), movement_id)

        return self._p.runner.run(
            "custody.complete_withdrawal", run, key=key, payload=[movement_id], result_type=Movement
        )

    def fail_withdrawal(self, movement_id: str, key: str | None = None) -> Movement:
        """The gateway could not pay a pending withdrawal: the hold goes back to available."""
        movement_id = check_id(movement_id, "movement")

        def run(tx: Tx) -> Movement:
            ctx = Ctx(tx)
            row = self._pending_withdrawal(ctx, movement_id)
            void_hold(ctx, row.hold_id)
            ctx.conn.execute(
                update(external_movements)
                .where(external_movements.c.id == movement_id)
                .values(state="failed", completed_at=ctx.now)
            )
            return _movement_of(row, "failed")

        return self._p.runner.run(
            "custody.fail_withdrawal", run, key=key, payload=[movement_id], result_type=Movement
        )

    def balance(self, party_id: str) -> Balance:
        """A party's available and frozen balances."""
        party_id = check_id(party_id, "party")

        def run(tx: Tx) -> Balance:
            ctx = Ctx(tx)
            self._p.parties._require(ctx, party_id)
            return balance_of(ctx, party_id, self._currency)

        return self._p.runner.run("custody.balance", run)

    def hold(self, hold_id: str) -> HoldRecord:
        """One hold by id."""
        hold_id = check_id(hold_id, "hold")

        def run(tx: Tx) -> HoldRecord:
            ctx = Ctx(tx)
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

        def run(tx: Tx) -> HoldRecord:
            ctx = Ctx(tx)
            self._p.parties._require(ctx, party_id)
            return freeze(
                ctx,
                party_id,
                money,
                ctx.party_account(party_id),
                reference=f"operator:{reason}",
                reason="operator",
            )

        return self._p.runner.run(
            "custody.operator_freeze",
            run,
            key=key,
            payload=[party_id, money.format(), reason],
            result_type=HoldRecord,
        )

    def unfreeze(self, hold_id: str, key: str | None = None) -> HoldRecord:
        """Void a hold: its whole amount returns to its owner's available balance."""
        hold_id = check_id(hold_id, "hold")

        def run(tx: Tx) -> HoldRecord:
            return void_hold(Ctx(tx), hold_id)

        return self._p.runner.run(
            "custody.unfreeze", run, key=key, payload=[hold_id], result_type=HoldRecord
        )

    def refund(self, party_id: str, amount: object, key: str | None = None) -> Movement:
        """Operator refund: pay a party's available money back out to that party's own bank."""
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, "refund amount")

        def run(tx: Tx) -> Movement:
            ctx = Ctx(tx)
            self._p.parties._require(ctx, party_id)
            movement_id = new_id("mov")
            ctx.post(
                "refund",
                movement_id,
                [
                    Leg(ctx.party_account(party_id), -money.minor),
                    Leg(self._gateway_account(ctx), money.minor),
                ],
            )
            self._movement(ctx, movement_id, party_id, "refund", money, "completed", movement_id)
            return Movement(movement_id, party_id, "refund", money, "completed", movement_id)

        return self._p.runner.run(
            "custody.refund", run, key=key, payload=[party_id, money.format()], result_type=Movement
        )

    def expire_holds(self, now: datetime | None = None, limit: int = 1000) -> int:
        """Release every open hold whose ``expires_at`` has passed; returns how many.

        Each hold is flipped by a guarded update, so concurrent sweepers never release one twice.
        """
        total = 0
        while True:

            def run(tx: Tx) -> int:
                ctx = Ctx(tx)
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
        """Compare the custodian's statement for ``day`` with the completed movements booked that day."""
        lines = list(statement)

        def run(tx: Tx) -> Reconciliation:
            ctx = Ctx(tx)
            start = datetime.combine(day, datetime.min.time(), tzinfo=ctx.now.tzinfo)
            rows = ctx.conn.execute(
                select(external_movements).where(
                    external_movements.c.state == "completed",
                    external_movements.c.completed_at >= start,
                    external_movements.c.completed_at < start + timedelta(days=1),
                )
            ).all()
            books = {r.external_ref or r.id: r for r in rows}
            diffs: list[Difference] = []
            matched = 0
            seen: set[str] = set()
            for line in lines:
                seen.add(line.external_ref)
                row = books.get(line.external_ref)
                if row is None:
                    diffs.append(
                        Difference(line.external_ref, "missing_in_books", None, line.amount)
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

        def run(tx: Tx) -> list[StatementLine]:
            ctx = Ctx(tx)
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
        ctx: Ctx,
        movement_id: str,
        party_id: str,
        kind: str,
        money: Money,
        state: str,
        ref: str | None,
        hold_id: str | None = None,
    ) -> None:
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
                completed_at=ctx.now if state == "completed" else None,
            )
        )

    def _pending_withdrawal(self, ctx: Ctx, movement_id: str) -> Any:
        row = get_row(ctx.conn, external_movements, movement_id, "movement")
        if row.kind != "withdrawal" or row.state != "pending":
            raise InvalidState(
                f"movement {movement_id} is a {row.state} {row.kind}, not a pending withdrawal"
            )
        return row

    def _complete(self, ctx: Ctx, movement_id: str) -> Movement:
        row = self._pending_withdrawal(ctx, movement_id)
        post_hold(ctx, row.hold_id)
        ctx.conn.execute(
            update(external_movements)
            .where(external_movements.c.id == movement_id)
            .values(state="completed", completed_at=ctx.now)
        )
        money = Money.from_minor(row.amount, row.currency)
        self._p.hooks.withdrawal_completed(ctx, row.party_id, money, movement_id)
        return _movement_of(row, "completed")


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
    "Reconciliation",
    "StatementLine",
    "freeze",
    "post_hold",
    "void_hold",
]
