"""Ledger persistence: accounts, journal entries with postings, and ``verify()``.

All functions take the current ``Connection`` (the unit of work's); none commits.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from attrs import frozen
from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lendkit.core.errors import InsufficientFunds, InvalidValue, NotFound
from lendkit.core.ledger import (
    GENESIS_HASH,
    AccountRef,
    Leg,
    check_balanced,
    entry_hash,
    hold_routing,
    merge_legs,
)
from lendkit.core.money import Money
from lendkit.store.tables import accounts, holds, journal_entries, ledger_head, postings


class AccountCache:
    """Process-wide cache of account references by code (the fields cached never change)."""

    def __init__(self) -> None:
        self._by_code: dict[str, AccountRef] = {}
        self._lock = threading.Lock()

    def get(self, code: str) -> AccountRef | None:
        return self._by_code.get(code)

    def put(self, ref: AccountRef) -> None:
        with self._lock:
            self._by_code[ref.code] = ref

    def clear(self) -> None:
        with self._lock:
            self._by_code.clear()


def _insert(conn: Connection):  # type: ignore[no-untyped-def]
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def ensure_account(
    conn: Connection,
    cache: AccountCache,
    *,
    owner_kind: str,
    owner_id: str,
    purpose: str,
    currency: str,
    allow_negative: bool = False,
) -> AccountRef:
    """Return the account with this owner/purpose/currency, creating it if needed (race-safe)."""
    code = f"{owner_kind}:{owner_id}:{purpose}:{currency}"
    ref = cache.get(code)
    if ref is not None:
        return ref
    row = conn.execute(
        select(accounts.c.id, accounts.c.allow_negative).where(accounts.c.code == code)
    ).first()
    if row is None:
        stmt = (
            _insert(conn)(accounts)
            .values(
                code=code,
                owner_kind=owner_kind,
                owner_id=owner_id,
                purpose=purpose,
                currency=currency,
                allow_negative=allow_negative,
                balance=0,
            )
            .on_conflict_do_nothing(index_elements=["code"])
        )
        conn.execute(stmt)
        row = conn.execute(
            select(accounts.c.id, accounts.c.allow_negative).where(accounts.c.code == code)
        ).one()
    # the caller caches it once its transaction commits (see UnitOfWork.account)
    return AccountRef(
        id=row.id, code=code, currency=currency, allow_negative=bool(row.allow_negative)
    )


def find_account(conn: Connection, cache: AccountCache, code: str) -> AccountRef:
    """The account with ``code``; ``NotFound`` if there is none."""
    ref = cache.get(code)
    if ref is not None:
        return ref
    row = conn.execute(
        select(accounts.c.id, accounts.c.currency, accounts.c.allow_negative).where(
            accounts.c.code == code
        )
    ).first()
    if row is None:
        raise NotFound(f"account {code!r} does not exist")
    ref = AccountRef(row.id, code, row.currency, bool(row.allow_negative))
    cache.put(ref)
    return ref


def account_by_id(conn: Connection, account_id: int) -> AccountRef:
    row = conn.execute(
        select(accounts.c.code, accounts.c.currency, accounts.c.allow_negative).where(
            accounts.c.id == account_id
        )
    ).first()
    if row is None:
        raise NotFound(f"account #{account_id} does not exist")
    return AccountRef(account_id, row.code, row.currency, bool(row.allow_negative))


def lock_accounts(conn: Connection, account_ids: Sequence[int]) -> None:
    """Lock these account rows now, in id order (PostgreSQL; SQLite's write lock covers all).

    A unit of work that books several entries calls this first with every account it will
    touch, so its row locks are taken in one global order (accounts by id, the ledger head last)
    and two commands can never wait for each other in a circle.
    """
    if conn.dialect.name != "postgresql" or not account_ids:
        return
    conn.execute(
        select(accounts.c.id)
        .where(accounts.c.id.in_(sorted(set(account_ids))))
        .order_by(accounts.c.id)
        .with_for_update()
    ).all()


def balance_of(conn: Connection, account_id: int) -> int:
    value = conn.execute(select(accounts.c.balance).where(accounts.c.id == account_id)).scalar()
    return int(value or 0)


_guarded = (
    update(accounts)
    .where(accounts.c.id == bindparam("aid"))
    .where(accounts.c.balance + bindparam("low") >= 0)
    .values(balance=accounts.c.balance + bindparam("d"))
)
_plain = (
    update(accounts)
    .where(accounts.c.id == bindparam("aid"))
    .values(balance=accounts.c.balance + bindparam("d"))
)
_balance = select(accounts.c.balance).where(accounts.c.id == bindparam("aid"))
_take_head = (
    update(ledger_head)
    .where(ledger_head.c.id == 1)
    .values(seq=ledger_head.c.seq + bindparam("n"))
    .returning(ledger_head.c.seq, ledger_head.c.hash)
)
_set_head = (
    update(ledger_head).where(ledger_head.c.id == 1).values(seq=bindparam("s"), hash=bindparam("h"))
)
_insert_entries = journal_entries.insert()
_insert_postings = postings.insert()
_HEAD_KEY = "lendkit.ledger_head"


def _refuse(conn: Connection, account: AccountRef, need: int) -> InsufficientFunds:
    have = int(conn.execute(_balance, {"aid": account.id}).scalar() or 0)
    return InsufficientFunds(
        f"account {account.code} holds {Money.from_minor(have, account.currency)}"
        f", {Money.from_minor(need, account.currency)} is needed"
    )


def _apply_steps(conn: Connection, steps: Sequence[Sequence[Leg]]) -> None:
    """Apply the balance changes of several movements in order, one statement per account.

    Per account, the sum of its changes is applied with the guard ``balance + low >= 0`` where
    ``low`` is the lowest running total after each movement: exactly the check of applying the
    movements one after another (nothing else can observe the intermediate balances). Accounts
    are updated strictly in id order, guarded debits and plain credits interleaved (the lock
    order on PostgreSQL: a refund debiting a party then crediting the gateway and a deposit
    debiting the gateway then crediting that party lock the two rows in the same order). Runs
    of credits go in one executemany, so a distribution to thousands of investors stays a few
    statements.
    """
    net: dict[int, int] = {}
    low: dict[int, int] = {}
    refs: dict[int, AccountRef] = {}
    for legs in steps:
        for leg in legs:
            aid = leg.account.id
            total = net.get(aid, 0) + leg.amount
            net[aid] = total
            if aid not in refs:
                refs[aid] = leg.account
                low[aid] = min(0, total)
            elif total < low[aid]:
                low[aid] = total
    credits: list[dict[str, int]] = []
    for aid in sorted(net):
        ref = refs[aid]
        d, lo = net[aid], low[aid]
        if lo < 0 and not ref.allow_negative:
            if credits:  # the lower ids first: keep the lock order
                conn.execute(_plain, credits)
                credits = []
            if conn.execute(_guarded, {"aid": aid, "d": d, "low": lo}).rowcount != 1:
                raise _refuse(conn, ref, -lo)
        elif d:
            credits.append({"aid": aid, "d": d})
    if credits:
        conn.execute(_plain, credits)


def apply_legs(conn: Connection, legs: Sequence[Leg]) -> None:
    """Change cached balances; a debit that would drive a guarded account negative is refused.

    Guarded debits are single statements (``... WHERE balance + :d >= 0``) checked by rowcount,
    so two concurrent debits can never both pass on either database.
    """
    _apply_steps(conn, [merge_legs(legs)])


def _head(conn: Connection, n: int) -> tuple[int, str]:
    """Reserve ``n`` sequence numbers: (last seq before them, hash of that entry).

    The head row is locked by the first movement of a transaction (PostgreSQL row lock, SQLite
    write lock) and stays locked until it ends, so later movements of the same transaction (or
    savepoint) continue from the state this connection last wrote without reading it again.
    """
    trans = conn.get_nested_transaction() or conn.get_transaction()
    cached = conn.info.get(_HEAD_KEY)
    if cached is not None and trans is not None and cached[0] is trans and trans.is_active:
        return int(cached[1]), str(cached[2])
    head = conn.execute(_take_head, {"n": 0}).one()
    return int(head.seq), str(head.hash)


def _remember_head(conn: Connection, seq: int, digest: str) -> None:
    conn.execute(_set_head, {"s": seq, "h": digest})
    trans = conn.get_nested_transaction() or conn.get_transaction()
    conn.info[_HEAD_KEY] = (trans, seq, digest)


@frozen
class NewEntry:
    """One journal entry for ``append_entries``."""

    kind: str
    reference: str
    legs: Sequence[Leg]
    memo: str = ""
    #: hashed with the entry (e.g. a hold's routing, see ``hold_routing``)
    detail: str = ""


def append_entries(conn: Connection, entries: Sequence[NewEntry], now: datetime) -> list[int]:
    """Write balanced journal entries in order and update balances; returns their sequence numbers.

    Equivalent to ``append_entry`` for each entry in turn (same guards, seqs, hashes) in a few
    statements: one balance update per account, the head advanced once, two inserts.
    """
    prepared: list[tuple[NewEntry, list[Leg]]] = []
    for entry in entries:
        merged = merge_legs(entry.legs)
        check_balanced(merged)
        if not merged:
            raise ValueError("a journal entry needs at least one non-zero posting")
        prepared.append((entry, merged))
    if not prepared:
        return []
    _apply_steps(conn, [merged for _, merged in prepared])
    seq, prev = _head(conn, len(prepared))
    entry_rows: list[dict[str, object]] = []
    posting_rows: list[dict[str, object]] = []
    seqs = []
    for entry, merged in prepared:
        seq += 1
        pairs = [(leg.account.id, leg.amount) for leg in merged]
        digest = entry_hash(prev, seq, entry.kind, entry.reference, pairs, entry.detail)
        entry_rows.append(
            {
                "seq": seq,
                "kind": entry.kind,
                "reference": entry.reference,
                "memo": entry.memo[:400],
                "detail": entry.detail,
                "created_at": now,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        posting_rows.extend({"entry_seq": seq, "account_id": a, "amount": m} for a, m in pairs)
        seqs.append(seq)
        prev = digest
    _remember_head(conn, seq, prev)
    conn.execute(_insert_entries, entry_rows)
    conn.execute(_insert_postings, posting_rows)
    return seqs


def append_entry(
    conn: Connection,
    *,
    kind: str,
    reference: str,
    legs: Sequence[Leg],
    now: datetime,
    memo: str = "",
) -> int:
    """Write one balanced journal entry and update balances; returns its sequence number.

    The head row (one per database) carries the last sequence number and hash; taking it is the
    last write of the movement so its lock is held as briefly as possible.
    """
    return append_entries(conn, [NewEntry(kind, reference, legs, memo)], now)[0]


def init_head(conn: Connection) -> None:
    """Create the chain head row if the database has none (idempotent)."""
    conn.execute(
        _insert(conn)(ledger_head)
        .values(id=1, seq=0, hash=GENESIS_HASH)
        .on_conflict_do_nothing(index_elements=["id"])
    )


@frozen
class VerifyReport:
    """Outcome of ``verify()``: ``ok`` and every problem found, the first bad entry named.

    ``head_seq`` and ``head_hash`` are the last entry's sequence number and hash: keep them
    (``head``, ``SEQ:HASH``) somewhere else and pass them back as an anchor later, so a rewrite
    of the journal up to there is detected even if every later hash was recomputed.
    """

    ok: bool
    problems: tuple[str, ...]
    entries: int
    accounts: int
    first_bad_entry: int | None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH

    @property
    def head(self) -> str:
        """The anchor text ``SEQ:HASH`` of the last entry (``0:000...`` for an empty journal)."""
        return f"{self.head_seq}:{self.head_hash}"


def parse_anchor(text: object) -> tuple[int, str]:
    """``"SEQ:HASH"`` (as ``lendkit verify`` prints it) -> ``(seq, hash)``; ``InvalidValue`` else."""
    if isinstance(text, tuple) and len(text) == 2:
        text = f"{text[0]}:{text[1]}"
    if not isinstance(text, str):
        raise InvalidValue(f"anchor {str(text)[:40]!r} must be text SEQ:HASH, e.g. 12:3fa9...")
    seq_text, _, digest = text.strip().partition(":")
    digest = digest.lower()
    if (
        not seq_text.isdigit()
        or len(seq_text) > 18
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise InvalidValue(
            f"anchor {text[:80]!r} is not SEQ:HASH (a sequence number, a colon and the 64 hex"
            " digits `lendkit verify` printed)"
        )
    return int(seq_text), digest


def verify_ledger(conn: Connection, anchor: str | tuple[int, str] | None = None) -> VerifyReport:
    """Rebuild every balance from the journal and check every invariant of the ledger.

    Checks: each entry's postings sum to zero per currency; entry sequence numbers run 1..n without
    gaps; the hash chain holds (an edited, inserted or deleted row breaks it at that entry); cached
    balances equal the journal's fold; no guarded account is negative; every frozen account equals
    the sum of its open holds; every hold's owner, amount and accounts (source, frozen,
    destination) equal what the hashed entry that froze it recorded; the head row matches the
    last entry; and, given an ``anchor`` (``SEQ:HASH`` from an earlier run), that entry SEQ still
    has that hash, so a consistent rewrite of the journal up to SEQ is detected too.
    """
    kept = parse_anchor(anchor) if anchor is not None else None
    problems: list[str] = []
    bad_entries: list[int] = []
    acct_rows = conn.execute(
        select(
            accounts.c.id,
            accounts.c.code,
            accounts.c.currency,
            accounts.c.allow_negative,
            accounts.c.balance,
            accounts.c.purpose,
        )
    ).all()
    currency_of = {r.id: r.currency for r in acct_rows}
    rebuilt: dict[int, int] = {}

    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    anchored: str | None = GENESIS_HASH if kept is not None and kept[0] == 0 else None
    entry_rows = conn.execute(
        select(
            journal_entries.c.seq,
            journal_entries.c.kind,
            journal_entries.c.reference,
            journal_entries.c.prev_hash,
            journal_entries.c.hash,
            journal_entries.c.detail,
        ).order_by(journal_entries.c.seq)
    )
    posting_rows = conn.execute(
        select(postings.c.entry_seq, postings.c.account_id, postings.c.amount).order_by(
            postings.c.entry_seq, postings.c.account_id, postings.c.id
        )
    ).all()
    by_entry: dict[int, list[tuple[int, int]]] = {}
    for p in posting_rows:
        by_entry.setdefault(int(p.entry_seq), []).append((int(p.account_id), int(p.amount)))
        rebuilt[int(p.account_id)] = rebuilt.get(int(p.account_id), 0) + int(p.amount)
    seen: set[int] = set()
    #: hold id -> (seq, detail, postings) of the entry that froze it
    freezes: dict[str, tuple[int, str, list[tuple[int, int]]]] = {}
    for e in entry_rows:
        count += 1
        seq = int(e.seq)
        seen.add(seq)
        if seq != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next entry found is {seq})")
            bad_entries.append(expected_seq)
        expected_seq = seq + 1
        pairs = by_entry.get(seq, [])
        sums: dict[str, int] = {}
        for aid, amount in pairs:
            cur = currency_of.get(aid, "?")
            sums[cur] = sums.get(cur, 0) + amount
        if any(v != 0 for v in sums.values()) or not pairs:
            problems.append(f"entry {seq} ({e.kind} {e.reference}) does not balance: {sums}")
            bad_entries.append(seq)
        if e.prev_hash != prev:
            problems.append(f"entry {seq}: hash chain broken (previous hash does not match)")
            bad_entries.append(seq)
        digest = entry_hash(e.prev_hash, seq, e.kind, e.reference, pairs, e.detail or "")
        if digest != e.hash:
            problems.append(f"entry {seq} ({e.kind} {e.reference}) was altered: hash mismatch")
            bad_entries.append(seq)
        if e.kind == "hold.freeze":
            freezes[str(e.reference)] = (seq, str(e.detail or ""), pairs)
        if kept is not None and seq == kept[0]:
            anchored = str(e.hash)
        prev = e.hash
    orphans = sorted(set(by_entry) - seen)
    if orphans:
        problems.append(f"postings reference entries that do not exist: {orphans[:5]}")
        bad_entries.append(orphans[0])
    head = conn.execute(select(ledger_head.c.seq, ledger_head.c.hash)).first()
    if head is not None and (int(head.seq) != expected_seq - 1 or head.hash != prev):
        problems.append(
            f"ledger head says {head.seq} entries but the journal ends at {expected_seq - 1}"
            " (entries deleted or inserted at the end)"
        )
        bad_entries.append(min(int(head.seq), expected_seq - 1) + 1)
    if kept is not None:
        if anchored is None:
            problems.append(
                f"anchor {kept[0]}:{kept[1][:12]}...: the journal has no entry {kept[0]}"
                f" (it ends at {expected_seq - 1}): entries were deleted"
            )
        elif anchored != kept[1]:
            problems.append(
                f"anchor {kept[0]}:{kept[1][:12]}... does not match: entry {kept[0]} now has hash"
                f" {anchored[:12]}...: the journal up to entry {kept[0]} was rewritten"
            )

    for r in acct_rows:
        fold = rebuilt.get(r.id, 0)
        if int(r.balance) != fold:
            problems.append(
                f"account {r.code}: cached balance {r.balance} != journal fold {fold} (minor units)"
            )
        if not r.allow_negative and int(r.balance) < 0:
            problems.append(f"account {r.code} is negative ({r.balance}) but may not be")

    open_by_frozen = dict(
        conn.execute(
            select(holds.c.frozen_account_id, func.sum(holds.c.amount))
            .where(holds.c.state == "open")
            .group_by(holds.c.frozen_account_id)
        ).all()
    )
    for r in acct_rows:
        if r.purpose == "frozen":
            held = int(open_by_frozen.get(r.id, 0) or 0)
            if held != int(r.balance):
                problems.append(
                    f"account {r.code}: frozen balance {r.balance} != open holds {held}"
                )
    problems.extend(_check_holds(conn, freezes))
    first = min(bad_entries) if bad_entries else None
    if first is not None:
        problems.insert(0, f"first bad entry: {first}")
    return VerifyReport(
        ok=not problems,
        problems=tuple(problems),
        entries=count,
        accounts=len(acct_rows),
        first_bad_entry=first,
        head_seq=expected_seq - 1,
        head_hash=prev,
    )


def _check_holds(
    conn: Connection, freezes: dict[str, tuple[int, str, list[tuple[int, int]]]]
) -> list[str]:
    """Every hold row against the hashed entry that froze it (amount, accounts, routing).

    The freeze entry's postings fix the amount and the source and frozen accounts; its detail
    (hashed, written since schema 0003) also fixes the owner and the destination, so an UPDATE of
    a hold's routing cannot redirect money without ``verify`` naming the hold.
    """
    problems: list[str] = []
    rows = conn.execute(
        select(
            holds.c.id,
            holds.c.owner_id,
            holds.c.currency,
            holds.c.amount,
            holds.c.source_account_id,
            holds.c.frozen_account_id,
            holds.c.destination_account_id,
        ).order_by(holds.c.id)
    )
    found: set[str] = set()
    for h in rows:
        found.add(h.id)
        entry = freezes.get(h.id)
        if entry is None:
            problems.append(f"hold {h.id} has no freeze entry in the journal (written outside it)")
            continue
        seq, detail, pairs = entry
        amount, source, frozen_id = (
            int(h.amount),
            int(h.source_account_id),
            int(h.frozen_account_id),
        )
        if sorted(pairs) != sorted([(source, -amount), (frozen_id, amount)]):
            problems.append(
                f"hold {h.id}: amount or accounts differ from its freeze entry {seq}"
                " (the hold row was changed)"
            )
            continue
        routing = hold_routing(
            h.owner_id, h.currency, amount, source, frozen_id, int(h.destination_account_id)
        )
        if detail and detail != routing:
            problems.append(
                f"hold {h.id}: owner, currency or destination differ from its freeze entry {seq}"
                f" (recorded: {detail}; the hold row was changed)"
            )
    for hold_id in sorted(set(freezes) - found)[:5]:
        problems.append(f"freeze entry {freezes[hold_id][0]} names hold {hold_id}, which is gone")
    return problems


def party_accounts(
    conn: Connection, party_ids: Sequence[str], currency: str
) -> dict[str, AccountRef]:
    """Available accounts of many parties in a few queries (bulk distributions)."""
    out: dict[str, AccountRef] = {}
    codes = {f"party:{pid}:available:{currency}": pid for pid in set(party_ids)}
    keys = list(codes)
    for start in range(0, len(keys), 900):
        chunk = keys[start : start + 900]
        for row in conn.execute(
            select(accounts.c.id, accounts.c.code, accounts.c.allow_negative).where(
                accounts.c.code.in_(chunk)
            )
        ):
            out[codes[row.code]] = AccountRef(row.id, row.code, currency, bool(row.allow_negative))
    missing = set(codes.values()) - set(out)
    if missing:
        raise NotFound(f"parties without a custody account: {sorted(missing)[:5]}")
    return out
