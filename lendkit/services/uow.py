"""Units of work: one transaction per public call, retries, idempotency keys, host sessions.

``Runner.run(command, payload, key, fn)`` executes ``fn(tx)`` in a transaction:

* lendkit-owned (``OwnRunner``): begins, commits, and on serialization failure / deadlock /
  SQLITE_BUSY rolls back and runs ``fn`` again with jittered backoff. Callbacks registered with
  ``tx.after_commit`` run once, after the commit that succeeded.
* host-owned (``HostRunner``): runs inside a SAVEPOINT on the host's connection, so a refusal
  undoes only lendkit's part; lendkit never commits, the host does. ``after_commit`` callbacks run
  when the host's outermost transaction commits.

Idempotency: with a key, the first outcome is stored in ``lendkit_idempotency`` in the same
transaction as the effect (success), or in its own transaction (a refusal on state). A repeat
returns the stored response (``decode``d) or raises the stored refusal again; the same key with
another command or payload raises ``IdempotencyConflict``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, event, select, update
from sqlalchemy.exc import IntegrityError

from lendkit.core import errors as E
from lendkit.core.errors import IdempotencyConflict, InvalidValue, LendkitError
from lendkit.core.inputs import text_problem
from lendkit.core.serde import converter
from lendkit.store.db import is_retryable
from lendkit.store.tables import idempotency

if TYPE_CHECKING:
    from lendkit.platform import Platform

T = TypeVar("T")

MAX_ATTEMPTS = 12
MAX_KEY_LENGTH = 200


class Tx:
    """The current unit of work: connection, platform, clock, and after-commit callbacks."""

    def __init__(self, conn: Connection, platform: Platform) -> None:
        self.conn = conn
        self.platform = platform
        self.now: datetime = platform.clock()
        self._after: list[Callable[[], None]] = []

    @property
    def today(self) -> date:
        return self.now.date()

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once after this unit of work commits (never on a rolled back attempt)."""
        self._after.append(fn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run the block in a SAVEPOINT: an exception rolls back only the block's writes (and
        drops the after-commit callbacks it registered), then propagates."""
        registered = len(self._after)
        nested = self.conn.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            del self._after[registered:]
            raise
        nested.commit()

    def take_after_commit(self) -> list[Callable[[], None]]:
        """Hand over the after-commit callbacks registered so far (this unit of work forgets
        them): whoever commits runs them, e.g. the host runner when the host's transaction
        commits."""
        callbacks, self._after = self._after, []
        return callbacks

    def run_after_commit(self) -> None:
        """Run the after-commit callbacks once (call it after the commit that succeeded)."""
        for fn in self.take_after_commit():
            fn()


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

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def run(
        self,
        command: str,
        fn: Callable[[Tx], T],
        *,
        key: str | None = None,
        payload: Any = None,
        result_type: Any = None,
    ) -> T:
        raise NotImplementedError

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

    def __init__(self, platform: Platform, engine: Engine) -> None:
        super().__init__(platform)
        self.engine = engine

    def run(
        self,
        command: str,
        fn: Callable[[Tx], T],
        *,
        key: str | None = None,
        payload: Any = None,
        result_type: Any = None,
    ) -> T:
        key = check_key(key)
        digest = payload_digest(command, payload) if key else ""
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.engine.connect() as conn:
                    trans = conn.begin()
                    tx = Tx(conn, self.platform)
                    try:
                        if key:
                            found, stored = self._replay(conn, key, digest, command)
                            if found:
                                trans.rollback()
                                return _decode(stored, result_type)  # type: ignore[no-any-return]
                            self._claim(conn, key, digest, command, tx.now)
                        result = fn(tx)
                        if key:
                            self._complete(conn, key, _encode(result, result_type))
                        trans.commit()
                    except LendkitError as exc:
                        trans.rollback()
                        if key and _records_failure(exc):
                            with conn.begin():
                                found, _ = self._replay(conn, key, digest, command)
                                if not found:
                                    self._record(conn, key, digest, command, tx.now, error=exc)
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

    def __init__(self, platform: Platform, conn: Connection) -> None:
        super().__init__(platform)
        self.conn = conn
        self._pending: list[Callable[[], None]] = []

        @event.listens_for(conn, "commit")
        def _on_commit(_conn: Connection) -> None:
            callbacks, self._pending = self._pending, []
            for cb in callbacks:
                cb()

        @event.listens_for(conn, "rollback")
        def _on_rollback(_conn: Connection) -> None:
            self._pending = []

    def run(
        self,
        command: str,
        fn: Callable[[Tx], T],
        *,
        key: str | None = None,
        payload: Any = None,
        result_type: Any = None,
    ) -> T:
        key = check_key(key)
        digest = payload_digest(command, payload) if key else ""
        conn = self.conn
        tx = Tx(conn, self.platform)
        if key:
            found, stored = self._replay(conn, key, digest, command)
            if found:
                return _decode(stored, result_type)  # type: ignore[no-any-return]
        _start_sqlite_transaction(conn)
        savepoint = conn.begin_nested()
        try:
            if key:
                self._claim(conn, key, digest, command, tx.now)
            result = fn(tx)
            if key:
                self._complete(conn, key, _encode(result, result_type))
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
