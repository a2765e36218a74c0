"""Idempotent replays of every mutating command, hostile input, segregation of duties, durability."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

import lendkit
from lendkit import Money
from lendkit.cli import main
from lendkit.core.errors import IdempotencyConflict, InsufficientFunds
from lendkit.store.db import create_nullpool_engine
from tests.conftest import FixedClock, dump
from tests.conftest import party as _party


def cny(v: str | int) -> Money:
    return Money.of(v, "CNY")


def test_every_mutating_command_replays_with_one_effect(
    platform: lendkit.Platform, db_url: str, clock: FixedClock
) -> None:
    p = platform
    state: dict[str, Any] = {}

    def step(name: str, call: Callable[[str], Any]) -> None:
        first = call(name)
        snapshot = dump(db_url)
        for _ in range(3):
            assert call(name) == first, name
        assert dump(db_url) == snapshot, f"{name} had a second effect"
        state[name] = first

    step("register-b", lambda k: p.parties.register("borrower", key=k))
    step("register-i", lambda k: p.parties.register("investor", key=k))
    b, i = state["register-b"].id, state["register-i"].id
    step("verify-b", lambda k: p.parties.verify(b, key=k))
    step("verify-i", lambda k: p.parties.verify(i, key=k))
    step("check", lambda k: p.parties.set_check(i, "email", "verified", key=k))
    step("risk", lambda k: p.parties.set_risk_level(i, [4, 4, 4], key=k))
    step("report", lambda k: p.parties.add_rating_report(b, "agency", "A", key=k))
    step("assess", lambda k: p.parties.assess(b, key=k))
    step("deposit", lambda k: p.custody.deposit(i, "5000", key=k))
    step("withdraw", lambda k: p.custody.withdraw(i, "100", key=k))
    step("freeze", lambda k: p.custody.operator_freeze(i, "10", "check", key=k))
    step("unfreeze", lambda k: p.custody.unfreeze(state["freeze"].id, key=k))
    step("refund", lambda k: p.custody.refund(i, "1", key=k))
    step("rule", lambda k: p.bidding.add_rule(i, "1", min_rate="50%", key=k))
    step("rule-off", lambda k: p.bidding.disable_rule(state["rule"].id, key=k))
    step("apply", lambda k: p.listings.apply(b, amount="1000", annual_rate="12%", months=2, key=k))
    lid = state["apply"].id
    step("approve", lambda k: p.listings.approve(lid, grade="A", key=k))
    step("publish", lambda k: p.listings.publish(lid, key=k))
    step("bid", lambda k: p.bidding.bid(lid, i, "1000", key=k))
    step("close", lambda k: p.listings.close(lid, key=k))
    step("disburse", lambda k: p.loans.disburse(lid, key=k))
    loan = state["disburse"].id
    step("deposit-b", lambda k: p.custody.deposit(b, "2000", key=k))
    step("repay", lambda k: p.loans.repay(loan, key=k))
    clock.advance(days=40)
    step("prepay", lambda k: p.loans.prepay(loan, key=k))
    step("other", lambda k: p.listings.apply(b, amount="50", annual_rate="12%", key=k))
    step("reject", lambda k: p.listings.reject(state["other"].id, "no", key=k))
    step("third", lambda k: p.listings.apply(b, amount="50", annual_rate="12%", key=k))
    step("cancel", lambda k: p.listings.cancel(state["third"].id, key=k))
    with pytest.raises(IdempotencyConflict):
        p.custody.deposit(i, "5001", key="deposit")
    with pytest.raises(IdempotencyConflict):
        p.custody.withdraw(i, "5000", key="deposit")  # same key, another command
    assert p.verify().ok


def test_concurrent_replays_of_one_bid(platform: lendkit.Platform) -> None:
    p = platform
    b, i = _party(p, "b"), _party(p, "i", "500")
    listing = p.listings.apply(b, amount="1000", annual_rate="12%")
    p.listings.approve(listing.id)
    p.listings.publish(listing.id)
    with ThreadPoolExecutor(5) as pool:
        bids = list(
            pool.map(lambda _: p.bidding.bid(listing.id, i, "300", key="same-bid"), range(5))
        )
    assert len({x.id for x in bids}) == 1
    assert p.custody.balance(i).frozen == cny(300)
    assert p.listings.get(listing.id).bid_count == 1


def test_failed_for_funds_stays_failed(platform: lendkit.Platform) -> None:
    p = platform
    b, i = _party(p, "b"), _party(p, "i", "10")
    listing = p.listings.apply(b, amount="1000", annual_rate="12%")
    p.listings.approve(listing.id)
    p.listings.publish(listing.id)
    with pytest.raises(InsufficientFunds):
        p.bidding.bid(listing.id, i, "100", key="k")
    p.custody.deposit(i, "1000")
    with pytest.raises(InsufficientFunds):
        p.bidding.bid(listing.id, i, "100", key="k")
    assert p.custody.balance(i).frozen == cny(0)


HOSTILE = [
    "0",
    "-1",
    "1e-30",
    10**18,
    "1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    1.5,
    float("nan"),
    Money.of("1", "USD"),
    "",
    "x" * 10_000,
    "'; DROP TABLE lendkit_accounts; --",
    None,
    [],
    {},
    True,
    Decimal("sNaN"),
    "\x00",
    "\ud800",
]


def test_hostile_input_is_refused_and_changes_nothing(
    platform: lendkit.Platform, db_url: str
) -> None:
    p = platform
    b, i = _party(p, "b"), _party(p, "i", "100")
    listing = p.listings.apply(b, amount="100", annual_rate="12%", months=1)
    p.listings.approve(listing.id)
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i, "100")
    loan = p.loans.disburse(listing.id)
    lid = listing.id
    calls: list[Callable[[Any], Any]] = [
        lambda v: p.parties.register(v),
        lambda v: p.parties.register("ok", kind=v),
        lambda v: p.parties.verify(v),
        lambda v: p.parties.set_check(i, v, "verified"),
        lambda v: p.parties.set_risk_level(i, v),
        lambda v: p.custody.deposit(i, v),
        lambda v: p.custody.deposit(v, "1"),
        lambda v: p.custody.withdraw(i, v),
        lambda v: p.custody.operator_freeze(i, v, "x"),
        lambda v: p.custody.unfreeze(v),
        lambda v: p.custody.refund(i, v),
        lambda v: p.custody.balance(v),
        lambda v: p.listings.apply(b, amount=v, annual_rate="12%"),
        lambda v: p.listings.apply(b, amount="10", annual_rate=v),
        lambda v: p.listings.apply(b, amount="10", annual_rate="12%", months=v),
        lambda v: p.listings.apply(b, amount="10", annual_rate="12%", method=v),
        lambda v: p.listings.apply(b, amount="10", annual_rate="12%", window_days=v),
        lambda v: p.listings.apply(b, amount="10", annual_rate="12%", min_bid=v),
        lambda v: p.listings.apply(b, amount="10", annual_rate="12%", product=v),
        lambda v: p.listings.approve(v),
        lambda v: p.listings.approve(lid, grade=v),
        lambda v: p.listings.publish(v),
        lambda v: p.listings.close(v),
        lambda v: p.listings.reject(lid, v),
        lambda v: p.bidding.bid(lid, i, v),
        lambda v: p.bidding.bid(v, i, "1"),
        lambda v: p.bidding.add_rule(i, v),
        lambda v: p.bidding.add_rule(i, "1", min_rate=v),
        lambda v: p.loans.repay(loan.id, v),
        lambda v: p.loans.repay(v),
        lambda v: p.loans.prepay(loan.id, v),
        lambda v: p.loans.prepay(loan.id, None, mode=v),
        lambda v: p.loans.position(loan.id, v),
        lambda v: p.loans.write_off(v),
        lambda v: p.cob.run(v),
    ]
    before = dump(db_url)
    accepted = []
    # the defaults of optional arguments are not hostile: no rate yet, default minimum bid, 0% floor
    defaults = {(13, "None"), (17, "None"), (27, "'0'")}
    for n, call in enumerate(calls):
        for value in HOSTILE:
            if (n, repr(value)) in defaults:
                continue
            try:
                call(value)
            except lendkit.LendkitError:
                continue
            accepted.append((n, repr(value)[:40]))
    # the only acceptable successes: short strings are valid party names (stored verbatim,
    # SQL metacharacters included); everything else must be refused
    names_ok = [
        (0, repr(v)[:40])
        for v in HOSTILE
        if isinstance(v, str) and 0 < len(v) < 200 and v.isprintable()
    ]
    assert accepted == names_ok, [a for a in accepted if a not in names_ok]
    after = dump(db_url)
    changed = [t for (t, rows), (_, old) in zip(after, before, strict=True) if rows != old]
    assert set(changed) <= {"lendkit_parties", "lendkit_verifications", "lendkit_accounts"}
    names = [r[1] for r in dict(after)["lendkit_parties"]]
    assert HOSTILE[13] in names


def test_cli_hostile_input_one_line_exit_2(tmp_path: Any) -> None:
    runner = CliRunner()
    cases = [
        ["schedule", "--principal", "NaN", "--annual-rate", "12%", "--months", "12"],
        ["schedule", "--principal", "1e400", "--annual-rate", "12%", "--months", "12"],
        ["schedule", "--principal", "100", "--annual-rate", "-1%", "--months", "12"],
        ["schedule", "--principal", "100", "--annual-rate", "12%", "--months", "x" * 10_000],
        ["--db", f"sqlite:///{tmp_path}/x.db", "cob", "--date", "2026-02-30"],
        ["--db", "nonsense://", "verify"],
        ["--db", f"sqlite:///{tmp_path}/y.db", "cob", "--date", "2026-01-01", "--shard", "3/2"],
    ]
    for args in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args[:3], result.output)
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_operator_commands_keep_investor_totals(platform: lendkit.Platform) -> None:
    """Segregation: operator actions change an investor's available + frozen only by a refund to
    that investor or a post to the destination recorded when the funds were frozen."""
    p = platform
    b, i = _party(p, "b"), _party(p, "i", "1000")

    def total() -> Money:
        bal = p.custody.balance(i)
        return bal.available + bal.frozen

    start = total()
    hold = p.custody.operator_freeze(i, "300", "court order")
    assert total() == start
    p.custody.unfreeze(hold.id)
    assert total() == start
    p.custody.refund(i, "100")
    assert total() == start - cny(100)
    listing = p.listings.apply(b, amount="500", annual_rate="12%")
    p.listings.approve(listing.id)
    p.listings.publish(listing.id)
    bid = p.bidding.bid(listing.id, i, "200")  # the investor's own authorisation
    assert total() == start - cny(100)
    p.listings.close(listing.id)  # short: fails, the hold is voided back
    assert total() == start - cny(100)
    assert p.custody.hold(bid.hold_id).state == "voided"
    services = [p.custody, p.listings, p.loans, p.bidding, p.parties, p.cob, p.reports]
    forbidden = {"transfer", "move", "move_funds", "pay", "debit", "credit", "adjust", "post"}
    for svc in services:
        assert not forbidden & {n for n in dir(svc) if not n.startswith("_")}, svc
    assert not {"transfer", "move", "adjust"} & set(main.commands)


DURABLE = textwrap.dedent(
    """
    import os, signal, sys
    import lendkit
    p = lendkit.Platform.open(sys.argv[1], plugins=["online"], create=False)
    p.custody.deposit(sys.argv[2], "12.34", key="durable")
    sys.stdout.write("returned\\n"); sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_command_that_returned_survives_sigkill(platform: lendkit.Platform, db_url: str) -> None:
    i = _party(platform, "i")
    result = subprocess.run(
        [sys.executable, "-c", DURABLE, db_url, i], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGKILL
    assert result.stdout == "returned\n"
    assert platform.custody.balance(i).available == cny("12.34")
    assert platform.verify().ok
    if db_url.startswith("sqlite"):
        engine = create_nullpool_engine(db_url)
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        engine.dispose()
    assert os.name == "posix" and datetime.now() - timedelta(days=1) < datetime.now()
