"""Ledger persistence: accounts, journal entries with postings, and ``verify()``.

All functions take the current ``Connection`` (the unit of work's); none commits.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from datetime import datetime

from attrs import define, field, frozen
from sqlalchemy import Connection, Engine, bindparam, event, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lendkit.core.errors import InsufficientFunds, InvalidValue, LedgerError, NotFound
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
    touch, so its row locks are taken in one global order (accounts by id; the flush locks them
    in the same order; a ledger chain is taken without waiting, ``SKIP LOCKED``) and two
    commands can never wait for each other in a circle.

    The lock is ``FOR NO KEY UPDATE``, the one the balance ``UPDATE`` itself takes, not ``FOR
    UPDATE``: every foreign-key check on a row that references an account (a hold's three
    accounts, a posting's, a listing's escrow) takes ``FOR KEY SHARE`` on the account, in the
    order of the referencing columns, not by id. ``FOR UPDATE`` conflicts with that, so a hold
    inserted for a bid (key-share on the investor's accounts) and a withdrawal locking the same
    accounts by id waited for each other in a circle (PostgreSQL detected it, the runner
    retried). ``FOR NO KEY UPDATE`` does not conflict with key-share locks: account row locks
    are then taken by id only, and foreign-key checks never wait for them.
    """
    if conn.dialect.name != "postgresql" or not account_ids:
        return
    conn.execute(
        select(accounts.c.id)
        .where(accounts.c.id.in_(sorted(set(account_ids))))
        .order_by(accounts.c.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE
    ).all()


def balance_of(conn: Connection, account_id: int) -> int:
    """An account's balance, with what this transaction booked (written first)."""
    flush(conn)
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
#: PostgreSQL: every account's change in one statement (``floor``: the least balance the row must
#: hold before the change, the guard; bigint's minimum for an unguarded account), returning the
#: rows it changed; the rows are locked first, in id order (``lock_accounts``)
_set_balances = text(
    f"UPDATE {accounts.name} AS a SET balance = a.balance + v.d"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:ds AS bigint[]), CAST(:floors AS bigint[]))"
    " AS v(id, d, floor) WHERE a.id = v.id AND a.balance >= v.floor RETURNING a.id"
)
#: an unguarded account's floor (bigint's least value: every balance is at least it)
_NO_FLOOR = -(1 << 63)
#: from this many accounts on, a PostgreSQL flush sets balances in one statement (after locking
#: the rows): one round trip instead of one per guarded debit and per run of credits
SET_BALANCES_FROM = 4
_insert_entries = journal_entries.insert()
_insert_postings = postings.insert()


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
    if len(net) >= SET_BALANCES_FROM and conn.dialect.name == "postgresql":
        _set_all(conn, net, low, refs)
        return
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


def _set_all(
    conn: Connection, net: dict[int, int], low: dict[int, int], refs: dict[int, AccountRef]
) -> None:
    """``_apply_steps`` on PostgreSQL for many accounts: lock the rows in id order, then one
    ``UPDATE ... FROM unnest(...)`` with each guarded account's floor; an account the statement
    did not change was refused (the first such one, by id, is named)."""
    ids = sorted(aid for aid in net if net[aid] or low[aid] < 0)
    if not ids:
        return
    lock_accounts(conn, ids)
    floors = [
        -low[aid] if low[aid] < 0 and not refs[aid].allow_negative else _NO_FLOOR for aid in ids
    ]
    changed = {
        int(r[0])
        for r in conn.execute(
            _set_balances, {"ids": ids, "ds": [net[aid] for aid in ids], "floors": floors}
        )
    }
    for aid, floor in zip(ids, floors, strict=True):
        if aid not in changed:
            raise _refuse(conn, refs[aid], floor if floor != _NO_FLOOR else 0)


def apply_legs(conn: Connection, legs: Sequence[Leg]) -> None:
    """Change cached balances; a debit that would drive a guarded account negative is refused.

    Guarded debits are single statements (``... WHERE balance + :d >= 0``) checked by rowcount,
    so two concurrent debits can never both pass on either database.
    """
    flush(conn)
    _apply_steps(conn, [merge_legs(legs)])


