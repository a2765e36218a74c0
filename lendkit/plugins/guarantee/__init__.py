"""Guarantee (担保): a guarantee company backs chosen loans and pays investors when the borrower does not.

A guarantor is a registered party (it holds its money in custody like everybody else) plus a
record in ``lendkit_guarantee_guarantors``: registered capital, leverage cap (default 10x), fee
rate, deposit rate, liability (``joint`` or ``general``) and what it covers. The rules it enforces:

* **Leverage cap.** The principal a guarantor backs -- outstanding principal of its active loans
  plus the amount of listings approved under its guarantee but not yet disbursed -- never exceeds
  ``leverage x capital``. A listing that would breach it is refused by :func:`guarantee_listing`
  and again at approval (``lendkit_validate_listing``), with the figures in the message.
* **Related parties.** Declared control relations (:func:`declare_control`, or ``controlled_by``
  at registration) are followed transitively. A guarantor controlled by the platform operator
  (``"platform"``) may not guarantee at all (网赢天下); nor may it guarantee a borrower that controls
  it, that it controls, or that shares a controller with it.
* **Fee and deposit.** The guarantee fee (``fee_rate`` of principal) is taken from the borrower's
  proceeds at disbursement and paid to the guarantor's custody account. The guarantor keeps a
  deposit (保证金) with the platform (:func:`fund_deposit`: its available balance -> its deposit
  account ``guarantor:<id>:deposit``); ``deposit_rate`` of each guaranteed loan's principal is
  frozen (``guarantor:<id>:deposit-frozen``) at disbursement and released as principal is repaid
  (the frozen part follows ``deposit_rate x outstanding principal``), all at payoff.
* **Liability.** ``joint`` pays once an installment is ``after_days`` overdue (lendkit's
  ``grace_days`` and ``cover_after_days`` apply first); ``general`` pays only after the loan has
  defaulted (``default_after_days``, when collection is deemed to have failed), from the next close
  of business on. Compensation (代偿) pays investors the overdue principal and interest, or principal
  only (``cover="principal"``), through the configured waterfall (``waterfall=[..., "guarantee",
  ...]``). It is drawn from the guarantor's available custody balance first (the guarantee
  agreement authorises the debit, as a borrower's authorises collection), then from the deposit
  frozen for this loan, then from its free deposit; what it cannot pay passes down the waterfall.
  The guarantor then holds the claim: the borrower's later payments on those installments go to
  the guarantor's custody account (追偿), not to the investors.
* **Offline origination.** A partner (small-loan company, :func:`register_partner`) recommends
  borrowers (:func:`recommend`) and guarantees them 100 % (joint, principal and interest); it may
  guarantee only borrowers it recommended. :func:`apply_recommended` applies and guarantees in one go.

Flow: ``apply`` -> :func:`guarantee_listing` -> ``approve`` (cap re-checked by the validator,
capacity committed once every plugin's validator passed)
-> publish/bid -> ``disburse`` (fee, deposit frozen) -> repayments release the deposit; COB pays on
overdue. A listing of the product ``guaranteed`` cannot be approved without a guarantor.
A listing rejected, cancelled (``lendkit_listing_withdrawn``) or failed (流标,
``lendkit_listing_failed``) releases its guarantee by itself; :func:`release_listing` releases
the guarantee of an applied listing whose guarantor is being replaced.
Every public function runs as one command (``Platform.command``): retried, joining a host
transaction under ``platform.using(conn)``, and the mutating ones take an idempotency ``key=``.

Configuration (defaults for new guarantors; each may be overridden per guarantor/guarantee)::

    config={"waterfall": ["guarantee"],
            "plugins": {"guarantee": {"leverage": "10", "fee_rate": "0.02", "deposit_rate": "0.10",
                                      "liability": "joint", "after_days": 1,
                                      "cover": "principal_and_interest"}}}

Example::

    import tempfile
    from datetime import timedelta
    import lendkit
    from lendkit.plugins import guarantee

    url = f"sqlite:///{tempfile.mkdtemp()}/guarantee.db"
    p = lendkit.Platform.open(url, plugins=["online", "guarantee"],
                              config={"waterfall": ["guarantee"], "grace_days": 0})
    company = p.parties.register("Acme Guarantee", kind="enterprise").id
    borrower, investor = p.parties.register("b").id, p.parties.register("i").id
    for x in (company, borrower, investor):
        p.parties.verify(x)
    p.custody.deposit(company, "5000")
    g = guarantee.register_guarantor(p, "Acme Guarantee", company, capital="1000")  # cap 10000
    guarantee.fund_deposit(p, g.id, "1000")
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "3000")
    p.bidding.bid(listing.id, investor, "3000")
    loan = p.loans.disburse(listing.id)            # fee 60.00 to Acme, 300.00 of deposit frozen
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    due = p.loans.schedule(loan.id).installments[0].due_date
    p.cob.run(due + timedelta(days=1), allow_future=True)  # joint liability: Acme pays
    assert p.loans.position(loan.id, investor).received_principal.is_positive()
    print(guarantee.get_guarantor(p, g.id))
    print([d for d in p.reports.disclosure() if d.plugin == "guarantee"])
    assert p.verify().ok
"""

from __future__ import annotations

from pathlib import Path

from lendkit.migrations import PluginSchema
from lendkit.plugins.guarantee.commands import (
    apply_recommended,
    compensations,
    declare_control,
    fund_deposit,
    get_guarantor,
    guarantee_listing,
    guarantee_of,
    guarantees_by,
    guarantors_of,
    recommend,
    register_guarantor,
    register_partner,
    release_listing,
    withdraw_deposit,
)
from lendkit.plugins.guarantee.hooks import (
    lendkit_cover_claim,
    lendkit_disbursement_deductions,
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
from lendkit.plugins.guarantee.records import (
    ACTIVE,
    CLOSED,
    COMMITTED,
    COVERS,
    DEPOSIT,
    DEPOSIT_FROZEN,
    KINDS,
    LIABILITIES,
    MAX_AFTER_DAYS,
    MAX_LEVERAGE,
    OPERATOR,
    OWNER_KIND,
    PENDING,
    PLUGIN,
    PRODUCT,
    RELEASED,
    Compensation,
    Guarantee,
    Guarantor,
)
from lendkit.plugins.guarantee.settings import DEFAULTS, Settings
from lendkit.plugins.guarantee.tables import metadata

__all__ = [
    "OPERATOR",
    "PRODUCT",
    "Compensation",
    "Guarantee",
    "Guarantor",
    "apply_recommended",
    "compensations",
    "declare_control",
    "fund_deposit",
    "get_guarantor",
    "guarantee_listing",
    "guarantee_of",
    "guarantees_by",
    "guarantors_of",
    "recommend",
    "register_guarantor",
    "register_partner",
    "release_listing",
    "withdraw_deposit",
]


lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")

#: importable from the package as before it was split into modules: constants, settings and
#: the hook implementations pluggy finds on this registered module
__all__ += [
    "ACTIVE",
    "CLOSED",
    "COMMITTED",
    "COVERS",
    "DEFAULTS",
    "DEPOSIT",
    "DEPOSIT_FROZEN",
    "KINDS",
    "LIABILITIES",
    "MAX_AFTER_DAYS",
    "MAX_LEVERAGE",
    "OWNER_KIND",
    "PENDING",
    "PLUGIN",
    "RELEASED",
    "Settings",
    "lendkit_cover_claim",
    "lendkit_disbursement_deductions",
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
