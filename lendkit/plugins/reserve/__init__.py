"""Risk reserve (风险准备金): a fund in its own custody account pays investors when borrowers do not.

**Disabled unless listed.** Several jurisdictions bar platforms from keeping a risk reserve (China's
2016 interim measures for online lending intermediaries forbid a platform to guarantee loans or
promise principal and interest, and a platform reserve is read as such a promise; elsewhere it may
make the platform a deposit-taker or an insurer). lendkit therefore never enables it by default:
an integrator who may run one lists it, ``plugins=[..., "reserve"]``, and puts it in the waterfall.

How it works:

* **The fund** is the ledger account ``plugin:reserve:reserve-fund:<currency>``; every figure the
  plugin discloses is read from it or reconciles with it.
* **Seed** (:func:`seed`): the platform funds it -- by default from its revenue account
  (``platform:revenue:revenue``, i.e. out of fees it has earned), or with ``from_party=`` from the
  available custody balance of a party the operator funded (e.g. an initial deposit such as
  Renrendai's); in both cases it is the platform's own money, never a user's.
* **Contributions**: at disbursement, ``rates[grade]`` of the principal (default AA 0 % .. HR 5 %)
  goes into the fund, taken from the borrower's proceeds (``contribution_from="borrower"``, a
  disbursement deduction) or from the platform's revenue (``"fees"``: transferred once the loan is
  disbursed, when the service fee is already in revenue; refused with ``InsufficientFunds`` if
  revenue cannot pay it).
* **Payouts**: once an installment of a covered loan is ``after_days`` overdue (default 30) the
  waterfall asks the reserve to cover it; it takes the claim on (the overdue principal, and
  interest with ``pay_interest=True``) and pays it when close of business ends the day
  (``lendkit_cob_day``), together with every other claim of that day, through
  ``ctx.pay_investors``. It then holds the claim, so the borrower's later payments on that
  installment flow back into the fund (recoveries). Because it pays at the day's end, plugins
  listed after it in the waterfall are asked before it pays: list the reserve last.
* **Shortfall queue**: every claim it takes on is recorded (``lendkit_reserve_claims``); what it
  cannot pay stays queued. At the end of each COB day, and whenever money arrives (contribution,
  recovery, seed, or :func:`settle`), the queue is settled oldest day first; the claims queued on
  the same day share what there is pro rata, raising the lowest paid fraction first so that each
  ends with the same share of its amount paid (``lendkit.allocate``, to the cent): two claims of
  one day on a short fund get the same fraction, whichever loan COB met first. A claim whose
  investors were paid meanwhile (by the borrower or a later waterfall step) is closed with what
  it had received. With COB split into shards, each shard's close settles the claims queued so
  far that day.
* **Coverage ratio** = fund balance / outstanding principal of the covered loans.

Configuration::

    config={"waterfall": ["reserve"],
            "plugins": {"reserve": {
                "rates": {"AA": "0", "A": "0.005", "B": "0.01", "C": "0.02", "D": "0.03",
                          "E": "0.04", "HR": "0.05"},
                "contribution_from": "borrower",   # or "fees"
                "after_days": 30, "pay_interest": False,
                "products": None}}}                  # or a list: only these products are covered

Example::

    import tempfile
    from datetime import timedelta
    import lendkit
    from lendkit.plugins import reserve

    url = f"sqlite:///{tempfile.mkdtemp()}/reserve.db"
    p = lendkit.Platform.open(url, plugins=["online", "reserve"],
                              config={"waterfall": ["reserve"], "grace_days": 0,
                                      "plugins": {"reserve": {"after_days": 30}}})
    operator, borrower, investor = (p.parties.register(n).id for n in ("operator", "b", "i"))
    for x in (operator, borrower, investor):
        p.parties.verify(x)
    p.custody.deposit(operator, "500")
    reserve.seed(p, "500", from_party=operator)
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade="HR")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "3000")
    p.bidding.bid(listing.id, investor, "3000")
    loan = p.loans.disburse(listing.id)              # 150.00 (5 %) from the proceeds to the fund
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    due = p.loans.schedule(loan.id).installments[0].due_date
    p.cob.run(due + timedelta(days=30), allow_future=True)  # the reserve pays the principal
    print(reserve.status(p))
    print([d for d in p.reports.disclosure() if d.plugin == "reserve"])
    assert p.verify().ok
"""

from __future__ import annotations

from pathlib import Path

from lendkit.migrations import PluginSchema
from lendkit.plugins.reserve.commands import fund_account, payouts, queue, seed, settle, status
from lendkit.plugins.reserve.hooks import (
    lendkit_cob_day,
    lendkit_cover_claim,
    lendkit_disbursement_deductions,
    lendkit_disclosures,
    lendkit_loan_closed,
    lendkit_loan_disbursed,
    lendkit_recovery_received,
    lendkit_register_settings,
    lendkit_repayments_received,
)
from lendkit.plugins.reserve.records import (
    CLOSED,
    DEFAULT_RATES,
    KEYS,
    MAX_AFTER_DAYS,
    NEW,
    OPEN,
    PAID,
    PLUGIN,
    QUEUED,
    SOURCES,
    Payout,
    QueuedClaim,
    ReserveStatus,
)
from lendkit.plugins.reserve.rules import water_fill
from lendkit.plugins.reserve.settings import Settings
from lendkit.plugins.reserve.tables import metadata

__all__ = [
    "DEFAULT_RATES",
    "Payout",
    "QueuedClaim",
    "ReserveStatus",
    "fund_account",
    "payouts",
    "queue",
    "seed",
    "settle",
    "status",
]


lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")

#: importable from the package as before it was split into modules: constants, settings and
#: the hook implementations pluggy finds on this registered module
__all__ += [
    "CLOSED",
    "KEYS",
    "MAX_AFTER_DAYS",
    "NEW",
    "OPEN",
    "PAID",
    "PLUGIN",
    "QUEUED",
    "SOURCES",
    "Settings",
    "lendkit_cob_day",
    "lendkit_cover_claim",
    "lendkit_disbursement_deductions",
    "lendkit_disclosures",
    "lendkit_loan_closed",
    "lendkit_loan_disbursed",
    "lendkit_recovery_received",
    "lendkit_register_settings",
    "lendkit_repayments_received",
    "water_fill",
]
