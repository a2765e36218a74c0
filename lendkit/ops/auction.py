"""Auctions: clear a listing's rate bids at close.

Lowest rates fill first (the earlier bid on ties), the marginal bid partly; the bids that did not
win, and the part of the marginal bid that did not, go back to their investors at once. A plugin
may decide the fills (``lendkit_allocate_bids``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from lendkit.core import states as S
from lendkit.core.errors import InvalidState
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.ops.holds import freeze, void_hold
from lendkit.ops.records import listing_record
from lendkit.store import ledger as store_ledger
from lendkit.store.tables import bids, listings
from lendkit.uow import UnitOfWork


def clear_auction(ctx: UnitOfWork, listing: Any) -> list[tuple[str, str]]:
    """Fill the lowest rates (earlier bid on ties), the marginal bid partly; release the rest.

    Returns the ``(bid_id, reason)`` of each release in bid order, for the caller to notify
    (:func:`lendkit.ops.bidding.notify_released`) once the listing is funded.
    """
    rows = ctx.conn.execute(
        select(bids)
        .where(bids.c.listing_id == listing.id, bids.c.state == S.BID_OPEN)
        .order_by(bids.c.seq)
    ).all()
    offered = [(r.id, r.amount, Decimal(r.rate), r.seq) for r in rows]
    decided = ctx.hooks.allocate_bids(ctx, listing_record(listing), offered)
    if decided is None:
        fills: dict[str, int] = {}
        left = listing.amount
        for bid_id, amount, _rate, _seq in sorted(offered, key=lambda b: (b[2], b[3])):
            take = min(amount, left)
            fills[bid_id] = take
            left -= take
    else:
        fills = dict(decided)
        if sum(fills.values()) != listing.amount or any(
            f < 0 or f > a for (b, a, _r, _s) in offered for f in [fills.get(b, 0)]
        ):
            raise InvalidState(
                f"allocate_bids for listing {listing.id} did not fill the amount exactly"
            )
    destination: AccountRef = store_ledger.account_by_id(ctx.conn, listing.account_id)
    winners: list[tuple[int, Decimal]] = []
    released: list[tuple[str, str]] = []
    for r in rows:
        take = fills.get(r.id, 0)
        if take == r.amount:
            ctx.conn.execute(
                update(bids).where(bids.c.id == r.id).values(filled=take, state=S.BID_WON)
            )
        elif take == 0:
            void_hold(ctx, r.hold_id)
            ctx.conn.execute(update(bids).where(bids.c.id == r.id).values(state=S.BID_LOST))
            released.append((r.id, S.RELEASE_AUCTION_LOST))
        else:
            void_hold(ctx, r.hold_id)
            hold = freeze(
                ctx,
                r.investor_id,
                Money.from_minor(take, listing.currency),
                destination,
                reference=listing.id,
                reason="bid",
            )
            ctx.conn.execute(
                update(bids)
                .where(bids.c.id == r.id)
                .values(filled=take, amount=take, hold_id=hold.id, state=S.BID_WON)
            )
            released.append((r.id, S.RELEASE_AUCTION_TRIMMED))
        if take:
            winners.append((take, Decimal(r.rate)))
    if listing.clearing == "uniform":
        clearing_rate = max(rate for _, rate in winners)
    else:
        total = sum(t for t, _ in winners)
        clearing_rate = (
            sum((Decimal(t) * rate for t, rate in winners), Decimal(0)) / total
        ).quantize(Decimal("0.00000001"))
    ctx.conn.execute(
        update(listings).where(listings.c.id == listing.id).values(annual_rate=str(clearing_rate))
    )
    return released
