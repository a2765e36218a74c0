"""Close of business (日终): the nightly batch for one business date.

``platform.cob.run(date)``: close listings whose funding window ended (流标 if short), release
expired holds, then for every open loan with an installment due: collect from the borrower's
available balance, mark what is still unpaid past the grace days overdue, accrue penalty interest
up to the date, fire the overdue hooks and the waterfall, and default loans past the threshold.

Idempotent per date: each loan's work and its ``lendkit_cob_steps`` marker commit together in a
chunk transaction, so a crash loses at most the chunk in flight and a rerun skips what is done;
nobody is paid twice. ``shard="i/n"`` splits loans (and listings) by a hash of their id so that
several processes can share one date on PostgreSQL.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from lendkit.core import states as S
from lendkit.core.errors import InvalidValue
from lendkit.core.money import DEFAULT_ROUNDING, Money
from lendkit.core.records import Claim, CobResult, Installment
from lendkit.services import custody
from lendkit.services.common import get_row
from lendkit.services.context import Ctx
from lendkit.services.loans import investors_owed
from lendkit.services.uow import Tx
from lendkit.store.tables import cob_runs, cob_steps, installments, listings, loans

if TYPE_CHECKING:
    from lendkit.platform import Platform

Progress = Callable[[int, int], None]


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


class CobService:
    """``platform.cob``."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    def run(
        self, run_date: date, shard: str = "1/1", progress: Progress | None = None
    ) -> CobResult:
        """Run close of business for ``run_date`` (idempotent; resumable after a crash)."""
        if not isinstance(run_date, date) or isinstance(run_date, datetime):
            raise InvalidValue(f"COB date {run_date!r} must be a datetime.date")
        i, n = parse_shard(shard)
        label = f"{i}/{n}"
        end = datetime.combine(run_date + timedelta(days=1), time(0), tzinfo=UTC)

        def start(tx: Tx) -> bool:
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
                return False
            return bool(row.state == "done")

        if self._p.runner.run("cob.start", start):
            return CobResult(run_date, label, 0, 0, 0, 0, 0, already_done=True)

        expired = self._expire_listings(end, i, n)
        released = self._p.custody.expire_holds(now=end)
        collected = overdue = defaulted = 0
        todo = self._due_loans(run_date, i, n)
        chunk = max(1, self._p.config.cob_chunk)
        for start_at in range(0, len(todo), chunk):
            part = todo[start_at : start_at + chunk]

            def work(tx: Tx, part: list[str] = part) -> tuple[int, int, int]:
                ctx = Ctx(tx, business_date=run_date)
                done = {
                    r.loan_id
                    for r in tx.conn.execute(
                        select(cob_steps.c.loan_id).where(
                            cob_steps.c.run_date == run_date, cob_steps.c.loan_id.in_(part)
                        )
                    )
                }
                c = o = d = 0
                for loan_id in part:
                    if loan_id in done:
                        continue
                    got, late, dflt = self._process_loan(ctx, loan_id, run_date)
                    c, o, d = c + got, o + late, d + dflt
                    tx.conn.execute(
                        cob_steps.insert().values(
                            run_date=run_date, loan_id=loan_id, step="loan", done_at=tx.now
                        )
                    )
                return c, o, d

            c, o, d = self._p.runner.run("cob.loans", work)
            collected, overdue, defaulted = collected + c, overdue + o, defaulted + d
            if progress:
                progress(min(start_at + chunk, len(todo)), len(todo))

        def finish(tx: Tx) -> None:
            tx.conn.execute(
                update(cob_runs)
                .where(cob_runs.c.run_date == run_date, cob_runs.c.shard == label)
                .values(state="done", finished_at=tx.now, collected=collected, overdue=overdue)
            )

        self._p.runner.run("cob.finish", finish)
        return CobResult(run_date, label, expired, collected, overdue, defaulted, released)

    # -- steps -------------------------------------------------------------------------------------

    def _expire_listings(self, end: datetime, i: int, n: int) -> int:
        def ids(tx: Tx) -> list[str]:
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

                def close(tx: Tx, lid: str = listing_id) -> object:
                    return self._p.listings._close(Ctx(tx), lid)

                self._p.runner.run("cob.close_listing", close)
                count += 1
        return count

    def _due_loans(self, run_date: date, i: int, n: int) -> list[str]:
        def run(tx: Tx) -> list[str]:
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

    def _process_loan(self, ctx: Ctx, loan_id: str, run_date: date) -> tuple[int, int, int]:
        loans_svc = self._p.loans
        cfg = self._p.config
        loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
        if loan.state not in S.OPEN_LOAN_STATES:
            return 0, 0, 0
        collected = 0
        due_rows = [
            r for r in loans_svc._installments(ctx, loan_id, unpaid=True) if r.due_date <= run_date
        ]
        owed = sum(
            r.principal
            + r.interest
            + r.penalty
            - r.paid_principal
            - r.paid_interest
            - r.paid_penalty
            for r in due_rows
        )
        available = custody.balance_of(ctx, loan.borrower_id, loan.currency).available.minor
        pay = min(owed, available)
        if pay > 0:
            loans_svc._apply(ctx, loan, pay, "collection")
            collected = 1
        loan = get_row(ctx.conn, loans, loan_id, "loan")
        late = 0
        worst = 0
        record = None
        to_cover: list[tuple[int, int]] = []
        for r in loans_svc._installments(ctx, loan_id, unpaid=True):
            if r.due_date > run_date:
                break
            days = (run_date - r.due_date).days
            if days <= cfg.grace_days:
                continue
            late += 1
            worst = max(worst, days)
            since = r.penalty_through or r.due_date
            accrue_days = (run_date - since).days
            base = r.principal + r.interest - r.paid_principal - r.paid_interest
            penalty = (
                int(
                    DEFAULT_ROUNDING.quantize(
                        Decimal(base) * cfg.penalty_daily_rate * accrue_days, "JPY"
                    )
                )
                if accrue_days > 0
                else 0
            )
            ctx.conn.execute(
                update(installments)
                .where(installments.c.loan_id == loan_id, installments.c.period == r.period)
                .values(
                    state=S.INST_OVERDUE,
                    penalty=installments.c.penalty + penalty,
                    penalty_through=run_date,
                )
            )
            if record is None:
                if loan.state == S.ACTIVE:
                    ctx.conn.execute(
                        update(loans).where(loans.c.id == loan_id).values(state=S.OVERDUE)
                    )
                record = loans_svc._load(ctx, loan_id)
            cur = loan.currency
            inst = Installment(
                r.period,
                r.due_date,
                Money.from_minor(r.principal + r.interest, cur),
                Money.from_minor(r.principal, cur),
                Money.from_minor(r.interest, cur),
                Money.zero(cur),
            )
            self._p.hooks.installment_overdue(ctx, record, inst, days)
            if cfg.waterfall and days >= cfg.cover_after_days:
                to_cover.append((r.period, days))
        defaulted = 0
        if worst >= cfg.default_after_days and loan.state != S.DEFAULTED:
            ctx.conn.execute(update(loans).where(loans.c.id == loan_id).values(state=S.DEFAULTED))
            self._p.hooks.loan_defaulted(ctx, loans_svc._load(ctx, loan_id))
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

    def _waterfall(self, ctx: Ctx, claim: Claim) -> Money:
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

        def run(tx: Tx) -> list[dict[str, Any]]:
            return [
                dict(r._mapping)
                for r in tx.conn.execute(select(cob_runs).where(cob_runs.c.run_date == run_date))
            ]

        return self._p.runner.run("cob.status", run)
