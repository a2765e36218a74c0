"""Workloads 2 and 5a: bids per second (1 and 8 clients) and bid cost against the listing's size.

The Core baseline writes the same rows as ``platform.bidding.bid`` in one transaction per bid,
with the same engine settings (SQLite WAL + synchronous=FULL + BEGIN IMMEDIATE, or PostgreSQL
defaults): the guarded listing update, the guarded debit of the investor's available account and
the credit of the frozen account, the ledger head (sequence and hash chain), the journal entry and
its two postings, the hold and the bid row. It knows every account id up front.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, update

from lendkit.bench.book import Book, bench_id
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
)
from lendkit.core import states as S
from lendkit.core.ledger import entry_hash, hold_routing
from lendkit.platform import Platform
from lendkit.store.tables import (
    accounts,
    bids,
    holds,
    journal_entries,
    ledger_head,
    listings,
    postings,
)

BID_MINOR = 1000  # 10.00 CNY
BID_TEXT = "10.00"
BIG = 10**15


@dataclass
class Bidder:
    party: str
    available: int
    frozen: int


@dataclass
class Target:
    listing: str
    account: int
    bidders: list[Bidder]


def make_target(book: Book, engine: Engine, investors: int, existing: int = 0) -> Target:
    with engine.begin() as conn:
        borrower = book.parties(conn, 1, "Bench borrower", kind="enterprise")[0]
        parties = book.parties(conn, investors, "Bench investor")
        book.fund(
            conn,
            {book.account("party", p, "available"): 10**12 for p in parties},
            f"bench:investors:{parties[0]}",
        )
        listing = book.open_listing(conn, borrower, BIG, parties, existing, BID_MINOR)
    return Target(
        listing,
        book.account("listing", listing, "listing"),
        [
            Bidder(p, book.account("party", p, "available"), book.account("party", p, "frozen"))
            for p in parties
        ],
    )


_listing_guard = (
    update(listings)
    .where(listings.c.id == bindparam("lid"))
    .where(listings.c.state == S.PUBLISHED)
    .where(listings.c.bid_total + bindparam("f") <= listings.c.amount)
    .values(
        bid_total=listings.c.bid_total + bindparam("f"),
        bid_count=listings.c.bid_count + 1,
    )
    .returning(listings.c.bid_count)
)


def core_bid(engine: Engine, target: Target, bidder: Bidder, amount: int = BID_MINOR) -> None:
    """The hand-written baseline: the same rows as one lendkit bid, in one transaction."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        count = conn.execute(_listing_guard, {"lid": target.listing, "f": amount}).scalar_one()
        debit = conn.execute(
            update(accounts)
            .where(accounts.c.id == bindparam("aid"), accounts.c.balance >= bindparam("d"))
            .values(balance=accounts.c.balance - bindparam("d")),
            {"aid": bidder.available, "d": amount},
        )
        if debit.rowcount != 1:
            raise RuntimeError("insufficient funds")
        conn.execute(
            update(accounts)
            .where(accounts.c.id == bindparam("aid"))
            .values(balance=accounts.c.balance + bindparam("d")),
            {"aid": bidder.frozen, "d": amount},
        )
        head = conn.execute(
            update(ledger_head)
            .where(ledger_head.c.id == 1)
            .values(seq=ledger_head.c.seq + 1)
            .returning(ledger_head.c.seq, ledger_head.c.hash)
        ).one()
        seq, prev = int(head.seq), str(head.hash)
        hold_id = bench_id("hld")
        pairs = sorted([(bidder.available, -amount), (bidder.frozen, amount)])
        detail = hold_routing(
            bidder.party, "CNY", amount, bidder.available, bidder.frozen, target.account
        )
        digest = entry_hash(prev, seq, "hold.freeze", hold_id, pairs, detail)
        conn.execute(update(ledger_head).where(ledger_head.c.id == 1).values(hash=digest))
        conn.execute(
            journal_entries.insert(),
            {
                "seq": seq,
                "kind": "hold.freeze",
                "reference": hold_id,
                "memo": "",
                "detail": detail,
                "created_at": now,
                "prev_hash": prev,
                "hash": digest,
            },
        )
        conn.execute(
            postings.insert(), [{"entry_seq": seq, "account_id": a, "amount": m} for a, m in pairs]
        )
        conn.execute(
            holds.insert(),
            {
                "id": hold_id,
                "owner_id": bidder.party,
                "currency": "CNY",
                "amount": amount,
                "source_account_id": bidder.available,
                "frozen_account_id": bidder.frozen,
                "destination_account_id": target.account,
                "reference": target.listing,
                "reason": "bid",
                "state": "open",
                "posted_amount": 0,
                "created_at": now,
                "expires_at": None,
                "resolved_at": None,
            },
        )
        conn.execute(
            bids.insert(),
            {
                "id": bench_id("bid"),
                "listing_id": target.listing,
                "investor_id": bidder.party,
                "seq": count,
                "requested": amount,
                "amount": amount,
                "filled": 0,
                "rate": None,
                "hold_id": hold_id,
                "state": S.BID_OPEN,
                "auto": False,
                "created_at": now,
            },
        )


def _lendkit_bid(p: Platform, target: Target, i: int) -> None:
    b = target.bidders[i % len(target.bidders)]
    p.bidding.bid(target.listing, b.party, BID_TEXT)


def _verify(p: Platform) -> bool:
    return bool(p.verify().ok)


# -- single client ---------------------------------------------------------------------------------


