"""Close of business (日终) that a person cannot get wrong, on SQLite and PostgreSQL.

Dates run in order (a future date needs ``allow_future``, no going back, skipped days caught up),
one process per date and shard, a collection absorbs a balance that fell between its read and
its debit, and penalty does not depend on how often COB runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import lendkit
from lendkit import Money
from lendkit.core.errors import CobRunning, InvalidState, InvalidValue
from lendkit.ops import cob as cob_module
from lendkit.ops import holds as holds_module
from lendkit.ops.repayment import summed_position_updates
from lendkit.store.tables import installments
from tests import conftest
from tests.conftest import FixedClock, dump, party, statements

M = Money.of


def one_loan(
    p: lendkit.Platform, amount: str = "1000", keep: str = "0", months: int = 3
) -> tuple[str, str, str, date]:
    """A disbursed 12 % loan; the borrower keeps ``keep`` of the proceeds.
    Returns (loan id, borrower, investor, first due date)."""
    borrower = party(p, f"borrower-{len(p.listings.find())}")
    investor = party(p, f"investor-{len(p.listings.find())}", amount)
    listing = p.listings.apply(borrower, amount=amount, annual_rate="12%", months=months)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, investor, amount)
    loan = p.loans.disburse(listing.id)
    spend = p.custody.balance(borrower).available - M(keep)
    if spend.is_positive():
        p.custody.withdraw(borrower, spend)
    return loan.id, borrower, investor, p.loans.schedule(loan.id).installments[0].due_date


def at(clock: FixedClock, day: date, hour: int = 20) -> None:
    clock.set(datetime.combine(day, time(hour), tzinfo=UTC))


def inst_rows(p: lendkit.Platform, loan_id: str) -> list[Any]:
    with p.engine.connect() as conn:
        return list(
            conn.execute(
                select(installments)
                .where(installments.c.loan_id == loan_id)
                .order_by(installments.c.period)
            ).all()
        )


class Recorder:
    """Records the days COB closed and each overdue notification's (date, period, days)."""

    def __init__(self) -> None:
        self.closed: list[date] = []
        self.overdue: list[tuple[date, int, int]] = []

    @lendkit.hookimpl
    def lendkit_cob_day(self, ctx: Any, run_date: date) -> None:
        assert ctx.today == run_date
        self.closed.append(run_date)

    @lendkit.hookimpl
    def lendkit_installment_overdue(
        self, ctx: Any, loan: Any, installment: Any, days_overdue: int
    ) -> None:
        self.overdue.append((ctx.today, installment.period, days_overdue))


# -- 16: dates -------------------------------------------------------------------------------------


def test_a_future_date_is_refused_unless_allowed(
    platform: lendkit.Platform, clock: FixedClock, db_url: str
) -> None:
    p = platform
    _, _, _, due = one_loan(p, keep="400")
    at(clock, due - timedelta(days=1))
    before = dump(db_url)
    with pytest.raises(InvalidValue, match=f"COB date {due} is after today") as refused:
        p.cob.run(due)
    assert "allow_future=True" in str(refused.value)
    assert dump(db_url) == before
    with pytest.raises(InvalidValue, match="allow_future"):
        p.cob.run(due, allow_future="yes")  # type: ignore[arg-type]
    assert dump(db_url) == before
    # a simulation may run ahead of the clock; the clock's own today needs no flag
    assert p.cob.run(due, allow_future=True).collected == 1
    at(clock, due + timedelta(days=1), hour=0)
    assert p.cob.run(due + timedelta(days=1)).days == (due + timedelta(days=1),)


def test_a_date_before_the_last_completed_run_is_refused(
    platform: lendkit.Platform, clock: FixedClock, db_url: str
) -> None:
    p = platform
    one_loan(p)
    day = date(2026, 1, 10)
    at(clock, day)
    assert p.cob.run(day).days == (day,)
    before = dump(db_url)
    with pytest.raises(InvalidState, match="before the last completed close of business"):
        p.cob.run(day - timedelta(days=2))
    assert dump(db_url) == before
    again = p.cob.run(day)  # a finished date: nothing happens
    assert again.already_done and again.days == ()
    assert dump(db_url) == before


