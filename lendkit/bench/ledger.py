"""Workload 4: journal entries per second, durable one by one and batched.

lendkit posts with ``platform.transaction()`` + ``ctx.post`` (``append_entry``): a two-leg
transfer from a guarded account to another. The Core baseline writes the same rows (guarded
debit, credit, ledger head, journal entry, two postings); batched, it nets balance changes per
account and advances the head once per batch, as a bulk writer would. ``python-accounting``
posts the equivalent entry (a Journal Entry with one line item) through its own session, on an
engine with the same settings (SQLite WAL + synchronous=FULL, or the same PostgreSQL server).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, update

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
    timed,
    unavailable,
)
from lendkit.core.ledger import AccountRef, Leg, entry_hash
from lendkit.platform import Platform
from lendkit.store.tables import accounts, journal_entries, ledger_head, postings


def _refs(book: Book, parties: list[str]) -> list[AccountRef]:
    return [
        AccountRef(book.account("party", p, "available"), f"party:{p}:available:CNY", "CNY", False)
        for p in parties
    ]


def lendkit_post(p: Platform, refs: list[AccountRef], i: int, batch: int = 1) -> None:
    with p.transaction() as ctx:
        for k in range(batch):
            j = i * batch + k
            a, b = refs[j % len(refs)], refs[(j + 1) % len(refs)]
            ctx.post("bench.transfer", f"t{j}", [Leg(a, -1), Leg(b, 1)])


_debit = (
    update(accounts)
    .where(accounts.c.id == bindparam("aid"), accounts.c.balance + bindparam("d") >= 0)
    .values(balance=accounts.c.balance + bindparam("d"))
)
_credit = (
    update(accounts)
    .where(accounts.c.id == bindparam("aid"))
    .values(balance=accounts.c.balance + bindparam("d"))
)


def _head(conn: Connection, advance: int) -> tuple[int, str]:
    head = conn.execute(
        update(ledger_head)
        .where(ledger_head.c.id == 1)
        .values(seq=ledger_head.c.seq + advance)
        .returning(ledger_head.c.seq, ledger_head.c.hash)
    ).one()
    return int(head.seq) - advance, str(head.hash)


def core_post(engine: Engine, refs: list[AccountRef], i: int, batch: int = 1) -> None:
    """The hand-written baseline (batched: net balance updates, head advanced once)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        deltas: dict[int, int] = defaultdict(int)
        entries, rows = [], []
        seq, prev = _head(conn, batch)
        for k in range(batch):
            j = i * batch + k
            a, b = refs[j % len(refs)].id, refs[(j + 1) % len(refs)].id
            pairs = sorted([(a, -1), (b, 1)])
            seq += 1
            digest = entry_hash(prev, seq, "bench.transfer", f"c{j}", pairs)
            entries.append(
                {
                    "seq": seq,
                    "kind": "bench.transfer",
                    "reference": f"c{j}",
                    "memo": "",
                    "created_at": now,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
            for acc, amt in pairs:
                rows.append({"entry_seq": seq, "account_id": acc, "amount": amt})
                deltas[acc] += amt
        for acc, d in sorted(deltas.items()):
            if d < 0:
                if conn.execute(_debit, {"aid": acc, "d": d}).rowcount != 1:
                    raise RuntimeError("insufficient funds")
            elif d:
                conn.execute(_credit, {"aid": acc, "d": d})
        conn.execute(update(ledger_head).where(ledger_head.c.id == 1).values(hash=prev))
        conn.execute(journal_entries.insert(), entries)
        conn.execute(postings.insert(), rows)


def _setup(db: Database, name: str) -> tuple[Platform, list[AccountRef]]:
    url = db.fresh(name)
    p = open_platform(url)
    book = Book(p.engine)
    with p.engine.begin() as conn:
        parties = book.parties(conn, 8, "Bench ledger party")
        book.fund(
            conn,
            {book.account("party", x, "available"): 10**12 for x in parties},
            "bench:ledger",
        )
    return p, _refs(book, parties)


def run_core(db: Database, sizes: Sizes) -> tuple[Result, float]:
    p, refs = _setup(db, "ledger")
    try:
        for i in range(3):
            lendkit_post(p, refs, 10_000 + i)
            core_post(p.engine, refs, 10_000 + i)
        per_round = max(1, sizes.ledger_entries // sizes.rounds)
        budget = sizes.ledger_seconds / sizes.rounds
        lk_r, core_r, lk_b, core_b = [], [], [], []
        bsize = sizes.ledger_batch
        for r in range(sizes.rounds):
            ops, secs = timed(lambda i: lendkit_post(p, refs, i), per_round, budget)
            lk_r.append(rate(ops, secs))
            ops, secs = timed(lambda i: core_post(p.engine, refs, i), per_round, budget)
            core_r.append(rate(ops, secs))
            base = 1_000_000 * (r + 1)
            ops, secs = timed(
                lambda i, base=base: lendkit_post(p, refs, base + i, bsize),  # type: ignore[misc]
                sizes.ledger_batches,
                1e9,
            )
            lk_b.append(rate(ops * bsize, secs))
            ops, secs = timed(
                lambda i, base=base: core_post(p.engine, refs, base + i, bsize),  # type: ignore[misc]
                sizes.ledger_batches,
                1e9,
            )
            core_b.append(rate(ops * bsize, secs))
        ok = p.verify().ok
    finally:
        p.close()
    lk, core = median(lk_r), median(core_r)
    lkb, coreb = median(lk_b), median(core_b)
    result = Result(
        "ledger-postings-vs-core",
        db.kind,
        rounded(lk),
        "entries/s",
        "SQLAlchemy Core, same rows, one durable commit per entry",
        rounded(core),
        ratio(lk, core),
        0.7,
        "higher",
        {
            "entry": "2 postings (guarded debit, credit), hash-chained",
            "entries_per_round": per_round,
            "rounds": sizes.rounds,
            "batched": {
                "entries_per_commit": bsize,
                "lendkit_per_s": rounded(lkb),
                "core_per_s": rounded(coreb),
                "ratio": ratio(lkb, coreb),
                "target_met": (ratio(lkb, coreb) or 0) >= 0.7,
            },
            "ledger_verified_after": ok,
            "durability": db.label,
        },
    )
    return result, lk


# -- python-accounting ------------------------------------------------------------------------------


def _pa_run(engine: Engine, n: int, batch: int) -> tuple[float, float]:
    """(entries/s one commit each, entries/s batched) through python-accounting."""
    from python_accounting.database.session import get_session
    from python_accounting.models import (
        Account,
        Base,
        Currency,
        Entity,
        LineItem,
    )
    from python_accounting.transactions import JournalEntry

    Base.metadata.create_all(engine)
    with get_session(engine) as session:
        entity = Entity(name="Bench")
        session.add(entity)
        session.commit()
        cur = Currency(name="Yuan", code="CNY", entity_id=entity.id)
        session.add(cur)
        session.commit()
        bank = Account(
            name="Bank",
            account_type=Account.AccountType.BANK,
            currency_id=cur.id,
            entity_id=entity.id,
        )
        other = Account(
            name="Other",
            account_type=Account.AccountType.CURRENT_ASSET,
            currency_id=cur.id,
            entity_id=entity.id,
        )
        session.add_all([bank, other])
        session.commit()

        def post(i: int, commit: bool) -> None:
            je = JournalEntry(
                narration=f"bench {i}",
                transaction_date=datetime.now(),
                account_id=bank.id,
                entity_id=entity.id,
            )
            session.add(je)
            session.flush()
            li = LineItem(narration="leg", account_id=other.id, amount=1, entity_id=entity.id)
            session.add(li)
            session.flush()
            je.line_items.add(li)
            session.add(je)
            je.post(session)
            if commit:
                session.commit()

        for i in range(3):
            post(i, True)
        t = time.perf_counter()
        for i in range(n):
            post(100 + i, True)
        single = rate(n, time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(batch):
            post(100_000 + i, False)
        session.commit()
        batched = rate(batch, time.perf_counter() - t)
    return single, batched


def run_python_accounting(
    db: Database, sizes: Sizes, lendkit_rate: float | None, batched: dict[str, Any] | None
) -> Result:
    name = "ledger-postings-vs-python-accounting"
    unit, base = "entries/s", "python-accounting, one durable commit per entry"
    try:
        import python_accounting  # noqa: F401
    except Exception as exc:
        return unavailable(
            name,
            db.kind,
            unit,
            "python-accounting",
            10.0,
            "higher",
            f"python-accounting cannot be imported ({exc.__class__.__name__}: {exc});"
            " it needs `apt-get install default-libmysqlclient-dev pkg-config` then"
            " `pip install 'lendkit[bench]'`",
        )
    url = db.fresh("python-accounting")
    engine = db.engine(url)
    try:
        single, pa_batched = _pa_run(engine, sizes.pa_entries, sizes.ledger_batch)
    except Exception as exc:
        return unavailable(
            name, db.kind, unit, base, 10.0, "higher", f"{exc.__class__.__name__}: {exc}"[:300]
        )
    finally:
        engine.dispose()
    lk_b = batched.get("lendkit_per_s") if batched else None
    return Result(
        name,
        db.kind,
        rounded(lendkit_rate),
        unit,
        base,
        rounded(single),
        ratio(lendkit_rate, single),
        10.0,
        "higher",
        {
            "entry": "python-accounting JournalEntry with one LineItem (2 ledger rows) vs a"
            " 2-posting lendkit entry",
            "entries": sizes.pa_entries,
            "batched": {
                "entries_per_commit": sizes.ledger_batch,
                "lendkit_per_s": lk_b,
                "python_accounting_per_s": rounded(pa_batched),
                "ratio": ratio(lk_b, pa_batched),
                "target_met": (ratio(lk_b, pa_batched) or 0) >= 10,
            },
            "engine": "same settings as lendkit's (create_lendkit_engine)",
            "durability": db.label,
        },
    )
