"""Supply-chain finance (供应链金融): a supplier finances a receivable its core enterprise confirmed.

A **core enterprise** (核心企业, :func:`register_core_enterprise`) is a registered party with a
credit limit across all its suppliers and distributors, an industry and a confirmation method
(``online`` or ``written``). A supplier applies for a listing of the product ``supplychain`` and
submits the **receivable** it finances (:func:`submit_receivable`: amount, invoice number, due
date, core enterprise). The core enterprise must **confirm** it (确权, :func:`confirm_receivable`:
the same amount and due date) before the listing is approved; an unconfirmed, disputed
(:func:`dispute_receivable`) or cancelled receivable is refused at approval and at publication,
and an invoice finances one listing (a second receivable on it is refused naming the first
listing). A listing finances at most ``financing_ratio`` (80 %) of the receivable.

**Caps**, each checked and committed atomically (a locked row or a guarded ``UPDATE ... WHERE
used + x <= limit``), so two concurrent approvals or bids never exceed one together:

* per core enterprise: approved listings (from approval; released when the listing is rejected,
  cancelled or fails) plus outstanding principal stay within its credit limit;
* per industry: an industry's exposure stays within ``industry_share`` of the platform's
  outstanding principal (``ctx.platform_outstanding()``, plus approved supply-chain listings);
* per investor per core enterprise: open bids plus outstanding principal stay within
  ``investor_cap``.

**Repayment**: the loan is one payment on the receivable's due date (method ``receivable``,
interest on ``day_count`` ACT/360). Close of business collects it from the core enterprise's
available balance (``lendkit_collection_sources``); ``recourse_grace_days`` after the due date the
supplier is collected from too (recourse). Overdue loans then follow lendkit's rules and the
configured waterfall (e.g. a guarantor behind the core enterprise with the ``guarantee`` plugin).

**Early payment**: :func:`pay_early` settles the loan from the core enterprise's balance at the
interest accrued to the day (``ctx.settle(..., interest="accrued")``).

**Stress view**: :func:`exposure` lists every listing and loan, investor and amount affected if a
core enterprise stops paying; the disclosure shows outstanding per core enterprise and
industry, the top-10 concentration, overdue loans and each core enterprise's stress figure.

Configuration (``config={"plugins": {"supplychain": {...}}}``, see :class:`Settings`; structured
when the Platform opens, a bad value refused there with ``ConfigError``)::

    {"financing_ratio": "0.8", "recourse_grace_days": 3, "industry_share": "1",
     "investor_cap": None, "day_count": "ACT/360", "min_days": 1}

Example::

    import tempfile
    from datetime import timedelta
    import lendkit
    from lendkit.plugins import supplychain

    url = f"sqlite:///{tempfile.mkdtemp()}/supplychain.db"
    p = lendkit.Platform.open(url, plugins=["online", "supplychain"])
    core, supplier, investor = (p.parties.register(n).id for n in ("Core", "Supplier", "Inv"))
    for x in (core, supplier, investor):
        p.parties.verify(x)
    ce = supplychain.register_core_enterprise(p, "Core Motors", core, "1000000", "automotive")
    due = p.clock().date() + timedelta(days=90)
    listing = p.listings.apply(supplier, "8000", annual_rate="9%", months=3,
                               product="supplychain", method="receivable")
    r = supplychain.submit_receivable(p, listing.id, supplier, ce.id, "INV-1", "10000", due)
    supplychain.confirm_receivable(p, r.id, "10000", due)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "8000")
    p.bidding.bid(listing.id, investor, "8000")
    loan = p.loans.disburse(listing.id)
    print(supplychain.exposure(p, ce.id))
    assert p.verify().ok
"""

from __future__ import annotations

from pathlib import Path

from lendkit.migrations import PluginSchema
from lendkit.plugins.supplychain.commands import (
    cancel_receivable,
    confirm_receivable,
    core_enterprises_of,
    dispute_receivable,
    exposure,
    get_core_enterprise,
    pay_early,
    receivable_of,
    register_core_enterprise,
    submit_receivable,
)
from lendkit.plugins.supplychain.hooks import (
    PRODUCT,
    lendkit_bid_placed,
    lendkit_bid_released,
    lendkit_build_schedule,
    lendkit_cob_loans_of_interest,
    lendkit_collection_sources,
    lendkit_disclosures,
    lendkit_installment_overdue,
    lendkit_listing_approved,
    lendkit_listing_failed,
    lendkit_listing_withdrawn,
    lendkit_loan_closed,
    lendkit_loan_disbursed,
    lendkit_register_products,
    lendkit_register_settings,
    lendkit_repayment_received,
    lendkit_validate_bid,
    lendkit_validate_listing,
)
from lendkit.plugins.supplychain.records import (
    AffectedLoan,
    CoreEnterprise,
    Exposure,
    InvestorExposure,
    Receivable,
)
from lendkit.plugins.supplychain.rules import CONFIRMATIONS, METHOD
from lendkit.plugins.supplychain.settings import PLUGIN, Settings
from lendkit.plugins.supplychain.tables import metadata

lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")

__all__ = [
    "CONFIRMATIONS",
    "METHOD",
    "PRODUCT",
    "AffectedLoan",
    "CoreEnterprise",
    "Exposure",
    "InvestorExposure",
    "Receivable",
    "Settings",
    "cancel_receivable",
    "confirm_receivable",
    "core_enterprises_of",
    "dispute_receivable",
    "exposure",
    "get_core_enterprise",
    "lendkit_bid_placed",
    "lendkit_bid_released",
    "lendkit_build_schedule",
    "lendkit_cob_loans_of_interest",
    "lendkit_collection_sources",
    "lendkit_disclosures",
    "lendkit_installment_overdue",
    "lendkit_listing_approved",
    "lendkit_listing_failed",
    "lendkit_listing_withdrawn",
    "lendkit_loan_closed",
    "lendkit_loan_disbursed",
    "lendkit_register_products",
    "lendkit_register_settings",
    "lendkit_repayment_received",
    "lendkit_schema",
    "lendkit_validate_bid",
    "lendkit_validate_listing",
    "pay_early",
    "receivable_of",
    "register_core_enterprise",
    "submit_receivable",
]
