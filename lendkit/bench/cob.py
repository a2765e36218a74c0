"""Workloads 3, 5b and 6: close-of-business distributions, their scaling, and COB's peak memory.

The Core baseline collects the same installments and writes the same rows as lendkit's COB (one
journal entry per loan with the borrower's debit, the platform fee and each investor's net
share; postings; cached balances; positions' received amounts; the installment paid; a payment
row; the loan's outstanding principal; the COB step marker), computing the shares with the same
largest-remainder allocation, but in bulk: a few ``IN`` reads and one ``executemany`` per table
for each chunk of ``cob_chunk`` loans (lendkit's transaction size), the ledger head advanced once
per chunk.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from lendkit.bench.book import Book
from lendkit.bench.common import (
    Database,
    Result,
    Sizes,
    median,
    open_platform,
    rate,
    ratio,
    rounded,
)
from lendkit.core import states as S
from lendkit.core.ledger import entry_hash
from lendkit.core.money import DEFAULT_ROUNDING, allocate_minor
from lendkit.platform import Platform
from lendkit.store.ledger import AccountCache, ensure_account
from lendkit.store.tables import (
    accounts,
    cob_steps,
    installments,
    journal_entries,
    ledger_head,
    loans,
    payments,
    positions,
    postings,
)

CUR = "CNY"


def bench_date() -> date:
    """The date the COB workloads run: the platform clock's today."""
    # the platform clock's today (UTC): COB refuses a later date, and a local date may be ahead
    return datetime.now(UTC).date()


def round_dates(rounds: int) -> list[date]:
    """``rounds`` consecutive dates ending on :func:`bench_date`, one close of business each."""
    day = bench_date()
    return [day - timedelta(days=rounds - 1 - k) for k in range(rounds)]


