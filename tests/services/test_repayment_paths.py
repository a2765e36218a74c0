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
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, create_engine

import lendkit
from lendkit import Money
from lendkit.core.errors import LendkitError
from lendkit.core.money import allocate_minor
from lendkit.ops import cob as cob_module
from lendkit.store import rows as common_module
from lendkit.store.db import create_nullpool_engine
from tests import conftest
from tests.conftest import AUDIT_TABLES, FixedClock, dump

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


#: a loan's cover in the plugin books: none, a guarantee, investor-paid insurance, a pledge
COVERS = ("none", "guarantee", "insurance", "collateral")


def play(
    url: str,
    plugins: list[Any],
    config: dict[str, Any],
    book: list[tuple[int, int, int, list[int]]],
    keep: list[int],
    story: list[tuple[int, int, int, int]],
    covers: list[int] | None = None,
) -> None:
    """Build ``book`` on a fresh platform (each loan with its ``covers`` entry, if given), then
    play ``story``: each step deposits, repays by hand (refusals are part of the story) and runs
    close of business for its day."""
    clock = FixedClock()
    with lendkit.Platform.open(url, plugins=plugins, clock=clock, config=config) as p:
        parties = []
        for k in range(PARTIES):
            pid = p.parties.register(f"party-{k}").id
            p.parties.verify(pid)
            p.custody.deposit(pid, "4000")
            parties.append(pid)
        cover = Covers(p) if covers is not None else None
        loans = []
        for k, (borrower, amount, months, weights) in enumerate(book):
            investors = [q for q in parties if q != parties[borrower]][: len(weights)]
            listing = p.listings.apply(
                parties[borrower], amount=str(amount), annual_rate="12%", months=months
            )
            if cover is not None and covers is not None:
                cover.add(COVERS[covers[k % len(covers)]], listing.id, parties[borrower], k)
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


class Covers:
    """A guarantor (joint liability, a deposit frozen per loan), an insurer (investor-paid
    premiums, claims after a day) and pledged cars, for the plugin books."""

    def __init__(self, p: lendkit.Platform) -> None:
        from lendkit.plugins import guarantee, insurance

        self.p = p
        company = p.parties.register("guarantor", kind="enterprise").id
        p.parties.verify(company)
        p.custody.deposit(company, "1500")
        self.guarantor = guarantee.register_guarantor(
            p, "Guarantor", company, capital="100000", deposit_rate="10%"
        ).id
        guarantee.fund_deposit(p, self.guarantor, "1000")
        self.insurer = insurance.register_insurer(p, "Insurer", capacity="100000").id
        insurance.fund_insurer(p, self.insurer, "300")

    def add(self, kind: str, listing_id: str, borrower: str, k: int) -> None:
        from lendkit.plugins import collateral, guarantee, insurance

        if kind == "guarantee":
            guarantee.guarantee_listing(self.p, listing_id, self.guarantor, after_days=2)
        elif kind == "insurance":
            insurance.insure_loan(
                self.p, listing_id, self.insurer, "3%", payer="investors", trigger_days=1
            )
        elif kind == "collateral":
            car = collateral.register_asset(
                self.p, "vehicle", f"VIN-{k}", borrower, "5000", date(2026, 1, 1)
            )
            collateral.pledge(self.p, listing_id, car.id)