def test_skipped_days_are_caught_up_in_order(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    recorder = Recorder()
    p = make_platform(plugins=["online", recorder], config={"grace_days": 1})
    loan_id, _, _, due = one_loan(p)
    at(clock, due + timedelta(days=10))
    p.cob.run(due)
    recorder.closed.clear()
    # the nights of due+1 .. due+4 were missed: running due+5 runs them first, one by one
    result = p.cob.run(due + timedelta(days=5))
    days = [due + timedelta(days=k) for k in range(1, 6)]
    assert list(result.days) == days
    assert recorder.closed == days
    assert recorder.overdue == [(due + timedelta(days=k), 1, k) for k in range(2, 6)]
    assert result.overdue == 4  # the totals cover every day run
    for day in days:
        assert [r["state"] for r in p.cob.status(day)] == ["done"]
    # what the loan looks like is what daily runs would have made of it
    [first, *_] = inst_rows(p, loan_id)
    assert first.state == "overdue" and first.penalty_through == days[-1]
    base = first.principal + first.interest
    assert first.penalty == round_half_up(Decimal(base) * Decimal("0.0005") * 5)


# -- 13: a date out of range --------------------------------------------------------------------------


def test_the_last_dates_are_refused_cleanly(
    platform: lendkit.Platform, db_url: str, clock: FixedClock
) -> None:
    p = platform
    one_loan(p)
    before = dump(db_url)
    for value in (date(9999, 12, 31), date.max):
        with pytest.raises(InvalidValue, match="9999-12-31 is out of range"):
            p.cob.run(value, allow_future=True)
        assert dump(db_url) == before
    for value in ("2026-01-01", datetime(2026, 1, 1, tzinfo=UTC), None):
        with pytest.raises(InvalidValue, match=r"must be a datetime\.date"):
            p.cob.run(value, allow_future=True)  # type: ignore[arg-type]
    assert dump(db_url) == before
    assert not p.cob.run(date(9999, 12, 30), allow_future=True).already_done
    assert p.verify().ok


# -- 12: two processes for one date -------------------------------------------------------------------


def test_a_second_run_of_a_date_in_progress_is_refused(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    first = make_platform(config={"cob_chunk": 1})
    loans = [one_loan(first, keep="400") for _ in range(2)]
    due = loans[0][3]
    at(clock, due)
    second = make_platform(config={"cob_chunk": 1})  # another process: its own engine
    paused, resume = threading.Event(), threading.Event()
    outcome: list[Any] = []

    def progress(done: int, total: int) -> None:
        if done == 1:  # between the chunks: the first run holds the date
            paused.set()
            assert resume.wait(30)

    def run_first() -> None:
        try:
            outcome.append(first.cob.run(due, progress=progress))
        except BaseException as exc:  # pragma: no cover - reported below
            outcome.append(exc)
            paused.set()

    worker = threading.Thread(target=run_first)
    worker.start()
    try:
        assert paused.wait(30)
        assert not outcome, outcome
        before = dump(db_url)
        with pytest.raises(
            CobRunning, match=f"COB for {due} is running in another process"
        ) as refused:
            second.cob.run(due)
        assert isinstance(refused.value, lendkit.LendkitError)
        assert dump(db_url) == before
        with pytest.raises(CobRunning):  # the next date must wait too: dates run in order
            second.cob.run(due + timedelta(days=1), allow_future=True)
        assert dump(db_url) == before
    finally:
        resume.set()
        worker.join(60)
    [result] = outcome
    assert not isinstance(result, BaseException), result
    assert result.collected == 2
    assert second.cob.run(due).already_done  # finished: running it again changes nothing
    for loan_id, _, investor, _ in loans:
        assert first.loans.position(loan_id, investor).received_interest.is_positive()
    assert first.verify().ok


# -- 11: a balance that falls between the read and the debit --------------------------------------------


def test_bulk_collection_absorbs_a_withdrawal_between_read_and_debit(
    platform: lendkit.Platform, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = platform
    a_loan, a_borrower, a_investor, due = one_loan(p, keep="100")
    b_loan, _, b_investor, _ = one_loan(p, keep="400")
    at(clock, due)
    original = cob_module._CollectionBatch._load
    seen = {"n": 0}

    def load(self: Any) -> None:
        # the batch read A's balance as 340.02 (enough for the installment); A then withdrew
        # 240.02 in a transaction that committed before the debit: 100.00 is left
        original(self)
        seen["n"] += 1
        if seen["n"] == 1:
            ref = self.accounts[f"party:{a_borrower}:available:CNY"]
            self.balances[ref.id] += 24002

    monkeypatch.setattr(cob_module._CollectionBatch, "_load", load)
    result = p.cob.run(due)
    assert result.collected == 2
    assert p.custody.balance(a_borrower).available == M(0)
    # A paid what was there (interest first), B paid in full; COB went on
    [a1, *_] = inst_rows(p, a_loan)
    assert (a1.paid_interest + a1.paid_principal, a1.state) == (10000, "pending")
    [b1, *_] = inst_rows(p, b_loan)
    assert b1.state == "paid"
    assert p.loans.position(b_loan, b_investor).received_principal.is_positive()
    assert p.loans.position(a_loan, a_investor).received_principal == M("90.00")
    assert p.verify().ok


def test_single_collection_absorbs_a_withdrawal_between_read_and_debit(
    make_platform: Callable[..., lendkit.Platform],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Listener:  # a repayment listener sends every loan down the one-by-one path
        @lendkit.hookimpl
        def lendkit_repayment_received(self, ctx: Any, loan: Any, payment: Any) -> None:
            pass

    p = make_platform(plugins=["online", Listener()])
    a_loan, a_borrower, _, due = one_loan(p, keep="100")
    b_loan, _, _, _ = one_loan(p, keep="400")
    at(clock, due)
    original = holds_module.balance_of
    lied = {"done": False}

    def balance_of(ctx: Any, party_id: str, currency: str) -> Any:
        found = original(ctx, party_id, currency)
        if party_id == a_borrower and not lied["done"]:
            lied["done"] = True  # read before the withdrawal committed: 240.02 more
            return type(found)(party_id, found.available + M("240.02"), found.frozen)
        return found

    monkeypatch.setattr(holds_module, "balance_of", balance_of)
    result = p.cob.run(due)
    assert lied["done"] and result.collected == 2
    [a1, *_] = inst_rows(p, a_loan)
    assert (a1.paid_interest + a1.paid_principal, a1.state) == (10000, "pending")
    assert inst_rows(p, b_loan)[0].state == "paid"
    assert p.custody.balance(a_borrower).available == M(0)
    assert p.verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite writers never overlap
def test_a_real_withdrawal_during_collection_on_postgresql(
    platform: lendkit.Platform, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = platform
    a_loan, a_borrower, _, due = one_loan(p, keep="340.02")
    b_loan, _, _, _ = one_loan(p, keep="400")
    at(clock, due)
    original = cob_module._CollectionBatch._load
    read, withdrawn = threading.Event(), threading.Event()

    def load(self: Any) -> None:
        original(self)
        if not read.is_set():
            read.set()  # the chunk has read the balances: the borrower withdraws now
            assert withdrawn.wait(30)

    monkeypatch.setattr(cob_module._CollectionBatch, "_load", load)
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(p.cob.run(due))
        except BaseException as exc:  # pragma: no cover - reported below
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert read.wait(30)
        p.custody.withdraw(a_borrower, "240.02")  # commits while the chunk is open
    finally:
        withdrawn.set()
        worker.join(60)
    [result] = outcome
    assert not isinstance(result, BaseException), result
    assert result.collected == 2
    [a1, *_] = inst_rows(p, a_loan)
    assert (a1.paid_interest + a1.paid_principal, a1.state) == (10000, "pending")
    assert inst_rows(p, b_loan)[0].state == "paid"
    assert p.custody.balance(a_borrower).available == M(0)
    assert p.verify().ok


# -- 15: penalty does not depend on how often COB runs ------------------------------------------------


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


RATE = Decimal("0.0007")  # 340.02 x 0.07 % = 0.238014 a day: daily rounding would drift


def test_daily_runs_accrue_the_penalty_rounded_once(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(config={"grace_days": 0, "penalty_daily_rate": str(RATE)})
    loan_id, _, _, due = one_loan(p)
    at(clock, due + timedelta(days=30))
    for k in range(0, 11):
        p.cob.run(due + timedelta(days=k))
    [first, *_] = inst_rows(p, loan_id)
    assert first.principal + first.interest == 34002
    # 10 days x 340.02 x 0.07 % = 2.38014: 2.38, where rounding each day gave 10 x 0.24 = 2.40
    assert first.penalty == 238
    assert first.penalty_base_days == 34002 * 10


def test_partial_payment_lowers_the_base_from_its_day_on(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(config={"grace_days": 0, "penalty_daily_rate": str(RATE)})
    loan_id, borrower, _, due = one_loan(p)
    at(clock, due + timedelta(days=4))
    p.cob.run(due + timedelta(days=4))  # 4 days on 340.02: 0.95 (0.952056)
    p.custody.deposit(borrower, "100.95")  # the penalty, then 100.00 of interest and principal
    at(clock, due + timedelta(days=5))
    p.cob.run(due + timedelta(days=5))  # collected, then a day on 240.02
    [first, *_] = inst_rows(p, loan_id)
    assert first.paid_penalty == 95
    assert first.penalty_base_days == 34002 * 4 + 24002
    assert first.penalty == round_half_up((34002 * 4 + 24002) * RATE)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_any_pattern_of_cob_dates_gives_the_daily_penalty(
    backend: str, tmp_path: Path, sqlite_template: Path
) -> None:
    counter = [0]

    def new_url() -> str:
        counter[0] += 1
        return conftest.fresh_database(backend, tmp_path / f"p{counter[0]}.db", sqlite_template)

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        grace=st.integers(0, 3),
        offsets=st.lists(st.integers(0, 14), min_size=1, max_size=4, unique=True),
    )
    def check(grace: int, offsets: list[int]) -> None:
        clock = FixedClock()
        with lendkit.Platform.open(
            new_url(),
            ["online"],
            clock=clock,
            config={"grace_days": grace, "penalty_daily_rate": str(RATE)},
        ) as p:
            loan_id, _, _, due = one_loan(p)
            at(clock, due + timedelta(days=30))
            for offset in sorted(offsets):
                p.cob.run(due + timedelta(days=offset))
            last = max(offsets)
            [first, *_] = inst_rows(p, loan_id)
            days = last if last > grace else 0
            # what daily runs give: base x rate x days overdue, rounded once
            assert first.penalty == round_half_up(34002 * RATE * days)

    check()


# -- many positions in one statement (PostgreSQL) ---------------------------------------------------


def test_a_chunk_pays_every_position_to_the_cent_in_one_statement(
    platform: lendkit.Platform, clock: FixedClock, db_url: str
) -> None:
    """Three loans of seven investors each: COB pays every position its share (equal stakes:
    shares a cent apart at most, summing to what the installment took); on PostgreSQL the 21
    positions take one ``UPDATE ... FROM unnest``, not 21 statements."""
    p = platform
    loan_ids = []
    for k in range(3):
        borrower = party(p, f"many-borrower-{k}")
        investors = [party(p, f"many-investor-{k}-{i}", "100") for i in range(7)]
        listing = p.listings.apply(borrower, amount="700", annual_rate="12.5%", months=3)
        p.listings.approve(listing.id, grade="A")
        p.listings.publish(listing.id)
        for inv in investors:
            p.bidding.bid(listing.id, inv, "100")
        loan_ids.append(p.loans.disburse(listing.id).id)
    due = p.loans.schedule(loan_ids[0]).installments[0].due_date
    at(clock, due)
    with statements(p) as seen:
        assert p.cob.run(due).collected == 3
    for loan_id in loan_ids:
        [first, *_] = inst_rows(p, loan_id)
        assert first.state == "paid"
        got = p.loans.get(loan_id).positions
        assert len(got) == 7
        principal = [x.received_principal.minor for x in got]
        taken = [x.received_interest.minor + x.fees_paid.minor for x in got]
        assert sum(principal) == first.paid_principal and max(principal) - min(principal) <= 1
        assert sum(taken) == first.paid_interest and max(taken) - min(taken) <= 1
    updates = [s for s, _ in seen if s.lstrip().upper().startswith("UPDATE LENDKIT_POSITIONS")]
    if "postgresql" in db_url:
        assert len(updates) == 1 and "unnest" in updates[0]
    assert p.verify().ok


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), *[st.integers(-(10**12), 10**12)] * 4),
        max_size=12,
    )
)
def test_position_updates_are_summed_per_position(
    rows: list[tuple[str, int, int, int, int]],
) -> None:
    updates = [{"pid": r[0], "p": r[1], "n": r[2], "i": r[3], "f": r[4]} for r in rows]
    got = summed_position_updates(updates)
    assert [g["pid"] for g in got] == list(dict.fromkeys(r[0] for r in rows))
    for g in got:
        mine = [u for u in updates if u["pid"] == g["pid"]]
        assert all(g[k] == sum(u[k] for u in mine) for k in ("p", "n", "i", "f"))
    assert updates == [{"pid": r[0], "p": r[1], "n": r[2], "i": r[3], "f": r[4]} for r in rows]