# -- chains --------------------------------------------------------------------------------------

#: entries of chain ``c`` have sequence numbers ``(c - 1) * CHAIN_SPAN + 1, + 2, ...``: chain 1 is
#: the journal as every lendkit before chains wrote it (1, 2, 3, ...), so an existing ledger is
#: chain 1 as it stands. A sequence number names its chain (``chain_of``) and its place in it.
CHAIN_SPAN = 1 << 40
#: the most chains a ledger may have (sequence numbers stay below 2**63)
MAX_CHAINS = 1 << 20


def chain_of(seq: int) -> int:
    """The chain an entry's sequence number belongs to (1 for 0 .. CHAIN_SPAN - 1)."""
    return seq // CHAIN_SPAN + 1


def chain_base(chain: int) -> int:
    """The head's sequence number of an empty ``chain`` (its first entry is one more)."""
    return (chain - 1) * CHAIN_SPAN


_PENDING = "lendkit.ledger_pending"
_MARKS = "lendkit.ledger_marks"
#: process-wide: the last head this process wrote or read, per (database, chain), and the chain it
#: last used per database. Only a hint: a head is taken with a compare-and-set against it, so a
#: stale value costs a second statement, never a wrong chain.
_known_heads: dict[tuple[int, int], tuple[int, str]] = {}
_preferred: dict[int, int] = {}
_tracked: weakref.WeakSet[Engine] = weakref.WeakSet()
_track_lock = threading.Lock()


#: where a transaction's chain stood when a savepoint began: (chain, seq, hash, stored)
_Mark = tuple[int, int, str, tuple[int, str] | None]


@define
class _Booked:
    """What one transaction has booked and not yet written: the chain it holds, where that chain
    stands (``seq``, ``hash``: its last entry so far), what the head row says now inside the
    transaction (``stored``), the entries' balance changes (``steps``, in order) and the journal
    and posting rows to insert at flush; ``refused``: the refusal a flush met (the transaction
    may then never commit, even if someone caught it)."""

    trans: object
    chain: int = 0
    seq: int = 0
    hash: str = GENESIS_HASH
    stored: tuple[int, str] | None = None
    entries: list[dict[str, object]] = field(factory=list)
    postings: list[dict[str, object]] = field(factory=list)
    steps: list[list[Leg]] = field(factory=list)
    refused: InsufficientFunds | None = None


def _booked(conn: Connection) -> _Booked:
    root = conn.get_transaction()
    booked = conn.info.get(_PENDING)
    if booked is None or booked.trans is not root:
        booked = _Booked(root)
        conn.info[_PENDING] = booked
        marks = conn.info.get(_MARKS)
        if marks is None or marks[0] is not root:  # savepoints begun before are remembered
            conn.info[_MARKS] = (root, [])
        track(conn.engine)
    return booked


def _current(conn: Connection) -> _Booked | None:
    booked = conn.info.get(_PENDING)
    if booked is None or booked.trans is not conn.get_transaction():
        return None
    return booked  # type: ignore[no-any-return]


def flush(conn: Connection) -> None:
    """Write what this transaction booked and has not written yet: its chain's head, then every
    journal entry and every posting in one ``executemany`` each.

    Balances first: one statement per account for every entry booked (``_apply_steps``: the
    same guards as applying the entries one after another), so a debit that would drive a
    guarded account negative is refused here (``InsufficientFunds``) and the transaction can
    then not commit. Runs by itself before the transaction commits and before a SAVEPOINT
    begins; :meth:`UnitOfWork.savepoint` and the runners call it so a refusal is raised where
    it can be handled; :func:`balance_of` and ``verify`` call it before they read.
    """
    booked = _current(conn)
    if booked is None:
        return
    if booked.refused is not None:
        raise InsufficientFunds(str(booked.refused))
    if not booked.entries:
        return
    if booked.steps:
        steps, booked.steps = booked.steps, []
        try:
            _apply_steps(conn, steps)
        except InsufficientFunds as exc:
            booked.refused = exc
            raise
    if booked.stored != (booked.seq, booked.hash):
        conn.execute(_set_head, {"c": booked.chain, "s": booked.seq, "h": booked.hash})
        booked.stored = (booked.seq, booked.hash)
    entries, rows = booked.entries, booked.postings
    booked.entries, booked.postings = [], []
    conn.execute(_insert_entries, entries)
    conn.execute(_insert_postings, rows)
    _known_heads[(id(conn.engine), booked.chain)] = (booked.seq, booked.hash)


