"""The guarantee plugin's records and constants."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from attrs import frozen

from lendkit.core.money import Money

PLUGIN = "guarantee"
#: the controller name that stands for the platform operator in control relations
OPERATOR = "platform"
#: product whose listings must be guaranteed before approval
PRODUCT = "guaranteed"
LIABILITIES = ("joint", "general")
COVERS = ("principal_and_interest", "principal")
KINDS = ("company", "partner")
DEPOSIT = "deposit"
DEPOSIT_FROZEN = "deposit-frozen"
OWNER_KIND = "guarantor"
MAX_AFTER_DAYS = 3650
MAX_LEVERAGE = Decimal(100)
# guarantee states
PENDING, COMMITTED, ACTIVE, CLOSED, RELEASED = (
    "pending",
    "committed",
    "active",
    "closed",
    "released",
)


@frozen
class Guarantor:
    """A guarantee company (or offline partner) and its capacity now.

    ``cap = leverage x capital``; ``outstanding`` is the principal still owed on its active loans,
    ``committed`` the amount of approved listings it guarantees that are not yet disbursed;
    ``outstanding + committed <= cap`` always holds. ``deposit`` is its free deposit and
    ``deposit_frozen`` what is frozen for its loans (both ledger balances).
    """

    id: str
    name: str
    party_id: str
    kind: str
    capital: Money
    leverage: Decimal
    cap: Money
    fee_rate: Decimal
    deposit_rate: Decimal
    liability: str
    after_days: int
    cover: str
    outstanding: Money
    committed: Money
    deposit: Money
    deposit_frozen: Money
    compensated: Money

    @property
    def available_capacity(self) -> Money:
        """What it may still guarantee: ``cap - outstanding - committed``."""
        return self.cap - self.outstanding - self.committed

    @property
    def utilization(self) -> Decimal:
        """``(outstanding + committed) / cap`` as a fraction (0 when the cap is 0)."""
        if self.cap.is_zero():
            return Decimal(0)
        return (self.outstanding + self.committed).amount / self.cap.amount


@frozen
class Guarantee:
    """One listing's guarantee; after disbursement also its loan's (``loan_id``).

    ``state``: ``pending`` (awaiting approval), ``committed`` (approved, counted against the cap),
    ``active`` (loan disbursed), ``closed`` (loan settled or written off) or ``released`` (the
    listing failed, was rejected or cancelled).
    """

    listing_id: str
    guarantor_id: str
    borrower_id: str
    loan_id: str | None
    amount: Money
    liability: str
    after_days: int
    cover: str
    fee_rate: Decimal
    deposit_rate: Decimal
    state: str
    fee: Money
    outstanding: Money
    frozen: Money
    defaulted: bool


@frozen
class Compensation:
    """One compensation (代偿) a guarantor paid to a loan's investors."""

    guarantor_id: str
    loan_id: str
    period: int | None
    principal: Money
    interest: Money
    paid_on: date

    @property
    def amount(self) -> Money:
        """Principal plus interest paid."""
        return self.principal + self.interest
