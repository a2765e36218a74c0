"""Listings (标的): apply -> review -> publish -> funded (满标) / failed (流标) -> disbursed.

Every transition is checked against :mod:`lendkit.core.states`; a wrong one raises
``InvalidState`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from attrs import frozen
from sqlalchemy import select, update

from lendkit.core import states as S
from lendkit.core.config import PlatformConfig
from lendkit.core.errors import InvalidRate, InvalidState, InvalidValue, LimitExceeded
from lendkit.core.inputs import check_choice, check_id, check_int, parse_amount
from lendkit.core.ledger import LISTING
from lendkit.core.money import Money, parse_rate
from lendkit.core.records import ListingRecord, Product
from lendkit.core.schedule import MAX_MONTHS
from lendkit.ops.auction import clear_auction
from lendkit.ops.autobid import run_autobids
from lendkit.ops.bidding import notify_released
from lendkit.ops.holds import release_holds
from lendkit.ops.parties import require_party
from lendkit.ops.records import listing_record, load_listing
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import bids, listings, parties
from lendkit.uow import UnitOfWork

BIDDING_STYLES = ("fixed", "auction")
CLEARING = ("own", "uniform")


def positive_rate(value: object, what: str) -> Decimal:
    rate = parse_rate(value, what)
    if rate <= 0:
        raise InvalidRate(f"{what} {value} must be more than 0%")
    return rate


@frozen
class Application:
    """A borrower's checked application (``parse_application``), ready for ``apply_listing``."""

    borrower_id: str
    money: Money
    rate: Decimal | None
    months: int
    method: str
    bidding: str
    cap: Decimal | None
    low: Money
    high: Money | None
    window_days: int
    product: str
    clearing: str

    def payload(self) -> list[Any]:
        """What identifies the application for an idempotency key."""
        return [
            self.borrower_id,
            self.money.format(),
            str(self.rate),
            self.months,
            self.method,
            self.bidding,
            str(self.cap),
            self.low.format(),
            self.high and self.high.format(),
            self.window_days,
            self.product,
            self.clearing,
        ]


def parse_application(
    config: PlatformConfig,
    products: Mapping[str, Product],
    borrower_id: str,
    amount: object,
    annual_rate: object = None,
    months: int = 12,
    method: str = "equal-installment",
    bidding: str = "fixed",
    max_rate: object = None,
    min_bid: object = None,
    max_bid: object = None,
    window_days: int = 7,
    product: str = "online",
    clearing: str = "own",
) -> Application:
    """Check an application's terms (``platform.listings.apply``'s arguments); ``InvalidValue``
    and its kin name the bad one and what is allowed."""
    cur = config.currency
    borrower_id = check_id(borrower_id, "borrower")
    money = parse_amount(amount, cur, "listing amount")
    months = check_int(months, "months", 1, MAX_MONTHS)
    bidding = check_choice(bidding, "bidding style", BIDDING_STYLES)
    clearing = check_choice(clearing, "auction clearing", CLEARING)
    window_days = check_int(window_days, "funding window (days)", 1, config.funding_window_days_max)
    rate = None if annual_rate is None else positive_rate(annual_rate, "annual rate")
    cap = None if max_rate is None else positive_rate(max_rate, "maximum rate")
    if bidding == "auction":
        if cap is None:
            raise InvalidValue("an auction listing needs max_rate (the borrower's maximum rate)")
        rate = None
    elif cap is not None:
        raise InvalidValue("max_rate is for auction listings; a fixed listing takes annual_rate")
    low = (
        parse_amount(min_bid, cur, "minimum bid") if min_bid is not None else Money.of("0.01", cur)
    )
    high = parse_amount(max_bid, cur, "maximum bid") if max_bid is not None else None
    if low > money or (high is not None and (high < low or high > money)):
        raise InvalidValue(
            f"bid limits min {low.format()} / max {high.format() if high else '-'} must satisfy"
            f" min <= max <= amount {money.format()}"
        )
    product = check_choice(product, "product", tuple(sorted(products)))
    # the four standard methods, or one the product declares (its plugin builds the rows)
    method = check_choice(method, "repayment method", products[product].allowed_methods)
    return Application(
        borrower_id,
        money,
        rate,
        months,
        method,
        bidding,
        cap,
        low,
        high,
        window_days,
        product,
        clearing,
    )


