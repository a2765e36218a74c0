"""Which loans close of business takes one by one when plugins are loaded: a batch listener
keeps every loan on the bulk path (one call per chunk), a per-loan listener that names its loans
sends only those one by one, one that names none sends every loan one by one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

import lendkit
from lendkit.core.errors import PluginError
from lendkit.ops import cob as cob_module
from lendkit.store.tables import installments
from tests.conftest import party


class Batch:
    """Follows payments per chunk."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str, int]]] = []

    @lendkit.hookimpl
    def lendkit_repayments_received(self, ctx: Any, repayments: Any) -> None:
        self.calls.append([(r.loan_id, r.state, r.outstanding_principal.minor) for r in repayments])


class PerLoan:
    """Listens per loan and names no loans (a plugin written before the chunk-level hooks)."""

    def __init__(self) -> None:
        self.mine: set[str] = set()
        self.seen: list[str] = []

    @lendkit.hookimpl
    def lendkit_repayment_received(self, ctx: Any, loan: Any, payment: Any) -> None:
        self.seen.append(loan.id)


class Named(PerLoan):
    """Listens per loan and names the loans it cares about (``mine``)."""

    @lendkit.hookimpl
    def lendkit_cob_loans_of_interest(self, ctx: Any, loan_ids: Any) -> list[str]:
        return [loan_id for loan_id in loan_ids if loan_id in self.mine]


def three_loans(p: lendkit.Platform) -> tuple[list[str], Any]:
    loans = []
    investor = party(p, "investor", "3000")
    for k in range(3):
        borrower = party(p, f"b{k}")
        listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
        p.listings.approve(listing.id, grade="A")
        p.listings.publish(listing.id)
        p.bidding.bid(listing.id, investor, "1000")
        loans.append(p.loans.disburse(listing.id).id)
    return loans, p.loans.schedule(loans[0]).installments[0].due_date


@pytest.fixture
def bulk_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    written = [0]
    write_payments = cob_module.write_payments

    def counting(ctx: Any, installment_updates: Any, booked: Any) -> None:
        written[0] += len(booked)
        write_payments(ctx, installment_updates, booked)

    monkeypatch.setattr(cob_module, "write_payments", counting)
    return written


def test_a_batch_listener_keeps_the_bulk_path_and_hears_each_chunk_once(
    make_platform: Callable[..., lendkit.Platform], bulk_count: list[int]
) -> None:
    listener = Batch()
    p = make_platform(plugins=["online", listener], config={"cob_chunk": 2})
    loans, due = three_loans(p)
    listener.calls.clear()
    p.cob.run(due, allow_future=True)
    assert bulk_count[0] == 3  # every loan collected in bulk
    outstanding = {loan_id: p.loans.get(loan_id).outstanding_principal.minor for loan_id in loans}
    # one call per chunk (2 + 1 loans), each payment with its loan as it stands after it
    assert [[c[0] for c in call] for call in listener.calls] == [
        sorted(loans)[:2],
        sorted(loans)[2:],
    ]
    for call in listener.calls:
        for loan_id, state, left in call:
            assert (state, left) == ("active", outstanding[loan_id])
    # a payment outside close of business is reported at once, alone
    listener.calls.clear()
    p.loans.repay(loans[0], "10")
    now = p.loans.get(loans[0]).outstanding_principal.minor
    assert listener.calls == [[(loans[0], "active", now)]]


@pytest.mark.parametrize("names", [True, False])
def test_a_per_loan_listener_sees_its_loans_one_by_one(
    make_platform: Callable[..., lendkit.Platform], bulk_count: list[int], names: bool
) -> None:
    listener = Named() if names else PerLoan()
    p = make_platform(plugins=["online", listener])
    loans, due = three_loans(p)
    listener.mine = {loans[1]}
    listener.seen.clear()
    p.cob.run(due, allow_future=True)
    if names:
        # only the named loan went one by one (and was heard); the others were bulk
        assert listener.seen == [loans[1]]
        assert bulk_count[0] == 2
    else:
        assert sorted(listener.seen) == sorted(loans)
        assert bulk_count[0] == 0
    for loan_id in loans:
        first = p.loans.schedule(loan_id).installments[0]
        assert p.loans.get(loan_id).outstanding_principal == (
            lendkit.Money.of("1000") - first.principal
        )
    assert p.verify().ok


