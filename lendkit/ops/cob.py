"""Close of business for a chunk of loans: collect what is due (from the collection sources), mark overdue and defaulted installments, accrue penalty, run the waterfall of third parties. Loans whose day is a plain collection are computed in bulk (``_CollectionBatch``) with the one repayment algorithm and written in batches; the others take :func:`process_loan`."""

from __future__ import annotations

import itertools
import zlib
from datetime import date
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import Connection, event, select, update

from lendkit.core import states as S
from lendkit.core.errors import (
    Forbidden,
    InsufficientFunds,
    InvalidAmount,
    NotFound,
    PluginError,
)
from lendkit.core.ledger import REVENUE, AccountRef
from lendkit.core.money import Money
from lendkit.core.payments import allocate_payment
from lendkit.core.records import Claim, Installment
from lendkit.ops import holds
from lendkit.ops.loans import (
    accrue_penalty,
    installment_rows,
    load_loan,
    loan_basis,
    owed_of,
    record_of,
    unpaid_interest_of,
)
from lendkit.ops.parties import require_party
from lendkit.ops.repayment import (
    Booking,
    apply_payment,
    booking,
    check_source,
    defer_repayments,
    installments_paid,
    payment_record,
    repayments_received,
    write_payments,
)
from lendkit.store.rows import get_row
from lendkit.store.tables import (
    accounts,
    installments,
    loans,
    positions,
)
from lendkit.uow import UnitOfWork

if TYPE_CHECKING:
    pass


#: a collection whose debit is refused (the balance fell meanwhile) is retried this many times
MAX_COLLECTION_ATTEMPTS = 3


def in_shard(obj_id: str, i: int, n: int) -> bool:
    return n == 1 or zlib.crc32(obj_id.encode()) % n == i - 1


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

    def __init__(
        self,
        ctx: UnitOfWork,
        ids: list[str],
        run_date: date,
        single: set[str],
        revenue: AccountRef | None = None,
    ) -> None:
        self.ctx = ctx
        self.ids = ids
        self.run_date = run_date
        self.single = single  # the loans a plugin's per-loan hooks must see
        self.collected = 0
        self.late = 0
        self.defaulted = 0
        self._inst_updates: list[dict[str, Any]] = []
        self._booked: list[Booking] = []
        self._revenue = revenue  # an earlier batch's of the chunk (committed to its savepoint)

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
                stmt = stmt.with_for_update(key_share=True)  # FOR NO KEY UPDATE (store.rows)
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

    def run(self) -> tuple[int, bool] | None:
        """Process loans in order. ``None`` when every loan is done; else ``(index, slow)``:
        the loan at ``index`` needs the full path (``slow``), or (not ``slow``) the loans
        before it are done but the overdue handling of the last one changed rows or balances
        this batch read (its hooks did), so the rest must be read again from ``index``."""
        self._load()
        for index, loan_id in enumerate(self.ids):
            planned = self._plan(loan_id)
            if planned is _SLOW:
                self._flush()
                return index, True
            if planned is _OVERDUE:
                # the loan's collection (if any) is queued: write it and everything before
                # it, so the hooks see what the one-loan path would show them, then handle
                # the overdue rows exactly as process_loan does (from the rows read, unless
                # the loan paid something: then they are read again)
                paid = bool(self._booked) and self._booked[-1].loan_id == loan_id
                self._flush()
                watch = _CoreWrites(self.ctx.conn)
                known = None
                if not paid:
                    known = (
                        self.loans[loan_id],
                        self.rows.get(loan_id, []),
                        self.pos.get(loan_id, []),
                    )
                late, dflt = overdue_handling(self.ctx, loan_id, self.run_date, watch, known)
                self.late += late
                self.defaulted += dflt
                if watch.count:
                    return index + 1, False
        self._flush()
        return None

    def _plan(self, loan_id: str) -> object:
        """Queue this loan's collection: ``_DONE``, or ``_OVERDUE`` when rows are left past
        their grace days (handled by ``overdue_handling`` once the queue is written), or
        ``_SLOW`` (nothing queued) when the loan needs the full path."""
        cfg = self.ctx.platform_config
        run_date = self.run_date
        loan = self.loans.get(loan_id)
        if loan is None:
            return _SLOW
        if loan.state not in S.OPEN_LOAN_STATES:
            return _DONE
        if loan_id in self.single or cfg.default_after_days <= 0:
            return _SLOW
        rows = self.rows.get(loan_id, [])
        for r in rows:
            if r.covered_principal != r.recovered_principal:
                return _SLOW  # recoveries: third parties' claims and their hooks
            if r.covered_interest != r.recovered_interest:
                return _SLOW
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
            if loan.state != S.ACTIVE:
                return _SLOW  # a payment may move an overdue or defaulted loan's state
            # the configured order: a plugin's order (lendkit_payment_allocation_order) sends
            # its loans (or every loan) down the single path (see _process_loans)
            paid = allocate_payment(pay, owed, cfg.allocation_order)
            left_rows = rows[sum(1 for a in paid.installments if a.settled) :]
            if not left_rows:
                return _SLOW  # the loan settles: closing hooks and credit release
        done: object = _DONE
        for r in left_rows:
            if r.due_date > run_date:
                break
            if (run_date - r.due_date).days > cfg.grace_days:
                done = _OVERDUE  # overdue handling, hooks, waterfall, default
                break
        if paid is None:
            return done
        assert source is not None
        pos = self.pos.get(loan_id, [])
        if not pos:
            return _SLOW
        holders = {}
        for p in pos:
            ref = self.accounts.get(f"party:{p.holder_id}:available:{cur}")
            if ref is None:
                return _SLOW
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
        return done

    @property
    def revenue(self) -> AccountRef | None:
        """Platform revenue's account if this batch found it (the next batch reuses it)."""
        return self._revenue

    def _revenue_account(self) -> AccountRef:
        """Platform revenue, found (or created) once per chunk, when a fee is first taken."""
        if self._revenue is None:
            self._revenue = self.ctx.system("revenue", REVENUE)
        return self._revenue

    def _flush(self) -> None:
        """Write what ``_plan`` computed: the same rows a single repayment writes, in bulk."""
        write_payments(self.ctx, self._inst_updates, self._booked)
        repayments_received(
            self.ctx, [payment_record(b, self.loans[b.loan_id].currency) for b in self._booked]
        )
        self._inst_updates, self._booked = [], []