def apply(ctx: UnitOfWork, application: Application) -> ListingRecord:
    """File a checked application (:func:`parse_application`): a verified borrower applies
    within its available credit line (when it was assessed); the listing awaits review
    (``applied``); ``lendkit_validate_listing`` may refuse it."""
    a = application
    borrower_id, amount = a.borrower_id, a.money
    party = require_party(ctx, borrower_id, verified=True, action="borrow")
    cur = amount.currency
    if party.credit_score is not None and amount.minor > party.credit_line - party.credit_used:
        raise LimitExceeded(
            f"listing amount {amount} exceeds {borrower_id}'s available credit line "
            f"{Money.from_minor(party.credit_line - party.credit_used, cur)}"
        )
    listing_id = new_id("lst")
    values = dict(
        id=listing_id,
        borrower_id=borrower_id,
        product=a.product,
        currency=cur,
        amount=amount.minor,
        months=a.months,
        method=a.method,
        bidding=a.bidding,
        clearing=a.clearing,
        annual_rate=None if a.rate is None else str(a.rate),
        max_rate=None if a.cap is None else str(a.cap),
        min_bid=a.low.minor,
        max_bid=None if a.high is None else a.high.minor,
        window_days=a.window_days,
        state=S.APPLIED,
        bid_total=0,
        bid_count=0,
        created_at=ctx.now,
    )
    ctx.conn.execute(listings.insert().values(**values))
    record = load_listing(ctx, listing_id)
    ctx.hooks.validate_listing(ctx, record)
    return record


def approve(
    ctx: UnitOfWork, listing_id: str, grade: str, annual_rate: Decimal | None, reviewer: str | None
) -> ListingRecord:
    """Risk control approves: fixes the grade and (fixed listings) the rate, and reserves the
    amount on the borrower's credit line (see ``ListingsService.approve``)."""
    row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
    S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.APPROVED)
    chosen = annual_rate
    if row.bidding == "fixed":
        if chosen is None and row.annual_rate is not None:
            chosen = Decimal(row.annual_rate)
        if chosen is None:
            chosen = ctx.hooks.price_listing(ctx, listing_record(row), grade)
        if chosen is None:
            chosen = ctx.platform_config.grade_rates.get(grade)
        if chosen is None:
            raise InvalidValue(f"no rate for grade {grade}: pass annual_rate")
    elif chosen is not None:
        raise InvalidValue("an auction listing's rate is set by its bids, not at approval")
    _reserve_line(ctx, row, grade)
    ctx.conn.execute(
        update(listings)
        .where(listings.c.id == listing_id)
        .values(
            state=S.APPROVED,
            grade=grade,
            annual_rate=None if chosen is None else str(chosen),
            reason=f"approved by {reviewer}" if reviewer else None,
        )
    )
    record = load_listing(ctx, listing_id)
    ctx.hooks.validate_listing(ctx, record)
    ctx.hooks.listing_approved(ctx, record)
    return record


def reject(ctx: UnitOfWork, listing_id: str, reason: str) -> ListingRecord:
    """Risk control rejects the application with ``reason``; a reserved credit line is freed."""
    row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
    S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.REJECTED)
    _release_line(ctx, row)
    ctx.conn.execute(
        update(listings).where(listings.c.id == listing_id).values(state=S.REJECTED, reason=reason)
    )
    record = load_listing(ctx, listing_id)
    ctx.hooks.listing_withdrawn(ctx, record, S.REJECTED)
    return record


def publish(ctx: UnitOfWork, listing_id: str) -> ListingRecord:
    """Open the listing for bids for its funding window, ask ``lendkit_validate_listing`` again,
    then let matching auto-bid rules bid."""
    row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
    S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.PUBLISHED)
    account = ctx.account("listing", listing_id, LISTING, row.currency)
    ctx.conn.execute(
        update(listings)
        .where(listings.c.id == listing_id)
        .values(
            state=S.PUBLISHED,
            published_at=ctx.now,
            account_id=account.id,
            closes_at=ctx.now + timedelta(days=row.window_days),
        )
    )
    # asked again before any bid: what approval verified (a bill, a pledge) may have
    # changed since; a refusal rolls the publication back
    ctx.hooks.validate_listing(ctx, load_listing(ctx, listing_id))
    run_autobids(ctx, listing_id)
    return load_listing(ctx, listing_id)


