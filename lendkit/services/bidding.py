"""Bidding (投标): every bid is a custody hold whose only destination is the listing.

Fixed-rate listings fill first come, first served; the bid that crosses the target is trimmed to
what remains. Auctions hold each bid in full and clear at close. Auto-bid rules bid when a listing
is published, in a rotating order (least recently served first). A listing is never
oversubscribed: the remaining amount is read under the listing's row lock (PostgreSQL) or the
immediate write lock (SQLite) and the update is guarded again by ``bid_total + fill <= amount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen
from sqlalchemy import func, select, update

from lendkit.core import states as S
from lendkit.core.config import GRADES
from lendkit.core.errors import (
    Forbidden,
    InvalidRate,
    InvalidState,
    InvalidValue,
    LendkitError,
    LimitExceeded,
)
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money, parse_rate
from lendkit.core.records import Bid, ListingRecord
from lendkit.core.schedule import MAX_MONTHS
from lendkit.services import custody
from lendkit.services.common import (
    check_choice,
    check_id,
    check_int,
    get_row,
    new_id,
    parse_amount,
)
from lendkit.services.context import Ctx
from lendkit.services.parties import require_party
from lendkit.services.records import listing_record
from lendkit.services.uow import Tx
from lendkit.store import ledger as store_ledger
from lendkit.store.tables import autobid_rules, bids, listings

if TYPE_CHECKING:
    from lendkit.platform import Platform


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


BID_STATES = (S.BID_OPEN, S.BID_WON, S.BID_LOST, S.BID_VOIDED, S.BID_POSTED)


def find_bids(
    ctx: Ctx,
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


class BiddingService:
    """``platform.bidding``: bids and auto-bid rules."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    def bid(
        self,
        listing_id: str,
        investor_id: str,
        amount: object,
        rate: object = None,
        key: str | None = None,
    ) -> Bid:
        """Bid ``amount`` on a published listing; auctions need ``rate`` (at most the maximum rate).

        Returns the bid with ``amount`` as filled (a fixed-rate bid crossing the target is trimmed).
        """
        listing_id = check_id(listing_id, "listing")
        investor_id = check_id(investor_id, "investor")
        money = parse_amount(amount, self._p.config.currency, "bid amount")
        bid_rate = None if rate is None else parse_rate(rate, "bid rate")

        def run(tx: Tx) -> Bid:
            return place_bid(Ctx(tx), listing_id, investor_id, money, bid_rate, auto=False)

        return self._p.runner.run(
            "bidding.bid",
            run,
            key=key,
            payload=[listing_id, investor_id, money.format(), str(bid_rate)],
            result_type=Bid,
        )

    def bids(self, listing_id: str) -> list[Bid]:
        """Every bid on a listing in the order placed."""
        listing_id = check_id(listing_id, "listing")

        return self._p.runner.run(
            "bidding.bids", lambda tx: find_bids(Ctx(tx), listing_id=listing_id)
        )

    # -- auto-bid ----------------------------------------------------------------------------------

    def add_rule(
        self,
        investor_id: str,
        amount: object,
        *,
        min_rate: object = "0",
        max_rate: object = "1",
        min_months: int = 1,
        max_months: int = MAX_MONTHS,
        grades: tuple[str, ...] | list[str] = GRADES,
        keep_balance: object = "0",
        key: str | None = None,
    ) -> AutoBidRule:
        """Save an auto-bid rule: rate range, months range, grades, amount per listing, balance to keep."""
        cur = self._p.config.currency
        investor_id = check_id(investor_id, "investor")
        per_listing = parse_amount(amount, cur, "auto-bid amount")
        keep = parse_amount(keep_balance, cur, "balance to keep", allow_zero=True)
        low, high = parse_rate(min_rate, "minimum rate"), parse_rate(max_rate, "maximum rate")
        if low > high:
            raise InvalidRate(f"rate range {low}..{high} is empty")
        m_low = check_int(min_months, "minimum months", 1, MAX_MONTHS)
        m_high = check_int(max_months, "maximum months", m_low, MAX_MONTHS)
        chosen = tuple(grades)
        if not chosen or any(g not in GRADES for g in chosen):
            raise InvalidValue(f"grades {chosen!r}: choose from {', '.join(GRADES)}")

        def run(tx: Tx) -> AutoBidRule:
            ctx = Ctx(tx)
            require_party(ctx, investor_id, verified=True, action="bid")
            rule = AutoBidRule(
                new_id("abr"),
                investor_id,
                low,
                high,
                m_low,
                m_high,
                chosen,
                per_listing,
                keep,
                True,
            )
            seq = ctx.conn.execute(
                select(func.coalesce(func.max(autobid_rules.c.seq), 0) + 1)
            ).scalar_one()
            ctx.conn.execute(
                autobid_rules.insert().values(
                    seq=seq,
                    id=rule.id,
                    investor_id=investor_id,
                    min_rate=str(low),
                    max_rate=str(high),
                    min_months=m_low,
                    max_months=m_high,
                    grades=",".join(chosen),
                    amount=per_listing.minor,
                    keep_balance=keep.minor,
                    active=True,
                    last_used_seq=0,
                    created_at=ctx.now,
                )
            )
            return rule

        return self._p.runner.run(
            "bidding.add_rule",
            run,
            key=key,
            payload=[
                investor_id,
                per_listing.format(),
                str(low),
                str(high),
                m_low,
                m_high,
                chosen,
                keep.format(),
            ],
            result_type=AutoBidRule,
        )

    def disable_rule(self, rule_id: str, key: str | None = None) -> None:
        """Stop an auto-bid rule."""
        rule_id = check_id(rule_id, "auto-bid rule")

        def run(tx: Tx) -> None:
            get_row(tx.conn, autobid_rules, rule_id, "auto-bid rule")
            tx.conn.execute(
                update(autobid_rules).where(autobid_rules.c.id == rule_id).values(active=False)
            )

        self._p.runner.run("bidding.disable_rule", run, key=key, payload=[rule_id])


