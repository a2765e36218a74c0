"""Retryable errors (SQLITE_BUSY, serialization failures, deadlocks) injected into ~30 % of first
attempts: the final state equals the run without injection, no retryable error surfaces as a
business error, and after-commit notifications fire exactly once."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

import lendkit
from tests.conftest import FixedClock

_local = threading.local()


class Notifications:
    """Counts notifications delivered after commit (the way integrators send e-mails)."""

    lendkit_plugin_name = "notify"

    def __init__(self) -> None:
        self.sent: list[str] = []

    @lendkit.hookimpl
    def lendkit_repayment_received(self, ctx: Any, loan: Any, payment: Any) -> None:
        ctx.after_commit(lambda: self.sent.append(f"repaid {payment.amount}"))

    @lendkit.hookimpl
    def lendkit_deposit_completed(
        self, ctx: Any, party_id: str, amount: Any, movement_id: str
    ) -> None:
        ctx.after_commit(lambda: self.sent.append(f"deposit {amount}"))


def inject(platform: lendkit.Platform, rng: random.Random, per_statement: float) -> list[int]:
    """Make the first attempt of units of work fail at a random statement."""
    injected = [0]
    original = platform.runner.run

    def run(command: str, fn: Callable[..., Any], **kw: Any) -> Any:
        attempts = [0]

        def wrapped(tx: Any) -> Any:
            attempts[0] += 1
            _local.first = attempts[0] == 1
            try:
                return fn(tx)
            finally:
                _local.first = False

        return original(command, wrapped, **kw)

    platform.runner.run = run  # type: ignore[method-assign]
    dialect = platform.engine.dialect.name

    @event.listens_for(platform.engine, "before_cursor_execute")
    def maybe_fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if getattr(_local, "first", False) and rng.random() < per_statement:
            _local.first = False
            injected[0] += 1
            if dialect == "sqlite":
                orig: Exception = sqlite3.OperationalError("database is locked")
            else:
                kind = rng.choice(
                    [psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected]
                )
                orig = kind("injected")
            raise OperationalError(statement, {}, orig)

    return injected


def scenario(p: lendkit.Platform, clock: FixedClock) -> dict[str, Any]:
    names = {}
    for n in ["borrower", "a", "b", "c"]:
        names[n] = p.parties.register(n).id
        p.parties.verify(names[n])
    for n in "abc":
        p.custody.deposit(names[n], "1000", key=f"dep-{n}")
    listing = p.listings.apply(
        names["borrower"], amount="2400", annual_rate="12%", months=3, key="apply"
    )
    p.listings.approve(listing.id, grade="A", key="approve")
    p.listings.publish(listing.id, key="publish")
    for n in "abc":
        p.bidding.bid(listing.id, names[n], "900", key=f"bid-{n}")
    loan = p.loans.disburse(listing.id, key="disburse")
    p.loans.repay(loan.id, key="r1")
    p.custody.deposit(names["borrower"], "100", key="top-up")
    due = p.loans.schedule(loan.id).installments[1].due_date
    for day in range(0, 3):
        p.cob.run(due + timedelta(days=day), allow_future=True)
    p.custody.withdraw(names["a"], "50", key="wd-a")
    balances = {n: p.custody.balance(pid) for n, pid in names.items()}
    positions = {n: p.loans.position(loan.id, names[n]) for n in "abc"}
    return {
        "balances": {n: (b.available, b.frozen) for n, b in balances.items()},
        "received": {n: (x.received_principal, x.received_interest) for n, x in positions.items()},
        "loan": p.loans.get(loan.id).state,
        "schedule": [i.payment for i in p.loans.schedule(loan.id).installments],
        "ok": p.verify().ok,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_injected_retryable_errors_change_nothing(
    make_platform: Callable[..., lendkit.Platform],
    clock: FixedClock,
    tmp_path: Any,
    db_url: str,
    seed: int,
) -> None:
    clean_note = Notifications()
    start = clock.now
    clean = lendkit.Platform.open(
        f"sqlite:///{tmp_path}/clean.db", plugins=["online", clean_note], clock=clock
    )
    expected = scenario(clean, clock)
    clean.close()
    clock.set(start)

    note = Notifications()
    p = make_platform(plugins=["online", note])
    injected = inject(p, random.Random(seed), per_statement=0.08)
    got = scenario(p, clock)
    assert injected[0] >= 5, "the injection must actually fire"
    assert got == expected
    assert got["ok"]
    assert sorted(note.sent) == sorted(clean_note.sent)
