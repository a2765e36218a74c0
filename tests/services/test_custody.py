"""Custody and ledger on both databases: balances to the cent, holds, idempotency, refusals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

import lendkit
from lendkit import Money
from lendkit.core.errors import (
    Forbidden,
    HoldResolved,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidState,
    LimitExceeded,
    NotFound,
)
from lendkit.ops import holds as C
from lendkit.services.custody import StatementLine
from lendkit.uow import UnitOfWork
from tests.conftest import dump


def cny(v: str) -> Money:
    return Money.of(v, "CNY")


def test_deposit_withdraw_balances(platform: lendkit.Platform, funded: Callable[..., str]) -> None:
    a = funded("100.00")
    platform.custody.withdraw(a, "30.55")
    bal = platform.custody.balance(a)
    assert bal.available == cny("69.45") and bal.frozen == cny("0")
    assert platform.verify().ok


def test_idempotent_deposit_has_one_effect(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    a = funded()
    first = platform.custody.deposit(a, "50", key="dep-1")
    for _ in range(3):
        again = platform.custody.deposit(a, "50", key="dep-1")
        assert again == first
    assert platform.custody.balance(a).available == cny("50")
    with pytest.raises(IdempotencyConflict):
        platform.custody.deposit(a, "51", key="dep-1")


def test_concurrent_same_key_one_effect(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    a = funded()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: platform.custody.deposit(a, "10", key="same"), range(16)))
    assert len({r.id for r in results}) == 1
    assert platform.custody.balance(a).available == cny("10")


def test_failed_key_stays_failed(platform: lendkit.Platform, funded: Callable[..., str]) -> None:
    a = funded("10")
    with pytest.raises(InsufficientFunds):
        platform.custody.withdraw(a, "20", key="w")
    platform.custody.deposit(a, "100")
    with pytest.raises(InsufficientFunds):
        platform.custody.withdraw(a, "20", key="w")
    assert platform.custody.balance(a).available == cny("110")


def test_unverified_party_cannot_withdraw(platform: lendkit.Platform) -> None:
    a = platform.parties.register("Unverified").id
    platform.custody.deposit(a, "10")
    with pytest.raises(Forbidden):
        platform.custody.withdraw(a, "5")


def test_refused_commands_change_nothing(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    a = funded("10")
    before = dump(db_url)
    bad: list[Callable[[], object]] = [
        lambda: platform.custody.withdraw(a, "10.01"),
        lambda: platform.custody.deposit(a, "-1"),
        lambda: platform.custody.deposit(a, "0"),
        lambda: platform.custody.deposit(a, "0.001"),
        lambda: platform.custody.deposit(a, "NaN"),
        lambda: platform.custody.deposit(a, "1e30"),
        lambda: platform.custody.deposit("pty_missing", "1"),
        lambda: platform.custody.unfreeze("hld_missing"),
        lambda: platform.custody.operator_freeze(a, "11", "x"),
    ]
    for call in bad:
        with pytest.raises(lendkit.LendkitError):
            call()
    with pytest.raises(TypeError):
        platform.custody.deposit(a, 1.5)  # type: ignore[arg-type]
    assert dump(db_url) == before


def _ctx_call(platform: lendkit.Platform, fn: Callable[[UnitOfWork], object]) -> object:
    return platform.runner.run("test", lambda tx: fn(tx))


def test_hold_post_partial_and_wrong_destination(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    a, b, c = funded("100"), funded(), funded()
    hold = _ctx_call(
        platform,
        lambda ctx: C.freeze(ctx, a, cny("60"), ctx.party_account(b), reference="t", reason="test"),
    )
    assert platform.custody.balance(a).frozen == cny("60")
    with pytest.raises(InvalidState):
        _ctx_call(platform, lambda ctx: C.post_hold(ctx, hold.id, cny("1"), ctx.party_account(c)))  # type: ignore[attr-defined]
    with pytest.raises(LimitExceeded):
        _ctx_call(platform, lambda ctx: C.post_hold(ctx, hold.id, cny("60.01")))  # type: ignore[attr-defined]
    _ctx_call(platform, lambda ctx: C.post_hold(ctx, hold.id, cny("45.50")))  # type: ignore[attr-defined]
    assert platform.custody.balance(a).available == cny("54.50")
    assert platform.custody.balance(a).frozen == cny("0")
    assert platform.custody.balance(b).available == cny("45.50")
    with pytest.raises(HoldResolved):
        _ctx_call(platform, lambda ctx: C.void_hold(ctx, hold.id))  # type: ignore[attr-defined]
    assert platform.verify().ok


def test_hold_resolves_once_under_race(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    a, b = funded("1000"), funded()
    for _ in range(10):
        hold = _ctx_call(
            platform,
            lambda ctx: C.freeze(
                ctx, a, cny("10"), ctx.party_account(b), reference="r", reason="test"
            ),
        )
        hid = hold.id  # type: ignore[attr-defined]
        outcomes: list[str] = []
        barrier = threading.Barrier(3)

        def attempt(kind: str) -> None:
            barrier.wait()
            try:
                if kind == "post":
                    _ctx_call(platform, lambda ctx: C.post_hold(ctx, hid))
                elif kind == "void":
                    _ctx_call(platform, lambda ctx: C.void_hold(ctx, hid))
                else:
                    _ctx_call(platform, lambda ctx: C.void_hold(ctx, hid, state="expired"))
                outcomes.append(kind)
            except HoldResolved:
                pass

        threads = [threading.Thread(target=attempt, args=(k,)) for k in ("post", "void", "expire")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(outcomes) == 1
    bal_a, bal_b = platform.custody.balance(a), platform.custody.balance(b)
    assert bal_a.frozen == cny("0")
    assert bal_a.available + bal_b.available == cny("1000")
    assert platform.verify().ok


def test_32_threads_never_overdraw(platform: lendkit.Platform, funded: Callable[..., str]) -> None:
    a, b = funded("100"), funded()
    ok: list[int] = []

    def grab(_: int) -> None:
        try:
            _ctx_call(
                platform,
                lambda ctx: C.freeze(
                    ctx, a, cny("7"), ctx.party_account(b), reference="r", reason="test"
                ),
            )
            ok.append(1)
        except InsufficientFunds:
            pass

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(grab, range(32)))
    bal = platform.custody.balance(a)
    assert len(ok) == 14
    assert bal.frozen == cny("98") and bal.available == cny("2")
    assert platform.verify().ok


def test_expire_holds_releases_once(
    platform: lendkit.Platform, funded: Callable[..., str], clock
) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    a, b = funded("100"), funded()
    for _ in range(5):
        _ctx_call(
            platform,
            lambda ctx: C.freeze(
                ctx,
                a,
                cny("3"),
                ctx.party_account(b),
                reference="r",
                reason="t",
                expires_at=ctx.now + timedelta(hours=1),
            ),
        )
    assert platform.custody.expire_holds() == 0
    clock.advance(hours=2)
    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(lambda _: platform.custody.expire_holds(), range(2)))
    assert sum(counts) == 5
    assert platform.custody.balance(a).available == cny("100")
    assert platform.verify().ok


def test_operator_cannot_move_funds_elsewhere(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    a = funded("100")
    hold = platform.custody.operator_freeze(a, "40", "court order")
    assert hold.destination == f"party:{a}:available:CNY"
    platform.custody.unfreeze(hold.id)
    platform.custody.refund(a, "25")
    assert platform.custody.balance(a).available == cny("75")
    public = {n for n in dir(platform.custody) if not n.startswith("_")}
    assert not {"transfer", "move", "pay", "debit", "credit"} & public


def test_pending_withdrawal_completes_or_fails(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    class SlowBank:
        name = "slowbank"

        def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
            return "completed", "bank-" + movement_id

        def withdraw(
            self, party_id: str, amount: Money, movement_id: str
        ) -> tuple[str, str | None]:
            return "pending", "bank-" + movement_id

    p = make_platform(gateway=SlowBank())
    a = p.parties.register("A").id
    p.parties.verify(a)
    p.custody.deposit(a, "100")
    w1 = p.custody.withdraw(a, "30")
    w2 = p.custody.withdraw(a, "20")
    assert w1.state == "pending"
    assert p.custody.balance(a).frozen == cny("50")
    p.custody.complete_withdrawal(w1.id)
    p.custody.fail_withdrawal(w2.id)
    with pytest.raises(InvalidState):
        p.custody.complete_withdrawal(w2.id)
    bal = p.custody.balance(a)
    assert bal.available == cny("70") and bal.frozen == cny("0")
    assert p.verify().ok


def test_reconciliation_flags_gap(
    platform: lendkit.Platform, funded: Callable[..., str], clock
) -> None:  # type: ignore[no-untyped-def]
    a = funded("100")
    platform.custody.withdraw(a, "40")
    day = clock.now.date()
    statement = platform.custody.statement(day)
    assert platform.custody.reconcile(statement, day).ok
    tampered = [
        StatementLine(
            s.external_ref,
            s.party_id,
            s.kind,
            s.amount + cny("0.01") if s.kind == "deposit" else s.amount,
        )
        for s in statement
    ]
    result = platform.custody.reconcile(tampered, day)
    assert not result.ok
    assert [d.problem for d in result.differences] == ["amount_mismatch"]
    extra = [*statement, StatementLine("bank-x", a, "deposit", cny("5"))]
    assert [d.problem for d in platform.custody.reconcile(extra, day).differences] == [
        "missing_in_books"
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE lendkit_postings SET amount = amount + 1 WHERE id = (SELECT MAX(id) FROM lendkit_postings)",
        "DELETE FROM lendkit_postings WHERE id = (SELECT MIN(id) FROM lendkit_postings)",
        "UPDATE lendkit_journal_entries SET reference = 'forged' WHERE seq = 2",
        "UPDATE lendkit_accounts SET balance = balance + 100 WHERE id = 2",
        "INSERT INTO lendkit_postings (entry_seq, account_id, amount) VALUES (1, 1, 0)",
        "INSERT INTO lendkit_journal_entries (seq, kind, reference, memo, created_at, prev_hash,"
        " hash) VALUES (99, 'deposit', 'forged', '', '2026-01-01 00:00:00', 'x', 'y')",
    ],
)
def test_verify_detects_tampering(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str, sql: str
) -> None:
    a = funded("100")
    platform.custody.withdraw(a, "10")
    assert platform.verify().ok
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()
    report = platform.verify()
    assert not report.ok
    assert report.problems


ops = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "withdraw", "freeze", "post", "void"]),
        st.integers(0, 2),
        st.integers(1, 50_00),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=ops)
def test_random_sequences_keep_invariants(
    platform: lendkit.Platform, ops: list[tuple[str, int, int]]
) -> None:
    parties = []
    for i in range(3):
        p = platform.parties.register(f"p{i}")
        platform.parties.verify(p.id)
        parties.append(p.id)
    model = {pid: [0, 0] for pid in parties}  # available, frozen in cents
    open_holds: list[tuple[str, str, str, int]] = []
    for op, who, cents in ops:
        pid = parties[who]
        amount = Money.from_minor(cents, "CNY")
        try:
            if op == "deposit":
                platform.custody.deposit(pid, amount)
                model[pid][0] += cents
            elif op == "withdraw":
                platform.custody.withdraw(pid, amount)
                model[pid][0] -= cents
            elif op == "freeze":
                dest = parties[(who + 1) % 3]
                h = _ctx_call(
                    platform,
                    lambda ctx: C.freeze(
                        ctx,
                        pid,
                        amount,
                        ctx.party_account(dest),
                        reference="x",
                        reason="t",
                    ),
                )
                model[pid][0] -= cents
                model[pid][1] += cents
                open_holds.append((h.id, pid, dest, cents))  # type: ignore[attr-defined]
            elif op in ("post", "void") and open_holds:
                hid, owner, dest, held = open_holds.pop(cents % len(open_holds))
                if op == "post":
                    part = cents % (held + 1)
                    _ctx_call(
                        platform, lambda ctx: C.post_hold(ctx, hid, Money.from_minor(part, "CNY"))
                    )
                    model[owner][1] -= held
                    model[owner][0] += held - part
                    model[dest][0] += part
                else:
                    _ctx_call(platform, lambda ctx: C.void_hold(ctx, hid))
                    model[owner][1] -= held
                    model[owner][0] += held
        except InsufficientFunds:
            assert model[pid][0] < cents
        for q in parties:
            bal = platform.custody.balance(q)
            assert (bal.available.minor, bal.frozen.minor) == tuple(model[q])
    report = platform.verify()
    assert report.ok, report.problems


def test_unknown_ids(platform: lendkit.Platform) -> None:
    with pytest.raises(NotFound):
        platform.custody.balance("pty_nope")
    with pytest.raises(InvalidAmount):
        platform.custody.deposit("pty_nope", "abc")
    assert (
        Decimal("0") == platform.custody.balance(platform.parties.register("x").id).available.amount
    )


def test_refund_through_an_outside_gateway_is_sent_once_and_answered(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    """A refund pays money out of custody: an outside gateway must be asked (once, after
    commit, with the same movement id on a retry), and until it answers the money is held."""
    asked: list[str] = []

    class SlowBank:
        name = "slowbank"

        def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
            return "completed", "bank-" + movement_id

        def withdraw(
            self, party_id: str, amount: Money, movement_id: str
        ) -> tuple[str, str | None]:
            asked.append(movement_id)
            return "pending", "bank-" + movement_id

    p = make_platform(gateway=SlowBank())
    a = p.parties.register("A").id  # not verified: an operator refund does not need it
    p.custody.deposit(a, "100")
    r = p.custody.refund(a, "30", key="refund-1")
    again = p.custody.refund(a, "30", key="refund-1")
    assert (r.kind, r.state, again.id) == ("refund", "pending", r.id)
    assert asked == [r.id]
    assert p.custody.balance(a).available == cny("70")
    assert p.custody.balance(a).frozen == cny("30")
    p.custody.fail_withdrawal(r.id)
    assert p.custody.balance(a).available == cny("100")
    r2 = p.custody.refund(a, "40")
    p.custody.complete_withdrawal(r2.id)
    assert p.custody.balance(a).available == cny("60")
    assert p.custody.balance(a).frozen == cny("0")
    assert asked == [r.id, r2.id]
    assert p.verify().ok