def place_bid(
    ctx: Ctx,
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
    row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
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
    investor = require_party(ctx, investor_id, verified=True, action="bid")
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
    guard = update(listings).where(listings.c.id == listing_id, listings.c.state == S.PUBLISHED)
    if row.bidding == "fixed":
        guard = guard.where(listings.c.bid_total + fill <= listings.c.amount)
    result = ctx.conn.execute(
        guard.values(bid_total=listings.c.bid_total + fill, bid_count=listings.c.bid_count + 1)
    )
    if result.rowcount != 1:
        raise LimitExceeded(
            f"listing {listing_id} no longer has {Money.from_minor(fill, cur)} left"
        )
    destination = store_ledger.account_by_id(ctx.conn, row.account_id)
    bid_id, hold_id = new_id("bid"), new_id("hld")
    ctx.conn.execute(
        bids.insert().values(
            id=bid_id,
            listing_id=listing_id,
            investor_id=investor_id,
            seq=row.bid_count + 1,
            requested=money.minor,
            amount=fill,
            filled=0,
            rate=None if rate is None else str(rate),
            hold_id=hold_id,
            state=S.BID_OPEN,
            auto=auto,
            created_at=ctx.now,
        )
    )
    # the hold's journal entry comes last: the ledger head is locked only until commit
    hold = custody.freeze(
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


def _check_risk(ctx: Ctx, investor: Any, listing: Any) -> None:
    if investor.risk_level is None or listing.grade is None:
        return
    worst = ctx.platform_config.risk_level_grades.get(int(investor.risk_level), "HR")
    if GRADES.index(listing.grade) > GRADES.index(worst):
        raise Forbidden(
            f"investor {investor.id} has risk level {investor.risk_level}, which allows grades"
            f" down to {worst}; listing {listing.id} is grade {listing.grade}"
        )


def run_autobids(ctx: Ctx, listing_id: str) -> int:
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
        available = custody.balance_of(ctx, rule.investor_id, row.currency).available.minor
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
            with ctx.tx.savepoint():
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


def clear_auction(ctx: Ctx, listing: Any) -> list[tuple[str, str]]:
    """Fill the lowest rates (earlier bid on ties), the marginal bid partly; release the rest.

    Returns the ``(bid_id, reason)`` of each release in bid order, for the caller to notify
    (:func:`notify_released`) once the listing is funded.
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
            custody.void_hold(ctx, r.hold_id)
            ctx.conn.execute(update(bids).where(bids.c.id == r.id).values(state=S.BID_LOST))
            released.append((r.id, S.RELEASE_AUCTION_LOST))
        else:
            custody.void_hold(ctx, r.hold_id)
            hold = custody.freeze(
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


def notify_released(ctx: Ctx, listing: ListingRecord, released: Sequence[tuple[str, str]]) -> None:
    """``lendkit_bid_released`` for each ``(bid_id, reason)``, with the bid as it is now."""
    if not released:
        return
    reasons = dict(released)
    rows = {r.id: r for r in ctx.conn.execute(select(bids).where(bids.c.id.in_(list(reasons))))}
    for bid_id, reason in released:
        ctx.hooks.bid_released(
            ctx, listing, bid_record(rows[bid_id], listing.amount.currency), reason
        )


__all__ = [
    "AutoBidRule",
    "BiddingService",
    "bid_record",
    "clear_auction",
    "notify_released",
    "place_bid",
    "run_autobids",
]