def process_loans(ctx: UnitOfWork, ids: list[str], run_date: date) -> tuple[int, int, int]:
    """Close business for ``ids`` in order, as ``process_loan`` on each would.

    Loans whose day is a plain collection (an active loan, no claims, not settled by it, no
    plugin asking to see it one by one) are computed in Python from a few bulk reads and
    written in bulk; a loan left with installments past their grace days has its collection
    written with those before it and its overdue rows handled as ``process_loan`` handles them
    (the same statements and hooks, in the same order), after which the batch goes on with
    what it read unless those hooks wrote loans, installments, positions or balances (then the
    rest is read again). Any other loan flushes what is pending and takes ``process_loan``,
    after which the rest is read again. Either way the chunk's payments reach
    ``lendkit_repayments_received`` together, once the chunk is done.
    """
    with defer_repayments(ctx):
        return _process_loans(ctx, ids, run_date)


def _process_loans(ctx: UnitOfWork, ids: list[str], run_date: date) -> tuple[int, int, int]:
    # a plugin listening per loan without naming its loans sends every loan one by one
    single = ctx.hooks.cob_single_loans(ctx, ids)
    if single is None:
        c = o = d = 0
        for loan_id in ids:
            got, late, dflt = process_loan(ctx, loan_id, run_date)
            c, o, d = c + got, o + late, d + dflt
        return c, o, d
    c = o = d = 0
    rest = ids
    refused = 0
    revenue: AccountRef | None = None
    while rest:
        batch = _CollectionBatch(ctx, rest, run_date, single, revenue)
        try:
            with ctx.savepoint():
                stop = batch.run()
        except InsufficientFunds:
            # a borrower's balance fell between the batch's read and its debit (a concurrent
            # withdrawal): plan again from fresh balances once; if it happens again, take
            # the first loan on the careful path (which collects what is there) and go on
            refused += 1
            if refused == 1:
                continue
            stop = (0, True)
        else:
            c, o, d = c + batch.collected, o + batch.late, d + batch.defaulted
            revenue = batch.revenue
        if stop is None:
            break
        index, slow = stop
        if slow:
            got, late, dflt = process_loan(ctx, rest[index], run_date)
            c, o, d = c + got, o + late, d + dflt
            index += 1
        rest = rest[index:]
    return c, o, d


