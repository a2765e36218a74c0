"""Close of business's bulk chunk and the one-loan path write the same ledger, to the byte.

Both call the one repayment algorithm (``lendkit.core.payments``); the bulk chunk only writes
the rows of many loans in batched statements. On random books (several loans, investors who
also borrow, partial payments, manual repayments, days overdue), the same story is played
twice: once with COB's bulk path, once with every loan sent down the one-loan path (a
repayment listener does that), and every lendkit table must come out identical: journal
entries (kinds, references, memos, hashes), postings, balances, installments, positions,
payments, loans. Ids are made deterministic (the same sequence in both runs) rather than
excluded; only ``lendkit_meta`` (the plugins each database was opened with, stamped with the
wall clock) is left out of the comparison.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import lendkit
from lendkit import Money
from lendkit.core.errors import LendkitError
from lendkit.core.money import allocate_minor
from lendkit.ops import cob as cob_module
from lendkit.store import rows as common_module
from tests import conftest
from tests.conftest import FixedClock, dump

PARTIES = 3


class OneByOne:
    """A repayment listener: its presence sends every loan down COB's one-loan path."""

    @lendkit.hookimpl
    def lendkit_repayment_received(self, ctx: Any, loan: Any, payment: Any) -> None:
        pass


loan_specs = st.lists(
    st.tuples(
        st.integers(0, PARTIES - 1),  # borrower
        st.integers(100, 900),  # amount, whole yuan
        st.integers(1, 4),  # months
        st.lists(st.integers(1, 9), min_size=1, max_size=PARTIES - 1),  # bid weights
    ),
    min_size=1,
    max_size=3,
)
steps = st.lists(
    st.tuples(
        st.integers(1, 24),  # days to the next close of business
        st.integers(0, PARTIES - 1),  # who deposits
        st.integers(0, 400_00),  # deposit (cents)
        st.integers(0, 400_00),  # manual repayment (cents) of loan step % loans
    ),
    min_size=1,
    max_size=4,
)


def play(
    url: str,
    plugins: list[Any],
    config: dict[str, Any],
    book: list[tuple[int, int, int, list[int]]],
    keep: list[int],
    story: list[tuple[int, int, int, int]],
) -> None:
    """Build ``book`` on a fresh platform, then play ``story``: each step deposits, repays by
    hand (refusals are part of the story) and runs close of business for its day."""
    clock = FixedClock()
    with lendkit.Platform.open(url, plugins=plugins, clock=clock, config=config) as p:
        parties = []
        for k in range(PARTIES):
            pid = p.parties.register(f"party-{k}").id
            p.parties.verify(pid)
            p.custody.deposit(pid, "4000")
            parties.append(pid)
        loans = []
        for borrower, amount, months, weights in book:
            investors = [q for q in parties if q != parties[borrower]][: len(weights)]
            listing = p.listings.apply(
                parties[borrower], amount=str(amount), annual_rate="12%", months=months
            )
            p.listings.approve(listing.id, grade="A")
            p.listings.publish(listing.id)
            for investor, cents in zip(
                investors, allocate_minor(amount * 100, weights), strict=True
            ):
                if cents:
                    p.bidding.bid(listing.id, investor, Money.from_minor(cents))
            loans.append(p.loans.disburse(listing.id).id)
        for pid, kept in zip(parties, keep, strict=True):
            spend = p.custody.balance(pid).available - Money.from_minor(kept)
            if spend.is_positive():
                p.custody.withdraw(pid, spend)
        day = clock.now.date()
        for k, (days, who, deposit, repay) in enumerate(story):
            day += timedelta(days=days)
            clock.set(datetime.combine(day, time(9), tzinfo=UTC))
            if deposit:
                p.custody.deposit(parties[who], Money.from_minor(deposit))
            if repay:
                # refused when too much, nothing due or not enough money: the same in both runs
                with contextlib.suppress(LendkitError):
                    p.loans.repay(loans[k % len(loans)], Money.from_minor(repay))
            clock.set(datetime.combine(day, time(20), tzinfo=UTC))
            p.cob.run(day)
        assert p.verify().ok


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_cob_bulk_and_one_loan_paths_write_identical_ledgers(
    backend: str, tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = itertools.count()
    ids: list[Callable[[], SimpleNamespace]] = []

    def fresh() -> str:
        url = conftest.fresh_database(backend, tmp_path / f"d{next(counter)}.db", sqlite_template)
        # new_id() draws the same sequence in each run: compare ids, hashes and all
        numbers = itertools.count(1)
        ids[:] = [lambda: SimpleNamespace(hex=f"{next(numbers):032x}")]
        return url

    monkeypatch.setattr(common_module, "uuid", SimpleNamespace(uuid4=lambda: ids[0]()))
    bulk_written = [0]
    write_payments = cob_module.write_payments

    def counting(ctx: Any, installment_updates: Any, booked: Any) -> None:
        bulk_written[0] += len(booked)  # collections the bulk chunk wrote
        write_payments(ctx, installment_updates, booked)

    monkeypatch.setattr(cob_module, "write_payments", counting)

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking replays whole books
    )
    @given(
        book=loan_specs,
        keep=st.lists(st.integers(0, 700_00), min_size=PARTIES, max_size=PARTIES),
        story=steps,
        chunk=st.integers(1, 3),
        grace=st.integers(0, 3),
    )
    def check(
        book: list[tuple[int, int, int, list[int]]],
        keep: list[int],
        story: list[tuple[int, int, int, int]],
        chunk: int,
        grace: int,
    ) -> None:
        config = {"cob_chunk": chunk, "grace_days": grace, "sqlite_synchronous": "NORMAL"}
        url = fresh()
        play(url, ["online"], config, book, keep, story)
        bulk = dump(url)
        url = fresh()
        play(url, ["online", OneByOne()], config, book, keep, story)
        single = dump(url)
        for (table, rows), (_, expected) in zip(bulk, single, strict=True):
            if table != "lendkit_meta":  # the plugins each run opened with, at wall-clock time
                assert rows == expected, table

    check()
    assert bulk_written[0] > 0  # the bulk path was exercised, not only the one-loan path
