"""Listings (标的): apply -> review -> publish -> funded (满标) / failed (流标) -> disbursed.

Every transition is checked against :mod:`lendkit.core.states`; a wrong one raises
``InvalidState`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from lendkit.core import states as S
from lendkit.core.config import GRADES, PlatformConfig
from lendkit.core.errors import InvalidRate, InvalidState, InvalidValue, LimitExceeded
from lendkit.core.ledger import LISTING
from lendkit.core.money import Money, parse_rate
from lendkit.core.records import ListingRecord, Product
from lendkit.core.schedule import MAX_MONTHS
from lendkit.services import custody
from lendkit.services.bidding import clear_auction, notify_released, run_autobids
from lendkit.services.common import (
    MAX_REVIEWER_LENGTH,
    MAX_TEXT_LENGTH,
    check_choice,
    check_id,
    check_int,
    check_text,
    get_row,
    new_id,
    parse_amount,
)
from lendkit.services.parties import require_party
from lendkit.services.records import listing_record, load_listing
from lendkit.store.tables import bids, listings, parties
from lendkit.uow import UnitOfWork

if TYPE_CHECKING:
    from lendkit.platform import Platform

BIDDING_STYLES = ("fixed", "auction")
CLEARING = ("own", "uniform")


def _positive_rate(value: object, what: str) -> Decimal:
    rate = parse_rate(value, what)
    if rate <= 0:
        raise InvalidRate(f"{what} {value} must be more than 0%")
    return rate


def prepare_apply(
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
) -> tuple[list[Any], Callable[[UnitOfWork], ListingRecord]]:
    """Check an application's terms (``InvalidValue`` naming the bad one); return the request's
    idempotency payload and the work that files it in a unit of work (``platform.listings.apply``
    and a plugin's ``ctx.apply_listing`` share it)."""
    cur = config.currency
    borrower_id = check_id(borrower_id, "borrower")
    money = parse_amount(amount, cur, "listing amount")
    months = check_int(months, "months", 1, MAX_MONTHS)
    bidding = check_choice(bidding, "bidding style", BIDDING_STYLES)
    clearing = check_choice(clearing, "auction clearing", CLEARING)
    window_days = check_int(window_days, "funding window (days)", 1, config.funding_window_days_max)
    rate = None if annual_rate is None else _positive_rate(annual_rate, "annual rate")
    cap = None if max_rate is None else _positive_rate(max_rate, "maximum rate")
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
    payload = [
        borrower_id,
        money.format(),
        str(rate),
        months,
        method,
        bidding,
        str(cap),
        low.format(),
        high and high.format(),
        window_days,
        product,
        clearing,
    ]

    def run(tx: UnitOfWork) -> ListingRecord:
        ctx = tx
        party = require_party(ctx, borrower_id, verified=True, action="borrow")
        if party.credit_score is not None and money.minor > party.credit_line - party.credit_used:
            raise LimitExceeded(
                f"listing amount {money} exceeds {borrower_id}'s available credit line "
                f"{Money.from_minor(party.credit_line - party.credit_used, cur)}"
            )
        listing_id = new_id("lst")
        values = dict(
            id=listing_id,
            borrower_id=borrower_id,
            product=product,
            currency=cur,
            amount=money.minor,
            months=months,
            method=method,
            bidding=bidding,
            clearing=clearing,
            annual_rate=None if rate is None else str(rate),
            max_rate=None if cap is None else str(cap),
            min_bid=low.minor,
            max_bid=None if high is None else high.minor,
            window_days=window_days,
            state=S.APPLIED,
            bid_total=0,
            bid_count=0,
            created_at=ctx.now,
        )
        ctx.conn.execute(listings.insert().values(**values))
        record = load_listing(ctx, listing_id)
        ctx.hooks.validate_listing(ctx, record)
        return record

    return payload, run


def apply_listing(uow: UnitOfWork, borrower_id: str, amount: object, **terms: Any) -> ListingRecord:
    """File an application in ``uow`` (``terms``: ``platform.listings.apply``'s keyword
    arguments but ``key``); what a plugin's ``ctx.apply_listing`` runs."""
    _, run = prepare_apply(uow.platform_config, uow.products, borrower_id, amount, **terms)
    return run(uow)


class ListingsService:
    """``platform.listings``."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    # -- application and review ------------------------------------------------------------------

    def apply(
        self,
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
        key: str | None = None,
    ) -> ListingRecord:
        """A borrower applies for a loan; the listing awaits review (``applied``)."""
        payload, run = prepare_apply(
            self._p.config,
            self._p.products,
            borrower_id,
            amount,
            annual_rate,
            months,
            method,
            bidding,
            max_rate,
            min_bid,
            max_bid,
            window_days,
            product,
            clearing,
        )
        return self._p.runner.run(
            "listings.apply", run, key=key, payload=payload, result_type=ListingRecord
        )

    def approve(
        self,
        listing_id: str,
        grade: str = "A",
        annual_rate: object = None,
        reviewer: str | None = None,
        key: str | None = None,
    ) -> ListingRecord:
        """Risk control approves: fixes the grade and (fixed listings) the rate.

        Approving grants the borrower the credit line the listing needs, unless
        ``grade_line_caps`` caps lines for the grade; the amount is then reserved on the line.
        """
        listing_id = check_id(listing_id, "listing")
        grade = check_choice(grade, "grade", GRADES)
        rate = None if annual_rate is None else _positive_rate(annual_rate, "annual rate")
        reviewer = (
            None if reviewer is None else check_text(reviewer, "reviewer", MAX_REVIEWER_LENGTH)
        )

        def run(tx: UnitOfWork) -> ListingRecord:
            ctx = tx
            row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
            S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.APPROVED)
            chosen = rate
            if row.bidding == "fixed":
                if chosen is None and row.annual_rate is not None:
                    chosen = Decimal(row.annual_rate)
                if chosen is None:
                    chosen = self._p.hooks.price_listing(ctx, listing_record(row), grade)
                if chosen is None:
                    chosen = self._p.config.grade_rates.get(grade)
                if chosen is None:
                    raise InvalidValue(f"no rate for grade {grade}: pass annual_rate")
            elif chosen is not None:
                raise InvalidValue("an auction listing's rate is set by its bids, not at approval")
            self._reserve_line(ctx, row, grade)
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
            self._p.hooks.validate_listing(ctx, record)
            self._p.hooks.listing_approved(ctx, record)
            return record

        return self._p.runner.run(
            "listings.approve",
            run,
            key=key,
            payload=[listing_id, grade, str(rate), reviewer],
            result_type=ListingRecord,
        )

    def reject(self, listing_id: str, reason: str, key: str | None = None) -> ListingRecord:
        """Risk control rejects the application with a reason."""
        listing_id = check_id(listing_id, "listing")
        reason = check_text(reason, "rejection reason", MAX_TEXT_LENGTH, multiline=True)
        return self._move(listing_id, S.REJECTED, "listings.reject", key, reason=reason)

    def publish(self, listing_id: str, key: str | None = None) -> ListingRecord:
        """Open the listing for bids for its funding window; matching auto-bid rules bid at once.

        Every ``lendkit_validate_listing`` is asked again first (the listing as published): a
        violation refuses the publication (``ValidationRefused`` naming each) and changes nothing.
        """
        listing_id = check_id(listing_id, "listing")

        def run(tx: UnitOfWork) -> ListingRecord:
            ctx = tx
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

        return self._p.runner.run(
            "listings.publish", run, key=key, payload=[listing_id], result_type=ListingRecord
        )

    def cancel(self, listing_id: str, key: str | None = None) -> ListingRecord:
        """Withdraw a listing before any bid."""
        listing_id = check_id(listing_id, "listing")

        def run(tx: UnitOfWork) -> ListingRecord:
            ctx = tx
            row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
            S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, S.CANCELLED)
            if row.bid_count:
                raise InvalidState(
                    f"listing {listing_id} has {row.bid_count} bids; it can only be cancelled before any bid"
                )
            _release_line(ctx, row)
            ctx.conn.execute(
                update(listings).where(listings.c.id == listing_id).values(state=S.CANCELLED)
            )
            record = load_listing(ctx, listing_id)
            self._p.hooks.listing_withdrawn(ctx, record, "cancelled")
            return record

        return self._p.runner.run(
            "listings.cancel", run, key=key, payload=[listing_id], result_type=ListingRecord
        )

    def close(self, listing_id: str, key: str | None = None) -> ListingRecord:
        """Close bidding: a filled listing is (stays) funded; a short one fails and every hold is voided.

        Auctions clear here: lowest rates fill first, earlier bids first on ties, the marginal bid
        partly; the amounts that did not win are released at once.
        """
        listing_id = check_id(listing_id, "listing")

        def run(tx: UnitOfWork) -> ListingRecord:
            return close_listing(tx, listing_id)

        return self._p.runner.run(
            "listings.close", run, key=key, payload=[listing_id], result_type=ListingRecord
        )

    def get(self, listing_id: str) -> ListingRecord:
        """One listing."""
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run("listings.get", lambda tx: load_listing(tx, listing_id))

    def find(self, state: str | None = None) -> list[ListingRecord]:
        """Listings, optionally in one state, oldest first."""

        if state is not None:
            state = check_choice(state, "listing state", tuple(S.LISTING_TRANSITIONS))

        def run(tx: UnitOfWork) -> list[ListingRecord]:
            stmt = select(listings).order_by(listings.c.created_at, listings.c.id)
            if state is not None:
                stmt = stmt.where(listings.c.state == state)
            return [listing_record(r) for r in tx.conn.execute(stmt)]

        return self._p.runner.run("listings.list", run)

    # -- internals ---------------------------------------------------------------------------------

    def _move(
        self, listing_id: str, target: str, command: str, key: str | None, **values: Any
    ) -> ListingRecord:
        def run(tx: UnitOfWork) -> ListingRecord:
            ctx = tx
            row = get_row(ctx.conn, listings, listing_id, "listing", lock=True)
            S.check_transition(S.LISTING_TRANSITIONS, "listing", listing_id, row.state, target)
            if target in (S.REJECTED, S.CANCELLED):
                _release_line(ctx, row)
            ctx.conn.execute(
                update(listings).where(listings.c.id == listing_id).values(state=target, **values)
            )
            record = load_listing(ctx, listing_id)
            if target in (S.REJECTED, S.CANCELLED):
                self._p.hooks.listing_withdrawn(ctx, record, target)
            return record

        return self._p.runner.run(
            command, run, key=key, payload=[listing_id, values], result_type=ListingRecord
        )

    def _reserve_line(self, ctx: UnitOfWork, row: Any, grade: str) -> None:
        party = get_row(ctx.conn, parties, row.borrower_id, "party", lock=True)
        need = party.credit_used + row.amount
        cap = self._p.config.grade_line_caps.get(grade)
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
    if len(custody.release_holds(ctx, held)) != len(held):
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