def run_single(db: Database, sizes: Sizes) -> Result:
    url = db.fresh("bids")
    p = open_platform(url)
    try:
        target = make_target(Book(p.engine), p.engine, 20)
        for i in range(5):  # warm up both paths (statement caches, account cache)
            _lendkit_bid(p, target, i)
            core_bid(p.engine, target, target.bidders[i % 20])
        per_round = max(1, sizes.bids // sizes.rounds)
        lk_rates, core_rates = [], []
        budget = sizes.bid_seconds / sizes.rounds
        for _ in range(sizes.rounds):
            ops, secs = timed(lambda i: _lendkit_bid(p, target, i), per_round, budget)
            lk_rates.append(rate(ops, secs))
            ops, secs = timed(
                lambda i: core_bid(p.engine, target, target.bidders[i % 20]), per_round, budget
            )
            core_rates.append(rate(ops, secs))
        lk, core = median(lk_rates), median(core_rates)
        ok = _verify(p)
    finally:
        p.close()
    return Result(
        "bids-vs-core",
        db.kind,
        rounded(lk),
        "bids/s",
        "SQLAlchemy Core, same rows, one transaction per bid",
        rounded(core),
        ratio(lk, core),
        0.7,
        "higher",
        {
            "clients": 1,
            "bids_per_round": per_round,
            "rounds": sizes.rounds,
            "statistic": "median of rounds, lendkit and Core alternating",
            "investors": 20,
            "listing": "fixed rate, published, amount 10^13 CNY, 10.00 per bid",
            "durability": db.label,
            "ledger_verified_after": ok,
        },
    )


# -- concurrent clients (PostgreSQL) ---------------------------------------------------------------


def _client(
    url: str, mode: str, target: Target, n: int, ready: Any, go: Any, out: Any
) -> None:  # pragma: no cover - runs in a child process
    p = Platform.open(url, ["online"], create=False)
    try:
        for i in range(3):
            if mode == "lendkit":
                _lendkit_bid(p, target, i)
            else:
                core_bid(p.engine, target, target.bidders[i % len(target.bidders)])
        ready.put(1)
        go.wait()
        for i in range(n):
            if mode == "lendkit":
                _lendkit_bid(p, target, i)
            else:
                core_bid(p.engine, target, target.bidders[i % len(target.bidders)])
        out.put(time.monotonic())
    finally:
        p.close()


def _concurrent(url: str, mode: str, targets: list[Target], n: int) -> float:
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_client, args=(url, mode, t, n, ready, go, out)) for t in targets]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    start = time.monotonic()
    go.set()
    ends = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    return rate(n * len(procs), max(ends) - start)


def run_clients(db: Database, sizes: Sizes) -> Result:
    name = "bids-8-clients-vs-1"
    if db.kind != "postgresql":
        return Result(
            name,
            db.kind,
            None,
            "bids/s",
            "the same, 1 client",
            None,
            None,
            3.0,
            "higher",
            {
                "unavailable": "a PostgreSQL workload (SQLite admits one writer at a time);"
                " run with --db postgresql+psycopg://..."
            },
        )
    url = db.fresh("bids-clients")
    p = open_platform(url)
    try:
        book = Book(p.engine)
        targets = [make_target(book, p.engine, 4) for _ in range(sizes.bid_clients)]
    finally:
        p.close()
    n = sizes.bids_per_client
    one = _concurrent(url, "lendkit", targets[:1], n * 2)
    many = _concurrent(url, "lendkit", targets, n)
    core_one = _concurrent(url, "core", targets[:1], n * 2)
    core_many = _concurrent(url, "core", targets, n)
    return Result(
        name,
        db.kind,
        rounded(many),
        "bids/s",
        "lendkit, 1 client",
        rounded(one),
        ratio(many, one),
        3.0,
        "higher",
        {
            "clients": sizes.bid_clients,
            "client": "one process each (spawned), own Platform and connection pool",
            "bids_per_client": n,
            "listings": "one per client, 4 investors each (no shared listing or account rows)",
            "core_1_client_bids_per_s": rounded(core_one),
            "core_8_clients_bids_per_s": rounded(core_many),
            "core_8_vs_1": ratio(core_many, core_one),
            "cpus": mp.cpu_count(),
            "durability": db.label,
        },
    )


# -- scaling: 10 vs 10,000 existing bids -----------------------------------------------------------


def run_scaling(db: Database, sizes: Sizes) -> Result:
    url = db.fresh("bids-scaling")
    p = open_platform(url)
    try:
        book = Book(p.engine)
        small = make_target(book, p.engine, 20, sizes.scale_bids_small)
        large = make_target(book, p.engine, 20, sizes.scale_bids_large)
        for i in range(5):
            _lendkit_bid(p, small, i)
            _lendkit_bid(p, large, i)
        per_round = max(1, sizes.scale_bid_ops // sizes.rounds)
        small_cost, large_cost = [], []
        for _ in range(sizes.rounds):
            ops, secs = timed(lambda i: _lendkit_bid(p, small, i), per_round, 1e9)
            small_cost.append(secs / ops * 1000)
            ops, secs = timed(lambda i: _lendkit_bid(p, large, i), per_round, 1e9)
            large_cost.append(secs / ops * 1000)
        s, lg = median(small_cost), median(large_cost)
    finally:
        p.close()
    return Result(
        "scaling-bids-10k-vs-10",
        db.kind,
        rounded(lg, 3),
        "ms/bid",
        f"{sizes.scale_bids_small} existing bids",
        rounded(s, 3),
        ratio(lg, s),
        1.3,
        "lower",
        {
            "existing_bids": [sizes.scale_bids_small, sizes.scale_bids_large],
            "bids_timed_per_round": per_round,
            "rounds": sizes.rounds,
            "statistic": "median ms per bid, the two listings alternating, same database",
            "durability": db.label,
        },
    )