def core_cob(
    engine: Engine, loan_ids: list[str], run_date: date, chunk: int, fee_rate: Decimal
) -> int:
    """The bulk baseline; returns the number of distributions (positions paid)."""
    from lendkit.bench.book import bench_id

    distributions = 0
    for start in range(0, len(loan_ids), chunk):
        part = loan_ids[start : start + chunk]
        now = datetime.now(UTC)
        with engine.begin() as conn:
            revenue = ensure_account(
                conn,
                AccountCache(),
                owner_kind="platform",
                owner_id="revenue",
                purpose="revenue",
                currency=CUR,
            ).id
            loan_rows = {
                r.id: r
                for r in conn.execute(
                    select(loans.c.id, loans.c.borrower_id).where(loans.c.id.in_(part))
                )
            }
            pos_by_loan: dict[str, list[Any]] = defaultdict(list)
            for r in conn.execute(
                select(positions)
                .where(positions.c.loan_id.in_(part))
                .order_by(positions.c.loan_id, positions.c.seq)
            ):
                pos_by_loan[r.loan_id].append(r)
            due: dict[str, Any] = {}
            for r in conn.execute(
                select(installments)
                .where(
                    installments.c.loan_id.in_(part),
                    installments.c.state != S.INST_PAID,
                    installments.c.due_date <= run_date,
                )
                .order_by(installments.c.loan_id, installments.c.period)
            ):
                due.setdefault(r.loan_id, r)
            codes = {f"party:{r.borrower_id}:available:{CUR}" for r in loan_rows.values()}
            codes |= {
                f"party:{p.holder_id}:available:{CUR}" for ps in pos_by_loan.values() for p in ps
            }
            acct: dict[str, tuple[int, int]] = {}
            code_list = sorted(codes)
            for i in range(0, len(code_list), 900):
                for r in conn.execute(
                    select(accounts.c.id, accounts.c.code, accounts.c.balance).where(
                        accounts.c.code.in_(code_list[i : i + 900])
                    )
                ):
                    acct[r.code] = (int(r.id), int(r.balance))
            head = conn.execute(
                update(ledger_head)
                .where(ledger_head.c.id == 1)
                .values(seq=ledger_head.c.seq)
                .returning(ledger_head.c.seq, ledger_head.c.hash)
            ).one()
            seq, prev = int(head.seq), str(head.hash)
            entries, posting_rows, pos_updates, inst_updates = [], [], [], []
            pay_rows, loan_updates, steps = [], [], []
            deltas: dict[int, int] = defaultdict(int)
            for loan_id in part:
                inst = due.get(loan_id)
                loan = loan_rows[loan_id]
                if inst is None:
                    continue
                principal = inst.principal - inst.paid_principal
                interest = inst.interest - inst.paid_interest
                borrower = acct[f"party:{loan.borrower_id}:available:{CUR}"][0]
                pos = pos_by_loan[loan_id]
                fee = int(DEFAULT_ROUNDING.quantize(Decimal(interest) * fee_rate, "JPY"))
                pw = [p.principal - p.received_principal for p in pos]
                p_sh = allocate_minor(principal, pw)
                i_sh = allocate_minor(
                    interest, [Decimal(p.principal) * Decimal(p.annual_rate) for p in pos]
                )
                f_sh = allocate_minor(fee, i_sh) if fee else [0] * len(pos)
                legs: dict[int, int] = defaultdict(int)
                legs[borrower] -= principal + interest
                legs[revenue] += fee
                for p, ps, is_, fs in zip(pos, p_sh, i_sh, f_sh, strict=True):
                    legs[acct[f"party:{p.holder_id}:available:{CUR}"][0]] += ps + is_ - fs
                    pos_updates.append({"pid": p.id, "p": ps, "i": is_ - fs, "f": fs})
                pairs = sorted((a, m) for a, m in legs.items() if m)
                seq += 1
                payment_id = bench_id("pay")
                digest = entry_hash(prev, seq, "loan.collection", payment_id, pairs)
                entries.append(
                    {
                        "seq": seq,
                        "kind": "loan.collection",
                        "reference": payment_id,
                        "memo": loan_id,
                        "created_at": now,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
                for a, m in pairs:
                    posting_rows.append({"entry_seq": seq, "account_id": a, "amount": m})
                    deltas[a] += m
                inst_updates.append(
                    {
                        "lid": loan_id,
                        "per": inst.period,
                        "pp": inst.principal,
                        "pi": inst.interest,
                    }
                )
                pay_rows.append(
                    {
                        "id": payment_id,
                        "loan_id": loan_id,
                        "kind": "collection",
                        "amount": principal + interest,
                        "penalty": 0,
                        "interest": interest,
                        "principal": principal,
                        "fee": fee,
                        "paid_on": run_date,
                        "entry_seq": seq,
                        "created_at": now,
                    }
                )
                loan_updates.append({"lid": loan_id, "p": principal})
                steps.append(
                    {"run_date": run_date, "loan_id": loan_id, "step": "loan", "done_at": now}
                )
                distributions += len(pos)
            if not entries:
                continue
            _write_chunk(
                conn,
                entries,
                posting_rows,
                deltas,
                pos_updates,
                inst_updates,
                pay_rows,
                loan_updates,
                steps,
                seq,
                prev,
                now,
            )
    return distributions


def _write_chunk(
    conn: Connection,
    entries: list[dict[str, Any]],
    posting_rows: list[dict[str, Any]],
    deltas: dict[int, int],
    pos_updates: list[dict[str, Any]],
    inst_updates: list[dict[str, Any]],
    pay_rows: list[dict[str, Any]],
    loan_updates: list[dict[str, Any]],
    steps: list[dict[str, Any]],
    seq: int,
    digest: str,
    now: Any,
) -> None:
    conn.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("aid"))
        .values(balance=accounts.c.balance + bindparam("d")),
        [{"aid": a, "d": d} for a, d in sorted(deltas.items()) if d],
    )
    conn.execute(journal_entries.insert(), entries)
    conn.execute(postings.insert(), posting_rows)
    conn.execute(
        update(positions)
        .where(positions.c.id == bindparam("pid"))
        .values(
            received_principal=positions.c.received_principal + bindparam("p"),
            received_interest=positions.c.received_interest + bindparam("i"),
            fees_paid=positions.c.fees_paid + bindparam("f"),
        ),
        pos_updates,
    )
    conn.execute(
        update(installments)
        .where(
            installments.c.loan_id == bindparam("lid"), installments.c.period == bindparam("per")
        )
        .values(
            paid_principal=bindparam("pp"),
            paid_interest=bindparam("pi"),
            state=S.INST_PAID,
            paid_at=now,
        ),
        inst_updates,
    )
    conn.execute(payments.insert(), pay_rows)
    conn.execute(
        update(loans)
        .where(loans.c.id == bindparam("lid"))
        .values(outstanding_principal=loans.c.outstanding_principal - bindparam("p")),
        loan_updates,
    )
    conn.execute(cob_steps.insert(), steps)
    conn.execute(update(ledger_head).where(ledger_head.c.id == 1).values(seq=seq, hash=digest))


