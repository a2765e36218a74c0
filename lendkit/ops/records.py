"""Rows to records: the conversions and reads several operations share.

It sits below the operations that use it (bidding, auction, listings, loans), so they import it,
and each other, in one direction.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lendkit.core.money import Money
from lendkit.core.records import Bid, ListingRecord
from lendkit.store.rows import get_row
from lendkit.store.tables import listings
from lendkit.uow import UnitOfWork


def _rate(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def listing_record(row: Any) -> ListingRecord:
    """Convert a ``lendkit_listings`` row."""
    cur = row.currency
    return ListingRecord(
        id=row.id,
        borrower_id=row.borrower_id,
        product=row.product,
        amount=Money.from_minor(row.amount, cur),
        months=row.months,
        method=row.method,
        bidding=row.bidding,
        state=row.state,
        annual_rate=_rate(row.annual_rate),
        max_rate=_rate(row.max_rate),
        min_bid=Money.from_minor(row.min_bid, cur),
        max_bid=None if row.max_bid is None else Money.from_minor(row.max_bid, cur),
        window_days=row.window_days,
        grade=row.grade,
        bid_total=Money.from_minor(row.bid_total, cur),
        bid_count=row.bid_count,
        clearing=row.clearing,
        reason=row.reason,
        closes_at=row.closes_at,
    )


def load_listing(ctx: UnitOfWork, listing_id: str) -> ListingRecord:
    """The listing ``listing_id`` as it is now in this unit of work (``NotFound`` if none)."""
    return listing_record(get_row(ctx.conn, listings, listing_id, "listing"))


def bid_record(row: Any, currency: str) -> Bid:
    """Convert a ``lendkit_bids`` row."""
    return Bid(
        id=row.id,
        listing_id=row.listing_id,
        investor_id=row.investor_id,
        amount=Money.from_minor(row.amount, currency),
        requested=Money.from_minor(row.requested, currency),
        rate=None if row.rate is None else Decimal(row.rate),
        state=row.state,
        hold_id=row.hold_id,
        auto=bool(row.auto),
    )
