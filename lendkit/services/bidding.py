"""``platform.bidding``: the facade over :mod:`lendkit.ops.bidding` and :mod:`lendkit.ops.autobid`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lendkit.core.access import Actor, Subject
from lendkit.core.config import GRADES
from lendkit.core.errors import InvalidRate, InvalidValue
from lendkit.core.inputs import check_id, check_int, parse_amount
from lendkit.core.money import parse_rate
from lendkit.core.records import Bid
from lendkit.core.schedule import MAX_MONTHS
from lendkit.ops import autobid, bidding
from lendkit.ops.autobid import AutoBidRule

if TYPE_CHECKING:
    from lendkit.platform import Platform


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
        actor: Actor | str | None = None,
    ) -> Bid:
        """Bid ``amount`` on a published listing; auctions need ``rate`` (at most the maximum rate).

        Returns the bid with ``amount`` as filled (a fixed-rate bid crossing the target is trimmed).
        """
        listing_id = check_id(listing_id, "listing")
        investor_id = check_id(investor_id, "investor")
        money = parse_amount(amount, self._p.config.currency, "bid amount")
        bid_rate = None if rate is None else parse_rate(rate, "bid rate")
        return self._p.runner.run(
            "bidding.bid",
            lambda tx: bidding.place_bid(tx, listing_id, investor_id, money, bid_rate, auto=False),
            key=key,
            actor=actor,
            subject=Subject("listing", listing_id, owner=investor_id),
            payload=[listing_id, investor_id, money.format(), str(bid_rate)],
            result_type=Bid,
        )

    def bids(self, listing_id: str) -> list[Bid]:
        """Every bid on a listing in the order placed."""
        listing_id = check_id(listing_id, "listing")
        return self._p.runner.run(
            "bidding.bids", lambda tx: bidding.find_bids(tx, listing_id=listing_id)
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
        actor: Actor | str | None = None,
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
        return self._p.runner.run(
            "bidding.add_rule",
            lambda tx: autobid.add_rule(
                tx,
                investor_id,
                per_listing,
                min_rate=low,
                max_rate=high,
                min_months=m_low,
                max_months=m_high,
                grades=chosen,
                keep_balance=keep,
            ),
            key=key,
            actor=actor,
            subject=Subject("rule", "", owner=investor_id),
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

    def disable_rule(
        self, rule_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> None:
        """Stop an auto-bid rule."""
        rule_id = check_id(rule_id, "auto-bid rule")
        self._p.runner.run(
            "bidding.disable_rule",
            lambda tx: autobid.disable_rule(tx, rule_id),
            key=key,
            actor=actor,
            subject=Subject("rule", rule_id),
            payload=[rule_id],
        )


__all__ = ["AutoBidRule", "BiddingService"]
