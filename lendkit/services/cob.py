"""Close of business (日终): the nightly batch for one business date.

``platform.cob.run(date)``: close listings whose funding window ended (流标 if short), release
expired holds, then for every open loan with an installment due: collect from the borrower's
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

import itertools
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, text, update

from lendkit.core import states as S
from lendkit.core.errors import (
    CobRunning,
    InsufficientFunds,
    InvalidState,
    InvalidValue,
    NotFound,
    PluginError,
)
from lendkit.core.ledger import REVENUE, AccountRef
from lendkit.core.money import Money
from lendkit.core.payments import allocate_payment
from lendkit.core.records import Claim, CobResult, Installment
from lendkit.ops import holds, open_ended
from lendkit.ops.listings import close_listing
from lendkit.ops.parties import require_party
from lendkit.services.loans import (
    Booking,
    accrue_penalty,
    apply_payment,
    booking,
    installment_rows,
    installments_paid,
    investors_owed,
    load_loan,
    loan_basis,
    owed_by_part,
    owed_of,
    write_payments,
)
from lendkit.store.rows import get_row
from lendkit.store.tables import (
    accounts,
    cob_runs,
    cob_steps,
    installments,
    listings,
    loans,
    positions,
)
from lendkit.uow import UnitOfWork

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite runs are not guarded across processes
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from lendkit.platform import Platform

Progress = Callable[[int, int], None]
#: a collection whose debit is refused (the balance fell meanwhile) is retried this many times
MAX_COLLECTION_ATTEMPTS = 3
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


def in_shard(obj_id: str, i: int, n: int) -> bool:
    return n == 1 or zlib.crc32(obj_id.encode()) % n == i - 1


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
    ) -> CobResult:
        """Run close of business for ``run_date`` (idempotent; resumable after a crash).

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
                c, o, d = self._process_loans(ctx, ids, run_date)
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

    def _process_loans(
        self, ctx: UnitOfWork, ids: list[str], run_date: date
    ) -> tuple[int, int, int]:
        """Close business for ``ids`` in order, as ``_process_loan`` on each would.

        Loans whose day is a plain collection (an active loan, no claims, not settled by it,
        nothing left past the grace days) are computed in Python from a few bulk reads and
        written in bulk; any other loan flushes what is pending and takes ``_process_loan``,
        after which the rest is read again.
        """
        hooks = self._p.hooks
        if hooks.implemented("payment_allocation_order", "repayment_received") or hooks.replaced(
            "collection_sources"
        ):
            c = o = d = 0
            for loan_id in ids:
                got, late, dflt = self._process_loan(ctx, loan_id, run_date)
                c, o, d = c + got, o + late, d + dflt
            return c, o, d
        c = o = d = 0
        rest = ids
        refused = 0
        while rest:
            batch = _CollectionBatch(self._p, ctx, rest, run_date)
            try:
                with ctx.savepoint():
                    slow = batch.run()
            except InsufficientFunds:
                # a borrower's balance fell between the batch's read and its debit (a concurrent
                # withdrawal): plan again from fresh balances once; if it happens again, take
                # the first loan on the careful path (which collects what is there) and go on
                refused += 1
                if refused == 1:
                    continue
                slow = 0
            else:
                c += batch.collected
            if slow is None:
                break
            got, late, dflt = self._process_loan(ctx, rest[slow], run_date)
            c, o, d = c + got, o + late, d + dflt
            rest = rest[slow + 1 :]
        return c, o, d

    def _process_loan(self, ctx: UnitOfWork, loan_id: str, run_date: date) -> tuple[int, int, int]:
        cfg = self._p.config
        loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
        if loan.state not in S.OPEN_LOAN_STATES:
            return 0, 0, 0
        collected = 0
        due_rows = [
            r for r in installment_rows(ctx, loan_id, unpaid=True) if r.due_date <= run_date
        ]
        if self._p.hooks.replaced("collection_sources"):
            collected = self._collect_from_sources(ctx, loan, due_rows)
        else:
            owed = sum(sum(owed_by_part(r).values()) for r in due_rows)
            if owed > 0:
                collected = min(1, self._collect(ctx, loan, owed, loan.borrower_id))
        loan = get_row(ctx.conn, loans, loan_id, "loan")
        late = 0
        worst = 0
        record = None
        penalty_rate = cfg.penalty_daily_rate
        to_cover: list[tuple[int, int]] = []
        for r in installment_rows(ctx, loan_id, unpaid=True):
            if r.due_date > run_date:
                break
            days = (run_date - r.due_date).days
            if days <= cfg.grace_days:
                continue
            late += 1
            worst = max(worst, days)
            inst = _installment(r, loan.currency)
            if record is None:
                if loan.state == S.ACTIVE:
                    ctx.conn.execute(
                        update(loans).where(loans.c.id == loan_id).values(state=S.OVERDUE)
                    )
                record = load_loan(ctx, loan_id)
                # asked once per loan and run (the oldest overdue row), not per row
                penalty_rate = self._p.hooks.penalty_rate(ctx, record, inst, cfg.penalty_daily_rate)
            since = r.penalty_through or r.due_date
            # the days on the loan's basis, counted from the due date (30/360 is not additive)
            elapsed = loan_basis(loan).days_within(r.due_date, since, run_date)
            base_days, penalty = accrue_penalty(r, elapsed, penalty_rate)
            ctx.conn.execute(
                update(installments)
                .where(installments.c.loan_id == loan_id, installments.c.period == r.period)
                .values(
                    state=S.INST_OVERDUE,
                    penalty=installments.c.penalty + penalty,
                    penalty_base_days=base_days,
                    penalty_through=max(since, run_date),
                )
            )
            self._p.hooks.installment_overdue(ctx, record, inst, days)
            if cfg.waterfall and days >= cfg.cover_after_days:
                to_cover.append((r.period, days))
        defaulted = 0
        if worst >= cfg.default_after_days and loan.state != S.DEFAULTED:
            ctx.conn.execute(update(loans).where(loans.c.id == loan_id).values(state=S.DEFAULTED))
            self._p.hooks.loan_defaulted(ctx, load_loan(ctx, loan_id))
            defaulted = 1
        # the waterfall runs after the default decision, so cover that pays only on default
        # (general liability, default-triggered policies) pays on the day the loan defaults
        reason = "default" if defaulted or loan.state == S.DEFAULTED else "overdue"
        for period, days in to_cover:
            row = ctx.conn.execute(
                select(installments).where(
                    installments.c.loan_id == loan_id, installments.c.period == period
                )
            ).one()
            owed_p, owed_i = investors_owed(row)
            if owed_p or owed_i:
                cur = loan.currency
                self._waterfall(
                    ctx,
                    Claim(
                        loan_id,
                        period,
                        reason,
                        days,
                        Money.from_minor(owed_p, cur),
                        Money.from_minor(owed_i, cur),
                    ),
                )
        return collected, late, defaulted

    def _collect_from_sources(self, ctx: UnitOfWork, loan: Any, due_rows: list[Any]) -> int:
        """Collect the due installments oldest first, each from the parties
        ``lendkit_collection_sources`` names, in order; 1 if anything was collected.

        Stops at the first installment its sources cannot pay in full: a later payment would
        go to that older installment first, not to the one its payer was asked for.
        """
        got = 0
        for r in due_rows:
            owed = sum(owed_by_part(r).values())
            if owed <= 0:
                continue
            record = load_loan(ctx, loan.id)  # as the previous installment's payments left it
            inst = _installment(r, loan.currency)
            for payer in self._p.hooks.collection_sources(ctx, record, inst):
                try:
                    require_party(ctx, payer)
                except NotFound as e:
                    raise PluginError(
                        f"lendkit_collection_sources named {payer!r} for loan {loan.id}"
                        f" installment {r.period}: {e}"
                    ) from e
                paid = self._collect(ctx, loan, owed, payer)
                got, owed = got + paid, owed - paid
                if owed == 0:
                    break
            if owed:
                break
        return min(1, got)

    def _collect(self, ctx: UnitOfWork, loan: Any, owed: int, payer: str) -> int:
        """Collect up to ``owed`` from ``payer``'s available balance; what was collected.

        The balance is read, then debited by a guarded update. If it fell in between (the
        payer withdrew in a concurrent transaction), the guard refuses the debit: the attempt
        is rolled back to its savepoint and what is there now is collected instead (nothing, if
        nothing is left: the installment stays unpaid), so one payer cannot abort the chunk.
        """
        available = holds.balance_of(ctx, payer, loan.currency).available.minor
        source = None if payer == loan.borrower_id else ctx.party_account(payer, loan.currency)
        for _attempt in range(MAX_COLLECTION_ATTEMPTS):
            pay = min(owed, available)
            if pay <= 0:
                return 0
            try:
                with ctx.savepoint():
                    apply_payment(ctx, loan, pay, "collection", source)
            except InsufficientFunds:
                now = holds.balance_of(ctx, payer, loan.currency).available.minor
                if now >= pay:
                    raise  # not the payer's balance: a plugin's refusal, not this race
                available = now
                continue
            return pay
        return 0

    def _waterfall(self, ctx: UnitOfWork, claim: Claim) -> Money:
        """Ask each covering plugin in the configured order to pay what is still unpaid.

        The claim each plugin sees is re-read after the previous one paid, so no part of an
        installment is paid twice.
        """
        paid_total = Money.zero(claim.principal.currency)
        for _name, impl in self._p.hooks.coverers(self._p.config.waterfall):
            if not (claim.principal + claim.interest).is_positive():
                break
            paid = self._p.hooks.cover_claim(impl, ctx, claim)
            if isinstance(paid, Money):
                paid_total = paid_total + paid
            row = ctx.conn.execute(
                select(installments).where(
                    installments.c.loan_id == claim.loan_id, installments.c.period == claim.period
                )
            ).one()
            owed_p, owed_i = investors_owed(row)
            cur = claim.principal.currency
            claim = Claim(
                claim.loan_id,
                claim.period,
                claim.reason,
                claim.days_overdue,
                Money.from_minor(owed_p, cur),
                Money.from_minor(owed_i, cur),
            )
        return paid_total

    def status(self, run_date: date) -> list[dict[str, Any]]:
        """The runs recorded for ``run_date`` (per shard)."""

        def run(tx: UnitOfWork) -> list[dict[str, Any]]:
            return [
                dict(r._mapping)
                for r in tx.conn.execute(select(cob_runs).where(cob_runs.c.run_date == run_date))
            ]

        return self._p.runner.run("cob.status", run)


