"""``platform.listings``: the facade over :mod:`lendkit.ops.listings`."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from lendkit.core import states as S
from lendkit.core.access import Actor, Subject
from lendkit.core.config import GRADES
from lendkit.core.inputs import (
    MAX_REVIEWER_LENGTH,
    MAX_TEXT_LENGTH,
    check_choice,
    check_id,
    check_text,
)
from lendkit.core.records import ListingRecord
from lendkit.core.servicing import BorrowerCost, Page, check_limit
from lendkit.ops import listings as ops
from lendkit.ops import servicing

if TYPE_CHECKING:
    from lendkit.platform import Platform


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
        actor: Actor | str | None = None,
    ) -> ListingRecord:
        """A borrower applies for a loan; the listing awaits review (``applied``)."""
        application = ops.parse_application(
            self._p.config,
            self._p.products,
            borrower_id,
            amount,
            annual_rate=annual_rate,
            months=months,
            method=method,
            bidding=bidding,
            max_rate=max_rate,
            min_bid=min_bid,
            max_bid=max_bid,
            window_days=window_days,
            product=product,
            clearing=clearing,
        )
        return self._p.runner.run(
            "listings.apply",
            lambda tx: servicing.apply_priced(tx, application),
            key=key,
            actor=actor,
            subject=Subject("listing", "", owner=application.borrower_id),
            payload=application.payload(),
            result_type=ListingRecord,
        )

    def approve(
        self,
        listing_id: str,
        grade: str = "A",
        annual_rate: object = None,
        reviewer: str | None = None,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> ListingRecord:
        """Risk control approves: fixes the grade and (fixed listings) the rate.

        Approving grants the borrower the credit line the listing needs, unless
        ``grade_line_caps`` caps lines for the grade; the amount is then reserved on the line.
        """
        listing_id = check_id(listing_id, "listing")
        grade = check_choice(grade, "grade", GRADES)
        rate = None if annual_rate is None else ops.positive_rate(annual_rate, "annual rate")
        reviewer = (
            None if reviewer is None else check_text(reviewer, "reviewer", MAX_REVIEWER_LENGTH)
        )

        return self._p.runner.run(
            "listings.approve",
            lambda tx: ops.approve(tx, listing_id, grade, rate, reviewer),
            key=key,
            actor=actor,
            subject=Subject("listing", listing_id),
            payload=[listing_id, grade, str(rate), reviewer],
            result_type=ListingRecord,
        )

    def reject(
        self, listing_id: str, reason: str, key: str | None = None, actor: Actor | str | None = None
    ) -> ListingRecord:
        """Risk control rejects the application with a reason."""
        listing_id = check_id(listing_id, "listing")
        reason = check_text(reason, "rejection reason", MAX_TEXT_LENGTH, multiline=True)
        return self._p.runner.run(
            "listings.reject",
            lambda tx: ops.reject(tx, listing_id, reason),
            key=key,
            actor=actor,
            subject=Subject("listing", listing_id),
            payload=[listing_id, {"reason": reason}],
            result_type=ListingRecord,
        )

    def publish(
        self, listing_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> ListingRecord:
        """Open the listing for bids for its funding window; matching auto-bid rules bid at once.

        Every ``lendkit_validate_listing`` is asked again first (the listing as published): a
        violation refuses the publication (``ValidationRefused`` naming each) and changes nothing.
        """
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run(
            "listings.publish",
            lambda tx: ops.publish(tx, listing_id),
            key=key,
            actor=actor,
            subject=Subject("listing", listing_id),
            payload=[listing_id],
            result_type=ListingRecord,
        )

    def cancel(
        self, listing_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> ListingRecord:
        """Withdraw a listing before any bid."""
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run(
            "listings.cancel",
            lambda tx: ops.cancel(tx, listing_id),
            key=key,
            actor=actor,
            subject=Subject("listing", listing_id),
            payload=[listing_id],
            result_type=ListingRecord,
        )

    def close(
        self, listing_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> ListingRecord:
        """Close bidding: a filled listing is (stays) funded; a short one fails and every hold is voided.

        Auctions clear here: lowest rates fill first, earlier bids first on ties, the marginal bid
        partly; the amounts that did not win are released at once.
        """
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run(
            "listings.close",
            lambda tx: ops.close_listing(tx, listing_id),
            key=key,
            actor=actor,
            subject=Subject("listing", listing_id),
            payload=[listing_id],
            result_type=ListingRecord,
        )

    def get(self, listing_id: str) -> ListingRecord:
        """One listing."""
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run("listings.get", lambda tx: servicing.listing(tx, listing_id))

    def cost(self, listing_id: str) -> BorrowerCost | None:
        """What the listing costs its borrower, every fee included: the nominal rate, the fees,
        the net proceeds and the annual percentage rate (IRR of the net proceeds against the
        schedule); ``None`` when it cannot be known yet (open-ended, no rate)."""
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run(
            "listings.cost", lambda tx: servicing.listing_cost(tx, listing_id)
        )

    def list(
        self,
        *,
        state: str | None = None,
        product: str | None = None,
        borrower_id: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[ListingRecord]:
        """Listings, oldest first, a page at a time (``after``: the previous page's ``next``),
        by state, product and borrower, each with its borrower's APR."""
        if state is not None:
            state = check_choice(state, "listing state", tuple(S.LISTING_TRANSITIONS))
        product = None if product is None else check_id(product, "product")
        borrower_id = None if borrower_id is None else check_id(borrower_id, "borrower")
        after = None if after is None else check_id(after, "page cursor")
        limit = check_limit(limit)
        return self._p.runner.run(
            "listings.page",
            lambda tx: servicing.list_listings(
                tx, state=state, product=product, borrower_id=borrower_id, after=after, limit=limit
            ),
        )

    def find(self, state: str | None = None) -> builtins.list[ListingRecord]:
        """Listings, optionally in one state, oldest first."""
        if state is not None:
            state = check_choice(state, "listing state", tuple(S.LISTING_TRANSITIONS))
        return self._p.runner.run("listings.list", lambda tx: ops.find_listings(tx, state))
