"""``platform.custody``: the facade over :mod:`lendkit.ops.custody`, :mod:`lendkit.ops.holds`
and :mod:`lendkit.ops.reconciliation`.

The platform operator can freeze, unfreeze and refund, and nothing else: there is no API that
moves a user's money to an arbitrary account, and unfreeze releases only holds the operator made.

Calls to an outside gateway (a bank) never run inside a transaction that may be retried: a
deposit or withdrawal records its movement and an outbox row in its unit of work; after commit
this facade asks the gateway once and books its answer in a second unit of work. A process killed
in between leaves the row for :meth:`CustodyService.flush` (run by ``Platform.open``,
``lendkit custody flush``), which sends it again with the same id so the bank can deduplicate it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

from attrs import frozen

from lendkit.core.access import Actor, Subject
from lendkit.core.errors import InvalidState
from lendkit.core.inputs import check_date, check_id, check_text, parse_amount
from lendkit.core.money import Money
from lendkit.core.records import Balance, HoldRecord, Movement
from lendkit.core.servicing import HistoryLine, Page, check_limit
from lendkit.ops import custody as ops
from lendkit.ops import holds, reconciliation, servicing
from lendkit.ops.custody import CustodyGateway, EmbeddedGateway, movement_id_for
from lendkit.ops.reconciliation import Difference, Reconciliation, StatementLine
from lendkit.uow import OwnRunner, UnitOfWork, check_key

if TYPE_CHECKING:
    from lendkit.platform import Platform

log = logging.getLogger("lendkit.custody")

#: ``ops.custody.deposit`` or ``ops.custody.withdraw``
GatewayOperation = Callable[
    [UnitOfWork, CustodyGateway, str, Money, str, ops.Send | None], Movement
]

#: the longest operator freeze reason (its hold reference is ``operator:<reason>``)
MAX_FREEZE_REASON = 100


@frozen
class FlushResult:
    """What ``custody.flush()`` did: requests sent (answers booked), failures, rows left alone.

    ``failed`` names each movement whose request raised (it stays queued for the next flush);
    ``other_gateway`` counts queued rows recorded through a gateway of another name.
    """

    sent: int
    failed: tuple[str, ...] = ()
    other_gateway: int = 0


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
    def _own(self) -> bool:
        """True when lendkit owns the transaction (not inside a host's)."""
        return isinstance(self._p.runner, OwnRunner)

    # -- user-initiated ---------------------------------------------------------------------------

    def deposit(
        self,
        party_id: str,
        amount: object,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> Movement:
        """Book money arriving at the custodian for ``party_id`` (充值). Idempotent on ``key``.

        With an outside gateway the request is sent once after commit (see the module doc); the
        movement returned is ``completed`` (credited), ``pending`` (``complete_deposit`` or
        ``fail_deposit`` books the custodian's answer later) or ``failed``.
        """
        return self._gateway_command(
            "custody.deposit", ops.deposit, party_id, amount, "deposit amount", key, actor
        )

    def withdraw(
        self,
        party_id: str,
        amount: object,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> Movement:
        """Withdraw (提现): hold the funds, then complete (or stay pending with an outside gateway).

        The request reaches an outside gateway once, after commit, with the same movement id on
        every resend (derived from ``key``); the hold stays until the gateway's answer is booked.
        """
        return self._gateway_command(
            "custody.withdraw", ops.withdraw, party_id, amount, "withdrawal amount", key, actor
        )

    def complete_deposit(
        self, movement_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> Movement:
        """The custodian received a pending deposit: credit the party's available balance."""
        return self._settle("custody.complete_deposit", movement_id, "deposit", key, actor)

    def fail_deposit(
        self, movement_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> Movement:
        """The custodian did not receive a pending deposit: it is marked failed, nothing moves."""
        return self._settle("custody.fail_deposit", movement_id, "deposit", key, actor)

    def complete_withdrawal(
        self, movement_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> Movement:
        """The gateway paid a pending withdrawal (or refund) out: post its hold to the gateway."""
        return self._settle("custody.complete_withdrawal", movement_id, "withdrawal", key, actor)

    def fail_withdrawal(
        self, movement_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> Movement:
        """The gateway could not pay a pending withdrawal (or refund): the hold goes back to
        available."""
        return self._settle("custody.fail_withdrawal", movement_id, "withdrawal", key, actor)

    def recover(self) -> FlushResult | None:
        """Send what a previous process left queued (``Platform.open`` calls this at start).

        Only an outside gateway queues requests; with the embedded one this does nothing. The
        result is kept as ``recovered``.
        """
        self.recovered = self.flush() if ops.is_external(self.gateway) else None
        return self.recovered

    def flush(self, limit: int = 500) -> FlushResult:
        """Send every queued gateway request nobody is sending, and book each answer.

        A request is queued by a deposit or withdrawal through an outside gateway and normally
        sent right after its commit; one left behind (process killed after commit, gateway
        unreachable, a command made inside the host's transaction) is sent here with the same
        movement id, so the bank can deduplicate it. A request claimed by another process is
        left to it for ``SEND_LEASE``. ``Platform.open`` and ``lendkit custody flush`` call this.
        """
        if not self._own:
            raise InvalidState(
                "custody.flush calls the gateway, which must not happen inside your transaction:"
                " call it on the Platform itself after you commit"
            )
        sent, failed = 0, []
        while True:
            batch = self._p.runner.run(
                "custody.flush", lambda tx: ops.claim_queued(tx, self.gateway, limit)
            )
            for movement in batch:
                if self._send(movement):
                    sent += 1
                else:
                    failed.append(movement.id)
            if len(batch) < limit:
                break
        others = self._p.runner.run(
            "custody.flush", lambda tx: ops.queued_elsewhere(tx, self.gateway)
        )
        return FlushResult(sent, tuple(failed), others)

    def balance(self, party_id: str) -> Balance:
        """A party's available and frozen balances."""
        party_id = check_id(party_id, "party")
        return self._p.runner.run("custody.balance", lambda tx: holds.balance(tx, party_id))

    def history(
        self,
        party_id: str,
        since: object = None,
        until: object = None,
        *,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[HistoryLine]:
        """Every movement of the party's custody accounts from ``since`` through ``until``
        (dates, UTC, inclusive; default: all), oldest first, a page at a time (``after``: the
        previous page's ``next``): a description (deposit, bid hold, hold released,
        disbursement, repayment received with the loan, fee, withdrawal...), the changes of
        its available and frozen balances and both balances after it, from the ledger."""
        party_id = check_id(party_id, "party")
        start = None if since is None else check_date(since, "history since")
        end = None if until is None else check_date(until, "history until")
        after = None if after is None else check_id(after, "page cursor")
        limit = check_limit(limit)
        return self._p.runner.run(
            "custody.history",
            lambda tx: servicing.history(
                tx, party_id, since=start, until=end, after=after, limit=limit
            ),
        )

    def hold(self, hold_id: str) -> HoldRecord:
        """One hold by id."""
        hold_id = check_id(hold_id, "hold")
        return self._p.runner.run("custody.hold", lambda tx: holds.load_hold(tx, hold_id))

    # -- operator capabilities: freeze, unfreeze, refund ------------------------------------------

    def operator_freeze(
        self,
        party_id: str,
        amount: object,
        reason: str,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> HoldRecord:
        """Freeze part of a party's available funds (e.g. a court order); only unfreeze returns it.

        The hold's destination is the party's own available account, so it can never move the
        money anywhere else.
        """
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, "freeze amount")
        reason = check_text(reason, "freeze reason", MAX_FREEZE_REASON)
        return self._p.runner.run(
            "custody.operator_freeze",
            lambda tx: holds.operator_freeze(tx, party_id, money, reason),
            key=key,
            actor=actor,
            subject=Subject("party", party_id),
            payload=[party_id, money.format(), reason],
            result_type=HoldRecord,
        )

    def unfreeze(
        self, hold_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> HoldRecord:
        """Void a hold the operator made: its whole amount returns to the owner's available balance.

        Only holds made by ``operator_freeze`` may be unfrozen; a bid's hold is released by its
        listing and a withdrawal's by the gateway's answer, so they are refused (``Forbidden``).
        """
        hold_id = check_id(hold_id, "hold")
        return self._p.runner.run(
            "custody.unfreeze",
            lambda tx: holds.unfreeze(tx, hold_id),
            key=key,
            actor=actor,
            subject=Subject("hold", hold_id),
            payload=[hold_id],
            result_type=HoldRecord,
        )

    def refund(
        self,
        party_id: str,
        amount: object,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> Movement:
        """Operator refund: pay a party's available money back out to that party's own bank.

        Only available money can be refunded: money frozen by a hold (a bid, a withdrawal, an
        operator freeze) is out of its reach (``InsufficientFunds``). It travels like a
        withdrawal: held, then sent to the gateway once (an outside gateway's answer is booked
        with ``complete_withdrawal`` / ``fail_withdrawal``, or by ``flush``).
        """
        return self._gateway_command(
            "custody.refund", ops.refund, party_id, amount, "refund amount", key, actor
        )

    def expire_holds(self, now: datetime | None = None, limit: int = 1000) -> int:
        """Release every open hold whose ``expires_at`` has passed; returns how many.

        Each batch of ``limit`` holds is its own unit of work, and each hold is flipped by a
        guarded update, so concurrent sweepers never release one twice.
        """
        return self._p.runner.run_batches(
            "custody.expire_holds", lambda tx: holds.expire_holds(tx, now, limit)
        )

    # -- reconciliation ---------------------------------------------------------------------------

    def reconcile(
        self,
        statement: Iterable[StatementLine],
        day: date,
        actor: Actor | str | None = None,
    ) -> Reconciliation:
        """Compare the custodian's statement for ``day`` with the completed movements booked that day.

        A statement line for a movement the books still hold as pending (a deposit or withdrawal
        whose answer was never booked) is a ``pending_in_books`` difference: book it with
        ``complete_deposit`` / ``complete_withdrawal``.
        """
        day = check_date(day, "reconciliation day")
        lines = list(statement)
        return self._p.runner.run(
            "custody.reconcile",
            lambda tx: reconciliation.reconcile(tx, lines, day),
            actor=actor,
            subject=Subject("statement", day.isoformat()),
            payload=[day.isoformat(), len(lines)],
        )

    def statement(self, day: date) -> list[StatementLine]:
        """The embedded gateway's statement for ``day``: the completed movements it carried."""
        day = check_date(day, "statement day")
        return self._p.runner.run("custody.statement", lambda tx: reconciliation.statement(tx, day))

    # -- internals --------------------------------------------------------------------------------

    def _send(self, movement: Movement) -> bool:
        """Send one claimed outbox request and book the answer; False (logged) if that failed.

        Never raises: it runs after a commit, where an error must not make the runner run the
        command again. A request that failed stays queued and is resent, with the same id, by
        ``flush`` once its claim has lapsed.
        """
        try:
            state, ref = ops.call_gateway(self.gateway, movement)
        except Exception:
            log.exception("custody gateway request %s failed; it stays queued", movement.id)
            return False
        try:
            self._p.runner.run(
                "custody.gateway_answer",
                lambda tx: ops.record_answer(tx, self.gateway, movement.id, state, ref),
            )
        except Exception:
            log.exception("booking the gateway's answer to %s failed; it stays queued", movement.id)
            return False
        return True

    def _settle(
        self,
        command: str,
        movement_id: str,
        kind: str,
        key: str | None,
        actor: Actor | str | None,
    ) -> Movement:
        """complete_/fail_ deposit or withdrawal: the custodian's final answer, booked once."""
        movement_id = check_id(movement_id, "movement")
        outcome = "completed" if command.split(".")[1].startswith("complete") else "failed"
        return self._p.runner.run(
            command,
            lambda tx: ops.settle(tx, self.gateway, movement_id, kind, outcome),
            key=key,
            actor=actor,
            subject=Subject("movement", movement_id),
            payload=[movement_id],
            result_type=Movement,
        )

    def _gateway_command(
        self,
        command: str,
        operation: GatewayOperation,
        party_id: str,
        amount: object,
        what: str,
        key: str | None,
        actor: Actor | str | None,
    ) -> Movement:
        """Run a deposit or withdrawal ``operation``; with an outside gateway and lendkit owning
        the transaction the request went out after commit, so its state is read again."""
        party_id = check_id(party_id, "party")
        money = parse_amount(amount, self._currency, what)
        key = check_key(key)
        movement_id = movement_id_for(command, key)
        send = self._send if self._own else None
        movement = self._p.runner.run(
            command,
            lambda tx: operation(tx, self.gateway, party_id, money, movement_id, send),
            key=key,
            actor=actor,
            subject=Subject("party", party_id),
            payload=[party_id, money.format()],
            result_type=Movement,
        )
        if movement.state != "pending" or not ops.is_external(self.gateway) or not self._own:
            return movement  # inside a host's transaction it is sent by flush after the commit
        return self._p.runner.run(f"{command}.state", lambda tx: ops.load_movement(tx, movement.id))


__all__ = [
    "CustodyGateway",
    "CustodyService",
    "Difference",
    "EmbeddedGateway",
    "FlushResult",
    "Reconciliation",
    "StatementLine",
    "movement_id_for",
]
