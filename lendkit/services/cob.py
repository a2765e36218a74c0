"""Close of business (日终): the nightly batch for one business date.

``platform.cob.run(date)``: close listings whose funding window ended (流标 if short), expire
secondary-market transfers past their expiry, release expired holds, then for every open loan with an installment due: collect from the borrower's
available balance (what is there, even if the balance fell since it was read), mark what is still
unpaid past the grace days overdue, accrue penalty interest up to the date (the overdue base x
the daily rate x the days overdue on the loan's day-count basis, rounded once, so daily runs and
one run after a gap agree to the cent), fire the overdue hooks and the waterfall, and default loans past the threshold; last,
``lendkit_cob_day`` lets plugins settle the whole day (the reserve pays the day's claims pro
rata), once per date and shard, in the transaction that marks the date done.

Dates run in order: a date after the platform clock's today needs ``allow_future=True``, a date
before the last completed run is refused, and the days skipped since the last completed run are
closed first, one by one. One process at a time runs a shard (an advisory lock on PostgreSQL, a
file lock beside a SQLite database); a second one is refused with ``CobRunning``.

Idempotent per date: each loan's work and its ``lendkit_cob_steps`` marker commit together in a
chunk transaction, so a crash loses at most the chunk in flight and a rerun skips what is done;
nobody is paid twice. ``shard="i/n"`` splits loans (and listings) by a hash of their id so that
several processes can share one date on PostgreSQL.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, text, update

from lendkit.core import states as S
from lendkit.core.access import Actor, Subject
from lendkit.core.errors import (
    CobRunning,
    InvalidState,
    InvalidValue,
)
from lendkit.core.records import CobResult
from lendkit.ops import holds, market, open_ended
from lendkit.ops.cob import in_shard, process_loans
from lendkit.ops.listings import close_listing
from lendkit.store.tables import (
    cob_runs,
    cob_steps,
    installments,
    listings,
    loans,
)
from lendkit.uow import UnitOfWork

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite runs are not guarded across processes
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from lendkit.platform import Platform

Progress = Callable[[int, int], None]
#: the last date close of business can run for (its day's end must be a valid datetime)
LAST_COB_DATE = date.max - timedelta(days=1)


def parse_shard(shard: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; ``InvalidValue`` unless ``1 <= i <= n``."""
    try:
        i_text, n_text = str(shard).split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise InvalidValue(f"shard {shard!r} must look like i/n, e.g. 1/4") from None
    if not 1 <= i <= n <= 1024:
        raise InvalidValue(f"shard {shard!r}: need 1 <= i <= n <= 1024")
    return i, n


