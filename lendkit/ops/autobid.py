"""Auto-bid (自动投标): investors' standing rules, and bidding by them when a listing is published.

Matching rules bid in a rotating order (least recently served first); a refused auto-bid is
skipped and undoes only its own writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from attrs import frozen
from sqlalchemy import func, select, update

from lendkit.core import states as S
from lendkit.core.errors import LendkitError
from lendkit.core.money import Money
from lendkit.ops.bidding import place_bid
from lendkit.ops.holds import balance_of
from lendkit.ops.parties import require_party
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import autobid_rules, listings
from lendkit.uow import UnitOfWork


@frozen
class AutoBidRule:
    """An investor's standing instruction to bid on matching listings (自动投标)."""

    id: str
    investor_id: str
    min_rate: Decimal
    max_rate: Decimal
    min_months: int
    max_months: int
    grades: tuple[str, ...]
    amount: Money
    keep_balance: Money
    active: bool


def add_rule(
    ctx: UnitOfWork,
    investor_id: str,
    amount: Money,
    *,
    min_rate: Decimal,
    max_rate: Decimal,
    min_months: int,
    max_months: int,
    grades: Sequence[str],
    keep_balance: Money,
) -> AutoBidRule:
    """Save a verified investor's auto-bid rule: ``amount`` per listing whose rate is within
    ``min_rate..max_rate``, months within ``min_months..max_months`` and grade in ``grades``,
    keeping ``keep_balance`` available."""
    require_party(ctx, investor_id, verified=True, action="bid")
    chosen = tuple(grades)
    rule = AutoBidRule(
        new_id("abr"),
        investor_id,
        min_rate,
        max_rate,
        min_months,
        max_months,
        chosen,
        amount,
        keep_balance,
        True,
    )
    seq = ctx.conn.execute(select(func.coalesce(func.max(autobid_rules.c.seq), 0) + 1)).scalar_one()
    ctx.conn.execute(
        autobid_rules.insert().values(
            seq=seq,
            id=rule.id,
            investor_id=investor_id,
            min_rate=str(min_rate),
            max_rate=str(max_rate),
            min_months=min_months,
            max_months=max_months,
            grades=",".join(chosen),
            amount=amount.minor,
            keep_balance=keep_balance.minor,
            active=True,
            last_used_seq=0,
            created_at=ctx.now,
        )
    )
    return rule


def disable_rule(ctx: UnitOfWork, rule_id: str) -> None:
    """Stop the auto-bid rule ``rule_id`` (``NotFound`` if none)."""
    get_row(ctx.conn, autobid_rules, rule_id, "auto-bid rule")
    ctx.conn.execute(
        update(autobid_rules).where(autobid_rules.c.id == rule_id).values(active=False)
    )


def run_autobids(ctx: UnitOfWork, listing_id: str) -> int:
    """Let matching auto-bid rules bid on a just-published listing, least recently served first."""
    row = get_row(ctx.conn, listings, listing_id, "listing")
    rate = Decimal(row.annual_rate if row.bidding == "fixed" else row.max_rate)
    rules = ctx.conn.execute(
        select(autobid_rules)
        .where(
            autobid_rules.c.active.is_(True),
            autobid_rules.c.investor_id != row.borrower_id,
            autobid_rules.c.min_months <= row.months,
            autobid_rules.c.max_months >= row.months,
        )
        .order_by(autobid_rules.c.last_used_seq, autobid_rules.c.seq)
    ).all()
    placed = 0
    counter = ctx.conn.execute(
        select(func.coalesce(func.max(autobid_rules.c.last_used_seq), 0))
    ).scalar_one()
    for rule in rules:
        current = get_row(ctx.conn, listings, listing_id, "listing")
        remaining = current.amount - current.bid_total
        if current.state != S.PUBLISHED or (row.bidding == "fixed" and remaining <= 0):
            break
        if not Decimal(rule.min_rate) <= rate <= Decimal(rule.max_rate):
            continue
        if row.grade is not None and row.grade not in rule.grades.split(","):
            continue
        available = balance_of(ctx, rule.investor_id, row.currency).available.minor
        amount = min(rule.amount, available - rule.keep_balance)
        if row.bidding == "fixed":
            amount = min(amount, remaining)
        if amount <= 0 or (amount < row.min_bid and amount < remaining):
            continue
        bid_rate = (
            max(Decimal(rule.min_rate), Decimal("0.0001")) if row.bidding == "auction" else None
        )
        try:
            # a refused auto-bid undoes its writes and the after-commit callbacks its hooks
            # registered (lendkit_bid_placed's among them)
            with ctx.savepoint():
                place_bid(
                    ctx,
                    listing_id,
                    rule.investor_id,
                    Money.from_minor(amount, row.currency),
                    bid_rate,
                    auto=True,
                )
        except LendkitError:
            continue
        counter += 1
        placed += 1
        ctx.conn.execute(
            update(autobid_rules).where(autobid_rules.c.id == rule.id).values(last_used_seq=counter)
        )
    return placed
