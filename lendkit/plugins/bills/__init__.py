"""Bills (票据理财): bank acceptance bills financed at a discount.

A drawer (the borrower) registers a bank acceptance bill (number, face value, acceptor bank,
issue and maturity dates, endorsement chain) and applies to finance it
(:func:`apply_with_bill`): investors pay the discounted price and receive the face value at
maturity, pro rata to the cent; the acceptor bank pays the face into custody at maturity (COB
collects from its account); if it does not, the bill is overdue at its own penalty rate and,
after a configured grace, the drawer is collected from too (recourse); the waterfall of other
plugins applies as for any loan. A bill number is unique on the platform (a clone is refused
naming the first listing), and a paid or withdrawn bill's number stays taken for a configured
period. See docs/plugins/bills.md.
"""

from __future__ import annotations

from pathlib import Path

from lendkit.migrations import PluginSchema
from lendkit.plugins.bills.commands import (
    PRODUCT,
    apply_with_bill,
    get_bill,
    mark_pledged,
    quote,
    recourse_payments,
    register_bill,
    verify_bill,
)
from lendkit.plugins.bills.hooks import (
    lendkit_build_schedule,
    lendkit_cob_loans_of_interest,
    lendkit_collection_sources,
    lendkit_disclosures,
    lendkit_installment_overdue,
    lendkit_listing_failed,
    lendkit_listing_withdrawn,
    lendkit_loan_closed,
    lendkit_loan_disbursed,
    lendkit_penalty_rate,
    lendkit_register_products,
    lendkit_register_settings,
    lendkit_repayment_received,
    lendkit_replan_schedule,
    lendkit_validate_listing,
)
from lendkit.plugins.bills.records import Bill, Pricing, RecoursePayment
from lendkit.plugins.bills.rules import face_shares, normalize_number
from lendkit.plugins.bills.settings import AcceptorRegistry, BillSettings
from lendkit.plugins.bills.tables import metadata

__all__ = [
    "PRODUCT",
    "AcceptorRegistry",
    "Bill",
    "BillSettings",
    "Pricing",
    "RecoursePayment",
    "apply_with_bill",
    "face_shares",
    "get_bill",
    "lendkit_build_schedule",
    "lendkit_cob_loans_of_interest",
    "lendkit_collection_sources",
    "lendkit_disclosures",
    "lendkit_installment_overdue",
    "lendkit_listing_failed",
    "lendkit_listing_withdrawn",
    "lendkit_loan_closed",
    "lendkit_loan_disbursed",
    "lendkit_penalty_rate",
    "lendkit_register_products",
    "lendkit_register_settings",
    "lendkit_repayment_received",
    "lendkit_replan_schedule",
    "lendkit_schema",
    "lendkit_validate_listing",
    "mark_pledged",
    "normalize_number",
    "quote",
    "recourse_payments",
    "register_bill",
    "verify_bill",
]

lendkit_schema = PluginSchema("bills", metadata, Path(__file__).parent / "migrations")
