"""Holds are covered by the hash chain, and a kept anchor catches a consistent rewrite.

Each hold's owner, amount and accounts are recorded on the hashed entry that froze it, so an
UPDATE of a hold row (e.g. its source account, which would make closing a short listing return
one investor's money to another) fails ``verify`` naming the hold. ``verify`` prints the head
(``SEQ:HASH``); checked against that anchor later it fails when the journal up to SEQ was
rewritten even though every later hash was recomputed to keep the chain consistent.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import text

import lendkit
from lendkit import Money
from lendkit.cli import main
from lendkit.core.errors import InvalidValue
from lendkit.core.ledger import entry_hash
from lendkit.store.db import create_nullpool_engine


def cny(v: str | int) -> Money:
    return Money.of(v, "CNY")


def _sql(db_url: str, sql: str, **params: object) -> None:
    engine = create_nullpool_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    engine.dispose()


def _account_id(db_url: str, code: str) -> int:
    engine = create_nullpool_engine(db_url)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT id FROM lendkit_accounts WHERE code = :c"), {"c": code}
        ).scalar_one()
    engine.dispose()
    return int(found)


def _short_listing(p: lendkit.Platform, funded: Callable[..., str]) -> tuple[str, str, str, str]:
    """A listing with a 400.00 bid from ``a``; ``b`` has 400.00 too. Returns ids and the hold."""
    borrower, a, b = funded("0", name="borrower"), funded("400", name="a"), funded("400", name="b")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="10%", months=6)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    hold = p.bidding.bid(listing.id, a, "400").hold_id
    return listing.id, a, b, hold


@pytest.mark.parametrize(
    "column", ["source_account_id", "destination_account_id", "owner_id", "amount"]
)
def test_verify_names_a_hold_whose_routing_was_changed(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str, column: str
) -> None:
    p = platform
    _listing, _a, b, hold = _short_listing(p, funded)
    assert p.verify().ok
    value: object = {
        "source_account_id": _account_id(db_url, f"party:{b}:available:CNY"),
        "destination_account_id": _account_id(db_url, f"party:{b}:available:CNY"),
        "owner_id": b,
        "amount": 40000 - 1,
    }[column]
    _sql(db_url, f"UPDATE lendkit_holds SET {column} = :v WHERE id = :h", v=value, h=hold)
    report = p.verify()
    assert not report.ok
    assert any(f"hold {hold}" in problem for problem in report.problems), report.problems
    result = CliRunner().invoke(main, ["--db", db_url, "verify"])
    assert result.exit_code == 1 and f"hold {hold}" in result.stdout


def test_a_redirected_hold_stays_caught_after_the_short_listing_closes(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    p = platform
    listing, a, b, hold = _short_listing(p, funded)
    b_available = _account_id(db_url, f"party:{b}:available:CNY")
    _sql(
        db_url,
        "UPDATE lendkit_holds SET source_account_id = :v WHERE id = :h",
        v=b_available,
        h=hold,
    )
    assert not p.verify().ok  # caught while the money is still frozen
    p.listings.close(listing)  # short: the hold is voided to the (forged) source
    assert p.custody.balance(b).available == cny(800)  # the attack moved a's 400.00 to b ...
    report = p.verify()
    assert not report.ok  # ... and verify says so, naming the hold
    assert any(f"hold {hold}" in problem for problem in report.problems)
    assert p.custody.balance(a).available + p.custody.balance(a).frozen == cny(0)


def _rewrite_from(db_url: str, seq: int) -> None:
    """Forge entry ``seq``'s reference and recompute every later hash and the head, consistently."""
    engine = create_nullpool_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE lendkit_journal_entries SET reference = 'forged' WHERE seq = :s"),
            {"s": seq},
        )
        rows = conn.execute(
            text(
                "SELECT seq, kind, reference, prev_hash, detail FROM lendkit_journal_entries"
                " WHERE seq >= :s ORDER BY seq"
            ),
            {"s": seq},
        ).all()
        prev = rows[0].prev_hash
        for r in rows:
            pairs = [
                (int(x.account_id), int(x.amount))
                for x in conn.execute(
                    text(
                        "SELECT account_id, amount FROM lendkit_postings WHERE entry_seq = :s"
                        " ORDER BY account_id, id"
                    ),
                    {"s": r.seq},
                )
            ]
            digest = entry_hash(prev, int(r.seq), r.kind, r.reference, pairs, r.detail)
            conn.execute(
                text("UPDATE lendkit_journal_entries SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": digest, "s": r.seq},
            )
            prev = digest
        conn.execute(text("UPDATE lendkit_ledger_head SET hash = :h WHERE id = 1"), {"h": prev})
    engine.dispose()


def test_an_anchor_detects_a_consistent_rewrite_of_the_tail(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    p = platform
    a = funded("100", name="a")
    p.custody.withdraw(a, "10")
    kept = p.verify()
    assert kept.ok and kept.head == f"{kept.entries}:{kept.head_hash}"
    printed = CliRunner().invoke(main, ["--db", db_url, "verify"])
    assert printed.exit_code == 0 and f"\nhead: {kept.head}\n" in printed.stdout
    p.custody.deposit(a, "5")  # the journal grows past the anchor
    assert p.verify(anchor=kept.head).ok
    ok = CliRunner().invoke(main, ["--db", db_url, "verify", "--anchor", kept.head])
    assert ok.exit_code == 0, ok.output

    _rewrite_from(db_url, 1)  # the first deposit's reference
    assert p.verify().ok  # the chain is consistent: without an anchor nothing shows
    report = p.verify(anchor=kept.head)
    assert not report.ok
    assert any(f"anchor {kept.head_seq}:" in x and "rewritten" in x for x in report.problems)
    failed = CliRunner().invoke(main, ["--db", db_url, "verify", "--anchor", kept.head])
    assert failed.exit_code == 1 and "rewritten" in failed.stdout


def test_an_anchor_past_the_end_or_malformed(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    p = platform
    funded("100", name="a")
    head = p.verify()
    beyond = f"{head.head_seq + 5}:{head.head_hash}"
    report = p.verify(anchor=beyond)
    assert not report.ok and any("has no entry" in x for x in report.problems)
    for bad in ("12", "x:abc", f"1:{'g' * 64}", "", f"-1:{'0' * 64}"):
        with pytest.raises(InvalidValue, match="SEQ:HASH"):
            p.verify(anchor=bad)
    result = CliRunner().invoke(main, ["--db", db_url, "verify", "--anchor", "12"])
    assert result.exit_code == 2 and "SEQ:HASH" in result.stderr
    assert p.verify(anchor=f"0:{'0' * 64}").ok  # the genesis anchor always holds