def process_loan(ctx: UnitOfWork, loan_id: str, run_date: date) -> tuple[int, int, int]:
    loan = get_row(ctx.conn, loans, loan_id, "loan", lock=True)
    if loan.state not in S.OPEN_LOAN_STATES:
        return 0, 0, 0
    collected = 0
    due_rows = [r for r in installment_rows(ctx, loan_id, unpaid=True) if r.due_date <= run_date]
    if ctx.hooks.replaced("collection_sources"):
        collected = collect_from_sources(ctx, loan, due_rows)
    else:
        owed = sum(owed_of(r).total for r in due_rows)
        if owed > 0:
            collected = min(1, collect(ctx, loan, owed, loan.borrower_id))
    late, defaulted = overdue_handling(ctx, loan_id, run_date)
    return collected, late, defaulted


def overdue_handling(
    ctx: UnitOfWork,
    loan_id: str,
    run_date: date,
    watch: _CoreWrites | None = None,
    known: tuple[Any, list[Any], list[Any]] | None = None,
) -> tuple[int, int]:
    """After the day's collection: mark what is unpaid past the grace days overdue, accrue its
    penalty, notify the plugins, default the loan past the threshold and run the waterfall;
    (overdue installments, 1 if the loan defaulted). ``watch`` (a new one if not given) is
    entered around each hook call (see ``_CoreWrites``): an installment is read again for the
    waterfall only if a hook may have changed it since it was read. ``known``: the loan's row,
    its unpaid installments' rows and its positions' rows as they stand (the batch read them and
    nothing wrote them since), instead of reading them again."""
    cfg = ctx.platform_config
    hooks = watch if watch is not None else _CoreWrites(ctx.conn)
    start = hooks.count
    if known is None:
        loan = get_row(ctx.conn, loans, loan_id, "loan")
        rows = installment_rows(ctx, loan_id, unpaid=True)
    else:
        loan, rows, _ = known
    late = 0
    worst = 0
    record = None
    penalty_rate = cfg.penalty_daily_rate
    to_cover: list[tuple[Any, int]] = []
    for r in rows:
        if r.due_date > run_date:
            break
        days = (run_date - r.due_date).days
        if days <= cfg.grace_days:
            continue
        late += 1
        worst = max(worst, days)
        inst = _installment(r, loan.currency)
        if record is None:
            state = loan.state
            if state == S.ACTIVE:
                ctx.conn.execute(update(loans).where(loans.c.id == loan_id).values(state=S.OVERDUE))
                state = S.OVERDUE
            if known is None or hooks.count != start:
                record = load_loan(ctx, loan_id)
            else:
                loan_row, unpaid, pos = known
                record = attrs.evolve(
                    record_of(loan_row, pos, unpaid_interest_of(unpaid)), state=state
                )
            # asked once per loan and run (the oldest overdue row), not per row
            with hooks:
                penalty_rate = ctx.hooks.penalty_rate(ctx, record, inst, cfg.penalty_daily_rate)
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
        with hooks:
            ctx.hooks.installment_overdue(ctx, record, inst, days)
        if cfg.waterfall and days >= cfg.cover_after_days:
            to_cover.append((r, days))  # its penalty changes, not what investors are owed
    defaulted = 0
    if worst >= cfg.default_after_days and loan.state != S.DEFAULTED:
        ctx.conn.execute(update(loans).where(loans.c.id == loan_id).values(state=S.DEFAULTED))
        with hooks:
            ctx.hooks.loan_defaulted(ctx, load_loan(ctx, loan_id))
        defaulted = 1
    # the waterfall runs after the default decision, so cover that pays only on default
    # (general liability, default-triggered policies) pays on the day the loan defaults
    reason = "default" if defaulted or loan.state == S.DEFAULTED else "overdue"
    for row, days in to_cover:
        period = row.period
        if hooks.count != start:  # a hook wrote a core table: what investors are owed may differ
            row = _installment_row(ctx, loan_id, period)
        left = owed_of(row)
        owed_p, owed_i = left.investors_principal, left.investors_interest
        if owed_p or owed_i:
            cur = loan.currency
            waterfall(
                ctx,
                Claim(
                    loan_id,
                    period,
                    reason,
                    days,
                    Money.from_minor(owed_p, cur),
                    Money.from_minor(owed_i, cur),
                ),
                hooks,
            )
    return late, defaulted


def _installment_row(ctx: UnitOfWork, loan_id: str, period: int) -> Any:
    return ctx.conn.execute(
        select(installments).where(
            installments.c.loan_id == loan_id, installments.c.period == period
        )
    ).one()


