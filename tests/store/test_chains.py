"""The journal as several hash chains, written in one ``executemany`` per unit of work.

Writers on PostgreSQL take a chain no other transaction holds (``SKIP LOCKED``), so concurrent
writers never queue behind one ledger head; SQLite (one writer at a time) writes chain 1, which
is the journal exactly as lendkit wrote it before chains. ``verify`` checks every chain and names
the first bad entry; an anchor (``report.head``) covers every chain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

import lendkit
from lendkit import Money
from lendkit.core.errors import InsufficientFunds
from lendkit.core.ledger import Leg, entry_hash
from lendkit.store.db import create_nullpool_engine
from lendkit.store.ledger import CHAIN_SPAN, chain_of, verify_ledger
from tests.conftest import statements


def _sql(db_url: str, sql: str, **params: object) -> list[Any]:
    engine = create_nullpool_engine(db_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _two_parties(p: lendkit.Platform, funded: Callable[..., str]) -> tuple[str, str]:
    return funded("100", name="a"), funded("0", name="b")


def test_a_unit_of_work_writes_its_entries_in_one_executemany(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    a, b = _two_parties(platform, funded)
    before = platform.verify().entries
    with statements(platform) as seen, platform.transaction() as ctx:
        x, y = ctx.party_account(a), ctx.party_account(b)
        seqs = [ctx.post("test.move", f"m{i}", [Leg(x, -100), Leg(y, 100)]) for i in range(30)]
    inserts = [s for s, _ in seen if "INSERT INTO lendkit_journal_entries" in s]
    posting_inserts = [s for s, _ in seen if "INSERT INTO lendkit_postings" in s]
    assert len(inserts) == 1 and len(posting_inserts) == 1
    # besides those two, a balance update per account and per entry, and the chain's head
    assert len(seen) <= 2 * 30 + 5
    assert seqs == list(range(seqs[0], seqs[0] + 30))
    report = platform.verify()
    assert report.ok, report.problems
    assert report.entries == before + 30
    assert platform.custody.balance(a).available == Money.of("70.00")
    assert platform.custody.balance(b).available == Money.of("30.00")


def test_a_rolled_back_savepoint_drops_only_its_entries(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    a, b = _two_parties(platform, funded)
    before = platform.verify().entries
    with platform.transaction() as ctx:
        x, y = ctx.party_account(a), ctx.party_account(b)
        ctx.post("test.move", "kept-1", [Leg(x, -1000), Leg(y, 1000)])
        with pytest.raises(InsufficientFunds), ctx.savepoint():
            ctx.post("test.move", "undone", [Leg(x, -1000), Leg(y, 1000)])
            ctx.post("test.move", "too-much", [Leg(x, -(10**6)), Leg(y, 10**6)])
        ctx.post("test.move", "kept-2", [Leg(x, -500), Leg(y, 500)])
        # read in the same transaction: what it booked is there (written before the read)
        assert verify_ledger(ctx.conn).entries == before + 2
    report = platform.verify()
    assert report.ok, report.problems
    refs = [r[0] for r in _sql(db_url, "SELECT reference FROM lendkit_journal_entries")]
    assert "kept-1" in refs and "kept-2" in refs and "undone" not in refs
    assert platform.custody.balance(a).available == Money.of("85.00")
    assert platform.custody.balance(b).available == Money.of("15.00")


def test_a_refused_unit_of_work_writes_nothing(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    a, b = _two_parties(platform, funded)
    before = platform.verify().entries
    with pytest.raises(InsufficientFunds), platform.transaction() as ctx:
        x, y = ctx.party_account(a), ctx.party_account(b)
        ctx.post("test.move", "first", [Leg(x, -1000), Leg(y, 1000)])
        ctx.post("test.move", "refused", [Leg(x, -(10**6)), Leg(y, 10**6)])
    report = platform.verify()
    assert report.ok and report.entries == before
    assert platform.custody.balance(a).available == Money.of("100.00")
    # the next unit of work continues the chain where the database has it
    with platform.transaction() as ctx:
        ctx.post("test.move", "next", [Leg(ctx.party_account(a), -1), Leg(ctx.party_account(b), 1)])
    assert platform.verify().ok and platform.verify().entries == before + 1


def test_entries_booked_in_nested_savepoints_go_with_the_outer_rollback(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    a, b = _two_parties(platform, funded)
    before = platform.verify().entries
    with platform.transaction() as ctx:
        x, y = ctx.party_account(a), ctx.party_account(b)
        outer = ctx.conn.begin_nested()
        inner = ctx.conn.begin_nested()
        ctx.post("test.move", "inner", [Leg(x, -100), Leg(y, 100)])
        inner.commit()
        outer.rollback()
        ctx.post("test.move", "kept", [Leg(x, -200), Leg(y, 200)])
    report = platform.verify()
    assert report.ok, report.problems
    assert report.entries == before + 1
    refs = [r[0] for r in _sql(db_url, "SELECT reference FROM lendkit_journal_entries")]
    assert "kept" in refs and "inner" not in refs
    assert platform.custody.balance(b).available == Money.of("2.00")


def test_a_caught_refusal_still_keeps_the_unit_of_work_from_committing(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    a, b = _two_parties(platform, funded)
    before = platform.verify().entries
    with pytest.raises(InsufficientFunds), platform.transaction() as ctx:
        x, y = ctx.party_account(a), ctx.party_account(b)
        ctx.post("test.move", "credit", [Leg(x, -1), Leg(y, 1)])
        ctx.post("test.move", "overdraft", [Leg(x, -(10**6)), Leg(y, 10**6)])
        with pytest.raises(InsufficientFunds):
            ctx.flush()  # refused here; the caller swallows it and goes on
    assert platform.verify().entries == before
    assert platform.custody.balance(a).available == Money.of("100.00")
    assert platform.custody.balance(b).available == Money.of("0.00")


def test_a_bid_is_at_most_tenstatements(
    platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    borrower, investor = funded("0", name="borrower"), funded("1000", name="investor")
    listing = platform.listings.apply(borrower, amount="1000", annual_rate="10%", months=6)
    platform.listings.approve(listing.id, grade="A")
    platform.listings.publish(listing.id)
    platform.bidding.bid(listing.id, investor, "100")  # the investor's accounts are cached now
    with statements(platform) as seen:
        platform.bidding.bid(listing.id, investor, "100")
    # the listing, investor and escrow account in one read, the listing's guarded update, bid,
    # hold, the two balances, the chain's head, the journal entry and its postings; and the
    # audit row: its chain's head taken, the row, the head sealed
    audit = [s for s, _ in seen if "lendkit_audit_" in s]
    business = [s for s, _ in seen if "lendkit_audit_" not in s]
    assert len(business) <= 10, [s.split("\n")[0][:60] for s in business]
    assert len(audit) == 3, audit
    assert platform.custody.balance(investor).frozen == Money.of("200.00")
    assert platform.verify().ok


# -- several chains (PostgreSQL: SQLite has one writer at a time) ---------------------------------


def _postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several writers at once: PostgreSQL (SQLite writes chain 1 only)")


def _write_old_layout(db_url: str, a_id: int, b_id: int, n: int) -> None:
    """Entries as lendkit wrote them before chains: one head row, sequence numbers 1, 2, ..."""
    engine = create_nullpool_engine(db_url)
    with engine.begin() as conn:
        head = conn.execute(text("SELECT seq, hash FROM lendkit_ledger_head WHERE id = 1")).one()
        seq, prev = int(head.seq), str(head.hash)
        for i in range(n):
            seq += 1
            pairs = sorted([(a_id, -1), (b_id, 1)])
            digest = entry_hash(prev, seq, "old.move", f"old{i}", pairs)
            conn.execute(
                text(
                    "INSERT INTO lendkit_journal_entries (seq, kind, reference, memo, created_at,"
                    " prev_hash, hash, detail) VALUES (:s, 'old.move', :r, '', :t, :p, :h, '')"
                ),
                {"s": seq, "r": f"old{i}", "t": datetime.now(UTC), "p": prev, "h": digest},
            )
            for acc, amt in pairs:
                conn.execute(
                    text(
                        "INSERT INTO lendkit_postings (entry_seq, account_id, amount)"
                        " VALUES (:s, :a, :m)"
                    ),
                    {"s": seq, "a": acc, "m": amt},
                )
                conn.execute(
                    text("UPDATE lendkit_accounts SET balance = balance + :m WHERE id = :a"),
                    {"m": amt, "a": acc},
                )
            prev = digest
        conn.execute(
            text("UPDATE lendkit_ledger_head SET seq = :s, hash = :h WHERE id = 1"),
            {"s": seq, "h": prev},
        )
    engine.dispose()


def _overlapping(p: lendkit.Platform, funded: Callable[..., str]) -> tuple[int, int]:
    """Two units of work booking at once on accounts of their own (the second while the first
    is still open): their entries' sequence numbers. The second may not wait for the first."""
    a, b, c, d = (funded("1", name=n) for n in "abcd")
    with p.transaction() as first:
        one = first.post(
            "test.move", "first", [Leg(first.party_account(a), -1), Leg(first.party_account(b), 1)]
        )
        with p.transaction() as second:
            second.conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            x, y = second.party_account(c), second.party_account(d)
            two = second.post("test.move", "second", [Leg(x, -1), Leg(y, 1)])
    return one, two


