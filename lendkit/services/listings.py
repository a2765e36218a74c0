"""``platform.listings``: the facade over :mod:`lendkit.ops.listings`."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from lendkit.core import states as S
from lendkit.core.config import GRADES
from lendkit.core.errors import InvalidRate, InvalidValue
from lendkit.core.inputs import (
    MAX_REVIEWER_LENGTH,
    MAX_TEXT_LENGTH,
    check_choice,
    check_id,
    check_int,
    check_text,
    parse_amount,
)
from lendkit.core.money import Money, parse_rate
from lendkit.core.records import ListingRecord
from lendkit.core.schedule import MAX_MONTHS
from lendkit.ops import listings as ops
from lendkit.ops.records import load_listing

if TYPE_CHECKING:
    from lendkit.platform import Platform


def _positive_rate(value: object, what: str) -> Decimal:
    rate = parse_rate(value, what)
    if rate <= 0:
        raise InvalidRate(f"{what} {value} must be more than 0%")
    return rate


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
        cur = self._p.config.currency
        borrower_id = check_id(borrower_id, "borrower")
        money = parse_amount(amount, cur, "listing amount")
        months = check_int(months, "months", 1, MAX_MONTHS)
        bidding = check_choice(bidding, "bidding style", ops.BIDDING_STYLES)
        clearing = check_choice(clearing, "auction clearing", ops.CLEARING)
        window_days = check_int(
            window_days, "funding window (days)", 1, self._p.config.funding_window_days_max
        )
        rate = None if annual_rate is None else _positive_rate(annual_rate, "annual rate")
        cap = None if max_rate is None else _positive_rate(max_rate, "maximum rate")
        if bidding == "auction":
            if cap is None:
                raise InvalidValue(
                    "an auction listing needs max_rate (the borrower's maximum rate)"
                )
            rate = None
        elif cap is not None:
            raise InvalidValue(
                "max_rate is for auction listings; a fixed listing takes annual_rate"
            )
        low = (
            parse_amount(min_bid, cur, "minimum bid")
            if min_bid is not None
            else Money.of("0.01", cur)
        )
        high = parse_amount(max_bid, cur, "maximum bid") if max_bid is not None else None
        if low > money or (high is not None and (high < low or high > money)):
            raise InvalidValue(
                f"bid limits min {low.format()} / max {high.format() if high else '-'} must satisfy"
                f" min <= max <= amount {money.format()}"
            )
        product = check_choice(product, "product", tuple(sorted(self._p.products)))
        # the four standard methods, or one the product declares (its plugin builds the rows)
        method = check_choice(method, "repayment method", self._p.products[product].allowed_methods)
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

        return self._p.runner.run(
            "listings.apply",
            lambda tx: ops.apply(
                tx,
                borrower_id,
                money,
                annual_rate=rate,
                months=months,
                method=method,
                bidding=bidding,
                max_rate=cap,
                min_bid=low,
                max_bid=high,
                window_days=window_days,
                product=product,
                clearing=clearing,
            ),
            key=key,
            payload=payload,
            result_type=ListingRecord,
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

        return self._p.runner.run(
            "listings.approve",
            lambda tx: ops.approve(tx, listing_id, grade, rate, reviewer),
            key=key,
            payload=[listing_id, grade, str(rate), reviewer],
            result_type=ListingRecord,
        )

    def reject(self, listing_id: str, reason: str, key: str | None = None) -> ListingRecord:
        """Risk control rejects the application with a reason."""
        listing_id = check_id(listing_id, "listing")
        reason = check_text(reason, "rejection reason", MAX_TEXT_LENGTH, multiline=True)
        return self._p.runner.run(
            "listings.reject",
            lambda tx: ops.reject(tx, listing_id, reason),
            key=key,
            payload=[listing_id, {"reason": reason}],
            result_type=ListingRecord,
        )

    def publish(self, listing_id: str, key: str | None = None) -> ListingRecord:
        """Open the listing for bids for its funding window; matching auto-bid rules bid at once.

        Every ``lendkit_validate_listing`` is asked again first (the listing as published): a
        violation refuses the publication (``ValidationRefused`` naming each) and changes nothing.
        """
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run(
            "listings.publish",
            lambda tx: ops.publish(tx, listing_id),
            key=key,
            payload=[listing_id],
            result_type=ListingRecord,
        )

    def cancel(self, listing_id: str, key: str | None = None) -> ListingRecord:
        """Withdraw a listing before any bid."""
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run(
            "listings.cancel",
            lambda tx: ops.cancel(tx, listing_id),
            key=key,
            payload=[listing_id],
            result_type=ListingRecord,
        )

    def close(self, listing_id: str, key: str | None = None) -> ListingRecord:
        """Close bidding: a filled listing is (stays) funded; a short one fails and every hold is voided.

        Auctions clear here: lowest rates fill first, earlier bids first on ties, the marginal bid
        partly; the amounts that did not win are released at once.
        """
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run(
            "listings.close",
            lambda tx: ops.close_listing(tx, listing_id),
            key=key,
            payload=[listing_id],
            result_type=ListingRecord,
        )

    def get(self, listing_id: str) -> ListingRecord:
        """One listing."""
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run("listings.get", lambda tx: load_listing(tx, listing_id))

    def find(self, state: str | None = None) -> list[ListingRecord]:
        """Listings, optionally in one state, oldest first."""
        if state is not None:
            state = check_choice(state, "listing state", tuple(S.LISTING_TRANSITIONS))
        return self._p.runner.run("listings.list", lambda tx: ops.find_listings(tx, state))
