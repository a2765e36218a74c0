"""Close of business as a real platform runs it: every builtin plugin loaded, a book where some
loans carry third parties' cover and some are overdue, and COB split over worker processes.

``cob-plugins-loaded-vs-online``: the same plain book (no loan uses a plugin) closed with every
builtin plugin loaded against ``online`` only. ``cob-mixed-book-vs-plain``: the cost per
distribution of a book where 30 % of the loans carry a guarantee, a reserve, investor-paid credit
insurance or a pledge (in turn) and 5 % are overdue, against a plain book of the same size, both
with every plugin loaded. ``cob-2-workers-vs-1`` (PostgreSQL): the same book closed by
``lendkit cob --workers 2`` against ``--workers 1``. The plugins' rows are written in bulk as
their commands would leave them after disbursement (a guarantee active with 10 % of the
principal frozen from the guarantor's deposit, a reserve cover open, a policy in force, a pledge
active).
"""

from __future__ import annotations

import hashlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from lendkit.bench.book import Book, bench_id, insert_many
from lendkit.bench.cob import bench_date, investor_pool
from lendkit.bench.common import Database, Result, Sizes, rate, ratio, rounded
from lendkit.platform import Platform
from lendkit.plugins import guarantee, insurance
from lendkit.store.db import create_nullpool_engine
from lendkit.store.tables import cob_runs, installments, loans

#: every builtin plugin, as a platform that offers every business model enables them
ALL_PLUGINS = ["online", "guarantee", "reserve", "insurance", "collateral", "bills", "supplychain"]
#: the waterfall of the plugin runs (what such a platform configures)
WATERFALL = ["guarantee", "insurance", "reserve", "collateral"]
COVERED_SHARE = Decimal("0.30")
OVERDUE_SHARE = Decimal("0.05")
OVERDUE_DAYS = 10


def _open(url: str, plugins: list[str]) -> Platform:
    config: dict[str, Any] = {"waterfall": WATERFALL if len(plugins) > 1 else []}
    return Platform.open(url, plugins, config=config)


def _close_book(
    db: Database,
    sizes: Sizes,
    plugins: list[str],
    label: str,
    *,
    mixed: bool,
) -> dict[str, Any]:
    """Build a book of ``sizes.cob_loans`` loans (``mixed``: with covers and overdue loans) on a
    fresh database, close its day once and time it."""
    url = db.fresh(label)
    p = _open(url, plugins)
    n, m = sizes.cob_loans, sizes.cob_investors
    day = bench_date()
    try:
        book = Book(p.engine)
        overdue_n = int(n * OVERDUE_SHARE) if mixed else 0
        with p.engine.begin() as conn:
            pool = investor_pool(book, conn, n, m)
            due = book.loans(conn, n - overdue_n, pool, m, day, due=True)
            late = (
                book.loans(
                    conn,
                    overdue_n,
                    pool,
                    m,
                    day - timedelta(days=OVERDUE_DAYS),
                    due=True,
                    funded=False,
                )
                if overdue_n
                else []
            )
        covered = _cover(p, book, due + late, int(n * COVERED_SHARE)) if mixed else {}
        t = time.perf_counter()
        result = p.cob.run(day)
        secs = time.perf_counter() - t
        ok = p.verify().ok
    finally:
        p.close()
    return {
        "seconds": secs,
        "distributions": result.collected * m,
        "collected": result.collected,
        "overdue": result.overdue,
        "covered": covered,
        "verified": ok,
    }


