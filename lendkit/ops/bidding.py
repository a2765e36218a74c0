"""Bidding (投标): every bid is a custody hold whose only destination is the listing.

Fixed-rate listings fill first come, first served; the bid that crosses the target is trimmed to
what remains. Auctions hold each bid in full and clear at close (:mod:`lendkit.ops.auction`). A
listing is never oversubscribed: the remaining amount is read under the listing's row lock
(PostgreSQL) or the immediate write lock (SQLite) and the update is guarded again by
``bid_total + fill <= amount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs
from sqlalchemy import bindparam, func, select, update

from lendkit.core import states as S
from lendkit.core.config import GRADES
from lendkit.core.errors import Forbidden, InvalidRate, InvalidState, LimitExceeded, NotFound
from lendkit.core.inputs import check_choice, check_id
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import Bid, ListingRecord
from lendkit.ops.holds import freeze
from lendkit.ops.parties import check_verified, checks_passed
from lendkit.ops.records import bid_record, listing_record
from lendkit.store.rows import new_id
from lendkit.store.tables import accounts, bids, listings, parties
from lendkit.uow import UnitOfWork


def place_bid(
    ctx: UnitOfWork,
    listing_id: str,
    investor_id: str,
    money: Money,
    rate: Decimal | None,
    *,
    auto: bool,
) -> Bid:
    """Place a bid of ``money`` (at ``rate`` on an auction) by ``investor_id`` on a published
    listing: checks the listing, the investor and the limits, holds the filled amount in custody
    (destination: the listing) and marks a fixed-rate listing funded when the bid fills it.

    ``auto`` records that an auto-bid rule placed it. Returns the bid as filled.
    """
    row = _listing_and_investor(ctx, listing_id, investor_id)
    if row.state != S.PUBLISHED:
        raise InvalidState(
            f"listing {listing_id} is {row.state}; bids are taken only while published"
        )
    if row.closes_at is not None and ctx.now >= row.closes_at:
        raise InvalidState(
            f"listing {listing_id}'s funding window closed at {row.closes_at:%Y-%m-%d %H:%M}"
        )
    if investor_id == row.borrower_id:
        raise Forbidden(f"party {investor_id} cannot bid on its own listing {listing_id}")
    check_verified(investor_id, row.investor_found is not None, row.investor_passed, "bid")
    investor = _Investor(investor_id, row.investor_risk)
    _check_risk(ctx, investor, row)
    cur = row.currency
    remaining = row.amount - row.bid_total
    if row.bidding == "auction":
        if rate is None:
            raise InvalidRate(f"auction listing {listing_id} needs a bid rate")
        if rate <= 0 or rate > Decimal(row.max_rate):
            raise InvalidRate(
                f"bid rate {rate} is out of range: allowed above 0 up to the listing's maximum"
                f" {Decimal(row.max_rate)}"
            )
        fill = money.minor
    else:
        if rate is not None and Decimal(row.annual_rate) != rate:
            raise InvalidRate(
                f"listing {listing_id} pays a fixed {Decimal(row.annual_rate)}; bid rate {rate} differs"
            )
        if remaining <= 0:
            raise LimitExceeded(f"listing {listing_id} is fully funded")
        fill = min(money.minor, remaining)
    if money.minor < row.min_bid and money.minor < remaining:
        raise LimitExceeded(
            f"bid {money} is below the listing's minimum bid {Money.from_minor(row.min_bid, cur)}"
        )
    if row.max_bid is not None:
        already = ctx.conn.execute(
            select(func.coalesce(func.sum(bids.c.amount), 0)).where(
                bids.c.listing_id == listing_id,
                bids.c.investor_id == investor_id,
                bids.c.state == S.BID_OPEN,
            )
        ).scalar_one()
        if already + fill > row.max_bid:
            raise LimitExceeded(
                f"bid {Money.from_minor(fill, cur)} would take {investor_id}'s total on listing"
                f" {listing_id} above the maximum bid {Money.from_minor(row.max_bid, cur)}"
            )
    ctx.hooks.validate_bid(ctx, listing_record(row), investor_id, Money.from_minor(fill, cur), rate)
    # guarded: still published and, for a fixed-rate listing, the fill still fits
    result = ctx.conn.execute(_TAKE[row.bidding == "fixed"], {"lid": listing_id, "fill": fill})
    if result.rowcount != 1:
        raise LimitExceeded(
            f"listing {listing_id} no longer has {Money.from_minor(fill, cur)} left"
        )
    destination = AccountRef(row.account_id, row.dest_code, row.dest_currency, row.dest_negative)
    bid_id, hold_id = new_id("bid"), new_id("hld")
    ctx.conn.execute(
        _INSERT_BID,
        {
            "id": bid_id,
            "listing_id": listing_id,
            "investor_id": investor_id,
            "seq": row.bid_count + 1,
            "requested": money.minor,
            "amount": fill,
            "filled": 0,
            "rate": None if rate is None else str(rate),
            "hold_id": hold_id,
            "state": S.BID_OPEN,
            "auto": auto,
            "created_at": ctx.now,
        },
    )
    # the hold's journal entry comes last: the ledger head is locked only until commit
    hold = freeze(
        ctx,
        investor_id,
        Money.from_minor(fill, cur),
        destination,
        reference=listing_id,
        reason="bid",
        hold_id=hold_id,
    )
    funded = row.bidding == "fixed" and row.bid_total + fill == row.amount
    if funded:
        ctx.conn.execute(
            update(listings)
            .where(listings.c.id == listing_id)
            .values(state=S.FUNDED, funded_at=ctx.now)
        )
    bid = Bid(
        bid_id,
        listing_id,
        investor_id,
        Money.from_minor(fill, cur),
        money,
        rate,
        S.BID_OPEN,
        hold.id,
        auto,
    )
    # the listing as this bid left it: the row was read under its lock, so these are the only
    # changes (no second read on the hot path)
    after = attrs.evolve(
        listing_record(row),
        state=S.FUNDED if funded else row.state,
        bid_total=Money.from_minor(row.bid_total + fill, cur),
        bid_count=row.bid_count + 1,
    )
    ctx.hooks.bid_placed(ctx, after, bid)
    if funded:
        ctx.hooks.listing_funded(ctx, after)
    return bid


@attrs.frozen
class _Investor:
    id: str
    risk_level: int | None


def _listing_and_investor_statement(lock: bool) -> Any:
    stmt = (
        select(
            listings,
            parties.c.id.label("investor_found"),
            parties.c.risk_level.label("investor_risk"),
            checks_passed(bindparam("iid")).label("investor_passed"),
            accounts.c.code.label("dest_code"),
            accounts.c.currency.label("dest_currency"),
            accounts.c.allow_negative.label("dest_negative"),
        )
        .select_from(
            listings.join(accounts, accounts.c.id == listings.c.account_id).outerjoin(
                parties, parties.c.id == bindparam("iid")
            )
        )
        .where(listings.c.id == bindparam("lid"))
    )
    # FOR NO KEY UPDATE (see store.rows): a bid's insert checks its foreign key to the listing
    return stmt.with_for_update(of=listings, key_share=True) if lock else stmt


# built once: a bid's statements take their values as parameters, so SQLAlchemy compiles each
# once per process instead of building and hashing a new statement per bid
_READ = {False: _listing_and_investor_statement(False), True: _listing_and_investor_statement(True)}
_TAKE = {
    fixed: update(listings)
    .where(
        listings.c.id == bindparam("lid"),
        listings.c.state == S.PUBLISHED,
        *([listings.c.bid_total + bindparam("fill") <= listings.c.amount] if fixed else []),
    )
    .values(bid_total=listings.c.bid_total + bindparam("fill"), bid_count=listings.c.bid_count + 1)
    for fixed in (False, True)
}
_INSERT_BID = bids.insert()


def _listing_and_investor(ctx: UnitOfWork, listing_id: str, investor_id: str) -> Any:
    """One statement for a bid's checks: the listing (locked on PostgreSQL), whether the
    investor exists, its risk level and how many required checks it passed, and the listing's
    escrow account (the hold's destination). ``NotFound`` if the listing does not exist."""
    stmt = _READ[ctx.conn.dialect.name == "postgresql"]
    row = ctx.conn.execute(stmt, {"lid": listing_id, "iid": investor_id}).first()
    if row is None:
        raise NotFound(f"listing {listing_id!r} does not exist")
    return row


def _check_risk(ctx: UnitOfWork, investor: Any, listing: Any) -> None:
    if investor.risk_level is None or listing.grade is None:
        return
    worst = ctx.platform_config.risk_level_grades.get(int(investor.risk_level), "HR")
    if GRADES.index(listing.grade) > GRADES.index(worst):
        raise Forbidden(
            f"investor {investor.id} has risk level {investor.risk_level}, which allows grades"
            f" down to {worst}; listing {listing.id} is grade {listing.grade}"
        )


def notify_released(
    ctx: UnitOfWork, listing: ListingRecord, released: Sequence[tuple[str, str]]
) -> None:
    """``lendkit_bid_released`` for each ``(bid_id, reason)``, with the bid as it is now."""
    if not released:
        return
    reasons = dict(released)
    rows = {r.id: r for r in ctx.conn.execute(select(bids).where(bids.c.id.in_(list(reasons))))}
    for bid_id, reason in released:
        ctx.hooks.bid_released(
            ctx, listing, bid_record(rows[bid_id], listing.amount.currency), reason
        )


#: the states a bid may be in (``bids(state=...)``)
BID_STATES = (S.BID_OPEN, S.BID_WON, S.BID_LOST, S.BID_VOIDED, S.BID_POSTED)


def find_bids(
    ctx: UnitOfWork,
    *,
    listing_id: str | None = None,
    investor_id: str | None = None,
    state: str | None = None,
) -> list[Bid]:
    """Bids on ``listing_id``, by ``investor_id``, in ``state`` (each filter optional), in the
    order placed. ``InvalidValue`` names an unknown state."""
    stmt = select(bids, listings.c.currency).join(listings, listings.c.id == bids.c.listing_id)
    if listing_id is not None:
        stmt = stmt.where(bids.c.listing_id == check_id(listing_id, "listing"))
    if investor_id is not None:
        stmt = stmt.where(bids.c.investor_id == check_id(investor_id, "investor"))
    if state is not None:
        stmt = stmt.where(bids.c.state == check_choice(state, "bid state", BID_STATES))
    order = (bids.c.seq,) if listing_id is not None else (bids.c.created_at, bids.c.id)
    rows = ctx.conn.execute(stmt.order_by(*order)).all()
    return [bid_record(r, r.currency) for r in rows]
