"""Reconciliation: the custodian's statement against the movements booked, day by day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from attrs import frozen
from sqlalchemy import or_, select

from lendkit.core.money import Money
from lendkit.store.tables import external_movements
from lendkit.uow import UnitOfWork


@frozen
class StatementLine:
    """One movement on the custodian's statement."""

    external_ref: str
    party_id: str
    kind: str  # deposit | withdrawal | refund
    amount: Money


@frozen
class Difference:
    """A mismatch between the statement and the books."""

    external_ref: str
    #: missing_in_books | missing_in_statement | amount_mismatch | party_mismatch |
    #: pending_in_books (the custodian completed it; complete_deposit/withdrawal books it)
    problem: str
    books: Money | None
    statement: Money | None


@frozen
class Reconciliation:
    """Result of reconciling one day: ``ok`` when there is no difference."""

    day: date
    matched: int
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        return not self.differences


def reconcile(ctx: UnitOfWork, lines: Sequence[StatementLine], day: date) -> Reconciliation:
    """Compare the custodian's statement ``lines`` for ``day`` with the completed movements
    booked that day (see ``CustodyService.reconcile``)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=ctx.now.tzinfo)
    rows = ctx.conn.execute(
        select(external_movements).where(
            external_movements.c.state == "completed",
            external_movements.c.completed_at >= start,
            external_movements.c.completed_at < start + timedelta(days=1),
        )
    ).all()
    books = {r.external_ref or r.id: r for r in rows}
    refs = sorted({line.external_ref for line in lines} - set(books))
    pending: dict[str, Any] = {}
    for start_at in range(0, len(refs), 400):
        chunk = refs[start_at : start_at + 400]
        for r in ctx.conn.execute(
            select(external_movements).where(
                external_movements.c.state == "pending",
                or_(
                    external_movements.c.external_ref.in_(chunk),
                    external_movements.c.id.in_(chunk),
                ),
            )
        ):
            pending[r.external_ref if r.external_ref in chunk else r.id] = r
    diffs: list[Difference] = []
    matched = 0
    seen: set[str] = set()
    for line in lines:
        seen.add(line.external_ref)
        row = books.get(line.external_ref)
        if row is None:
            waiting = pending.get(line.external_ref)
            diffs.append(
                Difference(line.external_ref, "missing_in_books", None, line.amount)
                if waiting is None
                else Difference(
                    line.external_ref,
                    "pending_in_books",
                    Money.from_minor(waiting.amount, waiting.currency),
                    line.amount,
                )
            )
            continue
        booked = Money.from_minor(row.amount, row.currency)
        if booked != line.amount or row.kind != line.kind:
            diffs.append(Difference(line.external_ref, "amount_mismatch", booked, line.amount))
        elif row.party_id != line.party_id:
            diffs.append(Difference(line.external_ref, "party_mismatch", booked, line.amount))
        else:
            matched += 1
    for ref, row in sorted(books.items()):
        if ref not in seen:
            diffs.append(
                Difference(
                    ref,
                    "missing_in_statement",
                    Money.from_minor(row.amount, row.currency),
                    None,
                )
            )
    return Reconciliation(day, matched, tuple(diffs))


def statement(ctx: UnitOfWork, day: date) -> list[StatementLine]:
    """The embedded gateway's statement for ``day``: the completed movements it carried."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=ctx.now.tzinfo)
    rows = ctx.conn.execute(
        select(external_movements)
        .where(
            external_movements.c.state == "completed",
            external_movements.c.completed_at >= start,
            external_movements.c.completed_at < start + timedelta(days=1),
        )
        .order_by(external_movements.c.completed_at)
    ).all()
    return [
        StatementLine(
            r.external_ref or r.id,
            r.party_id,
            r.kind,
            Money.from_minor(r.amount, r.currency),
        )
        for r in rows
    ]
