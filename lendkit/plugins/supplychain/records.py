"""The records the ``supplychain`` plugin returns (frozen attrs values; amounts are ``Money``)."""

from __future__ import annotations

from datetime import date

from attrs import frozen

from lendkit.core.money import Money


@frozen
class CoreEnterprise:
    """A core enterprise (核心企业) and its credit now.

    ``used`` is what counts against ``credit_limit``: the amount of approved listings financing
    its receivables (from approval until disbursement, withdrawal or failure) plus the principal
    still owed on their loans; ``used <= credit_limit`` always holds.
    """

    id: str
    name: str
    party_id: str
    industry: str
    confirmation: str
    credit_limit: Money
    used: Money

    @property
    def available(self) -> Money:
        """What it may still back: ``credit_limit - used``."""
        return self.credit_limit - self.used


@frozen
class Receivable:
    """A supplier's receivable on a core enterprise, financing one listing.

    ``state``: ``submitted`` (awaiting the core enterprise), ``confirmed``, ``disputed`` or
    ``cancelled``. ``stage``: ``none`` (not approved yet), ``committed`` (the listing is
    approved), ``active`` (a loan was disbursed: ``loan_id``), ``closed`` (the loan ended) or
    ``released`` (the listing was rejected, cancelled or failed). ``exposure`` is what it counts
    against the caps now.
    """

    id: str
    listing_id: str
    core_enterprise_id: str
    supplier_id: str
    invoice_number: str
    amount: Money
    due_date: date
    state: str
    stage: str
    exposure: Money
    loan_id: str | None
    overdue: bool
    reference: str | None = None
    dispute_reason: str | None = None


@frozen
class InvestorExposure:
    """One investor's amount on one listing or loan: open bids, then outstanding principal."""

    investor_id: str
    amount: Money


@frozen
class AffectedLoan:
    """A listing or loan that depends on the core enterprise paying, and who would lose."""

    listing_id: str
    loan_id: str | None
    supplier_id: str
    invoice_number: str
    due_date: date
    stage: str
    amount: Money
    overdue: bool
    investors: tuple[InvestorExposure, ...]


@frozen
class Exposure:
    """The stress view: everything affected if the core enterprise stops paying.

    ``total`` is the sum of ``loans``' amounts (approved listings and outstanding principal);
    ``investors`` sums each investor's amounts over those loans, largest first.
    """

    core_enterprise: CoreEnterprise
    loans: tuple[AffectedLoan, ...]
    investors: tuple[InvestorExposure, ...]
    total: Money