def dump_all(url: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Every table's rows (lendkit's and the plugins'), sorted."""
    engine = create_engine(url) if "sqlite" in url else create_nullpool_engine(url)
    out = []
    with engine.connect() as conn:
        found = MetaData()
        found.reflect(conn)
        for table in found.sorted_tables:
            if table.name in ("lendkit_meta", "alembic_version", *AUDIT_TABLES):
                continue
            if "alembic" in table.name:
                continue
            rows = conn.execute(table.select()).all()
            out.append((table.name, sorted((tuple(r) for r in rows), key=repr)))
    engine.dispose()
    return out


def _deterministic(
    backend: str, tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Callable[[], str], list[int]]:
    """A fresh database per call, with ``new_id()`` drawing the same sequence in each; and the
    count of collections COB's bulk chunk wrote."""
    counter = itertools.count()
    ids: list[Callable[[], SimpleNamespace]] = []

    def fresh() -> str:
        url = conftest.fresh_database(backend, tmp_path / f"d{next(counter)}.db", sqlite_template)
        numbers = itertools.count(1)
        ids[:] = [lambda: SimpleNamespace(hex=f"{next(numbers):032x}")]
        return url

    from lendkit.plugins.collateral import rules as collateral_rules
    from lendkit.plugins.guarantee import commands as guarantee_commands
    from lendkit.plugins.insurance import rules as insurance_rules

    for module in (common_module, collateral_rules, guarantee_commands, insurance_rules):
        monkeypatch.setattr(module, "uuid", SimpleNamespace(uuid4=lambda: ids[0]()))
    bulk_written = [0]
    write_payments = cob_module.write_payments

    def counting(ctx: Any, installment_updates: Any, booked: Any) -> None:
        bulk_written[0] += len(booked)
        write_payments(ctx, installment_updates, booked)

    monkeypatch.setattr(cob_module, "write_payments", counting)
    return fresh, bulk_written


PLUGINS = ["online", "guarantee", "reserve", "insurance", "collateral"]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_cob_bulk_and_one_loan_paths_agree_with_plugin_covers(
    backend: str, tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Books where loans carry a guarantee (deposit frozen and released as principal comes
    in), investor-paid insurance (premiums withheld from interest), a pledge, a reserve behind
    every loan, with loans falling overdue and covered by the waterfall: COB with the builtin
    plugins (bulk path, chunk-level hooks) and the same with every loan sent one by one write
    every table (the plugins' too) identically."""
    fresh, bulk_written = _deterministic(backend, tmp_path, sqlite_template, monkeypatch)
    in_batch = [0]  # overdue loans handled inside the bulk batch
    overdue_handling = cob_module.overdue_handling

    def counting(
        ctx: Any, loan_id: str, run_date: date, watch: Any = None, known: Any = None
    ) -> Any:
        in_batch[0] += watch is not None
        return overdue_handling(ctx, loan_id, run_date, watch, known)

    monkeypatch.setattr(cob_module, "overdue_handling", counting)

    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        # the same examples every run: the checks below, that they reached the bulk path and an
        # overdue loan in the batch, must not depend on what a random draw happened to contain
        derandomize=True,
    )
    @given(
        book=loan_specs,
        covers=st.lists(st.integers(0, len(COVERS) - 1), min_size=3, max_size=3),
        keep=st.lists(st.integers(0, 700_00), min_size=PARTIES, max_size=PARTIES),
        story=steps,
        chunk=st.integers(1, 3),
    )
    def check(
        book: list[tuple[int, int, int, list[int]]],
        covers: list[int],
        keep: list[int],
        story: list[tuple[int, int, int, int]],
        chunk: int,
    ) -> None:
        config = {
            "cob_chunk": chunk,
            "grace_days": 0,
            "sqlite_synchronous": "NORMAL",
            "waterfall": ["guarantee", "insurance", "reserve"],
            "default_after_days": 30,
            "plugins": {"reserve": {"after_days": 3, "rates": {"A": "0.01"}}},
        }
        url = fresh()
        play(url, PLUGINS, config, book, keep, story, covers)
        bulk = dump_all(url)
        url = fresh()
        play(url, [*PLUGINS, OneByOne()], config, book, keep, story, covers)
        single = dump_all(url)
        assert [t for t, _ in bulk] == [t for t, _ in single]
        for (table, rows), (_, expected) in zip(bulk, single, strict=True):
            assert rows == expected, table

    check()
    assert bulk_written[0] > 0  # plugins loaded, loans covered: the bulk path still ran
    assert in_batch[0] > 0  # and overdue loans were handled in the batch


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
