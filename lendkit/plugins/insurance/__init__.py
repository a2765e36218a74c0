"""Insurance (保险): an insurer in the guarantor's seat, with a capacity and its own custody account.

**Insurers** (:func:`register_insurer`) have a name, a capacity (the most they insure at once:
the sum insured of their pending and in-force policies can never exceed it; a policy that would
is refused with ``LimitExceeded`` naming the figures) and a custody account
``insurer:<id>:plugin:<CUR>`` that pays claims. :func:`fund_insurer` moves money into it from the
insurer's own custody balance when the insurer is a registered party, else from its bank (the
``insurer:<id>:gateway`` account, which may go negative: money entering the platform). Premiums
are paid into the same account.

**Policy kinds**

* ``credit`` (:func:`insure_loan`): one loan's credit risk. Claims open on the policy's trigger:
  ``trigger_days`` days overdue, or ``trigger_days="default"`` (the loan defaulted). The insurer
  pays the loan's investors what is still unpaid (principal, and interest unless
  ``cover_interest=False``) through ``ctx.pay_investors``: it then holds the claim, and the
  borrower's later payments on those installments go to the insurer (追偿). It pays in the
  waterfall (list ``"insurance"`` in ``Platform.open(..., config={"waterfall": [...]})``) and,
  for ``"default"`` policies, the day the loan defaults. Each payment is capped by what the
  policy still covers and by the insurer's custody balance.
* ``asset`` (:func:`insure_asset`): insurance of a pledged asset. :func:`claim_asset_loss` pays the
  indemnity as the owner's payment on the secured loan (the lender is loss payee): applied to
  the loan's installments oldest first, any rest to the borrower.
* ``account`` (:func:`insure_account`): an investor's account funds; :func:`claim_account_loss`
  pays a loss into the investor's available balance.
* ``platform`` (:func:`insure_platform`): credit-guarantee insurance on the platform's whole
  volume. It pays investors of any overdue loan in the waterfall (after the loan's own credit
  policies), and :func:`reimburse` reimburses whoever paid investors first (a guarantor's or the
  reserve's account).

**Premium** = ``premium_rate`` x sum insured (HALF_UP to the cent), paid by

* ``payer="borrower"``: deducted from the proceeds at disbursement (or, for a loan already
  disbursed, from the borrower's available balance when the policy is written);
* ``payer="investors"``: withheld from the interest the investors receive, in proportion:
  after a payment, the premium withheld so far is ``premium x interest received / scheduled
  interest`` (rounded, so the whole premium is withheld once all interest is in), split among
  the investors by the same interest weights lendkit pays them with. :func:`yield_effect`
  shows what that does to their yield (``net rate = rate x (1 - premium / scheduled interest)``).
* ``account`` policies are paid by the investor, ``platform`` policies by the platform (from its
  revenue account), when written.

Disclosure (``platform.reports.disclosure()``): per insurer capacity, exposure, utilization and
custody balance; policies in force, premiums, claims paid, recoveries (from the ledger: balance -
funding - premiums + claims) and the loss ratio (claims / premiums); the yield effect of
investor-paid premiums.

Example (runnable; ``tests/plugins/insurance`` has the same scenario with every figure checked)::

    from datetime import timedelta

    import lendkit
    from lendkit.plugins import insurance

    p = lendkit.Platform.open(
        "sqlite:///insured.db",
        plugins=["online", "insurance"],
        config={"waterfall": ["insurance"], "grace_days": 0},
    )
    borrower, investor = p.parties.register("b").id, p.parties.register("i").id
    for party in (borrower, investor):
        p.parties.verify(party)
    insurer = insurance.register_insurer(p, "PICC", capacity="1000000")
    insurance.fund_insurer(p, insurer.id, "100000")  # from the insurer's bank into custody
    listing = p.listings.apply(borrower, "3000", "12%", months=3)
    policy = insurance.insure_loan(p, listing.id, insurer.id, "2%", payer="borrower", trigger_days=1)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "3000")
    p.bidding.bid(listing.id, investor, "3000")
    loan = p.loans.disburse(listing.id)  # 60.00 premium deducted from the borrower's proceeds
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    first = p.loans.schedule(loan.id).installments[0]
    p.cob.run(first.due_date + timedelta(days=1), allow_future=True)  # the insurer pays
    print(insurance.get_policy(p, policy.id).claims_paid)  # 1020.07 CNY
    p.custody.deposit(borrower, "1100")
    p.loans.repay(loan.id)  # the late payment recovers the insurer (追偿)
    print(insurance.get_insurer(p, insurer.id).balance)  # 100060.00 CNY
    for d in p.reports.disclosure():
        if d.plugin == "insurance":
            print(d.name, "=", d.value)
    assert p.verify().ok
"""

from __future__ import annotations

from pathlib import Path

from lendkit.migrations import PluginSchema
from lendkit.plugins.insurance.commands import (
    Platform,
    claim_account_loss,
    claim_asset_loss,
    claims_of,
    fund_insurer,
    get_insurer,
    get_policy,
    insure_account,
    insure_asset,
    insure_loan,
    insure_platform,
    policies_of,
    register_insurer,
    reimburse,
    yield_effect,
)
from lendkit.plugins.insurance.hooks import (
    lendkit_cover_claim,
    lendkit_disbursement_deductions,
    lendkit_disclosures,
    lendkit_listing_failed,
    lendkit_listing_withdrawn,
    lendkit_loan_closed,
    lendkit_loan_defaulted,
    lendkit_loan_disbursed,
    lendkit_repayments_received,
)
from lendkit.plugins.insurance.records import (
    CANCELLED,
    EXPIRED,
    HOLDING,
    IN_FORCE,
    KINDS,
    LOAN_PAYERS,
    MAX_TRIGGER_DAYS,
    PENDING,
    PLUGIN,
    Insurer,
    Policy,
    PolicyClaim,
    YieldEffect,
)
from lendkit.plugins.insurance.tables import metadata

__all__ = [
    "Insurer",
    "Policy",
    "PolicyClaim",
    "YieldEffect",
    "claim_account_loss",
    "claim_asset_loss",
    "claims_of",
    "fund_insurer",
    "get_insurer",
    "get_policy",
    "insure_account",
    "insure_asset",
    "insure_loan",
    "insure_platform",
    "policies_of",
    "register_insurer",
    "reimburse",
    "yield_effect",
]


lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")

#: importable from the package as before it was split into modules: constants, settings and
#: the hook implementations pluggy finds on this registered module
__all__ += [
    "CANCELLED",
    "EXPIRED",
    "HOLDING",
    "IN_FORCE",
    "KINDS",
    "LOAN_PAYERS",
    "MAX_TRIGGER_DAYS",
    "PENDING",
    "PLUGIN",
    "Platform",
    "lendkit_cover_claim",
    "lendkit_disbursement_deductions",
    "lendkit_disclosures",
    "lendkit_listing_failed",
    "lendkit_listing_withdrawn",
    "lendkit_loan_closed",
    "lendkit_loan_defaulted",
    "lendkit_loan_disbursed",
    "lendkit_repayments_received",
]
