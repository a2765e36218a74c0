"""The unit of work: one transaction, its clock, configuration, hooks and account cache.

Every operation (``lendkit.ops``) takes a :class:`UnitOfWork` first. It holds no ``Platform``:
what the platform's units of work share (configuration, hooks, products, the account cache, the
clock, the plugins' settings) is one :class:`Environment`. The unit of work is also what a
plugin's hook receives (it implements ``lendkit.core.context.HookContext``); the operations a
plugin may run through it (repay, settle, pay investors, read a loan...) are the
:class:`PluginOperations` the platform hands the environment, so this layer imports no operation.

``Runner.run(command, fn, key=, payload=)`` executes ``fn(uow)`` in a transaction:

* lendkit-owned (``OwnRunner``): begins, commits, and on serialization failure / deadlock /
  SQLITE_BUSY rolls back and runs ``fn`` again with jittered backoff. Callbacks registered with
  ``uow.after_commit`` run once, after the commit that succeeded.
* host-owned (``HostRunner``): runs inside a SAVEPOINT on the host's connection, so a refusal
  undoes only lendkit's part; lendkit never commits, the host does. ``after_commit`` callbacks run
  when the host's outermost transaction commits.

Idempotency: with a key, the first outcome is stored in ``lendkit_idempotency`` in the same
transaction as the effect (success), or in its own transaction (a refusal on state). A repeat
returns the stored response (``decode``d) or raises the stored refusal again; the same key with
another command or payload raises ``IdempotencyConflict``.

Access and audit: a command run with a ``subject`` is a mutating command. It runs for an actor
(``actor=``, else the runner's default from ``Platform.open(actor=)`` / ``as_actor``, else
``system`` unless ``require_actor``), is authorized inside its transaction before it runs
(``PlatformOperations.authorize``: ``lendkit_authorize``, the default policy, four-eyes), and
leaves one audit row: in the same transaction when it succeeds (or replays a key), in its own
after a refusal (on a host's connection: after the SAVEPOINT is rolled back).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs
from sqlalchemy import Connection, Engine, event, func, select, update
from sqlalchemy.exc import IntegrityError

from lendkit.core import errors as E
from lendkit.core.access import OK, REFUSED, REPLAYED, Actor, Subject, parse_actor
from lendkit.core.errors import (
    Forbidden,
    IdempotencyConflict,
    InvalidValue,
    LendkitError,
    PluginError,
)
from lendkit.core.inputs import check_id, parse_amount, text_problem
from lendkit.core.ledger import AVAILABLE, FROZEN, AccountRef, Leg, plugin_movement_violation
from lendkit.core.money import Money
from lendkit.core.serde import converter
from lendkit.core.states import OPEN_LOAN_STATES
from lendkit.store import ledger as store_ledger
from lendkit.store.audit import append_audit
from lendkit.store.db import is_retryable
from lendkit.store.ledger import AccountCache
from lendkit.store.tables import claims, idempotency, loans

if TYPE_CHECKING:
    from lendkit.core.config import PlatformConfig
    from lendkit.core.hooks import Hooks
    from lendkit.core.records import (
        Bid,
        ListingRecord,
        LoanRecord,
        PartyRecord,
        PaymentRecord,
        Product,
    )
    from lendkit.core.schedule import Schedule

T = TypeVar("T")

MAX_ATTEMPTS = 12
MAX_KEY_LENGTH = 200
SYSTEM_ACTOR = Actor.system()


class PluginOperations(Protocol):
    """The operations a plugin reaches through its ``HookContext`` (implemented in
    ``lendkit.ops.context``; the platform hands them to the :class:`Environment`)."""

    def pay_investors(
        self,
        uow: UnitOfWork,
        loan_id: str,
        source: AccountRef,
        principal: Money,
        interest: Money,
        *,
        reason: str,
        period: int | None = None,
        include_future: bool = False,
        penalty: Money | None = None,
    ) -> Money: ...

    def settle(
        self,
        uow: UnitOfWork,
        loan_id: str,
        source: AccountRef,
        *,
        interest: str,
        fee: Money | None,
    ) -> PaymentRecord: ...

    def loan(self, uow: UnitOfWork, loan_id: str) -> LoanRecord: ...

    def loans(self, uow: UnitOfWork, loan_ids: Sequence[str]) -> dict[str, LoanRecord]: ...

    def loan_for_listing(self, uow: UnitOfWork, listing_id: str) -> LoanRecord: ...

    def schedule(self, uow: UnitOfWork, loan_id: str) -> Schedule: ...

    def listing(self, uow: UnitOfWork, listing_id: str) -> ListingRecord: ...

    def bids(
        self,
        uow: UnitOfWork,
        listing_id: str | None,
        investor_id: str | None,
        state: str | None,
    ) -> list[Bid]: ...

    def party(self, uow: UnitOfWork, party_id: str) -> PartyRecord: ...

    def repay(
        self, uow: UnitOfWork, loan_id: str, amount: Money | None, source: AccountRef
    ) -> PaymentRecord: ...

    def repay_principal(
        self, uow: UnitOfWork, loan_id: str, amount: Money, source: AccountRef
    ) -> PaymentRecord: ...

    def amount_due(self, uow: UnitOfWork, loan_id: str) -> Money: ...

    def apply_listing(
        self, uow: UnitOfWork, borrower_id: str, amount: object, terms: Mapping[str, Any]
    ) -> ListingRecord: ...

    def authorize(self, uow: UnitOfWork, actor: Actor, action: str, subject: Subject) -> None: ...


@attrs.frozen
class Environment:
    """What all units of work of one platform share; built once when the platform opens."""

    config: PlatformConfig
    hooks: Hooks
    products: Mapping[str, Product]
    accounts: AccountCache
    clock: Callable[[], datetime]
    operations: PluginOperations
    #: every plugin's settings, structured when the platform opened (``lendkit_register_settings``)
    settings: Mapping[str, Any] = attrs.field(factory=dict)


class UnitOfWork:
    """One transaction: its connection, clock, business date, after-commit callbacks, and the
    platform's configuration, hooks, products and account cache (through its environment).

    Operations take it first; plugins receive it as their ``HookContext``.
    """

    def __init__(
        self,
        conn: Connection,
        env: Environment,
        *,
        business_date: date | None = None,
        now: datetime | None = None,
        after: list[Callable[[], None]] | None = None,
    ) -> None:
        self.conn = conn
        self.env = env
        self.now: datetime = env.clock() if now is None else now
        self._business_date = business_date
        self._after: list[Callable[[], None]] = [] if after is None else after
        #: who runs the command (set by the runner; ``system`` for internal work)
        self.actor: Actor = SYSTEM_ACTOR
        #: payments booked while close of business defers ``lendkit_repayments_received`` to the
        #: end of its chunk (``None``: delivered at once; see ``lendkit.ops.repayment``)
        self.deferred_repayments: list[PaymentRecord] | None = None

    def on(self, business_date: date) -> UnitOfWork:
        """This unit of work seen on ``business_date`` (close of business for a past date): same
        transaction, clock and after-commit callbacks."""
        return UnitOfWork(
            self.conn, self.env, business_date=business_date, now=self.now, after=self._after
        )

    # -- what the platform shares -----------------------------------------------------------------

    @property
    def hooks(self) -> Hooks:
        """The platform's hook caller (core code only: plugins never call hooks)."""
        return self.env.hooks

    @property
    def platform_config(self) -> PlatformConfig:
        """The platform's configuration (core code; plugins read ``config(plugin)``)."""
        return self.env.config

    @property
    def accounts(self) -> AccountCache:
        """The platform's cache of committed accounts."""
        return self.env.accounts

    @property
    def products(self) -> Mapping[str, Product]:
        """The products the enabled plugins registered, by name."""
        return self.env.products

    @property
    def today(self) -> date:
        """The business date: ``now.date()``, or the close-of-business date being run."""
        return self._business_date or self.now.date()

    @property
    def currency(self) -> str:
        return self.env.config.currency

    def config(self, plugin: str) -> Mapping[str, Any]:
        return self.env.config.plugins.get(plugin, {})

    # -- what plugins read and do through core (HookContext): lendkit.ops.context -------------

    @property
    def plugin_settings(self) -> Mapping[str, Any]:
        """Every plugin's structured settings by name (core code; plugins use ``settings``)."""
        return self.env.settings

    def settings(self, plugin: str) -> Any:
        """See ``HookContext.settings``."""
        try:
            return self.env.settings[plugin]
        except KeyError:
            raise PluginError(
                f"plugin {plugin!r} declares no settings (lendkit_register_settings);"
                f" declared: {', '.join(sorted(self.env.settings)) or 'none'}"
            ) from None

    def loan(self, loan_id: str) -> LoanRecord:
        """See ``HookContext.loan``."""
        return self.env.operations.loan(self, check_id(loan_id, "loan"))

    def loans(self, loan_ids: Sequence[str]) -> dict[str, LoanRecord]:
        """See ``HookContext.loans``."""
        ids = [check_id(loan_id, "loan") for loan_id in loan_ids]
        return self.env.operations.loans(self, ids)

    def loan_for_listing(self, listing_id: str) -> LoanRecord:
        """See ``HookContext.loan_for_listing``."""
        return self.env.operations.loan_for_listing(self, check_id(listing_id, "listing"))

    def schedule(self, loan_id: str) -> Schedule:
        """See ``HookContext.schedule``."""
        return self.env.operations.schedule(self, check_id(loan_id, "loan"))

    def listing(self, listing_id: str) -> ListingRecord:
        """See ``HookContext.listing``."""
        return self.env.operations.listing(self, check_id(listing_id, "listing"))

    def bids(
        self,
        listing_id: str | None = None,
        investor_id: str | None = None,
        state: str | None = None,
    ) -> list[Bid]:
        """See ``HookContext.bids``."""
        return self.env.operations.bids(self, listing_id, investor_id, state)

    def party(self, party_id: str) -> PartyRecord:
        """See ``HookContext.party``."""
        return self.env.operations.party(self, check_id(party_id, "party"))

    def repay(
        self, loan_id: str, amount: Money | None = None, *, source: AccountRef
    ) -> PaymentRecord:
        """See ``HookContext.repay``."""
        money = None if amount is None else parse_amount(amount, self.currency, "repayment")
        payment = self.env.operations.repay(self, check_id(loan_id, "loan"), money, source)
        self.flush()  # a plugin learns of a refusal from the call that caused it
        return payment

    def repay_principal(self, loan_id: str, amount: Money, *, source: AccountRef) -> PaymentRecord:
        """See ``HookContext.repay_principal``."""
        money = parse_amount(amount, self.currency, "principal repayment")
        payment = self.env.operations.repay_principal(
            self, check_id(loan_id, "loan"), money, source
        )
        self.flush()  # a plugin learns of a refusal from the call that caused it
        return payment

    def amount_due(self, loan_id: str) -> Money:
        """See ``HookContext.amount_due``."""
        return self.env.operations.amount_due(self, check_id(loan_id, "loan"))

    @property
    def hook(self) -> Any:
        """See ``HookContext.hook``."""
        return self.hooks.plugin_hooks

    def apply_listing(self, borrower_id: str, amount: object, **terms: Any) -> ListingRecord:
        """See ``HookContext.apply_listing``."""
        return self.env.operations.apply_listing(self, borrower_id, amount, terms)

    # -- the transaction --------------------------------------------------------------------------

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once after this unit of work commits (never on a rolled back attempt)."""
        self._after.append(fn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run the block in a SAVEPOINT: an exception rolls back only the block's writes (and
        drops the after-commit callbacks it registered), then propagates."""
        registered = len(self._after)
        store_ledger.flush(self.conn)  # a refusal of what was booked before belongs outside
        deferred = self.deferred_repayments
        booked = None if deferred is None else len(deferred)
        nested = self.conn.begin_nested()
        try:
            yield
            store_ledger.flush(self.conn)  # ... and one of what the block booked, inside
        except BaseException:
            nested.rollback()
            del self._after[registered:]
            if deferred is not None:
                del deferred[booked:]  # the payments the block booked were rolled back
            raise
        nested.commit()

    def take_after_commit(self) -> list[Callable[[], None]]:
        """Hand over the after-commit callbacks registered so far (this unit of work forgets
        them): whoever commits runs them, e.g. the host runner when the host's transaction
        commits."""
        callbacks = list(self._after)
        self._after.clear()
        return callbacks

    def run_after_commit(self) -> None:
        """Run the after-commit callbacks once (call it after the commit that succeeded)."""
        for fn in self.take_after_commit():
            fn()

    # -- accounts and movements --------------------------------------------------------------------

    def account(
        self,
        owner_kind: str,
        owner_id: str,
        purpose: str,
        currency: str,
        *,
        allow_negative: bool = False,
    ) -> AccountRef:
        cache = self.accounts
        ref = cache.get(f"{owner_kind}:{owner_id}:{purpose}:{currency}")
        if ref is not None:
            return ref
        ref = store_ledger.ensure_account(
            self.conn,
            cache,
            owner_kind=owner_kind,
            owner_id=owner_id,
            purpose=purpose,
            currency=currency,
            allow_negative=allow_negative,
        )
        # cached only once committed: a rolled back creation must not leave a dangling id
        self.after_commit(lambda: cache.put(ref))
        return ref

    def party_account(self, party_id: str, currency: str | None = None) -> AccountRef:
        return self.account("party", party_id, AVAILABLE, currency or self.currency)

    def party_frozen(self, party_id: str, currency: str | None = None) -> AccountRef:
        return self.account("party", party_id, FROZEN, currency or self.currency)

    def system(self, name: str, purpose: str, *, allow_negative: bool = False) -> AccountRef:
        return self.account("platform", name, purpose, self.currency, allow_negative=allow_negative)

    def balance(self, account: AccountRef) -> Money:
        return Money.from_minor(store_ledger.balance_of(self.conn, account.id), account.currency)

    def existing_account(self, code: str) -> AccountRef:
        """The account with ``code`` if it exists (``NotFound`` otherwise); never creates one."""
        return store_ledger.find_account(self.conn, self.accounts, code)

    def platform_outstanding(self) -> Money:
        """See ``HookContext.platform_outstanding``."""
        total = self.conn.execute(
            select(func.coalesce(func.sum(loans.c.outstanding_principal), 0)).where(
                loans.c.state.in_(OPEN_LOAN_STATES), loans.c.currency == self.currency
            )
        ).scalar_one()
        return Money.from_minor(int(total), self.currency)

    def paid_for(self, loan_id: str, account: AccountRef) -> Money:
        """What ``account`` paid ``loan_id``'s investors as a third party and has not recovered."""
        owed = self.conn.execute(
            select(
                func.coalesce(
                    func.sum(
                        claims.c.principal
                        + claims.c.interest
                        - claims.c.recovered_principal
                        - claims.c.recovered_interest
                    ),
                    0,
                )
            ).where(claims.c.loan_id == loan_id, claims.c.account_id == account.id)
        ).scalar_one()
        return Money.from_minor(int(owed), account.currency)

    def transfer(self, kind: str, reference: str, legs: Sequence[tuple[AccountRef, Money]]) -> int:
        """A plugin's movement: refused (``Forbidden``) unless a plugin may make it.

        See ``lendkit.core.ledger.plugin_movement_violation``: never from one user's account to
        another user's, never a user's frozen money, a listing's escrow or out of a loan's
        clearing account, never the platform's gateway.
        """
        minor = [Leg(account, money.minor) for account, money in legs]
        problem = plugin_movement_violation(minor)
        if problem:
            raise Forbidden(f"{kind} {reference}: {problem}")
        seq = self.post(kind, reference, minor)
        self.flush()  # a plugin learns of a refusal from the call that caused it
        return seq

    def transfer_many(
        self, kind: str, movements: Sequence[tuple[str, Sequence[tuple[AccountRef, Money]]]]
    ) -> list[int]:
        """Several plugin movements of ``kind`` (``(reference, legs)`` each), each checked as
        ``transfer`` checks one and booked in order, as many ``transfer`` calls would, in a few
        statements. See ``HookContext.transfer_many``."""
        entries = []
        for reference, legs in movements:
            minor = [Leg(account, money.minor) for account, money in legs]
            problem = plugin_movement_violation(minor)
            if problem:
                raise Forbidden(f"{kind} {reference}: {problem}")
            entries.append(store_ledger.NewEntry(kind, reference, minor))
        seqs = self.post_many(entries)
        self.flush()  # a plugin learns of a refusal from the call that caused it
        return seqs

    def post(self, kind: str, reference: str, legs: Sequence[Leg], memo: str = "") -> int:
        """Book one balanced entry from minor-unit legs."""
        return store_ledger.append_entry(
            self.conn,
            kind=kind,
            reference=reference,
            legs=legs,
            now=self.now,
            memo=memo,
            chains=self.env.config.ledger_chains,
        )

    def flush(self) -> None:
        """Write what this unit of work booked so far (balances first, with their guards:
        ``InsufficientFunds`` here). Commit, :meth:`savepoint` and balance reads do it."""
        store_ledger.flush(self.conn)

    def post_many(self, entries: Sequence[store_ledger.NewEntry]) -> list[int]:
        """Book several balanced entries in order (as ``post`` each would) in a few statements."""
        return store_ledger.append_entries(
            self.conn, entries, self.now, chains=self.env.config.ledger_chains
        )

    def pay_investors(
        self,
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
        """See ``HookContext.pay_investors``."""
        paid = self.env.operations.pay_investors(
            self,
            loan_id,
            source,
            principal,
            interest,
            reason=reason,
            period=period,
            include_future=include_future,
            penalty=penalty,
        )
        self.flush()  # a plugin learns of a refusal from the call that caused it
        return paid

    def settle(
        self,
        loan_id: str,
        source: AccountRef,
        interest: str = "accrued",
        fee: Money | None = None,
    ) -> PaymentRecord:
        """See ``HookContext.settle``."""
        payment = self.env.operations.settle(self, loan_id, source, interest=interest, fee=fee)
        self.flush()  # a plugin learns of a refusal from the call that caused it
        return payment


def payload_digest(command: str, payload: Any) -> str:
    text = json.dumps([command, payload], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_key(key: object) -> str | None:
    """An idempotency key: None, or 1..``MAX_KEY_LENGTH`` printable characters (no NUL, no
    control characters, no lone surrogates), used verbatim."""
    if key is None:
        return None
    allowed = f"use a non-empty string of at most {MAX_KEY_LENGTH} printable characters"
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidValue(f"idempotency key {str(key)[:40]!r} is invalid: {allowed}")
    problem = text_problem(key)
    if problem:
        raise InvalidValue(f"idempotency key {key[:40]!r} is invalid: {problem}; {allowed}")
    return key


class Runner:
    """Base of the two ways a command's transaction is owned."""

    def __init__(self, env: Environment, actor: Actor | None = None) -> None:
        self.env = env
        #: the actor commands run for when they name none (``None``: ``system``)
        self.actor = actor

    def with_actor(self, actor: Actor | str) -> Runner:
        """This runner with another default actor (the same transaction handling)."""
        other = copy.copy(self)
        other.actor = parse_actor(actor)
        return other

    def run(
        self,
        command: str,
        fn: Callable[[UnitOfWork], T],
        *,
        key: str | None = None,
        payload: Any = None,
        result_type: Any = None,
        actor: Actor | str | None = None,
        subject: Subject | None = None,
    ) -> T:
        raise NotImplementedError

    def run_batches(self, command: str, fn: Callable[[UnitOfWork], int]) -> int:
        """Run ``fn`` in one unit of work after another until it reports 0 items done; returns
        the total (a sweep in bounded batches: each batch commits on its own)."""
        total = 0
        while (done := self.run(command, fn)) > 0:
            total += done
        return total

    # -- access and audit shared by both runners ------------------------------------------------

    def _actor(self, actor: Actor | str | None, command: str) -> Actor:
        if actor is not None:
            return parse_actor(actor)
        if self.actor is not None:
            return self.actor
        if self.env.config.require_actor:
            raise E.PermissionDenied(
                f"{command} was run without an actor and this platform requires one"
                " (require_actor): pass actor=, open the platform with actor= or give --actor"
            )
        return SYSTEM_ACTOR

    def _authorize(self, tx: UnitOfWork, actor: Actor, command: str, subject: Subject) -> None:
        tx.actor = actor
        self.env.operations.authorize(tx, actor, command, subject)

    @staticmethod
    def _audit(
        conn: Connection,
        tx: UnitOfWork,
        command: str,
        subject: Subject,
        args: str,
        outcome: str,
        key: str | None,
        error: BaseException | None = None,
    ) -> None:
        append_audit(
            conn,
            at=tx.now,
            actor=tx.actor.label,
            action=command,
            subject=subject.label,
            args_digest=args,
            outcome=outcome,
            error_type=None if error is None else type(error).__name__,
            idempotency_key=key,
        )

    def _body(
        self,
        conn: Connection,
        tx: UnitOfWork,
        command: str,
        fn: Callable[[UnitOfWork], T],
        *,
        key: str | None,
        digest: str,
        subject: Subject | None,
        result_type: Any,
    ) -> T:
        """The command inside the transaction its runner owns: authorize, replay the key (or
        claim it), run, flush the ledger, write the audit row (the last write, after every
        ledger lock) and complete the key."""
        if subject is not None:
            self._authorize(tx, tx.actor, command, subject)
        if key:
            found, stored = self._replay(conn, key, digest, command)
            if found:
                replayed: T = _decode(stored, result_type)
                if subject is not None:
                    named = subject.created(replayed)
                    self._audit(conn, tx, command, named, digest, REPLAYED, key)
                return replayed
            self._claim(conn, key, digest, command, tx.now)
        result = fn(tx)
        store_ledger.flush(conn)  # a refusal is raised here, not at commit
        if subject is not None:
            self._audit(conn, tx, command, subject.created(result), digest, OK, key)
        if key:
            self._complete(conn, key, _encode(result, result_type))
        return result

    # -- idempotency helpers shared by both runners ---------------------------------------------

    @staticmethod
    def _replay(conn: Connection, key: str, digest: str, command: str) -> tuple[bool, Any]:
        row = conn.execute(select(idempotency).where(idempotency.c.key == key)).first()
        if row is None:
            return False, None
        if row.command != command or row.payload_hash != digest:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for {row.command} with another payload"
            )
        if row.status == "failed":
            cls = getattr(E, row.error_type or "", None)
            if not (isinstance(cls, type) and issubclass(cls, LendkitError)):
                cls = LendkitError
            raise cls(row.error_message or "refused")
        return True, json.loads(row.response) if row.response is not None else None

    @staticmethod
    def _record(
        conn: Connection,
        key: str,
        digest: str,
        command: str,
        now: datetime,
        *,
        response: Any = None,
        error: LendkitError | None = None,
    ) -> None:
        conn.execute(
            idempotency.insert().values(
                key=key,
                command=command,
                payload_hash=digest,
                status="failed",
                error_type=type(error).__name__,
                error_message=str(error),
                created_at=now,
            )
        )

    @staticmethod
    def _claim(conn: Connection, key: str, digest: str, command: str, now: datetime) -> None:
        """Insert the key as ``pending`` before the command runs.

        A concurrent call with the same key blocks on this row (PostgreSQL) or waits for the
        write lock (SQLite) until the first commits, then replays its outcome: the duplicate
        never runs the command itself.
        """
        conn.execute(
            idempotency.insert().values(
                key=key, command=command, payload_hash=digest, status="pending", created_at=now
            )
        )

    @staticmethod
    def _complete(conn: Connection, key: str, response: Any) -> None:
        conn.execute(
            update(idempotency)
            .where(idempotency.c.key == key)
            .values(status="ok", response=json.dumps(response, default=str))
        )


def _records_failure(exc: LendkitError) -> bool:
    """Refusals on state are remembered for the key; malformed input is not (nothing happened)."""
    return isinstance(exc, E.InvalidState)


class OwnRunner(Runner):
    """lendkit opens, commits and retries the transaction itself."""

    def __init__(self, env: Environment, engine: Engine, actor: Actor | None = None) -> None:
        super().__init__(env, actor)
        self.engine = engine
        store_ledger.track(engine)

    def run(
        self,
        command: str,
        fn: Callable[[UnitOfWork], T],
        *,
        key: str | None = None,
        payload: Any = None,
        result_type: Any = None,
        actor: Actor | str | None = None,
        subject: Subject | None = None,
    ) -> T:
        key = check_key(key)
        who = self._actor(actor, command) if subject is not None else SYSTEM_ACTOR
        digest = payload_digest(command, payload) if key or subject is not None else ""
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.engine.connect() as conn:
                    trans = conn.begin()
                    tx = UnitOfWork(conn, self.env)
                    tx.actor = who
                    try:
                        result = self._body(
                            conn,
                            tx,
                            command,
                            fn,
                            key=key,
                            digest=digest,
                            subject=subject,
                            result_type=result_type,
                        )
                        trans.commit()
                    except LendkitError as exc:
                        trans.rollback()
                        remember = key if key is not None and _records_failure(exc) else None
                        if remember is not None or subject is not None:
                            with conn.begin():
                                if remember is not None:
                                    found, _ = self._replay(conn, remember, digest, command)
                                    if not found:
                                        self._record(
                                            conn, remember, digest, command, tx.now, error=exc
                                        )
                                if subject is not None:
                                    self._audit(
                                        conn, tx, command, subject, digest, REFUSED, key, exc
                                    )
                        raise
                    except BaseException:
                        if trans.is_active:
                            trans.rollback()
                        raise
                tx.run_after_commit()
                return result
            except IntegrityError:
                # a concurrent call with the same key committed first: replay its outcome
                if key and attempt < MAX_ATTEMPTS:
                    continue
                raise
            except Exception as exc:
                if attempt < MAX_ATTEMPTS and is_retryable(exc):
                    time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 8)))
                    continue
                raise