def test_concurrent_writers_take_different_chains_and_verify_checks_each(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    _postgres_only(db_url)
    a, _b = _two_parties(platform, funded)
    one, two = _overlapping(platform, funded)
    assert chain_of(one) != chain_of(two)
    report = platform.verify()
    assert report.ok, report.problems
    assert len(report.heads) == 2 and "," in report.head
    assert platform.verify(anchor=report.head).ok
    assert platform.custody.balance(a).available == Money.of("100.00")

    # tampering with the second chain is detected, naming the entry
    _sql(
        db_url,
        "UPDATE lendkit_postings SET amount = amount * 2 WHERE entry_seq = :s AND amount > 0",
        s=two,
    )
    bad = platform.verify()
    assert not bad.ok and bad.first_bad_entry == two
    assert any(f"entry {two} " in x for x in bad.problems)


def test_deleting_the_last_entry_of_a_chain_is_detected(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    _postgres_only(db_url)
    _one, two = _overlapping(platform, funded)
    kept = platform.verify()
    c, d = (
        r.code
        for r in _sql(
            db_url,
            "SELECT a.code FROM lendkit_postings p JOIN lendkit_accounts a ON a.id = p.account_id"
            " WHERE p.entry_seq = :s ORDER BY p.amount",
            s=two,
        )
    )
    _sql(db_url, "DELETE FROM lendkit_postings WHERE entry_seq = :s", s=two)
    _sql(db_url, "DELETE FROM lendkit_journal_entries WHERE seq = :s", s=two)
    # hide it from the balances too: only the chain's head and the anchor still know
    _sql(db_url, "UPDATE lendkit_accounts SET balance = balance + 1 WHERE code = :c", c=c)
    _sql(db_url, "UPDATE lendkit_accounts SET balance = balance - 1 WHERE code = :d", d=d)
    bad = platform.verify()
    assert not bad.ok and bad.first_bad_entry == two
    assert any(f"chain {chain_of(two)} says" in x for x in bad.problems)
    # the head row rewritten as well: the anchor still catches it
    base = (chain_of(two) - 1) * CHAIN_SPAN
    _sql(
        db_url,
        "UPDATE lendkit_ledger_head SET seq = :s, hash = :h WHERE id = :c",
        s=base,
        h="0" * 64,
        c=chain_of(two),
    )
    assert platform.verify().ok
    anchored = platform.verify(anchor=kept.head)
    assert not anchored.ok and any(f"no entry {two}" in x for x in anchored.problems)


def test_a_ledger_written_before_chains_verifies_and_grows(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    """The journal lendkit wrote with one head row is chain 1: it verifies as it stands, writers
    continue it (and, on PostgreSQL, open more chains beside it), and tampering with any chain
    is named."""
    a, b = _two_parties(platform, funded)
    ids = {
        r.code.split(":")[1]: int(r.id)
        for r in _sql(db_url, "SELECT id, code FROM lendkit_accounts WHERE code LIKE 'party:%'")
        if r.code.endswith(":available:CNY")
    }
    _write_old_layout(db_url, ids[a], ids[b], 5)
    report = platform.verify()
    assert report.ok, report.problems
    last_old = report.head_seq
    platform.custody.deposit(a, "1")
    assert platform.verify().head_seq == last_old + 1  # chain 1 continues where it was
    if db_url.startswith("postgresql"):
        _overlapping(platform, funded)
    report = platform.verify()
    assert report.ok, report.problems
    assert platform.custody.balance(b).available == Money.of("0.05")

    _sql(db_url, "UPDATE lendkit_journal_entries SET reference = 'forged' WHERE seq = 3")
    bad = platform.verify()
    assert not bad.ok and bad.first_bad_entry == 3
    assert any("entry 3 (old.move forged) was altered" in x for x in bad.problems)


def test_chains_config_is_checked(make_platform: Callable[..., lendkit.Platform]) -> None:
    from lendkit.core.errors import ConfigError

    for bad in (-1, 4097):
        with pytest.raises(ConfigError, match=f"ledger_chains {bad!r} is invalid"):
            make_platform(config={"ledger_chains": bad})
    p = make_platform(config={"ledger_chains": 1})
    assert p.config.ledger_chains == 1


def test_by_default_there_is_a_chain_for_every_connection_the_server_takes(
    platform: lendkit.Platform, db_url: str
) -> None:
    """No more transactions than ``max_connections`` can write at once, so with that many
    chains a writer always finds a free one and never waits for a chain while it holds row
    locks (a wait that could close a cycle with the chain's holder)."""
    assert platform.config.ledger_chains == 0
    heads = _sql(db_url, "SELECT count(*) FROM lendkit_ledger_head")[0][0]
    if db_url.startswith("postgresql"):
        assert heads == int(_sql(db_url, "SHOW max_connections")[0][0])
    else:
        assert heads == 1


def test_many_accounts_are_set_in_one_statement_with_every_guard_kept(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    """A flush touching many accounts (a distribution) keeps each guarded debit's check: on
    PostgreSQL it is one ``UPDATE ... FROM unnest`` after the rows are locked in id order; a
    refused debit is named, with what it needs, and nothing is written."""
    names = [funded("50", name=f"p{i}") for i in range(6)]
    before = platform.verify().entries
    with platform.transaction() as ctx:
        refs = [ctx.party_account(n) for n in names]
        # p0 pays 40.00 out in two entries whose running total dips to -45.00 before a 5.00
        # refund; everyone else receives
        ctx.post("test.move", "out", [Leg(refs[0], -4500), *[Leg(r, 900) for r in refs[1:]]])
        ctx.post("test.move", "back", [Leg(refs[1], -500), Leg(refs[0], 500)])
    report = platform.verify()
    assert report.ok and report.entries == before + 2
    got = [platform.custody.balance(n).available for n in names]
    assert got == [Money.of("10.00"), Money.of("54.00")] + [Money.of("59.00")] * 4
    # the lowest point is what is checked: 10.00 can go out, 10.01 cannot, even if refunded
    with pytest.raises(InsufficientFunds) as refused, platform.transaction() as ctx:
        refs = [ctx.party_account(n) for n in names]
        ctx.post("test.move", "big", [Leg(refs[3], -1001), Leg(refs[4], 1001)])
        ctx.post("test.move", "spread", [Leg(refs[0], -1001), Leg(refs[5], 1001)])
        ctx.post("test.move", "refund", [Leg(refs[5], -1001), Leg(refs[0], 1001)])
        ctx.post("test.more", "more", [Leg(refs[1], -100), Leg(refs[2], 100)])
    assert str(refused.value) == f"account {refs[0].code} holds 10.00 CNY, 10.01 CNY is needed"
    assert [platform.custody.balance(n).available for n in names] == got
    assert platform.verify().entries == before + 2
    # a flush over six accounts: on PostgreSQL the lock and one UPDATE, never one per account
    with statements(platform) as seen, platform.transaction() as ctx:
        refs = [ctx.party_account(n) for n in names]
        fan = [Leg(r, 100) for r in refs[:1] + refs[2:]]
        ctx.post("test.move", "fan", [Leg(refs[1], -500), *fan])
    updates = [s for s, _ in seen if s.lstrip().upper().startswith("UPDATE LENDKIT_ACCOUNTS")]
    if "postgresql" in db_url:
        assert len(updates) == 1 and "unnest" in updates[0]
    assert platform.custody.balance(names[1]).available == Money.of("49.00")
    assert platform.verify().ok
