"""A deposit the gateway answers ``pending`` is completed or failed later, once, and reconciled."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import lendkit
from lendkit import Money
from lendkit.core.errors import InvalidState
from lendkit.services.custody import StatementLine
from tests.conftest import FixedClock


def cny(v: str | int) -> Money:
    return Money.of(v, "CNY")


class PendingBank:
    """Every deposit and withdrawal waits for the bank's confirmation."""

    name = "pendingbank"

    def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        return "pending", "bank-" + movement_id

    def withdraw(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        return "pending", "bank-" + movement_id


class Receipts:
    lendkit_plugin_name = "receipts"

    def __init__(self) -> None:
        self.sent: list[str] = []

    @lendkit.hookimpl
    def lendkit_deposit_completed(
        self, ctx: Any, party_id: str, amount: Any, movement_id: str
    ) -> None:
        ctx.after_commit(lambda: self.sent.append(f"{movement_id} {amount}"))


def test_pending_deposit_completes_or_fails_and_is_reconciled(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    receipts = Receipts()
    p = make_platform(plugins=["online", receipts], gateway=PendingBank())
    a = p.parties.register("A").id
    d1 = p.custody.deposit(a, "100.25")
    d2 = p.custody.deposit(a, "40")
    assert (d1.state, d1.external_ref) == ("pending", "bank-" + d1.id)
    assert p.custody.balance(a).available == cny(0)

    day = clock.now.date()
    statement = [StatementLine("bank-" + d1.id, a, "deposit", cny("100.25"))]
    found = p.custody.reconcile(statement, day)
    assert [(d.external_ref, d.problem) for d in found.differences] == [
        ("bank-" + d1.id, "pending_in_books")
    ]
    assert found.differences[0].books == cny("100.25")

    done = p.custody.complete_deposit(d1.id)
    assert (done.id, done.state, done.amount) == (d1.id, "completed", cny("100.25"))
    assert p.custody.balance(a).available == cny("100.25")
    assert p.custody.reconcile(statement, day).ok
    assert receipts.sent == [f"{d1.id} {cny('100.25')}"]

    failed = p.custody.fail_deposit(d2.id)
    assert failed.state == "failed"
    assert p.custody.balance(a).available == cny("100.25")
    for settle in (p.custody.complete_deposit, p.custody.fail_deposit):
        for movement in (d1, d2):
            with pytest.raises(InvalidState, match="not a pending deposit"):
                settle(movement.id)
    with pytest.raises(InvalidState, match="not a pending withdrawal"):
        p.custody.complete_withdrawal(d1.id)
    assert receipts.sent == [f"{d1.id} {cny('100.25')}"]
    assert p.verify().ok


def test_a_pending_deposit_is_credited_once_under_racing_confirmations(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform(gateway=PendingBank())
    a = p.parties.register("A").id
    d = p.custody.deposit(a, "10")

    def confirm(_: int) -> str:
        try:
            return p.custody.complete_deposit(d.id).state
        except InvalidState:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(confirm, range(8)))
    assert outcomes == ["completed"] + ["refused"] * 7
    assert p.custody.balance(a).available == cny(10)
    assert p.verify().ok
