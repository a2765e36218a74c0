"""Keyset pagination: one convention for every list lendkit returns.

A list is ordered by a stable key (a table's ``created_at`` then ``id``, or a journal entry's
``seq``); a page holds at most ``limit`` rows and the cursor of the next page is the key of its
last row, as text (the row's id, or the sequence number). Asking with ``after=cursor`` returns
the rows strictly after it, so rows added meanwhile never shift a page (unlike an offset).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, Table, and_, or_, select

from lendkit.core.errors import InvalidValue

__all__ = ["page_by_created", "page_by_seq"]


def page_by_created(
    conn: Connection, stmt: Select[Any], table: Table, after: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """Run ``stmt`` (a select over ``table``) for one page in ``(created_at, id)`` order: at most
    ``limit`` rows after the row whose id is ``after``; returns the rows and the next cursor.
    ``InvalidValue`` if ``after`` names no row of ``table``."""
    created, ident = table.c.created_at, table.c.id
    if after is not None:
        mark = conn.execute(select(created).where(ident == after)).first()
        if mark is None:
            raise InvalidValue(
                f"page cursor {after[:80]!r} is not a row of this list: pass the `next` of a page"
            )
        stmt = stmt.where(or_(created > mark[0], and_(created == mark[0], ident > after)))
    rows = list(conn.execute(stmt.order_by(created, ident).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)


def parse_seq_cursor(after: str | None) -> int:
    """A ``seq`` cursor as an int (0: from the start); ``InvalidValue`` for anything else."""
    if after is None:
        return 0
    if not isinstance(after, str) or not after.isdigit() or len(after) > 19:
        raise InvalidValue(
            f"page cursor {str(after)[:80]!r} is not a cursor of this list: pass the `next` of a page"
        )
    return int(after)


def page_by_seq(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """Cut ``rows`` (at most ``limit + 1``, ordered by a ``seq`` attribute) to one page and its
    next cursor."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].seq) if more and rows else None)
