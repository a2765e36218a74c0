"""The audit trail's rows and chains.

Rows are spread over :data:`~lendkit.core.access.AUDIT_CHAINS` hash chains by subject (one
subject's history is one chain), each with a head row made at upgrade, so that writers on
different subjects do not wait for one another. A row is appended as the command's last write
(after every account and ledger lock), so taking a chain head never closes a wait cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lendkit.core.access import AUDIT_CHAINS, AuditEntry, audit_chain_of, audit_hash
from lendkit.core.ledger import GENESIS_HASH
from lendkit.store.tables import audit_chains, audit_log

_take = (
    update(audit_chains)
    .where(audit_chains.c.chain == bindparam("c"))
    .values(seq=audit_chains.c.seq + 1)
    .returning(audit_chains.c.seq, audit_chains.c.hash)
)
_seal = (
    update(audit_chains).where(audit_chains.c.chain == bindparam("c")).values(hash=bindparam("h"))
)


def init_audit_chains(conn: Connection) -> None:
    """Create the audit chains' head rows the database lacks (idempotent; at upgrade)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        insert(audit_chains).on_conflict_do_nothing(index_elements=["chain"]),
        [{"chain": c, "seq": 0, "hash": GENESIS_HASH} for c in range(1, AUDIT_CHAINS + 1)],
    )


def append_audit(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    args_digest: str,
    outcome: str,
    error_type: str | None,
    idempotency_key: str | None,
) -> int:
    """Append one row to its subject's chain; returns the row's chain sequence number."""
    chain = audit_chain_of(subject)
    seq, prev = conn.execute(_take, {"c": chain}).one()
    fields = {
        "chain": chain,
        "seq": int(seq),
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "args_digest": args_digest,
        "outcome": outcome,
        "error_type": error_type,
        "idempotency_key": idempotency_key,
    }
    digest = audit_hash(prev, fields)
    conn.execute(audit_log.insert().values(**fields, hash=digest))
    conn.execute(_seal, {"c": chain, "h": digest})
    return int(seq)


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(**row._mapping)


def audit_rows(
    conn: Connection,
    *,
    subject: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    limit: int,
) -> list[AuditEntry]:
    """Audit rows in the order they were written, filtered; at most ``limit`` after row ``after``."""
    conditions = []
    if subject is not None:
        conditions.append(audit_log.c.subject == subject)
    if actor is not None:
        conditions.append(audit_log.c.actor == actor)
    if action is not None:
        conditions.append(audit_log.c.action == action)
    if outcome is not None:
        conditions.append(audit_log.c.outcome == outcome)
    if since is not None:
        conditions.append(audit_log.c.at >= since)
    if until is not None:
        conditions.append(audit_log.c.at < until)
    if after is not None:
        conditions.append(audit_log.c.id > after)
    query = select(audit_log).where(and_(True, *conditions)).order_by(audit_log.c.id).limit(limit)
    return [_entry(r) for r in conn.execute(query)]


def last_actors(conn: Connection, subject: str, actions: Sequence[str]) -> list[str]:
    """The actors whose ``actions`` on ``subject`` succeeded, most recent first."""
    rows = conn.execute(
        select(audit_log.c.actor)
        .where(audit_log.c.subject == subject)
        .where(audit_log.c.action.in_(list(actions)))
        .where(audit_log.c.outcome == "ok")
        .order_by(audit_log.c.id.desc())
    ).scalars()
    return list(rows)


def verify_audit(conn: Connection) -> list[str]:
    """Every chain's rows run 1..n, each hash is the hash of its row chained to the previous
    one, and the head row names the last: an edited, inserted or deleted row is a problem
    naming its chain and sequence number."""
    problems: list[str] = []
    heads = {r.chain: (r.seq, r.hash) for r in conn.execute(select(audit_chains))}
    expected: dict[int, tuple[int, str]] = {}  # chain -> (next seq, previous hash)
    broken: set[int] = set()
    rows = conn.execute(select(audit_log).order_by(audit_log.c.chain, audit_log.c.seq))
    for row in rows:
        chain = row.chain
        if chain in broken:
            continue
        seq, prev = expected.get(chain, (1, GENESIS_HASH))
        if row.seq != seq:
            problems.append(
                f"audit chain {chain}: row {seq} is missing (next row found is {row.seq})"
            )
            broken.add(chain)
            continue
        digest = audit_hash(prev, row._mapping)
        if digest != row.hash:
            problems.append(
                f"audit chain {chain} row {row.seq} (id {row.id}, {row.action} on"
                f" {row.subject}) does not match its hash: it was edited"
            )
            broken.add(chain)
            continue
        expected[chain] = (seq + 1, row.hash)
    for chain, (head_seq, head_hash) in sorted(heads.items()):
        if chain in broken:
            continue
        seq, prev = expected.get(chain, (1, GENESIS_HASH))
        if head_seq != seq - 1 or head_hash != prev:
            problems.append(
                f"audit chain {chain}: its head names row {head_seq} but the chain ends at row"
                f" {seq - 1}: rows were deleted or added"
            )
    for chain in sorted(set(expected) - set(heads)):
        problems.append(f"audit chain {chain} has rows but no head row")
    return problems
