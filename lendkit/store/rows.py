"""Row helpers shared by facades and operations: new ids and row lookups.

Input parsing (``check_id``, ``parse_amount``...) lives in :mod:`lendkit.core.inputs`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Table, select

from lendkit.core.errors import NotFound

__all__ = ["get_row", "new_id"]


def new_id(prefix: str) -> str:
    """A fresh id such as ``lst_9f2c...`` (prefix tells what it names)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def get_row(conn: Connection, table: Table, row_id: str, what: str, *, lock: bool = False) -> Any:
    """The row with primary key ``id``; ``NotFound`` naming it otherwise."""
    stmt = select(table).where(table.c.id == row_id)
    if lock and conn.dialect.name == "postgresql":
        # FOR NO KEY UPDATE: it serializes writers of the row as FOR UPDATE does, but never
        # waits for (or blocks) the key-share locks foreign-key checks of other inserts take
        stmt = stmt.with_for_update(key_share=True)
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"{what} {row_id!r} does not exist")
    return row