#: ``_CollectionBatch._plan``'s answers
_DONE, _OVERDUE, _SLOW = object(), object(), object()
#: the core tables a close-of-business batch reads for the loans after the one it is on
_BATCH_READS = frozenset(t.name for t in (loans, installments, positions, accounts))
_READ_ONLY = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK TO")


class _CoreWrites:
    """Entered around plugins' hook calls (re-entrant): ``count`` counts the statements run
    inside that may have changed what close of business read (the batch for its later loans,
    the waterfall for its claim): writes to loans, installments, positions or accounts (a
    balance), and any statement that is neither a plain read nor a write to another table
    (raw SQL: assumed to write anything)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.count = 0
        self._depth = 0

    def __enter__(self) -> _CoreWrites:
        if self._depth == 0:
            event.listen(self.conn, "before_cursor_execute", self._check)
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            event.remove(self.conn, "before_cursor_execute", self._check)

    def _check(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if statement.lstrip().upper().startswith(_READ_ONLY):
            return
        compiled = getattr(context, "compiled", None)
        table = getattr(getattr(compiled, "statement", None), "table", None)
        name = getattr(table, "name", None)
        dml = context is not None and (context.isinsert or context.isupdate or context.isdelete)
        if not dml or name is None or name in _BATCH_READS:
            self.count += 1


def collect_from_sources(ctx: UnitOfWork, loan: Any, due_rows: list[Any]) -> int:
    """Collect the due installments oldest first, each from the parties
    ``lendkit_collection_sources`` names, in order; 1 if anything was collected.

    Stops at the first installment its sources cannot pay in full: a later payment would
    go to that older installment first, not to the one its payer was asked for.
    """
    got = 0
    for r in due_rows:
        owed = owed_of(r).total
        if owed <= 0:
            continue
        record = load_loan(ctx, loan.id)  # as the previous installment's payments left it
        inst = _installment(r, loan.currency)
        for payer in ctx.hooks.collection_sources(ctx, record, inst):
            account = source_account(ctx, loan, payer, r.period)
            if account is None:
                paid = collect(ctx, loan, owed, payer)
            else:
                paid = collect_from_account(ctx, loan, owed, account)
            got, owed = got + paid, owed - paid
            if owed == 0:
                break
        if owed:
            break
    return min(1, got)


def source_account(ctx: UnitOfWork, loan: Any, payer: str, period: int) -> AccountRef | None:
    """``None`` when ``payer`` (a ``lendkit_collection_sources`` answer) is a registered party;
    else the plugin's or third party's account whose code it is (a margin trading account),
    checked as ``HookContext.repay`` checks a source; ``PluginError`` for anything else."""
    try:
        require_party(ctx, payer)
        return None
    except NotFound as e:
        missing = e
    try:
        account = ctx.existing_account(payer)
        check_source(ctx, loan, account)
    except (NotFound, Forbidden, InvalidAmount) as e:
        raise PluginError(
            f"lendkit_collection_sources named {payer!r} for loan {loan.id} installment {period}:"
            f" {missing}; as an account: {e}"
        ) from e
    return account


def collect_from_account(ctx: UnitOfWork, loan: Any, owed: int, account: AccountRef) -> int:
    """Collect up to ``owed`` from a plugin's or third party's ``account``; what was collected."""
    pay = min(owed, ctx.balance(account).minor)
    if pay <= 0:
        return 0
    apply_payment(ctx, loan, pay, "collection", account)
    return pay


def collect(ctx: UnitOfWork, loan: Any, owed: int, payer: str) -> int:
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


def waterfall(ctx: UnitOfWork, claim: Claim, watch: _CoreWrites | None = None) -> Money:
    """Ask each covering plugin in the configured order to pay what is still unpaid.

    The claim each plugin sees is re-read after the previous one paid (wrote a core table, as
    ``watch`` sees it), so no part of an installment is paid twice.
    """
    watch = watch if watch is not None else _CoreWrites(ctx.conn)
    paid_total = Money.zero(claim.principal.currency)
    for _name, impl in ctx.hooks.coverers(ctx.platform_config.waterfall):
        if not (claim.principal + claim.interest).is_positive():
            break
        before = watch.count
        with watch:
            paid = ctx.hooks.cover_claim(impl, ctx, claim)
        if isinstance(paid, Money):
            paid_total = paid_total + paid
        if watch.count == before:
            continue  # nothing written: the claim stands as it was
        assert claim.period is not None
        owed = owed_of(_installment_row(ctx, claim.loan_id, claim.period))
        owed_p, owed_i = owed.investors_principal, owed.investors_interest
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