class HostRunner(Runner):
    """Run inside the host application's transaction: SAVEPOINT per command, never commit."""

    def __init__(self, env: Environment, conn: Connection, actor: Actor | None = None) -> None:
        super().__init__(env, actor)
        self.conn = conn
        store_ledger.track(conn.engine)
        self._pending: list[Callable[[], None]] = []

        # the list is emptied in place: a copy of this runner (``with_actor``) shares it
        @event.listens_for(conn, "commit")
        def _on_commit(_conn: Connection) -> None:
            callbacks = list(self._pending)
            self._pending.clear()
            for cb in callbacks:
                cb()

        @event.listens_for(conn, "rollback")
        def _on_rollback(_conn: Connection) -> None:
            self._pending.clear()

    def run(
        self,
        command: str,
        fn: Callable[[UnitOfWork], T],
        *,
        key: str | None = None,
        payload: Any = None,
        result_type: Any = None,
        actor: Actor | str | None = None,
        subject: Subject | None = None,
    ) -> T:
        key = check_key(key)
        who = self._actor(actor, command) if subject is not None else SYSTEM_ACTOR
        digest = payload_digest(command, payload) if key or subject is not None else ""
        conn = self.conn
        tx = UnitOfWork(conn, self.env)
        tx.actor = who
        _start_sqlite_transaction(conn)
        savepoint = conn.begin_nested()
        try:
            result = self._body(
                conn,
                tx,
                command,
                fn,
                key=key,
                digest=digest,
                subject=subject,
                result_type=result_type,
            )
        except LendkitError as exc:
            savepoint.rollback()
            if subject is not None:
                # the refusal's row is part of the host's transaction: it stays if the host commits
                self._audit(conn, tx, command, subject, digest, REFUSED, key, exc)
            raise
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
        self._pending.extend(tx.take_after_commit())
        return result


def _start_sqlite_transaction(conn: Connection) -> None:
    """Make sure a host's SQLite connection really is inside a transaction.

    Python's sqlite3 (legacy transaction control, SQLAlchemy's default) only emits BEGIN before
    DML; a SAVEPOINT issued first would run in autocommit and its RELEASE would commit
    lendkit's step on its own, outside the host's rollback. Begin explicitly if needed.
    """
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if raw is not None and not getattr(raw, "in_transaction", True):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _encode(result: Any, result_type: Any) -> Any:
    return converter.unstructure(result, result_type) if result_type is not None else None


def _decode(stored: Any, result_type: Any) -> Any:
    return converter.structure(stored, result_type) if result_type is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)
