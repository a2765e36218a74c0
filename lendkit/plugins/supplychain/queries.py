"""Reads and writes of the plugin's own tables, shared by its commands and hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lendkit.core.context import HookContext
from lendkit.core.errors import NotFound
from lendkit.core.ledger import AVAILABLE
from lendkit.core.money import Money
from lendkit.plugins.supplychain.records import CoreEnterprise, Receivable
from lendkit.plugins.supplychain.tables import (
    core_enterprises,
    holdings,
    industries,
    investor_limits,
    receivables,
)

PRODUCT = "supplychain"


def locked(stmt: Any, conn: Connection) -> Any:
    """``stmt`` with ``FOR UPDATE`` on PostgreSQL (SQLite serializes writers already)."""
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt


def insert_missing(conn: Connection, table: Table, values: Mapping[str, Any]) -> None:
    """Insert ``values`` unless a row with the same primary key exists (safe under concurrency:
    ``ON CONFLICT DO NOTHING``)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(table).values(**values).on_conflict_do_nothing())


def party_exists(ctx: HookContext, party_id: str, what: str) -> None:
    """``NotFound`` naming ``what`` unless ``party_id`` is a registered party (its custody
    account opens with it)."""
    try:
        ctx.existing_account(f"party:{party_id}:{AVAILABLE}:{ctx.currency}")
    except NotFound:
        raise NotFound(f"{what} {party_id!r} is not a registered party") from None


def core_row(conn: Connection, core_id: str, *, lock: bool = False) -> Row[Any]:
    stmt = select(core_enterprises).where(core_enterprises.c.id == core_id)
    row = conn.execute(locked(stmt, conn) if lock else stmt).first()
    if row is None:
        raise NotFound(f"core enterprise {str(core_id)[:50]!r} does not exist")
    return row


def receivable_row(conn: Connection, receivable_id: str, *, lock: bool = False) -> Row[Any]:
    stmt = select(receivables).where(receivables.c.id == receivable_id)
    row = conn.execute(locked(stmt, conn) if lock else stmt).first()
    if row is None:
        raise NotFound(f"receivable {str(receivable_id)[:50]!r} does not exist")
    return row


def for_listing(conn: Connection, listing_id: str, *, lock: bool = False) -> Row[Any] | None:
    stmt = select(receivables).where(receivables.c.listing_id == listing_id)
    return conn.execute(locked(stmt, conn) if lock else stmt).first()


def for_loan(conn: Connection, loan_id: str) -> Row[Any] | None:
    return conn.execute(select(receivables).where(receivables.c.loan_id == loan_id)).first()


def core_record(row: Row[Any]) -> CoreEnterprise:
    cur = row.currency
    return CoreEnterprise(
        id=row.id,
        name=row.name,
        party_id=row.party_id,
        industry=row.industry,
        confirmation=row.confirmation,
        credit_limit=Money.from_minor(int(row.credit_limit), cur),
        used=Money.from_minor(int(row.used), cur),
    )


def receivable_record(row: Row[Any]) -> Receivable:
    cur = row.currency
    return Receivable(
        id=row.id,
        listing_id=row.listing_id,
        core_enterprise_id=row.core_enterprise_id,
        supplier_id=row.supplier_id,
        invoice_number=row.invoice_number,
        amount=Money.from_minor(int(row.amount), cur),
        due_date=row.due_date,
        state=row.state,
        stage=row.stage,
        exposure=Money.from_minor(int(row.exposure), cur),
        loan_id=row.loan_id,
        overdue=bool(row.overdue),
        reference=row.reference,
        dispute_reason=row.dispute_reason,
    )


def reduce_exposure(conn: Connection, row: Row[Any], new_exposure: int, **values: Any) -> None:
    """Lower a receivable's exposure to ``new_exposure`` and its core enterprise's and industry's
    use by the difference (never raises one); ``values``: other columns to set."""
    delta = int(row.exposure) - max(0, new_exposure)
    if delta > 0:
        core = core_row(conn, row.core_enterprise_id)
        conn.execute(
            update(core_enterprises)
            .where(core_enterprises.c.id == core.id)
            .values(used=core_enterprises.c.used - delta)
        )
        conn.execute(
            update(industries)
            .where(industries.c.name == core.industry)
            .values(used=industries.c.used - delta)
        )
    conn.execute(
        update(receivables)
        .where(receivables.c.id == row.id)
        .values(exposure=int(row.exposure) - max(0, delta), **values)
    )


def set_holding(
    conn: Connection, listing_id: str, investor_id: str, core_id: str, new: int
) -> None:
    """Set an investor's amount on a listing to ``new`` and move its per-core-enterprise use by
    the difference."""
    old_row = conn.execute(
        select(holdings.c.amount).where(
            holdings.c.listing_id == listing_id, holdings.c.investor_id == investor_id
        )
    ).first()
    old = 0 if old_row is None else int(old_row.amount)
    if new == old:
        return
    ensure_holding(conn, listing_id, investor_id, core_id)
    conn.execute(
        update(holdings)
        .where(holdings.c.listing_id == listing_id, holdings.c.investor_id == investor_id)
        .values(amount=new)
    )
    insert_missing(
        conn,
        investor_limits,
        {"investor_id": investor_id, "core_enterprise_id": core_id, "used": 0},
    )
    conn.execute(
        update(investor_limits)
        .where(
            investor_limits.c.investor_id == investor_id,
            investor_limits.c.core_enterprise_id == core_id,
        )
        .values(used=investor_limits.c.used + (new - old))
    )


def add_holding(
    conn: Connection, listing_id: str, investor_id: str, core_id: str, delta: int
) -> None:
    """Add ``delta`` to an investor's amount on a listing (its per-core use is moved by the
    caller, with the cap's guarded update)."""
    ensure_holding(conn, listing_id, investor_id, core_id)
    conn.execute(
        update(holdings)
        .where(holdings.c.listing_id == listing_id, holdings.c.investor_id == investor_id)
        .values(amount=holdings.c.amount + delta)
    )


def ensure_holding(conn: Connection, listing_id: str, investor_id: str, core_id: str) -> None:
    """Make sure the investor's holding row on the listing exists (amount 0 when new)."""
    insert_missing(
        conn,
        holdings,
        {
            "listing_id": listing_id,
            "investor_id": investor_id,
            "core_enterprise_id": core_id,
            "amount": 0,
        },
    )
