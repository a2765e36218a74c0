"""Model-based test: a Hypothesis state machine drives deposits, withdrawals, bids, closes,
disbursements, repayments and close-of-business days against a pure in-memory model; after
every step balances equal the model's, money is conserved and ``verify()`` holds (ledger sums to
zero, cached balances equal the journal fold, frozen equals open holds)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import lendkit
from lendkit import Money
from lendkit.core.errors import InsufficientFunds, InvalidState, LimitExceeded
from tests import conftest
from tests.conftest import FixedClock

INVESTORS = 3
cents = st.integers(min_value=1, max_value=300_00)


def make_machine(new_url: Any) -> type[RuleBasedStateMachine]:
    class LendingMachine(RuleBasedStateMachine):
        @initialize()
        def open(self) -> None:
            self.clock = FixedClock()
            self.p = lendkit.Platform.open(
                new_url(), plugins=["online"], clock=self.clock, config={"service_fee_rate": "0.02"}
            )
            self.borrower = self.p.parties.register("borrower").id
            self.p.parties.verify(self.borrower)
            self.investors = []
            for i in range(INVESTORS):
                pid = self.p.parties.register(f"inv{i}").id
                self.p.parties.verify(pid)
                self.investors.append(pid)
            self.model = {pid: [0, 0] for pid in [self.borrower, *self.investors]}
            self.external = 0  # deposits minus withdrawals
            self.listings: list[dict[str, Any]] = []
            self.loans: list[str] = []

        def teardown(self) -> None:
            self.p.close()

        @rule(who=st.integers(0, INVESTORS), amount=cents)
        def deposit(self, who: int, amount: int) -> None:
            pid = ([self.borrower, *self.investors])[who]
            self.p.custody.deposit(pid, Money.from_minor(amount))
            self.model[pid][0] += amount
            self.external += amount

        @rule(who=st.integers(0, INVESTORS), amount=cents)
        def withdraw(self, who: int, amount: int) -> None:
            pid = ([self.borrower, *self.investors])[who]
            try:
                self.p.custody.withdraw(pid, Money.from_minor(amount))
            except InsufficientFunds:
                assert self.model[pid][0] < amount
                return
            assert self.model[pid][0] >= amount
            self.model[pid][0] -= amount
            self.external -= amount

        @rule(amount=st.integers(100_00, 900_00), months=st.integers(1, 4))
        def open_listing(self, amount: int, months: int) -> None:
            listing = self.p.listings.apply(
                self.borrower, amount=Money.from_minor(amount), annual_rate="12%", months=months
            )
            self.p.listings.approve(listing.id, grade="A")
            self.p.listings.publish(listing.id)
            self.listings.append(
                {"id": listing.id, "amount": amount, "bids": [], "state": "published"}
            )

        @precondition(lambda self: any(x["state"] == "published" for x in self.listings))
        @rule(data=st.data(), who=st.integers(0, INVESTORS - 1), amount=cents)
        def bid(self, data: st.DataObject, who: int, amount: int) -> None:
            open_ = [x for x in self.listings if x["state"] == "published"]
            listing = data.draw(st.sampled_from(open_))
            pid = self.investors[who]
            remaining = listing["amount"] - sum(b[1] for b in listing["bids"])
            fill = min(amount, remaining)
            try:
                got = self.p.bidding.bid(listing["id"], pid, Money.from_minor(amount))
            except InsufficientFunds:
                assert self.model[pid][0] < fill
                return
            assert got.amount.minor == fill
            self.model[pid][0] -= fill
            self.model[pid][1] += fill
            listing["bids"].append((pid, fill))
            if fill == remaining:
                listing["state"] = "funded"

        @precondition(lambda self: any(x["state"] == "published" for x in self.listings))
        @rule(data=st.data())
        def close(self, data: st.DataObject) -> None:
            listing = data.draw(
                st.sampled_from([x for x in self.listings if x["state"] == "published"])
            )
            assert self.p.listings.close(listing["id"]).state == "failed"
            for pid, fill in listing["bids"]:
                self.model[pid][0] += fill
                self.model[pid][1] -= fill
            listing["state"] = "failed"

        @precondition(lambda self: any(x["state"] == "funded" for x in self.listings))
        @rule(data=st.data())
        def disburse(self, data: st.DataObject) -> None:
            listing = data.draw(
                st.sampled_from([x for x in self.listings if x["state"] == "funded"])
            )
            loan = self.p.loans.disburse(listing["id"])
            for pid, fill in listing["bids"]:
                self.model[pid][1] -= fill
            fee = (listing["amount"] * 2 + 50) // 100  # 2 % HALF_UP in cents
            self.model[self.borrower][0] += listing["amount"] - fee
            listing["state"] = "disbursed"
            self.loans.append(loan.id)

        @precondition(lambda self: bool(self.loans))
        @rule(data=st.data())
        def repay(self, data: st.DataObject) -> None:
            loan_id = data.draw(st.sampled_from(self.loans))
            before = {pid: self.p.custody.balance(pid).available for pid in self.investors}
            try:
                payment = self.p.loans.repay(loan_id)
            except (InsufficientFunds, InvalidState):
                return
            self.model[self.borrower][0] -= payment.amount.minor
            gained = 0
            for pid in self.investors:
                delta = (self.p.custody.balance(pid).available - before[pid]).minor
                assert delta >= 0
                self.model[pid][0] += delta
                gained += delta
            assert gained == payment.amount.minor - payment.fee.minor

        @rule(days=st.integers(1, 40))
        def close_of_business(self, days: int) -> None:
            before = {pid: self.p.custody.balance(pid).available for pid in self.model}
            self.clock.advance(days=days)
            try:
                self.p.cob.run(self.clock.now.date())
            except LimitExceeded:
                raise
            for pid in self.model:
                now = self.p.custody.balance(pid).available
                self.model[pid][0] += (now - before[pid]).minor
            for x in self.listings:
                if x["state"] == "published" and self.p.listings.get(x["id"]).state == "failed":
                    x["state"] = "failed"
                    for pid, fill in x["bids"]:
                        self.model[pid][1] -= fill

        @invariant()
        def balances_match_model_and_ledger(self) -> None:
            if not hasattr(self, "p"):
                return
            total = 0
            for pid, (available, frozen) in self.model.items():
                bal = self.p.custody.balance(pid)
                assert (bal.available.minor, bal.frozen.minor) == (available, frozen), pid
                total += available + frozen
            revenue = self.p.reports.totals().revenue.minor
            escrow = sum(x["amount"] for x in self.listings if x["state"] == "disbursed")
            assert escrow >= 0
            # conservation: everything deposited is with parties or is platform revenue
            assert total + revenue == self.external
            report = self.p.verify()
            assert report.ok, report.problems

    return LendingMachine


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_lending_matches_model(backend: str, tmp_path: Path, sqlite_template: Path) -> None:
    counter = [0]

    def new_url() -> str:
        counter[0] += 1
        return conftest.fresh_database(backend, tmp_path / f"m{counter[0]}.db", sqlite_template)

    machine = make_machine(new_url)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert timedelta(days=1)
