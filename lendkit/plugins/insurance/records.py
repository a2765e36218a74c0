"""The insurance plugin's records and constants."""

from __future__ import annotations

from datetime import date
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
class PolicyClaim:
    """A payment under a policy (理赔): on a loan's installment (``period``), at default
    (``period`` None), or for an asset or account loss (``loan_id`` None)."""

    policy_id: str
    loan_id: str | None
    period: int | None
    reason: str
    amount: Money
    paid_on: date


@frozen
class YieldEffect:
    """What an investor-paid premium does to the investors' yield on one loan."""

    gross_rate: Decimal
    premium: Money
    scheduled_interest: Money
    premium_share: Decimal
    net_rate: Decimal