def cancel(ctx: UnitOfWork, listing_id: str) -> ListingRecord:
    """Withdraw a listing before any bid; a reserved credit line is freed."""
    row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
    S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.CANCELLED)
    if row.bid_count:
        raise InvalidState(
            f"listing {listing_id} has {row.bid_count} bids; it can only be cancelled before any bid"
        )
    _release_line(ctx, row)
    ctx.conn.execute(update(listings).where(listings.c.id == listing_id).values(state=S.CANCELLED))
    record = load_listing(ctx, listing_id)
    ctx.hooks.listing_withdrawn(ctx, record, "cancelled")
    return record


def find_listings(ctx: UnitOfWork, state: str | None = None) -> list[ListingRecord]:
    """Listings, optionally only those in ``state``, oldest first."""
    stmt = select(listings).order_by(listings.c.created_at, listings.c.id)
    if state is not None:
        stmt = stmt.where(listings.c.state == state)
    return [listing_record(r) for r in ctx.conn.execute(stmt)]


def _reserve_line(ctx: UnitOfWork, row: Any, grade: str) -> None:
    party = get_row(ctx.conn, parties, row.borrower_id, "party", lock=True)
    need = party.credit_used + row.amount
    cap = ctx.platform_config.grade_line_caps.get(grade)
    if cap is not None and need > Money.of(cap, row.currency).minor:
        raise LimitExceeded(
            f"listing {row.id} needs a credit line of {Money.from_minor(need, row.currency)}"
            f" but grade {grade} lines are capped at {Money.of(cap, row.currency)}"
        )
    ctx.conn.execute(
        update(parties)
        .where(parties.c.id == row.borrower_id)
        .values(credit_line=max(party.credit_line, need), credit_used=need)
    )


def _release_line(ctx: UnitOfWork, row: Any) -> None:
    """Give back the credit line a withdrawn (or failed) approved listing reserved."""
    if row.state in (S.APPROVED, S.PUBLISHED):
        ctx.conn.execute(
            update(parties)
            .where(parties.c.id == row.borrower_id)
            .values(credit_used=parties.c.credit_used - row.amount)
        )


def close_listing(ctx: UnitOfWork, listing_id: str) -> ListingRecord:
    """Close bidding on ``listing_id`` (see ``ListingsService.close``): an auction that reached
    its amount clears and is funded; a listing short of its amount fails and its holds are
    voided; a funded listing stays as it is."""
    row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
    if row.state == S.FUNDED:
        return listing_record(row)
    S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.FUNDED)
    if row.bidding == "auction" and row.bid_total >= row.amount:
        released = clear_auction(ctx, row)
        ctx.conn.execute(
            update(listings)
            .where(listings.c.id == listing_id)
            .values(state=S.FUNDED, funded_at=ctx.now, bid_total=row.amount)
        )
        record = load_listing(ctx, listing_id)
        notify_released(ctx, record, released)
        ctx.hooks.listing_funded(ctx, record)
        return record
    _fail(ctx, row)
    return load_listing(ctx, listing_id)


def _fail(ctx: UnitOfWork, row: Any) -> None:
    """流标: void every open bid's hold; each investor's available balance is restored."""
    open_bids = ctx.conn.execute(
        select(bids.c.id, bids.c.hold_id)
        .where(bids.c.listing_id == row.id, bids.c.state == S.BID_OPEN)
        .order_by(bids.c.seq)
    ).all()
    held = [b.hold_id for b in open_bids]
    if len(release_holds(ctx, held)) != len(held):
        raise InvalidState(f"listing {row.id}: a bid's hold was resolved elsewhere")
    ctx.conn.execute(
        update(bids)
        .where(bids.c.listing_id == row.id, bids.c.state == S.BID_OPEN)
        .values(state=S.BID_VOIDED)
    )
    _release_line(ctx, row)
    ctx.conn.execute(
        update(listings)
        .where(listings.c.id == row.id)
        .values(state=S.FAILED, reason="funding window closed short of the amount")
    )
    record = load_listing(ctx, row.id)
    notify_released(ctx, record, [(b.id, S.RELEASE_LISTING_FAILED) for b in open_bids])
    ctx.hooks.listing_failed(ctx, record)