def _installment(row: Any, currency: str) -> Installment:
    """The schedule row of an installment's database row, as hooks see it."""
    return Installment(
        row.period,
        row.due_date,
        Money.from_minor(row.principal + row.interest, currency),
        Money.from_minor(row.principal, currency),
        Money.from_minor(row.interest, currency),
        Money.zero(currency),
    )


class _CollectionBatch:
    """The plain collections of a run of loans, computed in Python and written in bulk."""

    def __init__(self, platform: Platform, ctx: UnitOfWork, ids: list[str], run_date: date) -> None:
        self._p = platform
        self.ctx = ctx
        self.ids = ids
        self.run_date = run_date
        self.collected = 0
        self._inst_updates: list[dict[str, Any]] = []
        self._booked: list[Booking] = []
        self._revenue: AccountRef | None = None

    def _load(self) -> None:
        conn = self.ctx.conn
        ids = self.ids
        self.loans: dict[str, Any] = {}
        self.rows: dict[str, list[Any]] = {}
        self.pos: dict[str, list[Any]] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            stmt = select(loans).where(loans.c.id.in_(part)).order_by(loans.c.id)
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            for r in conn.execute(stmt):
                self.loans[r.id] = r
            for r in conn.execute(
                select(installments)
                .where(
                    installments.c.loan_id.in_(part),
                    installments.c.state != S.INST_CANCELLED,
                    installments.c.state != S.INST_PAID,
                )
                .order_by(installments.c.loan_id, installments.c.period)
            ):
                self.rows.setdefault(r.loan_id, []).append(r)
            for r in conn.execute(
                select(positions)
                .where(positions.c.loan_id.in_(part))
                .order_by(positions.c.loan_id, positions.c.seq)
            ):
                self.pos.setdefault(r.loan_id, []).append(r)
        codes: set[str] = set()
        for loan in self.loans.values():
            codes.add(f"party:{loan.borrower_id}:available:{loan.currency}")
            for p in self.pos.get(loan.id, ()):
                codes.add(f"party:{p.holder_id}:available:{loan.currency}")
        self.accounts: dict[str, AccountRef] = {}
        self.balances: dict[int, int] = {}
        code_list = sorted(codes)
        for start in range(0, len(code_list), 900):
            for r in conn.execute(
                select(
                    accounts.c.id,
                    accounts.c.code,
                    accounts.c.currency,
                    accounts.c.allow_negative,
                    accounts.c.balance,
                ).where(accounts.c.code.in_(code_list[start : start + 900]))
            ):
                self.accounts[r.code] = AccountRef(r.id, r.code, r.currency, bool(r.allow_negative))
                self.balances[r.id] = int(r.balance)

    def run(self) -> int | None:
        """Process loans in order; the index of the first loan that needs the full path, if any."""
        self._load()
        for index, loan_id in enumerate(self.ids):
            if not self._plan(loan_id):
                self._flush()
                return index
        self._flush()
        return None

    def _plan(self, loan_id: str) -> bool:
        """Queue this loan's collection; False (nothing queued) if it needs the full path."""
        cfg = self._p.config
        run_date = self.run_date
        loan = self.loans.get(loan_id)
        if loan is None:
            return False
        if loan.state not in S.OPEN_LOAN_STATES:
            return True
        if loan.state != S.ACTIVE or cfg.default_after_days <= 0:
            return False
        rows = self.rows.get(loan_id, [])
        for r in rows:
            if r.covered_principal != r.recovered_principal:
                return False  # recoveries: third parties' claims and their hooks
            if r.covered_interest != r.recovered_interest:
                return False
        # the rows due (a prefix, by period): the collection never reaches a later one
        owed = [owed_of(r) for r in itertools.takewhile(lambda r: r.due_date <= run_date, rows)]
        due = sum(o.total for o in owed)
        cur = loan.currency
        source = self.accounts.get(f"party:{loan.borrower_id}:available:{cur}")
        available = self.balances.get(source.id, 0) if source is not None else 0
        pay = min(due, available)
        paid = None
        left_rows = rows  # what is unpaid after the collection, by period
        if pay > 0:
            # the configured order: a plugin's order (lendkit_payment_allocation_order) sends
            # every loan down the single path (see _process_loans)
            paid = allocate_payment(pay, owed, cfg.allocation_order)
            left_rows = rows[sum(1 for a in paid.installments if a.settled) :]
            if not left_rows:
                return False  # the loan settles: closing hooks and credit release
        for r in left_rows:
            if r.due_date > run_date:
                break
            if (run_date - r.due_date).days > cfg.grace_days:
                return False  # overdue handling, hooks, waterfall, default
        if paid is None:
            return True
        assert source is not None
        pos = self.pos.get(loan_id, [])
        if not pos:
            return False
        holders = {}
        for p in pos:
            ref = self.accounts.get(f"party:{p.holder_id}:available:{cur}")
            if ref is None:
                return False
            holders[p.holder_id] = ref
        booked = booking(
            self.ctx,
            loan,
            source,
            "collection",
            pos,
            holders,
            paid.penalty,
            paid.interest,
            paid.principal,
            revenue=self._revenue_account,
        )
        for leg in booked.legs:
            self.balances[leg.account.id] = self.balances.get(leg.account.id, 0) + leg.amount
        self._inst_updates.extend(installments_paid(loan_id, rows, paid, self.ctx.now))
        self._booked.append(booked)
        self.collected += 1
        return True

    def _revenue_account(self) -> AccountRef:
        """Platform revenue, found (or created) once per chunk, when a fee is first taken."""
        if self._revenue is None:
            self._revenue = self.ctx.system("revenue", REVENUE)
        return self._revenue

    def _flush(self) -> None:
        """Write what ``_plan`` computed: the same rows a single repayment writes, in bulk."""
        write_payments(self.ctx, self._inst_updates, self._booked)
        self._inst_updates, self._booked = [], []