def test_a_string_for_loan_ids_is_a_plugin_error(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    class Bad:
        @lendkit.hookimpl
        def lendkit_cob_loans_of_interest(self, ctx: Any, loan_ids: Any) -> str:
            return loan_ids[0]

    p = make_platform(plugins=["online", Bad()])
    _loans, due = three_loans(p)
    with pytest.raises(PluginError, match="lendkit_cob_loans_of_interest"):
        p.cob.run(due, allow_future=True)


def test_every_builtin_plugin_loaded_keeps_plain_loans_on_the_bulk_path(
    make_platform: Callable[..., lendkit.Platform], bulk_count: list[int]
) -> None:
    """A platform enables many plugins; plain loans must not pay for them: a builtin plugin
    with a per-loan hook names its own loans (``lendkit_cob_loans_of_interest``)."""
    from lendkit.plugin_manager import available_plugins

    p = make_platform(plugins=sorted(available_plugins()))
    loans, due = three_loans(p)
    p.cob.run(due, allow_future=True)
    assert bulk_count[0] == 3
    for loan_id in loans:
        first = p.loans.schedule(loan_id).installments[0]
        assert p.loans.get(loan_id).outstanding_principal == (
            lendkit.Money.of("1000") - first.principal
        )
    assert p.verify().ok


def test_an_overdue_loan_stays_in_the_batch_with_every_builtin_plugin_loaded(
    make_platform: Callable[..., lendkit.Platform],
    bulk_count: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A loan whose borrower cannot pay is marked overdue, accrues its penalty and is heard by
    the plugins (online records the collection stage) inside the bulk batch: no one-loan path,
    and the loans after it are not read again (its hooks wrote no loan, installment, position
    or balance)."""
    from lendkit.plugin_manager import available_plugins

    one_by_one: list[str] = []
    loads = [0]
    process_loan, load = cob_module.process_loan, cob_module._CollectionBatch._load

    def counting_process(ctx: Any, loan_id: str, run_date: Any) -> Any:
        one_by_one.append(loan_id)
        return process_loan(ctx, loan_id, run_date)

    def counting_load(self: Any) -> None:
        loads[0] += 1
        load(self)

    monkeypatch.setattr(cob_module, "process_loan", counting_process)
    monkeypatch.setattr(cob_module._CollectionBatch, "_load", counting_load)
    p = make_platform(plugins=sorted(available_plugins()))
    loans, due = three_loans(p)
    late = p.loans.get(loans[1])
    p.custody.withdraw(late.borrower_id, p.custody.balance(late.borrower_id).available)
    day = due + timedelta(days=5)  # past the 3 grace days
    result = p.cob.run(day, allow_future=True)
    assert (result.collected, result.overdue, result.defaulted) == (2, 1, 0)
    assert one_by_one == [] and loads[0] == 1 and bulk_count[0] == 2
    assert p.loans.get(loans[1]).state == "overdue"
    with p.engine.connect() as conn:
        row = conn.execute(
            select(installments).where(
                installments.c.loan_id == loans[1], installments.c.period == 1
            )
        ).one()
    # the overdue base x 5 days (from the due date) x the default 0.05 % a day, rounded once
    base = Decimal(row.principal + row.interest)
    assert row.state == "overdue" and row.penalty_through == day
    assert row.penalty == int((base * 5 * Decimal("0.0005")).quantize(Decimal(1), ROUND_HALF_UP))
    with p.engine.connect() as conn:
        stages = conn.execute(
            text("SELECT loan_id, period, stage FROM lendkit_online_collections")
        ).all()
    assert [(r.loan_id, r.period) for r in stages] == [(loans[1], 1)]  # online heard it
    for loan_id in (loans[0], loans[2]):
        first = p.loans.schedule(loan_id).installments[0]
        assert p.loans.get(loan_id).outstanding_principal == (
            lendkit.Money.of("1000") - first.principal
        )
    assert p.verify().ok