def _cover(p: Platform, book: Book, loan_ids: list[str], count: int) -> dict[str, int]:
    """Put ``count`` of ``loan_ids`` (spread evenly) under a guarantee, the reserve, investor-paid
    insurance or a pledge, in turn; how many of each."""
    step = max(1, len(loan_ids) // max(1, count))
    chosen = loan_ids[::step][:count]
    kinds = ("guarantee", "reserve", "insurance", "collateral")
    with p.engine.begin() as conn:
        company = book.parties(conn, 1, "Bench guarantor", kind="enterprise")[0]
    gid = guarantee.register_guarantor(p, "Bench guarantor", company, capital="100000000").id
    insurer = insurance.register_insurer(p, "Bench insurer", capacity="100000000").id
    by_kind: dict[str, list[Any]] = {k: [] for k in kinds}
    with p.engine.begin() as conn:
        rows = {
            r.id: r
            for start in range(0, len(chosen), 500)
            for r in conn.execute(select(loans).where(loans.c.id.in_(chosen[start : start + 500])))
        }
        interest = _scheduled_interest(conn, chosen)
        for k, loan_id in enumerate(chosen):
            by_kind[kinds[k % len(kinds)]].append(rows[loan_id])
        _guarantees(conn, book, gid, by_kind["guarantee"])
        _reserve(conn, book, by_kind["reserve"])
        _policies(conn, book, insurer, by_kind["insurance"], interest)
        _pledges(conn, book, by_kind["collateral"])
    return {k: len(v) for k, v in by_kind.items()}


def _scheduled_interest(conn: Connection, loan_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(loan_ids), 500):
        for r in conn.execute(
            select(installments.c.loan_id, installments.c.interest).where(
                installments.c.loan_id.in_(loan_ids[start : start + 500])
            )
        ):
            out[r.loan_id] = out.get(r.loan_id, 0) + int(r.interest)
    return out


def _guarantees(conn: Connection, book: Book, gid: str, rows: list[Any]) -> None:
    from lendkit.plugins.guarantee.tables import guarantees

    frozen = {r.id: r.principal // 10 for r in rows}
    insert_many(
        conn,
        guarantees,
        [
            {
                "listing_id": r.listing_id,
                "guarantor_id": gid,
                "borrower_id": r.borrower_id,
                "loan_id": r.id,
                "amount": r.principal,
                "liability": "joint",
                "after_days": 30,
                "cover": "principal_and_interest",
                "fee_rate": "0.01",
                "deposit_rate": "0.1",
                "state": "active",
                "fee": 0,
                "outstanding": r.outstanding_principal,
                "frozen": frozen[r.id],
                "defaulted": False,
                "created_at": book.now,
            }
            for r in rows
        ],
    )
    book.ensure_accounts(conn, [("guarantor", gid, "deposit-frozen", False)])
    book.fund(
        conn,
        {book.account("guarantor", gid, "deposit-frozen"): sum(frozen.values())},
        f"bench:guarantor:{gid}",
    )


def _reserve(conn: Connection, book: Book, rows: list[Any]) -> None:
    from lendkit.plugins.reserve.tables import loans as covered

    insert_many(
        conn,
        covered,
        [
            {
                "listing_id": r.listing_id,
                "loan_id": r.id,
                "grade": "A",
                "principal": r.principal,
                "rate": "0",
                "contribution": 0,
                "source": "borrower",
                "outstanding": r.outstanding_principal,
                "state": "open",
                "created_at": book.now,
            }
            for r in rows
        ],
    )


def _policies(
    conn: Connection, book: Book, insurer: str, rows: list[Any], interest: dict[str, int]
) -> None:
    from lendkit.plugins.insurance.tables import policies

    insert_many(
        conn,
        policies,
        [
            {
                "id": bench_id("pol"),
                "insurer_id": insurer,
                "kind": "credit",
                "listing_id": r.listing_id,
                "loan_id": r.id,
                "subject": None,
                "sum_insured": r.principal,
                "premium_rate": "0.02",
                "premium": r.principal // 50,
                "premium_collected": 0,
                "payer": "investors",
                "trigger_days": 30,
                "cover_interest": 1,
                "total_interest": interest[r.id],
                "claims_paid": 0,
                "state": "in_force",
                "defaulted": 0,
                "created_at": book.now,
            }
            for r in rows
        ],
    )


def _pledges(conn: Connection, book: Book, rows: list[Any]) -> None:
    from lendkit.plugins.collateral.tables import assets, pledges

    asset_rows, pledge_rows = [], []
    for r in rows:
        asset_id = bench_id("ast")
        identifier = f"BENCH-{r.id}".upper()
        asset_rows.append(
            {
                "id": asset_id,
                "kind": "vehicle",
                "identifier": identifier,
                "owner_id": r.borrower_id,
                "currency": r.currency,
                "appraised_value": 2 * r.principal,
                "appraised_on": r.start_date,
                "created_at": book.now,
            }
        )
        pledge_rows.append(
            {
                "id": bench_id("plg"),
                "asset_id": asset_id,
                "listing_id": r.listing_id,
                "loan_id": r.id,
                "state": "active",
                "active_key": hashlib.blake2b(identifier.encode(), digest_size=20).hexdigest(),
                "exposure": r.outstanding_principal,
                "breach": False,
                "created_at": book.now,
                "closed_on": None,
            }
        )
    insert_many(conn, assets, asset_rows)
    insert_many(conn, pledges, pledge_rows)


def _median(runs: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(key(r) for r in runs)


def run_plugins_loaded(db: Database, sizes: Sizes) -> Result:
    """The same plain book closed with every builtin plugin loaded vs ``online`` only."""
    online, loaded = [], []
    for k in range(sizes.rounds):
        online.append(_close_book(db, sizes, ["online"], f"cob-online-{k}", mixed=False))
        loaded.append(_close_book(db, sizes, ALL_PLUGINS, f"cob-plugins-{k}", mixed=False))
    lk = _median(loaded, lambda r: rate(r["distributions"], r["seconds"]))
    base = _median(online, lambda r: rate(r["distributions"], r["seconds"]))
    return Result(
        "cob-plugins-loaded-vs-online",
        db.kind,
        rounded(lk),
        "distributions/s",
        "the same plain book with only the online plugin",
        rounded(base),
        ratio(lk, base),
        0.8,
        "higher",
        {
            "loans": sizes.cob_loans,
            "investors_per_loan": sizes.cob_investors,
            "plugins": ALL_PLUGINS,
            "waterfall": WATERFALL,
            "rounds": sizes.rounds,
            "seconds_plugins": [round(r["seconds"], 2) for r in loaded],
            "seconds_online": [round(r["seconds"], 2) for r in online],
            "ledger_verified_after": all(r["verified"] for r in online + loaded),
            "durability": db.label,
        },
    )


def run_mixed_book(db: Database, sizes: Sizes) -> Result:
    """Cost per distribution: a book with covers and overdue loans vs a plain one."""
    plain, mixed = [], []
    for k in range(sizes.rounds):
        plain.append(_close_book(db, sizes, ALL_PLUGINS, f"cob-plain-{k}", mixed=False))
        mixed.append(_close_book(db, sizes, ALL_PLUGINS, f"cob-mixed-{k}", mixed=True))

    def cost(r: dict[str, Any]) -> float:
        return float(r["seconds"]) / max(1, int(r["distributions"]))

    lk, base = _median(mixed, cost), _median(plain, cost)
    return Result(
        "cob-mixed-book-vs-plain",
        db.kind,
        rounded(lk * 1e6, 1),
        "us/distribution",
        "a plain book of the same size, the same plugins",
        rounded(base * 1e6, 1),
        ratio(lk, base),
        1.5,
        "lower",
        {
            "loans": sizes.cob_loans,
            "investors_per_loan": sizes.cob_investors,
            "covered_share": str(COVERED_SHARE),
            "overdue_share": str(OVERDUE_SHARE),
            "overdue_days": OVERDUE_DAYS,
            "covers": mixed[0]["covered"],
            "overdue_installments": mixed[0]["overdue"],
            "collected_mixed": mixed[0]["collected"],
            "plugins": ALL_PLUGINS,
            "waterfall": WATERFALL,
            "rounds": sizes.rounds,
            "seconds_mixed": [round(r["seconds"], 2) for r in mixed],
            "seconds_plain": [round(r["seconds"], 2) for r in plain],
            "ledger_verified_after": all(r["verified"] for r in plain + mixed),
            "durability": db.label,
        },
    )


def _cob_span(url: str, day: date) -> tuple[float, float]:
    """The slowest shard's own seconds (start to finish, as the run records them), and the
    seconds from the first shard's start to the last one's finish."""
    engine = create_nullpool_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(cob_runs.c.started_at, cob_runs.c.finished_at).where(
                    cob_runs.c.run_date == day
                )
            ).all()
    finally:
        engine.dispose()
    slowest = max((r.finished_at - r.started_at).total_seconds() for r in rows)
    span = max(r.finished_at for r in rows) - min(r.started_at for r in rows)
    return float(slowest), float(span.total_seconds())


def run_workers(db: Database, sizes: Sizes) -> Result:
    """``lendkit cob --workers 2`` vs ``--workers 1`` on the same book (PostgreSQL only)."""
    name = "cob-2-workers-vs-1"
    if db.kind != "postgresql":
        return Result(
            name,
            db.kind,
            None,
            "distributions/s",
            None,
            None,
            None,
            1.6,
            "higher",
            {"unavailable": "COB workers run against PostgreSQL only (SQLite has one writer)"},
        )
    n, m = sizes.cob_loans * 2, sizes.cob_investors
    timings: dict[int, float] = {}
    wall: dict[int, float] = {}
    spans: dict[int, float] = {}
    dist: dict[int, int] = {}
    for workers in (1, 2):
        url = db.fresh(f"cob-workers-{workers}")
        p = _open(url, ["online"])
        day = bench_date()
        try:
            book = Book(p.engine)
            with p.engine.begin() as conn:
                pool = investor_pool(book, conn, n, m)
                book.loans(conn, n, pool, m, day, due=True)
        finally:
            p.close()
        t = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from lendkit.cli import main; main()",
                "cob",
                "--db",
                url,
                "--date",
                day.isoformat(),
                "--workers",
                str(workers),
                "--plugins",
                "online",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall[workers] = time.perf_counter() - t
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"lendkit cob --workers {workers} failed: {tail}")
        timings[workers], spans[workers] = _cob_span(url, day)
        dist[workers] = n * m
    two, one = rate(dist[2], timings[2]), rate(dist[1], timings[1])
    return Result(
        name,
        db.kind,
        rounded(two),
        "distributions/s",
        "lendkit cob --workers 1, same book",
        rounded(one),
        ratio(two, one),
        1.6,
        "higher",
        {
            "loans": n,
            "investors_per_loan": m,
            "seconds": {str(k): round(v, 2) for k, v in timings.items()},
            "first_start_to_last_finish_seconds": {str(k): round(v, 2) for k, v in spans.items()},
            "wall_seconds_with_startup": {str(k): round(v, 2) for k, v in wall.items()},
            "how": "`lendkit cob --workers N` on a fresh book each; timed by the slowest shard's"
            " own start to finish as the run records them (lendkit_cob_runs): the processes'"
            " start-up (imports, opening the platform) and its skew between the workers are left"
            " out; the span from the first start to the last finish and the wall clock with"
            " start-up are kept alongside",
            "durability": db.label,
        },
    )
