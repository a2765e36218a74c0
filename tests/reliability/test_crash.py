"""SIGKILL in the middle of close of business or a big repayment, then rerun: paid exactly once."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select, text

import lendkit
from lendkit import Money
from lendkit.store.tables import installments

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import date, datetime, timezone
    from sqlalchemy import event
    import lendkit

    url, mode, kill_after, target = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    p = lendkit.Platform.open(url, plugins=["online"], config={"cob_chunk": 3}, create=False,
                              clock=lambda: datetime(2026, 3, 1, 9, tzinfo=timezone.utc))
    seen = {"n": 0}

    @event.listens_for(p.engine, "before_cursor_execute")
    def die(*args):  # SIGKILL before the kill_after-th statement: any point of the run
        seen["n"] += 1
        if seen["n"] >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    if mode == "cob":
        p.cob.run(date.fromisoformat(target))
    else:
        p.loans.repay(target, key="big-repay")
    print("finished without being killed")
    """
)


def _kill(db_url: str, mode: str, kill_after: int, target: str) -> bool:
    """Run the command in a subprocess killed at statement ``kill_after``; True if it died."""
    result = subprocess.run(
        [sys.executable, "-c", KILLER, db_url, mode, str(kill_after), target],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode == 0:
        return False
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    return True


def _build(p: lendkit.Platform, loans: int, investors: int) -> list[tuple[str, list[str]]]:
    """Loans with ``investors`` equal positions each, built in host transactions of up to 200
    investors (fast; PostgreSQL slows down with thousands of savepoints in one transaction)."""
    out = []
    for k in range(loans):
        with p.engine.begin() as conn:
            v = p.using(conn)
            borrower = v.parties.register(f"b{k}").id
            v.parties.verify(borrower)
            listing = v.listings.apply(
                borrower, amount=str(100 * investors), annual_rate="12%", months=3
            )
            v.listings.approve(listing.id, grade="A")
            v.listings.publish(listing.id)
        invs: list[str] = []
        for start in range(0, investors, 200):
            with p.engine.begin() as conn:
                v = p.using(conn)
                for j in range(start, min(start + 200, investors)):
                    inv = v.parties.register(f"i{k}-{j}").id
                    v.parties.verify(inv)
                    v.custody.deposit(inv, "100")
                    v.bidding.bid(listing.id, inv, "100")
                    invs.append(inv)
        with p.engine.begin() as conn:
            v = p.using(conn)
            loan = v.loans.disburse(listing.id)
            v.custody.deposit(borrower, "100000")
        out.append((loan.id, invs))
    return out


@pytest.mark.parametrize(
    "seed", [*range(4), *(pytest.param(n, marks=pytest.mark.slow) for n in range(4, 16))]
)
def test_cob_killed_at_a_random_point_pays_once(
    make_platform: Callable[..., lendkit.Platform], db_url: str, seed: int
) -> None:
    p = make_platform()
    book = _build(p, loans=8, investors=4)
    due = p.loans.schedule(book[0][0]).installments[0].due_date
    cash = {
        loan_id: p.custody.balance(p.loans.get(loan_id).borrower_id).available
        for loan_id, _ in book
    }
    # a date's COB over 8 loans runs well over 40 statements: every seed kills it somewhere
    died = _kill(db_url, "cob", random.Random(seed).randint(1, 40), due.isoformat())
    assert died
    p.cob.run(due, allow_future=True)  # the rerun finishes the date (or finds it done)
    assert p.cob.run(due, allow_future=True).already_done
    for loan_id, invs in book:
        first = p.loans.schedule(loan_id).installments[0]
        got = [p.loans.position(loan_id, inv).received_principal for inv in invs]
        assert got == lendkit.allocate(first.principal, [1] * len(invs))
        borrower = p.loans.get(loan_id).borrower_id
        assert p.custody.balance(borrower).available == cash[loan_id] - first.payment  # once
    assert p.verify().ok


@pytest.mark.parametrize("seed", range(3))
def test_cob_killed_with_an_overdue_loan_in_the_batch_pays_and_accrues_once(
    make_platform: Callable[..., lendkit.Platform], db_url: str, seed: int
) -> None:
    """The same with one borrower who cannot pay: its loan is marked overdue, accrues its
    penalty and is heard by ``online`` inside the bulk batch; wherever the run dies, the rerun
    leaves one penalty accrual and one collection record, and the others paid once."""
    p = make_platform()
    book = _build(p, loans=8, investors=3)
    late = book[2][0]
    borrower = p.loans.get(late).borrower_id
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    due = p.loans.schedule(late).installments[0].due_date
    day = due + timedelta(days=5)  # past the 3 grace days
    cash = {
        loan_id: p.custody.balance(p.loans.get(loan_id).borrower_id).available
        for loan_id, _ in book
    }
    died = _kill(db_url, "cob", random.Random(seed).randint(1, 40), day.isoformat())
    assert died
    p.cob.run(day, allow_future=True)
    assert p.cob.run(day, allow_future=True).already_done
    for loan_id, invs in book:
        if loan_id == late:
            continue
        first = p.loans.schedule(loan_id).installments[0]
        got = [p.loans.position(loan_id, inv).received_principal for inv in invs]
        assert got == lendkit.allocate(first.principal, [1] * len(invs))
        owner = p.loans.get(loan_id).borrower_id
        assert p.custody.balance(owner).available == cash[loan_id] - first.payment  # once
    assert p.loans.get(late).state == "overdue"
    with p.engine.connect() as conn:
        row = conn.execute(
            select(installments).where(installments.c.loan_id == late, installments.c.period == 1)
        ).one()
        records = conn.execute(
            text("SELECT period FROM lendkit_online_collections WHERE loan_id = :l"), {"l": late}
        ).all()
    base = Decimal(row.principal + row.interest)
    assert row.penalty == int((base * 5 * Decimal("0.0005")).quantize(Decimal(1), ROUND_HALF_UP))
    assert [r.period for r in records] == [1]
    assert p.verify().ok


@pytest.mark.parametrize(
    ("investors", "seed"),
    [
        (200, 0),
        (200, 1),
        pytest.param(5000, 2, marks=pytest.mark.slow),
    ],
)
def test_big_repayment_killed_then_retried_pays_once(
    make_platform: Callable[..., lendkit.Platform], db_url: str, investors: int, seed: int
) -> None:
    p = make_platform()
    [(loan_id, invs)] = _build(p, loans=1, investors=investors)
    borrower = p.loans.get(loan_id).borrower_id
    before = p.custody.balance(borrower).available
    died = _kill(db_url, "repay", random.Random(seed).randint(1, 12), loan_id)
    assert died
    assert p.custody.balance(borrower).available == before  # nothing half-written
    payment = p.loans.repay(loan_id, key="big-repay")
    again = p.loans.repay(loan_id, key="big-repay")
    assert again == payment
    assert p.custody.balance(borrower).available == before - payment.amount  # debited once
    positions = p.loans.get(loan_id).positions
    assert len(positions) == len(invs)
    assert sum((x.received_principal for x in positions), Money.of(0)) == payment.principal
    assert p.verify().ok
