"""The insurance plugin's records and constants."""

from __future__ import annotations

from decimal import Decimal

from attrs import frozen

from lendkit.core.money import Money

PLUGIN = "insurance"
KINDS = ("credit", "asset", "account", "platform")
LOAN_PAYERS = ("borrower", "investors")
PENDING, IN_FORCE, EXPIRED, CANCELLED = "pending", "in_force", "expired", "cancelled"
HOLDING = (PENDING, IN_FORCE)
MAX_TRIGGER_DAYS = 3650  # policies that count against the insurer's capacity


@frozen
class Insurer:
    """An insurer: capacity, current exposure (sum insured held), and custody balance."""

    id: str
    name: str
    party_id: str | None
    capacity: Money
    exposure: Money
    balance: Money


@frozen
class Policy:
    """A policy: what it insures, its premium and who pays it, its trigger and what it paid.

    ``trigger_days`` is ``None`` for a policy that pays only after default.
    """

    id: str
    insurer_id: str
    kind: str
    listing_id: str | None
    loan_id: str | None
    subject: str | None
    sum_insured: Money
    premium_rate: Decimal
    premium: Money
    premium_collected: Money
    payer: str
    trigger_days: int | None
    claims_paid: Money
    state: str


@frozen
class YieldEffect:
    """What an investor-paid premium does to the investors' yield on one loan."""

    gross_rate: Decimal
    premium: Money
    scheduled_interest: Money
    premium_share: Decimal
    net_rate: Decimal
