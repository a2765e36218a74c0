"""Collateral (抵押): secured loans against registered real estate, vehicles or equipment.

The plugin keeps a **registry** of assets (kind, unique identifier such as a property certificate
number, VIN or serial, owner, appraised value and date) and the **pledges** (liens) that tie an
asset to a listing and then to its loan:

* **No double pledge (重复抵押).** An identifier (VIN, certificate number) carries at most one live
  pledge, whatever kind its asset is registered as. The database enforces it (a UNIQUE column
  holding a digest of the identifier while the pledge is live), so two transactions racing to
  pledge the same VIN cannot both succeed; the loser gets ``InvalidState`` naming the pledge
  that holds it. The same (kind, identifier) cannot be registered twice either.
* **External registry veto.** Pledges elsewhere (other platforms, the vehicle or land registry)
  are outside this database; the integrator may pass an object with a
  ``check_pledge(kind, identifier, owner_id) -> str | None`` method (see
  :class:`ExternalRegistry`) or a plain callable with that signature as plugin configuration
  ``"external_registry"``; a returned string refuses the pledge with that reason. One object per
  Platform, no global state, no extra hook.
* **Loan-to-value caps per kind** (default real_estate 70 %, vehicle 60 %, equipment 50 %,
  configurable): a listing with pledges is refused on application and on approval when its amount
  exceeds the sum of ``appraised value x cap`` of its pledged assets. A listing of the product
  ``secured`` (registered by this plugin) cannot be approved without a pledge.
  :func:`revalue` records a new appraisal and flags every live pledge whose exposure (listing
  amount, then the loan's outstanding principal) is now above the capped value (a breach).
* **Lien life.** ``pledged`` when :func:`pledge` ties the asset to an applied or approved listing
  (the approval validates it), ``active`` when the loan is disbursed, ``released`` when the loan
  is repaid in full (or the listing fails), ``enforcing`` when the loan defaults, ``enforced``
  once :func:`record_sale` has booked the sale.
* **Enforcement.** :func:`record_sale` books the buyer's money (a ``collateral:sale-gateway``
  account that may go negative: money entering the platform), pays the enforcement costs to
  ``plugin:collateral:costs``, and applies the rest as the borrower's payment on the loan: each
  installment oldest first, penalty then interest then principal (the platform's allocation
  order), every part split among the investors pro rata to the cent, and installments a third
  party already paid (guarantor, insurer, reserve) recover that payer first (追偿). Installments not
  yet due are paid too (enforcement accelerates the loan). What is left is the **surplus**: it
  stays with the borrower (or goes to a third-party owner of the asset). A **shortfall** leaves
  the unpaid installments unpaid: they pass down the waterfall to the plugins after it on the
  next close of business, or stay a loss to investors.

Why the proceeds are applied as the borrower's payment and not through ``ctx.pay_investors``:
the proceeds are the borrower's own money (the asset is theirs); ``pay_investors`` would make the
plugin a creditor holding the claim (so the borrower would repay twice), cannot pay penalty or
installments not yet due, and would give a surplus to the borrower before reimbursing a guarantor
that paid first. The payment therefore goes through ``ctx.repay`` (core's repayment path) inside
the same transaction, so the sale, the costs and every payment commit together or not at all.
Collateral needs no slot in the waterfall (it pays when the asset is sold, not on a day overdue).

Configuration (``Platform.open(..., config={"plugins": {"collateral": {...}}})``)::

    {
        "ltv_caps": {"real_estate": "0.7", "vehicle": "0.6", "equipment": "0.5"},
        "external_registry": my_registry,   # optional: .check_pledge(...) or a callable
    }

Only kinds named in ``ltv_caps`` can be registered.

Example (runnable; ``tests/plugins/collateral`` has the same scenario with every figure checked)::

    from datetime import UTC, date, datetime, timedelta

    import lendkit
    from lendkit.plugins import collateral

    clock_now = [datetime(2026, 1, 1, 9, tzinfo=UTC)]
    p = lendkit.Platform.open(
        "sqlite:///secured.db",
        plugins=["online", "collateral"],
        config={"grace_days": 0, "default_after_days": 60},
        clock=lambda: clock_now[0],
    )
    borrower, investor = p.parties.register("b").id, p.parties.register("i").id
    for party in (borrower, investor):
        p.parties.verify(party)
    car = collateral.register_asset(
        p, "vehicle", "LSVAM4187C2184847", borrower, "100000", date(2026, 1, 1)
    )
    listing = p.listings.apply(borrower, "50000", "12%", months=3, product="secured")
    collateral.pledge(p, listing.id, car.id)  # LTV 50 % <= the vehicle cap of 60 %
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "50000")
    p.bidding.bid(listing.id, investor, "50000")
    loan = p.loans.disburse(listing.id)  # the lien becomes active
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)  # and pays nothing back
    first_due = p.loans.schedule(loan.id).installments[0].due_date
    for days in (1, 29, 60):  # close of business; at 60 days overdue the loan defaults
        p.cob.run(first_due + timedelta(days=days), allow_future=True)
    clock_now[0] = datetime.combine(first_due + timedelta(days=60), datetime.min.time(), UTC)
    sale = collateral.record_sale(p, loan.id, proceeds="80000", costs="2000")
    print(sale.costs, sale.penalty, sale.interest, sale.principal, sale.surplus)
    print(p.loans.get(loan.id).state, p.custody.balance(borrower).available)
    for d in p.reports.disclosure():
        if d.plugin == "collateral":
            print(d.name, "=", d.value)
    assert p.verify().ok
"""