def _on_commit(conn: Connection) -> None:
    flush(conn)
    conn.info.pop(_PENDING, None)
    conn.info.pop(_MARKS, None)


def _on_rollback(conn: Connection) -> None:
    conn.info.pop(_PENDING, None)
    conn.info.pop(_MARKS, None)


def _on_savepoint(conn: Connection, name: object) -> None:
    flush(conn)  # nothing booked before the savepoint is lost if it rolls back
    booked = _current(conn)
    root = conn.get_transaction()
    marks = conn.info.get(_MARKS)
    if marks is None or marks[0] is not root:  # the first savepoint of this transaction
        fresh: list[_Mark | None] = []
        conn.info[_MARKS] = marks = (root, fresh)
    marks[1].append(
        None if booked is None else (booked.chain, booked.seq, booked.hash, booked.stored)
    )


def _on_rollback_savepoint(conn: Connection, name: object, context: object) -> None:
    marks = conn.info.get(_MARKS)
    if marks is None or marks[0] is not conn.get_transaction() or not marks[1]:
        return
    mark = marks[1].pop()
    booked = _current(conn)
    if booked is None:
        return
    if mark is None:
        conn.info.pop(_PENDING, None)  # everything was booked inside the savepoint
        return
    # the database undid the savepoint's writes: its entries, and the chain's head to the mark
    booked.chain, booked.seq, booked.hash, booked.stored = mark
    booked.entries, booked.postings, booked.steps = [], [], []
    booked.refused = None


def _on_release_savepoint(conn: Connection, name: object, context: object) -> None:
    marks = conn.info.get(_MARKS)
    if marks is not None and marks[0] is conn.get_transaction() and marks[1]:
        marks[1].pop()


def track(engine: Engine) -> None:
    """Listen to ``engine``'s transactions (once): write what was booked before commit and
    before a savepoint, forget it at rollback. The runners call it when they are made, so the
    savepoints of the first unit of work are seen too."""
    if engine in _tracked:
        return
    with _track_lock:
        if engine in _tracked:
            return
        if not event.contains(engine, "commit", _on_commit):
            event.listen(engine, "commit", _on_commit)
            event.listen(engine, "rollback", _on_rollback)
            event.listen(engine, "savepoint", _on_savepoint)
            event.listen(engine, "rollback_savepoint", _on_rollback_savepoint)
            event.listen(engine, "release_savepoint", _on_release_savepoint)
        _tracked.add(engine)


