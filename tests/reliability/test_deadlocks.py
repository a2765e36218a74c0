"""Deposits, withdrawals, bids and refunds from 16 threads on PostgreSQL: no deadlock at all.

Every unit of work locks the accounts it changes in one global order (by id, ``FOR NO KEY UPDATE``
so foreign-key checks on them never wait) and takes a ledger chain without waiting (``SKIP
LOCKED``), so two commands never wait for each other in a circle. A deadlock would be retried by the
runner and go unnoticed in the balances, so the test counts the retryable errors themselves.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.exc import DBAPIError

import lendkit
from lendkit import Money, uow
from lendkit.store import ledger as store_ledger
from lendkit.store.tables import holds

SEED = 20261130
THREADS = 16
OPS_PER_THREAD = 8


def cny(v: str | int) -> Money:
    return Money.of(v, "CNY")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # row locks: PostgreSQL only
def test_sixteen_threads_mixing_custody_and_bids_never_deadlock(
    platform: lendkit.Platform, funded: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    p = platform
    borrower = funded("0", name="borrower")
    investors = [funded("1000000", name=f"inv{i}") for i in range(THREADS)]
    listings = []
    for _ in range(4):
        listing = p.listings.apply(borrower, amount="1000000", annual_rate="10%", months=6)
        p.listings.approve(listing.id, grade="A")
        p.listings.publish(listing.id)
        listings.append(listing.id)

    deadlocks: list[str] = []
    retried: list[str] = []
    original = uow.is_retryable

    def counting(exc: BaseException) -> bool:
        verdict = original(exc)
        if verdict:
            retried.append(type(exc).__name__)
            orig = getattr(exc, "orig", None)
            if getattr(orig, "sqlstate", None) == "40P01":
                deadlocks.append(str(orig))
        return verdict

    monkeypatch.setattr(uow, "is_retryable", counting)

    rng = random.Random(SEED)
    plans = [
        [
            (rng.choice(["deposit", "withdraw", "bid", "refund"]), rng.randint(1, 50) * 100)
            for _ in range(OPS_PER_THREAD)
        ]
        for _ in range(THREADS)
    ]
    barrier = threading.Barrier(THREADS)
    raised: list[BaseException] = []

    def work(n: int) -> None:
        # thread n works for investor n and, to cross its rows, for its neighbour n+1
        barrier.wait()
        for k, (op, cents_100) in enumerate(plans[n]):
            who = investors[(n + k) % THREADS]
            amount = cny(cents_100 // 100)
            try:
                if op == "deposit":
                    p.custody.deposit(who, amount)
                elif op == "withdraw":
                    p.custody.withdraw(who, amount)
                elif op == "bid":
                    p.bidding.bid(listings[(n + k) % len(listings)], who, amount)
                else:
                    p.custody.refund(who, amount)
            except DBAPIError as exc:  # a deadlock that outlived every retry
                raised.append(exc)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))

    assert raised == []
    assert deadlocks == [], f"{len(deadlocks)} deadlocks: {deadlocks[:3]}"
    # balances to the cent: a model of the same operations
    model = {inv: [1000000 * 100, 0] for inv in investors}  # available, frozen (cents)
    for n in range(THREADS):
        for k, (op, cents_100) in enumerate(plans[n]):
            acct = model[investors[(n + k) % THREADS]]
            cents = cents_100
            if op == "deposit":
                acct[0] += cents
            elif op in ("withdraw", "refund"):
                acct[0] -= cents
            else:
                acct[0] -= cents
                acct[1] += cents
    for inv in investors:
        bal = p.custody.balance(inv)
        assert (bal.available.minor, bal.frozen.minor) == tuple(model[inv])
    assert p.verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # row locks: PostgreSQL only
def test_account_locks_and_foreign_key_checks_never_wait_for_each_other(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    """The cycle PostgreSQL detected under load: a bid's hold insert takes key-share locks on
    the investor's accounts in the order of its columns (source, frozen, destination) while a
    withdrawal locks the same accounts by id. Account locks must not conflict with the
    key-share locks of foreign-key checks at all, in either order (each side gives up after
    5 s instead of waiting: it may not wait)."""
    investor = funded("100", name="inv")
    with platform.transaction() as ctx:
        source, frozen = ctx.party_account(investor).id, ctx.party_frozen(investor).id
    hold = {
        "owner_id": investor,
        "currency": "CNY",
        "amount": 1,
        "source_account_id": source,
        "frozen_account_id": frozen,
        "destination_account_id": source,
        "reference": "t",
        "reason": "test",
        "state": "open",
        "posted_amount": 0,
        "created_at": platform.clock(),
    }
    with platform.engine.connect() as locker, platform.engine.connect() as other:
        # accounts locked first, then a row referencing them is inserted
        with locker.begin():
            store_ledger.lock_accounts(locker, [source, frozen])
            with other.begin() as trans:
                other.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                other.execute(holds.insert().values(id="hld_a", **hold))
                trans.rollback()
        # a row referencing them inserted first, then the accounts are locked
        with other.begin() as trans:
            other.execute(holds.insert().values(id="hld_b", **hold))
            with locker.begin():
                locker.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                store_ledger.lock_accounts(locker, [source, frozen])
            trans.rollback()
    assert platform.verify().ok
