"""Financial leasing (融资租赁, P2L): a lessor finances a lease by selling its rents to investors.

A **lessor** (:func:`register_lessor`, a leasing company) leases an **asset**
(:func:`register_asset`: kind, serial, value, current owner) to a **lessee**
(:func:`register_lessee`). :func:`file_lease` records the lease and files its listing in one
transaction; the lessee is the listing's borrower and pays the rents, the investors who fund the
listing receive them pro rata (the lessor transfers its rent receivables to them). A serial is
under one live lease at a time: a second lease on it is refused naming the first.

**Forms.** ``direct``: the lessor buys the asset from its supplier, so the proceeds go to the
supplier's available balance (``lendkit_disbursement_account``). ``leaseback`` (售后回租): the
lessee sells its own asset to the lessor and leases it back, so the proceeds go to the lessee.
Either way the lessor owns the asset from disbursement until the buy-out: the last rent carries
the buy-out price (留购价, ``residual``) and paying it passes ownership to the lessee
(:func:`ownership_of` lists every change).

**Rents.** Level rents monthly or quarterly in arrears from disbursement (``rents`` of them), or
``custom`` rows (dates for level rents, ``(date, amount)`` for fixed ones); each rent is split
into interest on the balance at the lease's implicit rate (30/360: a month is rate / 12) and
principal, exact to the cent (core's ``custom_rows``; core validates the schedule). The lessee
pays by close of business from its available balance (``lendkit_collection_sources``). A partial
early buy-out is a prepayment (``platform.loans.prepay(loan_id, amount)``): the rent calendar and
the buy-out price stay, the level rents fall (``lendkit_replan_schedule``).

**Default.** Close of business counts the rents unpaid past core's grace days. At
``default_after_missed`` (3) of them: if the lease says ``buy_back=True`` the lessor buys the
remaining receivable back from the investors (the loan is settled from the lessor's available
balance at the principal left plus the interest accrued to the day, overdue rents with their
penalty; a lessor short of money leaves the lease ``buyback_due``, tried again each day or with
:func:`buy_back`); otherwise the asset is **repossessed** and :func:`record_sale` books its sale:
a price covering the payoff settles the loan and the surplus goes to the lessee; a lower price is
applied as the lessee's payment, rent by rent, and the lessee still owes the shortfall.

**Disclosure**: live leases by form and by asset kind, outstanding rents, missed rents,
buy-backs, repossessions and their sales.

Configuration (``config={"plugins": {"leasing": {...}}}``, see :class:`Settings`)::

    {"default_after_missed": 3}

Example::

    import tempfile
    import lendkit
    from lendkit.plugins import leasing

    url = f"sqlite:///{tempfile.mkdtemp()}/leasing.db"
    p = lendkit.Platform.open(url, plugins=["leasing"])
    lessor_party, lessee, supplier, investor = (
        p.parties.register(n).id for n in ("Lessor Co", "Lessee", "Supplier", "Investor")
    )
    for x in (lessor_party, lessee, supplier, investor):
        p.parties.verify(x)
    lessor = leasing.register_lessor(p, "Lessor Co", lessor_party)
    leasing.register_lessee(p, lessee, "Lessee Ltd")
    asset = leasing.register_asset(p, "excavator", "EX-001", "120000", supplier)
    lease = leasing.file_lease(p, lessor.id, lessee, asset.id, "100000", "8%", form="direct",
                               supplier_id=supplier, frequency="quarterly", rents=8,
                               residual="1000")
    p.listings.approve(lease.listing_id, grade="A")
    p.listings.publish(lease.listing_id)
    p.custody.deposit(investor, "100000")
    p.bidding.bid(lease.listing_id, investor, "100000")
    loan = p.loans.disburse(lease.listing_id)
    assert leasing.get_asset(p, "EX-001").owner_id == lessor_party
    assert p.verify().ok
"""

from __future__ import annotations

from pathlib import Path

from lendkit.migrations import PluginSchema
from lendkit.plugins.leasing.commands import (
    PRODUCT,
    buy_back,
    file_lease,
    get_asset,
    get_lease,
    get_sale,
    ownership_of,
    record_sale,
    register_asset,
    register_lessee,
    register_lessor,
)
from lendkit.plugins.leasing.hooks import (
    lendkit_build_schedule,
    lendkit_cob_day,
    lendkit_cob_loans_of_interest,
    lendkit_collection_sources,
    lendkit_disbursement_account,
    lendkit_disclosures,
    lendkit_installment_overdue,
    lendkit_listing_failed,
    lendkit_listing_withdrawn,
    lendkit_loan_closed,
    lendkit_loan_disbursed,
    lendkit_register_products,
    lendkit_register_settings,
    lendkit_replan_schedule,
    lendkit_validate_listing,
)
from lendkit.plugins.leasing.records import (
    Asset,
    Lease,
    Lessee,
    Lessor,
    OwnershipChange,
    Sale,
)
from lendkit.plugins.leasing.rules import FORMS, FREQUENCIES, METHOD
from lendkit.plugins.leasing.settings import PLUGIN, Settings
from lendkit.plugins.leasing.tables import metadata

lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")

__all__ = [
    "FORMS",
    "FREQUENCIES",
    "METHOD",
    "PRODUCT",
    "Asset",
    "Lease",
    "Lessee",
    "Lessor",
    "OwnershipChange",
    "Sale",
    "Settings",
    "buy_back",
    "file_lease",
    "get_asset",
    "get_lease",
    "get_sale",
    "lendkit_build_schedule",
    "lendkit_cob_day",
    "lendkit_cob_loans_of_interest",
    "lendkit_collection_sources",
    "lendkit_disbursement_account",
    "lendkit_disclosures",
    "lendkit_installment_overdue",
    "lendkit_listing_failed",
    "lendkit_listing_withdrawn",
    "lendkit_loan_closed",
    "lendkit_loan_disbursed",
    "lendkit_register_products",
    "lendkit_register_settings",
    "lendkit_replan_schedule",
    "lendkit_schema",
    "lendkit_validate_listing",
    "ownership_of",
    "record_sale",
    "register_asset",
    "register_lessee",
    "register_lessor",
]