_set_head = (
    update(ledger_head)
    .where(ledger_head.c.id == bindparam("c"))
    .values(seq=bindparam("s"), hash=bindparam("h"))
)
_lock_head = (
    update(ledger_head)
    .where(ledger_head.c.id == bindparam("c"))
    .values(seq=ledger_head.c.seq)
    .returning(ledger_head.c.id, ledger_head.c.seq, ledger_head.c.hash)
)
_cas_sqlite = (
    update(ledger_head)
    .where(
        ledger_head.c.id == bindparam("c"),
        ledger_head.c.seq == bindparam("old"),
        ledger_head.c.hash == bindparam("oldh"),
    )
    .values(seq=bindparam("s"), hash=bindparam("h"))
)
# PostgreSQL: never wait for a chain another transaction holds (SKIP LOCKED)
_free_one = (
    select(ledger_head.c.id)
    .where(ledger_head.c.id == bindparam("c"))
    .where(ledger_head.c.seq == bindparam("old"), ledger_head.c.hash == bindparam("oldh"))
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_cas_pg = (
    update(ledger_head)
    .where(ledger_head.c.id == _free_one)
    .values(seq=bindparam("s"), hash=bindparam("h"))
)
_first_free = (
    select(ledger_head.c.id)
    .where(ledger_head.c.id >= 1, ledger_head.c.id <= bindparam("n"))
    .order_by(ledger_head.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_take_free = (
    update(ledger_head)
    .where(ledger_head.c.id == _first_free)
    .values(seq=ledger_head.c.seq)
    .returning(ledger_head.c.id, ledger_head.c.seq, ledger_head.c.hash)
)


def _add_chains(conn: Connection, count: int) -> None:
    conn.execute(
        _insert(conn)(ledger_head).on_conflict_do_nothing(index_elements=["id"]),
        [
            {"id": chain, "seq": chain_base(chain), "hash": GENESIS_HASH}
            for chain in range(1, count + 1)
        ],
    )


def _take_chain(
    conn: Connection, booked: _Booked, chains: int, first: tuple[NewEntry, list[Leg]]
) -> None:
    """Take a chain for this transaction; it keeps it until it ends.

    On PostgreSQL the chain this process used last is taken with one compare-and-set when the
    head is where this process left it and no other transaction holds it; otherwise the first
    chain no other transaction holds (``SKIP LOCKED``: writers never queue behind each other
    while fewer than ``chains`` write at once). With ``chains`` 0 (the default) the Platform
    created as many chains as the server takes connections (:func:`init_head`), so there is
    always a free one and a writer never waits for a chain while it holds row locks. Only with
    fewer chains configured than transactions writing at once does one wait for its chain
    (PostgreSQL detects a cycle through it; the runner retries). SQLite has one writer at a
    time: chain 1.
    """
    pg = conn.dialect.name == "postgresql"
    engine_key = id(conn.engine)
    # 0: every chain the Platform created (as many as the server takes connections)
    chains = (max(1, min(chains, MAX_CHAINS)) if chains else MAX_CHAINS) if pg else 1
    chain = _preferred.get(engine_key, 1)
    if chain > chains:
        chain = 1
    known = _known_heads.get((engine_key, chain))
    if known is not None:
        old, oldh = known
        entry, merged = first
        seq = old + 1
        digest = entry_hash(oldh, seq, entry.kind, entry.reference, _pairs(merged), entry.detail)
        stmt = _cas_pg if pg else _cas_sqlite
        params = {"c": chain, "old": old, "oldh": oldh, "s": seq, "h": digest}
        if conn.execute(stmt, params).rowcount == 1:
            booked.chain, booked.seq, booked.hash = chain, old, oldh
            booked.stored = (seq, digest)
            return
    row = None
    if pg:
        # chains are created up front (``init_head``), never inside a writer's transaction: a
        # head row inserted on a second connection while this one holds account locks would
        # wait on, or be waited on by, a transaction PostgreSQL cannot see is ours (a deadlock
        # nobody detects)
        row = conn.execute(_take_free, {"n": chains}).first()
    if row is None:  # SQLite, or every chain is held: wait for this process's own
        row = conn.execute(_lock_head, {"c": chain}).first()
        if row is None:
            raise LedgerError(
                f"the ledger has no head row for chain {chain}; run `lendkit db upgrade`"
            )
    booked.chain, booked.seq, booked.hash = int(row.id), int(row.seq), str(row.hash)
    booked.stored = (booked.seq, booked.hash)
    _preferred[engine_key] = booked.chain
    _known_heads[(engine_key, booked.chain)] = booked.stored


def _pairs(merged: Sequence[Leg]) -> list[tuple[int, int]]:
    return [(leg.account.id, leg.amount) for leg in merged]


@frozen
class NewEntry:
    """One journal entry for ``append_entries``."""

    kind: str
    reference: str
    legs: Sequence[Leg]
    memo: str = ""
    #: hashed with the entry (e.g. a hold's routing, see ``hold_routing``)
    detail: str = ""


def append_entries(
    conn: Connection, entries: Sequence[NewEntry], now: datetime, *, chains: int = 1
) -> list[int]:
    """Book balanced journal entries in order; returns their sequence numbers.

    The entries take the next places in the chain this transaction holds (one statement for the
    first entry of a transaction, none after). Their balance changes and their journal and
    posting rows are written at :func:`flush` (before commit, before a savepoint, before a
    balance is read): one statement per account touched, with the guard of applying the
    entries one after another (a debit that would drive a guarded account negative is refused
    there), and one ``executemany`` for the entries and one for the postings, however many
    entries the transaction booked. ``chains``: how many chains writers spread over
    (PostgreSQL).
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
    booked = _booked(conn)
    booked.steps.extend(merged for _, merged in prepared)
    if not booked.chain:
        _take_chain(conn, booked, chains, prepared[0])
    seq, prev = booked.seq, booked.hash
    limit = chain_base(booked.chain) + CHAIN_SPAN - 1
    entry_rows, posting_rows = booked.entries, booked.postings
    seqs = []
    for entry, merged in prepared:
        seq += 1
        if seq > limit:
            raise LedgerError(f"chain {booked.chain} is full ({CHAIN_SPAN - 1} entries)")
        pairs = _pairs(merged)
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
    booked.seq, booked.hash = seq, prev
    return seqs


def append_entry(
    conn: Connection,
    *,
    kind: str,
    reference: str,
    legs: Sequence[Leg],
    now: datetime,
    memo: str = "",
    chains: int = 1,
) -> int:
    """Book one balanced journal entry and update balances; returns its sequence number (see
    :func:`append_entries`)."""
    return append_entries(conn, [NewEntry(kind, reference, legs, memo)], now, chains=chains)[0]


def chain_count(conn: Connection, chains: int) -> int:
    """How many chains the journal has on this database for the ``ledger_chains`` setting:
    1 on SQLite; ``chains`` on PostgreSQL, or with 0 the server's ``max_connections`` (no more
    transactions than that can write at once, so one of that many chains is always free)."""
    if conn.dialect.name != "postgresql":
        return 1
    if not chains:
        chains = int(conn.exec_driver_sql("SHOW max_connections").scalar() or 1)
    return max(1, min(chains, MAX_CHAINS))


def init_head(conn: Connection, chains: int = 1) -> None:
    """Create the head rows of the journal's chains (:func:`chain_count`) that do not exist
    yet (idempotent). Run before writers start (``Platform.open``): a writer never creates a
    chain inside its transaction (a head row inserted on a second connection while the writer
    holds account locks is a wait cycle PostgreSQL cannot see)."""
    _add_chains(conn, chain_count(conn, chains))


@frozen
class VerifyReport:
    """Outcome of ``verify()``: ``ok`` and every problem found, the first bad entry named.

    ``heads`` holds each non-empty chain's last entry ``(seq, hash)`` in chain order; ``head``
    writes them as ``SEQ:HASH[,SEQ:HASH...]``: keep it somewhere else and pass it back as an
    anchor later, so a rewrite of any chain up to there is detected even if every later hash was
    recomputed. ``head_seq`` and ``head_hash`` are chain 1's (the whole journal when writers
    never overlapped, and on SQLite).
    """

    ok: bool
    problems: tuple[str, ...]
    entries: int
    accounts: int
    first_bad_entry: int | None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    heads: tuple[tuple[int, str], ...] = ()

    @property
    def head(self) -> str:
        """The anchor text ``SEQ:HASH`` of each chain's last entry, comma-separated
        (``0:000...`` for an empty journal)."""
        if not self.heads:
            return f"{self.head_seq}:{self.head_hash}"
        return ",".join(f"{seq}:{digest}" for seq, digest in self.heads)


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


def parse_anchors(text: object) -> list[tuple[int, str]]:
    """``"SEQ:HASH[,SEQ:HASH...]"`` (``report.head``, one per chain) -> ``[(seq, hash), ...]``."""
    if isinstance(text, tuple):
        return [parse_anchor(text)]
    if isinstance(text, list):
        return [parse_anchor(t) for t in text]
    if not isinstance(text, str):
        return [parse_anchor(text)]
    parts = [t for t in text.split(",") if t.strip()]
    if not parts or len(parts) > MAX_CHAINS:
        raise InvalidValue(f"anchor {text[:80]!r} is not SEQ:HASH[,SEQ:HASH...]")
    return [parse_anchor(t) for t in parts]


Anchor = str | tuple[int, str] | list[tuple[int, str]]


def verify_ledger(conn: Connection, anchor: Anchor | None = None) -> VerifyReport:
    """Rebuild every balance from the journal and check every invariant of the ledger.

    Checks: each entry's postings sum to zero per currency; in each chain, entries run from the
    chain's first sequence number without gaps and the hash chain holds (an edited, inserted or
    deleted row breaks it at that entry); each chain's head row matches its last entry (entries
    deleted at the end); cached balances equal the journal's fold; no guarded account is
    negative; every frozen account equals the sum of its open holds; every hold's owner, amount
    and accounts (source, frozen, destination) equal what the hashed entry that froze it
    recorded; and, given an ``anchor`` (``SEQ:HASH[,...]`` from an earlier run), each entry SEQ
    still has that hash, so a consistent rewrite of a chain up to SEQ is detected too.
    """
    flush(conn)
    kept = parse_anchors(anchor) if anchor is not None else []
    wanted = {seq: digest for seq, digest in kept}
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

    #: chain -> (last seq, last hash) as the journal has it
    ends: dict[int, tuple[int, str]] = {}
    chain = 0
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    anchored: dict[int, str] = {s: GENESIS_HASH for s in wanted if s % CHAIN_SPAN == 0}
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
        if chain_of(seq) != chain:
            if chain:
                ends[chain] = (expected_seq - 1, prev)
            chain = chain_of(seq)
            prev, expected_seq = GENESIS_HASH, chain_base(chain) + 1
        where = "" if chain == 1 else f" (chain {chain})"
        if seq != expected_seq:
            problems.append(f"entry {expected_seq}{where} is missing (next entry found is {seq})")
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
            problems.append(f"entry {seq}{where}: hash chain broken (previous hash does not match)")
            bad_entries.append(seq)
        digest = entry_hash(e.prev_hash, seq, e.kind, e.reference, pairs, e.detail or "")
        if digest != e.hash:
            problems.append(f"entry {seq} ({e.kind} {e.reference}) was altered: hash mismatch")
            bad_entries.append(seq)
        if e.kind == "hold.freeze":
            freezes[str(e.reference)] = (seq, str(e.detail or ""), pairs)
        if seq in wanted:
            anchored[seq] = str(e.hash)
        prev = e.hash
    if chain:
        ends[chain] = (expected_seq - 1, prev)
    orphans = sorted(set(by_entry) - seen)
    if orphans:
        problems.append(f"postings reference entries that do not exist: {orphans[:5]}")
        bad_entries.append(orphans[0])
    head_rows = conn.execute(
        select(ledger_head.c.id, ledger_head.c.seq, ledger_head.c.hash).order_by(ledger_head.c.id)
    ).all()
    with_head = set()
    for head in head_rows:
        c = int(head.id)
        with_head.add(c)
        end_seq, end_hash = ends.get(c, (chain_base(c), GENESIS_HASH))
        if int(head.seq) != end_seq or head.hash != end_hash:
            label = "ledger head" if c == 1 else f"ledger head of chain {c}"
            problems.append(
                f"{label} says {head.seq} entries but the journal ends at {end_seq}"
                " (entries deleted or inserted at the end)"
            )
            bad_entries.append(min(int(head.seq), end_seq) + 1)
    for c in sorted(set(ends) - with_head):
        if c == 1 and not head_rows:
            continue  # a journal written before head rows existed (checked as it always was)
        problems.append(f"chain {c} has entries up to {ends[c][0]} but no head row")
        bad_entries.append(ends[c][0])
    for seq, digest in kept:
        found = anchored.get(seq)
        if found is None:
            problems.append(
                f"anchor {seq}:{digest[:12]}...: the journal has no entry {seq}"
                f" (its chain ends at {ends.get(chain_of(seq), (chain_base(chain_of(seq)), ''))[0]}):"
                " entries were deleted"
            )
        elif found != digest:
            problems.append(
                f"anchor {seq}:{digest[:12]}... does not match: entry {seq} now has hash"
                f" {found[:12]}...: the journal up to entry {seq} was rewritten"
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
        head_seq=ends.get(1, (0, GENESIS_HASH))[0],
        head_hash=ends.get(1, (0, GENESIS_HASH))[1],
        heads=tuple(ends[c] for c in sorted(ends)),
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