def check_cob_date(value: object) -> date:
    """A COB date: a ``datetime.date`` (not a datetime) before ``date.max``; ``InvalidValue``."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidValue(f"COB date {value!r} must be a datetime.date")
    if value >= LAST_COB_DATE + timedelta(days=1):
        raise InvalidValue(
            f"COB date {value.isoformat()} is out of range: the latest is"
            f" {LAST_COB_DATE.isoformat()} (its day must end on a representable date)"
        )
    return value


@contextmanager
def exclusive_run(platform: Platform, label: str, run_date: date) -> Iterator[None]:
    """Hold shard ``label``'s close-of-business lock for the block; ``CobRunning`` if another
    process (or thread) holds it.

    PostgreSQL: a session advisory lock on a connection kept for the block. SQLite: an exclusive
    ``flock`` on ``<database file>-cob.lock``. Both are released by the operating system or the
    server when the holder dies, so a crashed run never blocks the rerun that resumes it.
    """
    engine = platform.engine
    key = zlib.crc32(f"lendkit.cob:{label}".encode())
    if engine.dialect.name == "postgresql":
        conn = engine.connect()
        try:
            if not _try_advisory_lock(conn, key):
                raise CobRunning(_running_message(platform, label, run_date))
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except Exception:  # a broken connection: ending its session releases the lock
                    conn.invalidate()
        finally:
            conn.close()
        return
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or fcntl is None:
        yield
        return
    fd = os.open(f"{path}-cob.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CobRunning(_running_message(platform, label, run_date)) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


#: how long a run waits for a shard's lock before refusing: the server ends a killed process's
#: session (and so releases its lock) only once it notices the closed connection
LOCK_GRACE_SECONDS = 5.0
#: holds released per unit of work when close of business sweeps expired ones
HOLD_SWEEP_BATCH = 1000


def _try_advisory_lock(conn: Connection, key: int) -> bool:
    """Take the session advisory lock ``key``, polling for :data:`LOCK_GRACE_SECONDS`.

    A rerun started right after its predecessor was killed would otherwise find the dead
    session's lock still held for the few milliseconds the server needs to notice.
    """
    deadline = monotonic() + LOCK_GRACE_SECONDS
    while True:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        if got or monotonic() >= deadline:
            return got
        sleep(0.05)


def _running_message(platform: Platform, label: str, run_date: date) -> str:
    def read(tx: UnitOfWork) -> date | None:
        found: date | None = tx.conn.execute(
            select(func.max(cob_runs.c.run_date)).where(
                cob_runs.c.state == "running", cob_runs.c.shard == label
            )
        ).scalar()
        return found

    running = platform.runner.run("cob.running", read) or run_date
    return (
        f"COB for {running.isoformat()} is running in another process (shard {label}): wait"
        " for it to finish, then run again (a finished date is not run twice)"
    )


class CobService:
    """``platform.cob``."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    def run(
        self,
        run_date: date,
        shard: str = "1/1",
        progress: Progress | None = None,
        *,
        allow_future: bool = False,
        actor: Actor | str | None = None,
    ) -> CobResult:
        """Run close of business for ``run_date`` (idempotent; resumable after a crash).

        ``actor`` (default: the platform's, else ``system``) needs the ``cob.run`` permission;
        the run's audit row is written when it starts (its inner steps run as ``system``).

        Dates run in order: a date after the platform clock's today is refused unless
        ``allow_future=True`` (simulations), a date before the last completed run is refused,
        and days skipped since the last completed run are run first, one by one, so a missed
        night changes nothing. A second process asking for the same shard while one runs is
        refused with ``CobRunning`` (nothing changed; run it again once the first finished).
        """
        run_date = check_cob_date(run_date)
        if not isinstance(allow_future, bool):
            raise InvalidValue(f"allow_future {allow_future!r} must be True or False")
        i, n = parse_shard(shard)
        label = f"{i}/{n}"
        today = self._p.clock().date()
        if run_date > today and not allow_future:
            raise InvalidValue(
                f"COB date {run_date.isoformat()} is after today ({today.isoformat()} on the"
                " platform clock): close of business runs for days that have come; pass"
                " allow_future=True (lendkit cob --allow-future) to simulate later days"
            )
        self._p.runner.run(
            "cob.run",
            lambda tx: None,
            actor=actor,
            subject=Subject("cob", f"{run_date.isoformat()}/{label}"),
            payload=[run_date.isoformat(), label],
        )
        with exclusive_run(self._p, label, run_date):
            days = self._days_to_run(run_date, label)
            if not days:
                return CobResult(run_date, label, 0, 0, 0, 0, 0, already_done=True)
            results = [self._run_day(day, i, n, progress) for day in days]
        return CobResult(
            run_date,
            label,
            expired_listings=sum(r.expired_listings for r in results),
            collected=sum(r.collected for r in results),
            overdue=sum(r.overdue for r in results),
            defaulted=sum(r.defaulted for r in results),
            expired_holds=sum(r.expired_holds for r in results),
            days=tuple(days),
        )

    def _days_to_run(self, run_date: date, label: str) -> list[date]:
        """The dates this run covers, in order: the days skipped since the last completed run of
        ``label`` (or of the whole book, ``1/1``), then ``run_date``; empty if it is done."""
        shards = (label, "1/1")

        def read(tx: UnitOfWork) -> tuple[bool, date | None]:
            done = tx.conn.execute(
                select(cob_runs.c.run_date).where(
                    cob_runs.c.state == "done",
                    cob_runs.c.shard.in_(shards),
                    cob_runs.c.run_date == run_date,
                )
            ).first()
            last = tx.conn.execute(
                select(func.max(cob_runs.c.run_date)).where(
                    cob_runs.c.state == "done", cob_runs.c.shard.in_(shards)
                )
            ).scalar()
            return done is not None, last

        done, last = self._p.runner.run("cob.dates", read)
        if done:
            return []
        if last is None:
            return [run_date]
        if run_date < last:
            raise InvalidState(
                f"COB date {run_date.isoformat()} is before the last completed close of business"
                f" ({last.isoformat()}, shard {label}): close of business runs dates in"
                " order and never goes back"
            )
        return [last + timedelta(days=k) for k in range(1, (run_date - last).days + 1)]

    def _run_day(self, run_date: date, i: int, n: int, progress: Progress | None) -> CobResult:
        """Close business for one date (its skipped predecessors already ran)."""
        label = f"{i}/{n}"
        end = datetime.combine(run_date + timedelta(days=1), time(0), tzinfo=UTC)

        def start(tx: UnitOfWork) -> None:
            row = tx.conn.execute(
                select(cob_runs.c.state).where(
                    cob_runs.c.run_date == run_date, cob_runs.c.shard == label
                )
            ).first()
            if row is None:
                tx.conn.execute(
                    cob_runs.insert().values(
                        run_date=run_date, shard=label, state="running", started_at=tx.now
                    )
                )

        self._p.runner.run("cob.start", start)

        expired = self._expire_listings(end, i, n)
        # transfers open past their expiry end (the principal they locked is free again)
        self._p.runner.run_batches(
            "cob.expire_transfers",
            lambda tx: market.expire_transfers(tx, end, HOLD_SWEEP_BATCH),
        )
        released = self._p.runner.run_batches(
            "cob.expire_holds", lambda tx: holds.expire_holds(tx, end, HOLD_SWEEP_BATCH)
        )
        collected = overdue = defaulted = 0
        chunk = max(1, self._p.config.cob_chunk)
        self._close_open_ended(run_date, i, n, chunk)
        todo = self._due_loans(run_date, i, n)
        for start_at in range(0, len(todo), chunk):
            part = todo[start_at : start_at + chunk]

            def work(tx: UnitOfWork, part: list[str] = part) -> tuple[int, int, int]:
                ctx = tx.on(run_date)
                done = {
                    r.loan_id
                    for r in tx.conn.execute(
                        select(cob_steps.c.loan_id).where(
                            cob_steps.c.run_date == run_date, cob_steps.c.loan_id.in_(part)
                        )
                    )
                }
                ids = [loan_id for loan_id in part if loan_id not in done]
                if not ids:
                    return 0, 0, 0
                c, o, d = process_loans(ctx, ids, run_date)
                tx.conn.execute(
                    cob_steps.insert(),
                    [
                        {
                            "run_date": run_date,
                            "loan_id": loan_id,
                            "step": "loan",
                            "done_at": tx.now,
                        }
                        for loan_id in ids
                    ],
                )
                return c, o, d

            c, o, d = self._p.runner.run("cob.loans", work)
            collected, overdue, defaulted = collected + c, overdue + o, defaulted + d
            if progress:
                progress(min(start_at + chunk, len(todo)), len(todo))

        def finish(tx: UnitOfWork) -> None:
            # the day's end: plugins settle what they gathered over the day's chunks (the
            # reserve pays the day's claims pro rata) in the transaction that marks it done,
            # so a crash before it reruns the close, never half of it; the guard on the run's
            # state makes the notification once per date and shard
            marked = tx.conn.execute(
                update(cob_runs)
                .where(
                    cob_runs.c.run_date == run_date,
                    cob_runs.c.shard == label,
                    cob_runs.c.state != "done",
                )
                .values(state="done", finished_at=tx.now, collected=collected, overdue=overdue)
            )
            if marked.rowcount == 1:
                self._p.hooks.cob_day(tx.on(run_date), run_date, label)

        self._p.runner.run("cob.finish", finish)
        return CobResult(run_date, label, expired, collected, overdue, defaulted, released)

    # -- steps -------------------------------------------------------------------------------------

    def _expire_listings(self, end: datetime, i: int, n: int) -> int:
        def ids(tx: UnitOfWork) -> list[str]:
            return [
                r.id
                for r in tx.conn.execute(
                    select(listings.c.id)
                    .where(listings.c.state == S.PUBLISHED, listings.c.closes_at <= end)
                    .order_by(listings.c.closes_at, listings.c.id)
                )
            ]

        count = 0
        for listing_id in self._p.runner.run("cob.listings", ids):
            if in_shard(listing_id, i, n):

                def close(tx: UnitOfWork, lid: str = listing_id) -> object:
                    return close_listing(tx, lid)

                self._p.runner.run("cob.close_listing", close)
                count += 1
        return count

    def _close_open_ended(self, run_date: date, i: int, n: int, chunk: int) -> None:
        """Open-ended loans accrue to ``run_date`` and settle what falls due on it (their
        rows are then collected with the day's other due loans), a chunk per transaction."""

        def ids(tx: UnitOfWork) -> list[str]:
            todo = open_ended.loans_to_close(tx.on(run_date), run_date)
            return [loan_id for loan_id in todo if in_shard(loan_id, i, n)]

        todo = self._p.runner.run("cob.open_ended", ids)
        for start_at in range(0, len(todo), chunk):

            def work(tx: UnitOfWork, part: list[str] = todo[start_at : start_at + chunk]) -> int:
                return open_ended.close_day(tx.on(run_date), run_date, part)

            self._p.runner.run("cob.accrue", work)

    def _due_loans(self, run_date: date, i: int, n: int) -> list[str]:
        def run(tx: UnitOfWork) -> list[str]:
            rows = tx.conn.execute(
                select(installments.c.loan_id)
                .distinct()
                .join(loans, loans.c.id == installments.c.loan_id)
                .where(
                    installments.c.due_date <= run_date,
                    installments.c.state.in_((S.INST_PENDING, S.INST_OVERDUE)),
                    loans.c.state.in_(S.OPEN_LOAN_STATES),
                )
                .order_by(installments.c.loan_id)
            )
            done = {
                r.loan_id
                for r in tx.conn.execute(
                    select(cob_steps.c.loan_id).where(cob_steps.c.run_date == run_date)
                )
            }
            return [r.loan_id for r in rows if r.loan_id not in done and in_shard(r.loan_id, i, n)]

        return self._p.runner.run("cob.due_loans", run)

    def status(self, run_date: date) -> list[dict[str, Any]]:
        """The runs recorded for ``run_date`` (per shard)."""

        def run(tx: UnitOfWork) -> list[dict[str, Any]]:
            return [
                dict(r._mapping)
                for r in tx.conn.execute(select(cob_runs).where(cob_runs.c.run_date == run_date))
            ]

        return self._p.runner.run("cob.status", run)