from __future__ import annotations

from pathlib import Path

from lendkit.migrations import PluginSchema
from lendkit.plugins.collateral.commands import (
    Platform,
    asset_pledges,
    get_asset,
    pledge,
    pledges_of,
    record_sale,
    register_asset,
    revalue,
)
from lendkit.plugins.collateral.hooks import (
    lendkit_disclosures,
    lendkit_listing_approved,
    lendkit_listing_failed,
    lendkit_listing_withdrawn,
    lendkit_loan_closed,
    lendkit_loan_defaulted,
    lendkit_loan_disbursed,
    lendkit_register_products,
    lendkit_register_settings,
    lendkit_repayments_received,
    lendkit_validate_listing,
)
from lendkit.plugins.collateral.records import (
    ACTIVE,
    DEFAULT_LTV_CAPS,
    ENFORCED,
    ENFORCING,
    LIVE,
    PLEDGEABLE_LISTING_STATES,
    PLEDGED,
    PLUGIN,
    PRODUCT,
    RELEASED,
    Asset,
    ExternalRegistry,
    Pledge,
    Sale,
)
from lendkit.plugins.collateral.settings import Settings
from lendkit.plugins.collateral.tables import metadata

__all__ = [
    "DEFAULT_LTV_CAPS",
    "Asset",
    "ExternalRegistry",
    "Pledge",
    "Sale",
    "asset_pledges",
    "get_asset",
    "pledge",
    "pledges_of",
    "record_sale",
    "register_asset",
    "revalue",
]


lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")

#: importable from the package as before it was split into modules: constants, settings and
#: the hook implementations pluggy finds on this registered module
__all__ += [
    "ACTIVE",
    "ENFORCED",
    "ENFORCING",
    "LIVE",
    "PLEDGEABLE_LISTING_STATES",
    "PLEDGED",
    "PLUGIN",
    "PRODUCT",
    "RELEASED",
    "Platform",
    "Settings",
    "lendkit_disclosures",
    "lendkit_listing_approved",
    "lendkit_listing_failed",
    "lendkit_listing_withdrawn",
    "lendkit_loan_closed",
    "lendkit_loan_defaulted",
    "lendkit_loan_disbursed",
    "lendkit_register_products",
    "lendkit_register_settings",
    "lendkit_repayments_received",
    "lendkit_validate_listing",
]
