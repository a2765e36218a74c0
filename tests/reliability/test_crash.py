"""SIGKILL in the middle of close of business or a big repayment, then rerun: paid exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

import lendkit
from lendkit import Money
from tests.conftest import FixedClock

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import date, datetime, timezone
    import lendkit

    url, mode, kill_after, target = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    seen = {"n": 0}

    class Killer:
        lendkit_plugin_name = "killer"

        @lendkit.hookimpl
        def lendkit_repayment_received(self, ctx, loan, payment):
            seen["n"] += 1
            if seen["n"] >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    p = lendkit.Platform.open(url, plugins=["online", Killer()], config={"cob_chunk": 3},
                              clock=lambda: datetime(2026, 3, 1, 9, tzinfo=timezone.utc))
    if mode == "cob":
        p.cob.run(date.fromisoformat(target))
    else:
        p.loans.repay(target, key="big-repay")
    print("finished without being killed")
    """
)


def _build(p: lendkit.Platform, loans: int, investors: int) -> list[tuple[str, list[str]]]:
    out = []
    borrower_cash = Money.of("100000")
    for k in range(loans):
        borrower = p.parties.register(f"b{k}").id
        p.parties.verify(borrower)
        invs = []
        listing = p.listings.apply(
            borrower, amount=str(100 * investors), annual_rate="12%", months=3
        )
        p.listings.approve(listing.id, grade="A")
        p.listings.publish(listing.id)
        for j in range(investors):
            inv = p.parties.register(f"i{k}-{j}").id
            p.parties.verify(inv)
            p.custody.deposit(inv, "100")
            p.bidding.bid(listing.id, inv, "100")
            invs.append(inv)
        loan = p.loans.disburse(listing.id)
        p.custody.deposit(borrower, borrower_cash)
        out.append((loan.id, invs))
    return out


@pytest.mark.parametrize("kill_after", [1, 4, 7])
def test_cob_killed_mid_run_pays_once(
    make_platform: Callable[..., lendkit.Platform], db_url: str, clock: FixedClock, kill_after: int
) -> None:
    p = make_platform()
    book = _build(p, loans=8, investors=4)
    due = p.loans.schedule(book[0][0]).installments[0].due_date
    result = subprocess.run(
        [sys.executable, "-c", KILLER, db_url, "cob", str(kill_after), due.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    p.cob.run(due)  # the rerun finishes the date
    assert p.cob.run(due).already_done
    for loan_id, invs in book:
        sched = p.loans.schedule(loan_id)
        first = sched.installments[0]
        got = [p.loans.position(loan_id, inv).received_principal for inv in invs]
        assert got == lendkit.allocate(first.principal, [1] * len(invs))
    assert p.verify().ok


def test_big_repayment_killed_then_retried_pays_once(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    [(loan_id, invs)] = _build(p, loans=1, investors=200)
    result = subprocess.run(
        [sys.executable, "-c", KILLER, db_url, "repay", "1", loan_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert all(p.loans.position(loan_id, i).received_principal.is_zero() for i in invs)
    payment = p.loans.repay(loan_id, key="big-repay")
    again = p.loans.repay(loan_id, key="big-repay")
    assert again == payment
    received = sum((p.loans.position(loan_id, i).received_principal for i in invs), Money.of(0))
    assert received == payment.principal
    assert p.verify().ok