def investor_pool(book: Book, conn: Connection, loans_n: int, per_loan: int) -> list[str]:
    """The investors a book of ``loans_n`` loans x ``per_loan`` positions draws on."""
    return book.parties(conn, max(per_loan, min(1000, loans_n * per_loan // 10)), "Bench investor")


def run_distributions(db: Database, sizes: Sizes) -> Result:
    url = db.fresh("cob")
    p = open_platform(url)
    n, m = sizes.cob_loans, sizes.cob_investors
    day = bench_date()
    # each round: lendkit's COB of the loans due on one of `rounds` consecutive dates, then the
    # baseline over its own loans (due after today, so no COB reaches them); medians are kept
    rounds = max(1, sizes.rounds)
    dates = round_dates(rounds)
    base_day = day + timedelta(days=1)
    lk_rates: list[float] = []
    core_rates: list[float] = []
    lk_dist = 0
    try:
        book = Book(p.engine)
        with p.engine.begin() as conn:
            pool = investor_pool(book, conn, 2 * n, m)
            base_groups = []
            for d in dates:
                book.loans(conn, n, pool, m, d, due=True)
                base_groups.append(book.loans(conn, n, pool, m, base_day, due=True))
        for d, base_loans in zip(dates, base_groups, strict=True):
            t = time.perf_counter()
            result = p.cob.run(d)
            lk_secs = time.perf_counter() - t
            lk_dist = result.collected * m
            t = time.perf_counter()
            core_dist = core_cob(
                p.engine, base_loans, base_day, p.config.cob_chunk, p.config.management_fee_rate
            )
            core_secs = time.perf_counter() - t
            lk_rates.append(rate(lk_dist, lk_secs))
            core_rates.append(rate(core_dist, core_secs))
        ok = p.verify().ok
    finally:
        p.close()
    lk, core = median(lk_rates), median(core_rates)
    return Result(
        "cob-distributions-vs-core",
        db.kind,
        rounded(lk),
        "distributions/s",
        "SQLAlchemy Core executemany, same rows, same transaction size",
        rounded(core),
        ratio(lk, core),
        0.5,
        "higher",
        {
            "loans": n,
            "investors_per_loan": m,
            "investor_pool": len(pool),
            "distributions": lk_dist,
            "chunk": p.config.cob_chunk,
            "rounds": rounds,
            "book": f"{2 * n * rounds} loans, {2 * n * m * rounds} positions (for each round,"
            f" {n} loans due on its date for lendkit and {n} due after today for the baseline)",
            "lendkit_per_round": [rounded(x) for x in lk_rates],
            "core_per_round": [rounded(x) for x in core_rates],
            "ledger_verified_after": ok,
            "durability": db.label,
        },
    )


def _cob_cost(db: Database, sizes: Sizes, positions_total: int, label: str) -> tuple[float, int]:
    """Seconds per distribution for ``scale_due_loans`` due loans in a book of
    ``positions_total``: the median of ``rounds`` closes of business on consecutive dates, each
    collecting its own ``scale_due_loans`` loans (one short COB timed once is mostly noise)."""
    url = db.fresh(label)
    p = open_platform(url)
    m = 10
    due_n = sizes.scale_due_loans
    rounds = max(1, sizes.rounds)
    rest = positions_total // m - due_n * rounds
    day = bench_date()
    dates = round_dates(rounds)
    costs: list[float] = []
    dist = 0
    try:
        book = Book(p.engine)
        with p.engine.begin() as conn:
            pool = book.parties(conn, 1000, "Bench investor")
            for d in dates:
                book.loans(conn, due_n, pool, m, d, due=True)
            if rest > 0:
                book.loans(conn, rest, pool, m, day, due=False)
        for d in dates:
            t = time.perf_counter()
            result = p.cob.run(d)
            secs = time.perf_counter() - t
            dist = result.collected * m
            costs.append(secs / dist)
    finally:
        p.close()
    return median(costs), dist


def run_scaling(db: Database, sizes: Sizes) -> Result:
    small, dist = _cob_cost(db, sizes, sizes.scale_small_positions, "cob-small")
    large, _ = _cob_cost(db, sizes, sizes.scale_large_positions, "cob-large")
    return Result(
        "scaling-cob-100k-vs-10k",
        db.kind,
        rounded(large * 1e6, 1),
        "us/distribution",
        f"book of {sizes.scale_small_positions:,} positions",
        rounded(small * 1e6, 1),
        ratio(large, small),
        1.3,
        "lower",
        {
            "positions": [sizes.scale_small_positions, sizes.scale_large_positions],
            "due_loans": sizes.scale_due_loans,
            "investors_per_loan": 10,
            "distributions_timed": dist,
            "rounds": max(1, sizes.rounds),
            "note": "the same number of loans falls due in both books on each of `rounds`"
            " consecutive dates (the median COB is taken); the rest are due later",
            "durability": db.label,
        },
    )


# -- memory -------------------------------------------------------------------------------------


def run_memory(db: Database, sizes: Sizes) -> Result:
    name = "cob-peak-memory-mib"
    url = db.fresh("cob-memory")
    p = open_platform(url)
    n, m = sizes.memory_loans, sizes.memory_investors
    day = bench_date()
    t = time.perf_counter()
    try:
        book = Book(p.engine)
        with p.engine.begin() as conn:
            pool = book.parties(conn, 1000, "Bench investor")
            step = 10_000
            for start in range(0, n, step):
                book.loans(conn, min(step, n - start), pool, m, day, due=True)
    finally:
        p.close()
    setup_secs = time.perf_counter() - t
    proc = subprocess.run(
        [sys.executable, "-m", "lendkit.bench.memory", url, day.isoformat()],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory subprocess failed: {tail}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = (found["hwm_kib"] or found["peak_kib"]) / 1024
    return Result(
        name,
        db.kind,
        rounded(peak),
        "MiB",
        None,
        None,
        None,
        512.0,
        "lower",
        {
            "loans": n,
            "investors_per_loan": m,
            "positions": n * m,
            "size": "reduced for --quick (the full run uses 100,000 loans x 10 investors)"
            if sizes.quick
            else "full",
            "collected": found["collected"],
            "rss_before_cob_mib": round((found["hwm_before_kib"] or found["before_kib"]) / 1024, 1),
            "getrusage_ru_maxrss_mib": round(found["peak_kib"] / 1024, 1),
            "cob_seconds": round(found["seconds"], 1),
            "book_setup_seconds": round(setup_secs, 1),
            "how": "peak RSS of a fresh subprocess that opens the platform and runs"
            " platform.cob.run(date) once: the process's own high-water mark (VmHWM in"
            " /proc/self/status). resource.getrusage's ru_maxrss is kept alongside; on Linux it"
            " also counts the forking parent's resident set, which execve preserves, so it"
            " over-reports",
            "durability": db.label,
        },
    )


def _hwm_kib() -> int | None:
    """This process's own peak resident set (Linux ``VmHWM``), or None where unknown."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def child(url: str, day_text: str) -> dict[str, Any]:  # pragma: no cover - subprocess
    import resource

    p = Platform.open(url, ["online"], create=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm_before = _hwm_kib()
    t = time.perf_counter()
    try:
        result = p.cob.run(date.fromisoformat(day_text))
    finally:
        p.close()
    return {
        "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "hwm_kib": _hwm_kib(),
        "hwm_before_kib": hwm_before,
        "before_kib": before,
        "seconds": time.perf_counter() - t,
        "collected": result.collected,
    }
