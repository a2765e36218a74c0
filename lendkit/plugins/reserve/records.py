"""The reserve plugin's records and constants."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from attrs import frozen

from lendkit.core.money import Money

PLUGIN = "reserve"
SOURCES = ("borrower", "fees")
DEFAULT_RATES: Mapping[str, str] = {
    "AA": "0",
    "A": "0.005",
    "B": "0.01",
    "C": "0.02",
    "D": "0.03",
    "E": "0.04",
    "HR": "0.05",
}
KEYS = ("rates", "contribution_from", "after_days", "pay_interest", "products")
MAX_AFTER_DAYS = 3650
OPEN, PAID, CLOSED = "open", "paid", "closed"
#: taken on by today's close of business, paid when the day closes (then open)
NEW = "new"
QUEUED = (NEW, OPEN)


@frozen
class ReserveStatus:
    """The fund now. ``recoveries`` is what came back from borrowers (the balance not explained by
    seeds, contributions and payouts), so ``balance = seeded + contributions + recoveries - paid``."""

    balance: Money
    seeded: Money
    contributions: Money
    paid: Money
    payouts: int
    recoveries: Money
    queued_shortfall: Money
    queued_claims: int
    covered_loans: int
    outstanding_principal: Money

    @property
    def coverage_ratio(self) -> Decimal:
        """Balance / outstanding principal of covered loans (0 when nothing is outstanding)."""
        if self.outstanding_principal.is_zero():
            return Decimal(0)
        return self.balance.amount / self.outstanding_principal.amount


@frozen
class Payout:
    """One payment from the fund to a loan's investors."""

    loan_id: str
    period: int | None
    amount: Money
    paid_on: date
    claim_id: int | None


@frozen
class QueuedClaim:
    """A claim the reserve took on: ``amount`` to cover, ``paid`` so far, ``state`` new (taken on
    by a COB day still running, paid when it closes), open (queued), paid, or closed (the
    investors were paid by someone else first)."""

    id: int
    loan_id: str
    period: int
    queued_on: date
    amount: Money
    paid: Money
    state: str

    @property
    def shortfall(self) -> Money:
        """What is still queued (zero unless new or open)."""
        if self.state in QUEUED:
            return self.amount - self.paid
        return Money.zero(self.amount.currency)
