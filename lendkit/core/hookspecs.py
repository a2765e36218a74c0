"""Every hook lendkit calls, grouped by the stage of a listing's life.

Four kinds, visible in the name:

* ``lendkit_register_*``: return typed records; the manager flattens them and rejects duplicate
  names, naming both plugins.
* decisions (``firstresult``): the first non-``None`` answer wins; lendkit's own default runs
  ``trylast``, so any plugin can replace it.
* ``lendkit_validate_*``: return a list of violations (strings); all plugins are asked, the
  violations are collected and the command is refused with all of them.
* past-tense notifications (``lendkit_listing_funded``, ``lendkit_installment_overdue``...): run
  inside the unit of work that caused them, with a ``ctx`` (:class:`lendkit.core.context.HookContext`)
  to move money and write tables atomically; external side effects (mail, webhooks) belong in
  ``ctx.after_commit(fn)`` so that they happen once, after the commit.

Implementations may accept fewer arguments than the spec; lendkit always calls hooks with keyword
arguments and never removes one, so plugins keep working as hooks gain arguments. Every argument
is described by a ``:param name:`` line in its hook's docstring, and ``docs/hooks.md`` shows every
hook's signature (a test checks both).

Which business models use which hook is stated in each docstring (online, guarantee, reserve,
collateral, insurance, bills, supplychain, leasing, margin).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from lendkit.core.access import AccessDecision, Actor, Subject
    from lendkit.core.context import HookContext
    from lendkit.core.ledger import AccountRef
    from lendkit.core.money import Money
    from lendkit.core.records import (
        Bid,
        Claim,
        CreditAssessment,
        Deduction,
        Disclosure,
        Installment,
        ListingRecord,
        LoanRecord,
        PaymentRecord,
        PluginSettings,
        Product,
        Repayment,
        TransferAgreement,
        TransferRecord,
    )
    from lendkit.core.schedule import Schedule

PROJECT = "lendkit"
hookspec = pluggy.HookspecMarker(PROJECT)


# -- registration --------------------------------------------------------------------------------


@hookspec
def lendkit_register_products() -> Sequence[Product]:
    """Declare the products (business models) a plugin offers.

    Called once when the Platform opens. Return a list of :class:`lendkit.Product`; a listing's
    ``product`` must name one of them. Two plugins registering the same product name are refused
    with a ``PluginError`` naming both. Used by every business model (``online`` registers the
    default product ``online``).

    Example::

        @hookimpl
        def lendkit_register_products():
            return [Product(name="auto-loan", description="car-secured loans")]
    """
    raise NotImplementedError


@hookspec
def lendkit_register_settings() -> PluginSettings | None:
    """Declare the class a plugin's configuration is structured into.

    Called once when the Platform opens, before any command: lendkit structures
    ``config.plugins[name]`` (an empty mapping if the integrator gave none) into ``cls`` with
    cattrs. A bad configuration (an unknown key, a value a converter or validator refuses, a
    wrong type) is refused right there with a ``ConfigError`` naming the key and what is
    allowed, not at the first command that reads it. Hooks and commands read the structured
    object with ``ctx.settings(name)``. Two plugins declaring settings under the same name are
    refused with a ``PluginError`` naming both. Takes no arguments. Used by guarantee, reserve,
    collateral and online.

    :return: a :class:`lendkit.core.records.PluginSettings` (``name``: the key under
        ``config.plugins``; ``cls``: an attrs class whose fields have defaults, checked by
        converters or validators that raise ``InvalidValue``), or ``None``.

    Example::

        @frozen
        class Settings:
            after_days: int = field(default=30, converter=days)  # days() raises InvalidValue

        @hookimpl
        def lendkit_register_settings():
            return PluginSettings("reserve", Settings)

        # in a hook: ctx.settings("reserve").after_days
    """
    raise NotImplementedError


# -- custody -------------------------------------------------------------------------------------


@hookspec
def lendkit_validate_deposit(ctx: HookContext, party_id: str, amount: Any) -> Sequence[str]:
    """Veto a deposit before it is booked (limits, AML screening, a blocked account).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param party_id: the depositing party.
    :param amount: a :class:`lendkit.Money`.
    :return: violations as sentences; an empty list allows it. Used by integrators and custody
        gateway plugins.
    """
    raise NotImplementedError


@hookspec
def lendkit_validate_withdrawal(ctx: HookContext, party_id: str, amount: Any) -> Sequence[str]:
    """Veto a withdrawal before funds are held for it (daily limits, sanctions, a frozen party).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param party_id: the withdrawing party.
    :param amount: a :class:`lendkit.Money`.
    :return: violations as sentences; empty allows. Used by integrators and gateway plugins.
    """
    raise NotImplementedError


@hookspec
def lendkit_deposit_completed(
    ctx: HookContext, party_id: str, amount: Any, movement_id: str
) -> None:
    """Notification: a deposit reached the party's available balance (same transaction).

    Called after the ledger entry is written, before commit, in the transaction that credits the
    party: the deposit's own with the embedded gateway; with an outside gateway the one that
    books the bank's answer (after the deposit committed) or ``custody.complete_deposit``.
    Integrators use it for receipts (send them with ``ctx.after_commit``).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param party_id: the credited party.
    :param amount: the deposited :class:`lendkit.Money`.
    :param movement_id: the deposit's movement id (``custody.deposit``'s ``Movement.id``).
    """


@hookspec
def lendkit_withdrawal_completed(
    ctx: HookContext, party_id: str, amount: Any, movement_id: str
) -> None:
    """Notification: a withdrawal left the platform (its hold was posted to the gateway).

    Called in the transaction that completes the withdrawal; integrators use it for receipts.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param party_id: the party whose money left.
    :param amount: the withdrawn :class:`lendkit.Money`.
    :param movement_id: the withdrawal's movement id.
    """


# -- parties and credit --------------------------------------------------------------------------


@hookspec(firstresult=True)
def lendkit_assess_credit(
    ctx: HookContext, party_id: str, verified: Sequence[str], reports: Sequence[str]
) -> CreditAssessment | None:
    """Decision: score a party and give a grade (AA, A, B, C, D, E, HR) and a credit line.

    Called by ``parties.assess``. ``verified`` names the checks passed (``id_card``, ``phone``,
    ``email``, ``documents``); ``reports`` the grades of accepted third-party rating reports (only
    whitelisted agencies count). Return a :class:`lendkit.CreditAssessment` or ``None`` to let the
    next implementation (finally lendkit's default scorecard) decide. Used by integrators with
    their own model, and by ``supplychain`` (core-enterprise uplift).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param party_id: the party being assessed.
    :param verified: the verification checks it passed.
    :param reports: the grades of its accepted rating reports.
    """


# -- listings ------------------------------------------------------------------------------------


@hookspec
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """Veto an application, approval or publication (product rules, guarantor capacity, pledge LTV,
    bill checks).

    Called on ``apply``, again on ``approve`` and once more on ``publish`` (a bill verified at
    approval may have been cloned or revoked since); ``listing.state`` tells which: ``applied``,
    ``approved`` or ``published``, as the command would leave it. Return violations; empty allows:
    any violation refuses the command, which then changes nothing. Reads only (another plugin
    may refuse the same listing). Used by ``guarantee`` (leverage cap, related parties),
    ``collateral`` (LTV, double pledge), ``bills``, ``supplychain``, ``leasing`` and ``margin``.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the listing as the command would leave it.
    :return: violations as sentences.
    """
    raise NotImplementedError


@hookspec
def lendkit_listing_approved(ctx: HookContext, listing: ListingRecord) -> None:
    """Notification: risk control approved a listing (grade and rate are set).

    Called in the approving transaction, after every ``lendkit_validate_listing`` passed. Used by
    ``guarantee`` (commit the guarantor's capacity) and ``collateral`` (the pledge takes effect).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the approved listing (state ``approved``, grade and rate set).
    """


@hookspec
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """Notification: a listing ended before funding: ``reason`` is ``rejected`` or ``cancelled``.

    Called in the same transaction as the change. ``guarantee`` releases committed capacity,
    ``collateral`` releases the pledge, ``insurance`` releases reserved capacity.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the listing, now ``rejected`` or ``cancelled``.
    :param reason: ``rejected`` or ``cancelled``.
    """


@hookspec(firstresult=True)
def lendkit_price_listing(ctx: HookContext, listing: ListingRecord, grade: str) -> Decimal | None:
    """Decision: the annual rate for an approved listing of ``grade`` when the reviewer set none.

    Return a ``Decimal`` (e.g. ``Decimal("0.1")``) or ``None``. Used by every model that ties rate to
    grade; ``insurance`` may add the premium's effect.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the listing being approved.
    :param grade: the grade the reviewer gave (AA, A, B, C, D, E, HR).
    """


# -- bidding -------------------------------------------------------------------------------------


@hookspec
def lendkit_validate_bid(
    ctx: HookContext, listing: ListingRecord, investor_id: str, amount: Any, rate: Decimal | None
) -> Sequence[str]:
    """Veto a bid (product eligibility, investor limits, concentration limits).

    Return violations; empty allows. Used by ``supplychain`` (concentration), ``margin``.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the listing bid on (as before the bid).
    :param investor_id: the bidding investor.
    :param amount: the :class:`lendkit.Money` the bid would fill (trimmed to what remains on a
        fixed-rate listing).
    :param rate: the bid rate (auctions) or ``None``.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def lendkit_allocate_bids(
    ctx: HookContext, listing: ListingRecord, bids: Sequence[tuple[str, int, Decimal | None, int]]
) -> Sequence[tuple[str, int]] | None:
    """Decision: which part of each bid fills when an auction closes.

    ``bids`` are ``(bid_id, amount_minor, rate, seq)``. Return ``(bid_id, filled_minor)`` pairs
    whose fills sum to the listing amount, or ``None`` for lendkit's default (lowest rate first,
    earlier bid on ties, the marginal bid partly filled).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the auction listing being closed.
    :param bids: the open bids as ``(bid_id, amount_minor, rate, seq)``, in bid order.
    """


@hookspec
def lendkit_listing_funded(ctx: HookContext, listing: ListingRecord) -> None:
    """Notification: a listing reached its amount (满标) and awaits the reviewer's confirmation.

    Called by the bid that fills it (fixed rate, after ``lendkit_bid_placed``) or by ``close``
    (auction, after the losers' ``lendkit_bid_released``). Integrators notify reviewers here.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the listing, now ``funded``.
    """


@hookspec
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """Notification: a listing failed (流标); every hold was already voided.

    Called by ``close`` or close of business when the window ends short, after
    ``lendkit_bid_released`` for each of its bids. Integrators notify the borrower here.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the listing, now ``failed``.
    """


# -- bids placed and released ------------------------------------------------------------------


@hookspec
def lendkit_bid_placed(ctx: HookContext, listing: ListingRecord, bid: Bid) -> None:
    """Notification: a bid was placed and its hold taken (FCFS, auction or auto-bid).

    Called in the bid's transaction, after the hold is frozen and before ``lendkit_listing_funded``
    when the bid fills the listing; auto-bids at ``publish`` notify one by one (``bid.auto``). A
    refused bid notifies nothing; a replayed idempotent bid does not notify again. Integrators
    track investors' exposure or send confirmations (``ctx.after_commit``).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the listing as the bid left it (``bid_total`` includes the bid; ``funded`` if
        it filled a fixed-rate listing).
    :param bid: the bid: ``bid.amount`` is what was held (a fixed-rate bid crossing the target
        is trimmed to what remained, ``bid.requested`` is what was asked).

    Example::

        @hookimpl
        def lendkit_bid_placed(ctx, listing, bid):
            ctx.after_commit(lambda: notify(bid.investor_id, f"bid {bid.amount} on {listing.id}"))
    """


@hookspec
def lendkit_bid_released(ctx: HookContext, listing: ListingRecord, bid: Bid, reason: str) -> None:
    """Notification: a bid's hold went back, in whole or in part, to its investor's available balance.

    Called in the transaction that released it, once per bid and release, in bid order, before
    ``lendkit_listing_failed`` / ``lendkit_listing_funded``. ``reason`` is one of
    ``lendkit.core.states.RELEASE_REASONS``: ``listing_failed`` (the listing closed short, by
    ``close`` or close of business; the whole hold), ``auction_lost`` (the auction cleared without
    the bid; the whole hold) or ``auction_trimmed`` (the marginal bid filled in part; the
    unfilled rest). Bid holds do not expire and a listing with bids cannot be cancelled, so no
    other release exists. Integrators track investors' exposure here.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the listing after the release (``failed``, or ``funded`` for an auction).
    :param bid: the bid after the release: ``voided`` or ``lost`` with ``bid.amount`` released,
        or (``auction_trimmed``) ``won`` with ``bid.amount`` filled and ``bid.requested -
        bid.amount`` released.
    :param reason: ``listing_failed``, ``auction_lost`` or ``auction_trimmed``.

    Example::

        @hookimpl
        def lendkit_bid_released(ctx, listing, bid, reason):
            back = bid.requested - bid.amount if reason == "auction_trimmed" else bid.amount
            ctx.after_commit(lambda: notify(bid.investor_id, f"{back} back ({reason})"))
    """


# -- disbursement and schedule ------------------------------------------------------------------


@hookspec
def lendkit_disbursement_deductions(
    ctx: HookContext, listing: ListingRecord, principal: Any, service_fee: Any
) -> Sequence[Deduction]:
    """Amounts taken from the borrower's proceeds at disbursement.

    Return :class:`lendkit.Deduction` records (name, amount, destination account code). The
    platform's service fee is lendkit's own (taken first, and passed here so a plugin can size
    its own deduction against what is left); ``guarantee`` (fee), ``reserve`` (contribution)
    and ``insurance`` (premium paid by the borrower) add theirs. The net proceeds (principal -
    service fee - deductions) go to the account ``lendkit_disbursement_account`` names.

    Also asked to quote the borrower's all-in cost (the APR of ``listings.apply``,
    ``listings.get``, ``listings.list`` and ``listings.cost``) before the listing is disbursed,
    inside a savepoint that is rolled back afterwards: whatever the hook writes in the
    transaction is undone, so keep every effect in the transaction (or in ``ctx.after_commit``,
    dropped with the savepoint) and answer what disbursement would deduct today.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param listing: the funded listing being disbursed (or the listing being priced).
    :param principal: the loan's principal (:class:`lendkit.Money`).
    :param service_fee: the platform's service fee taken from this disbursement
        (:class:`lendkit.Money`, zero if none is configured).

    Example::

        @hookimpl
        def lendkit_disbursement_deductions(ctx, listing, principal, service_fee):
            left = principal - service_fee
            fee = left.multiply(Decimal("0.01"))
            return [Deduction("arrangement", fee, "acme:fees:revenue:CNY")]
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def lendkit_disbursement_account(ctx: HookContext, listing: ListingRecord) -> AccountRef | None:
    """Decision: where a disbursement's net proceeds go (default: the borrower's available balance).

    Called at disbursement, after the deductions. Answer an :class:`~lendkit.core.ledger.AccountRef`
    obtained from ``ctx`` (``cur = listing.amount.currency``): ``ctx.party_account(party_id,
    cur)`` for another party's available balance (the lessor's supplier), ``ctx.account(
    owner_kind, owner_id, purpose, cur)`` for an account the plugin owns (a controlled trading
    account), or ``ctx.existing_account(code)``; ``None`` lets the next plugin (and finally lendkit's default,
    the borrower's available account) answer. lendkit checks the answer: an account that exists
    in this transaction, in the listing's currency, of an existing party (its available balance
    only) or of a plugin / third party; never a listing's escrow, a loan's clearing account or a
    platform account. A bad answer refuses the disbursement with ``PluginError`` and nothing
    changes. The loan is the borrower's either way: the borrower owes the principal. Meant for
    asset-backed models: a lease paying the supplier, a margin loan funding a controlled
    trading account.

    :param ctx: the disbursement's unit of work.
    :param listing: the funded listing being disbursed (``borrower_id``, ``product``, ``amount``).
    :return: an ``AccountRef`` or ``None``.

    Example::

        @hookimpl
        def lendkit_disbursement_account(ctx, listing):
            if listing.product == "leasing":
                return ctx.party_account(supplier_of(listing), listing.amount.currency)
            return None
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def lendkit_build_schedule(ctx: HookContext, listing: ListingRecord, start: Any) -> Schedule | None:
    """Decision: the repayment schedule of a new loan; ``None`` uses the listing's method.

    Called at disbursement, before any money moves. A listing whose method is one of its
    product's own (``Product(methods=...)``) must get its schedule here; core builders help:
    :func:`lendkit.core.schedule.discount_bullet` and :func:`lendkit.core.schedule.custom_rows`.
    Whatever is returned is checked by :func:`lendkit.core.schedule.validate_schedule` against
    the listing's amount and ``start`` (principal rows summing to the principal, nothing
    negative, balances falling to zero, due dates rising after the start); a bad schedule
    refuses the disbursement with ``InvalidSchedule`` naming the row and the rule, and nothing
    changes. The schedule's ``method`` (a standard one or the product's own) is stored on the
    loan. Used by ``leasing`` (rent schedules), ``bills`` (single payment at the bill's
    maturity), ``margin`` (interest-only). Also asked (with today as ``start``) to quote a
    listing's APR before disbursement, in a savepoint that is rolled back, as
    ``lendkit_disbursement_deductions`` and ``lendkit_disbursement_account`` are.

    :param ctx: the disbursement's unit of work (read only here).
    :param listing: the funded listing (amount = the loan's principal, ``method`` as applied).
    :param start: the loan's start date (``datetime.date``, today's business date).
    :return: a :class:`lendkit.Schedule` or ``None``.

    Example::

        @hookimpl
        def lendkit_build_schedule(ctx, listing, start):
            if listing.method == "custom":
                return custom_rows(listing.amount, [add_months(start, k) for k in (1, 2, 3)],
                                   "8%", "30/360", residual="100", start=start)
            return None
    """


@hookspec(firstresult=True)
def lendkit_replan_schedule(
    ctx: HookContext,
    loan: LoanRecord,
    remaining: Any,
    since: date,
    mode: str,
    unpaid: Sequence[Installment],
) -> Schedule | str | None:
    """Decision: the new plan for what is left after a partial prepayment, or a refusal.

    Called by ``loans.prepay`` when principal is left after the prepaid amount, before anything
    is written. Return a :class:`lendkit.Schedule` whose rows repay exactly ``remaining``, due
    after ``since`` (it is validated like a new loan's schedule; periods are renumbered after
    the prepayment's row), a ``str`` to refuse the prepayment (``loans.prepay`` raises
    ``InvalidState`` with that reason and nothing changes; raising a ``LendkitError`` does the
    same), or ``None`` to let the next implementation decide. lendkit's default runs last
    (:func:`lendkit.core.schedule.replan_schedule`): the four standard methods are rebuilt as
    always (``reduce`` keeps the rows and lowers the payment, ``shorten`` keeps the payment and
    ends earlier); a product's own method keeps its calendar with each row reduced pro rata in
    both modes, never rebuilt with a standard method. Used by ``leasing`` (re-computed rents),
    ``bills`` (refuses: a bill is paid by its acceptor at maturity).

    :param ctx: the prepayment's unit of work.
    :param loan: the loan as before this prepayment (``method`` is the stored method).
    :param remaining: the principal still owed after the prepayment (a :class:`lendkit.Money`).
    :param since: the date interest on ``remaining`` runs from: the last paid due date, or the
        loan's start; the new plan starts there.
    :param mode: ``"shorten"`` or ``"reduce"``, as the borrower asked.
    :param unpaid: the loan's unpaid installments before the prepayment (their calendar),
        numbered from 1.
    :return: a :class:`lendkit.Schedule`, a refusal reason (``str``) or ``None``.

    Example::

        @hookimpl
        def lendkit_replan_schedule(ctx, loan, remaining, since, mode, unpaid):
            if loan.product != "lease":
                return None
            if mode == "shorten":
                return "a lease keeps its term: prepay with mode='reduce'"
            dates = [row.due_date for row in unpaid]
            return custom_rows(remaining, dates, loan.annual_rate, "30/360", start=since)
    """


@hookspec
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """Notification: a loan was created and its proceeds paid out. ``collateral`` activates the lien.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param loan: the new loan.
    """


# -- repayment -----------------------------------------------------------------------------------


@hookspec(firstresult=True)
def lendkit_payment_allocation_order(ctx: HookContext, loan: LoanRecord) -> Sequence[str] | None:
    """Decision: the order a payment pays ``penalty``, ``interest`` and ``principal``.

    Return a permutation of those three names or ``None`` for the configured default
    (penalty -> interest -> principal).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param loan: the loan being paid.
    """


@hookspec
def lendkit_repayment_received(ctx: HookContext, loan: LoanRecord, payment: PaymentRecord) -> None:
    """Notification: a payment was booked and distributed, one call per payment, at once.

    ``bills`` records the drawer's recourse payments; ``supplychain`` follows the receivable's
    exposure. A plugin implementing it sends close of business down its one-loan path for every
    loan (correct, several times slower) unless it also names the loans it cares about
    (``lendkit_cob_loans_of_interest``); a plugin that only follows payments should implement
    ``lendkit_repayments_received`` instead (one call per chunk, the bulk path stays).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param loan: the loan after the payment.
    :param payment: the booked payment and its split.
    """


@hookspec
def lendkit_installment_overdue(
    ctx: HookContext, loan: LoanRecord, installment: Installment, days_overdue: int
) -> None:
    """Notification: close of business found an installment unpaid past its grace days.

    Called once per loan, installment and day. ``online`` records the collection stage.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param loan: the overdue loan.
    :param installment: the unpaid installment.
    :param days_overdue: days since its due date.
    """


@hookspec(firstresult=True)
def lendkit_penalty_rate(
    ctx: HookContext, loan: LoanRecord, installment: Installment
) -> Decimal | None:
    """Decision: a loan's daily penalty rate (罚息) at close of business; ``None``: the next answer.

    Asked once per loan and close-of-business run, when the loan has an installment past its
    grace days (``installment``: the oldest one); the answer applies to every overdue row of the
    loan in that run. Penalty to date on a row is its overdue base x days (kept exactly; days as
    the loan's day-count basis counts them, ``loan.day_count``) x this rate, rounded once (HALF_UP to the minor unit), so a product's rate is a per-loan term: keep
    it constant over the loan's life. lendkit's default (last) is the configured
    ``penalty_daily_rate``. The answer must be a ``Decimal`` >= 0 (``PluginError`` otherwise,
    and the run's chunk changes nothing).

    :param ctx: the close of business's unit of work (``ctx.today``: the run date).
    :param loan: the overdue loan (``product``, ``annual_rate``...).
    :param installment: the loan's oldest installment past its grace days.
    :return: a ``Decimal`` daily rate or ``None``.

    Example::

        @hookimpl
        def lendkit_penalty_rate(ctx, loan, installment):
            if loan.product == "leasing":
                return Decimal("0.001")  # 0.1 % a day
            return None
    """
    raise NotImplementedError


@hookspec
def lendkit_cover_claim(ctx: HookContext, claim: Claim) -> Any:
    """Waterfall step: pay investors some of what ``claim`` says is unpaid.

    Called in the configured waterfall order (``Platform.open(..., waterfall=[...])``) for a loan
    overdue or defaulted, each plugin seeing only what the previous ones left unpaid. Pay through
    ``ctx.pay_investors(...)`` and return the amount paid (``Money``) or ``None``. Used by
    ``guarantee`` (代偿), ``reserve``, ``insurance`` and ``collateral`` (sale proceeds).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param claim: what the investors are still owed on one installment.
    """


@hookspec
def lendkit_loan_defaulted(ctx: HookContext, loan: LoanRecord) -> None:
    """Notification: a loan passed the default threshold. ``collateral`` starts enforcement.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param loan: the loan, now ``defaulted``.
    """


@hookspec
def lendkit_recovery_received(
    ctx: HookContext,
    loan: LoanRecord,
    amount: Money,
    payer: AccountRef,
    period: int,
    principal: Money,
    interest: Money,
) -> None:
    """Notification: a payment recovered what a third party had paid investors on an installment.

    Called once per installment whose covered part a payment paid back (追偿), in the payment's
    transaction, after the money reached the third parties that covered it and before
    ``lendkit_repayment_received``. ``reserve`` refills its fund.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param loan: the loan after the payment.
    :param amount: ``principal + interest``.
    :param payer: the account the payment came from (the borrower's available account,
        ``payer.code`` e.g. ``party:p_1:available:CNY``).
    :param period: the installment's period number.
    :param principal: the principal paid back to the third parties on that installment.
    :param interest: the interest paid back to them on that installment.

    Example::

        @hookimpl
        def lendkit_recovery_received(ctx, loan, period, principal, interest):
            log(loan.id, period, principal + interest)
    """


@hookspec
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """Notification: a loan was repaid in full or written off. ``collateral`` releases the lien;
    ``guarantee`` releases the guarantor's capacity.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param loan: the loan, now ``settled`` or ``written_off``.
    """


# -- collection sources (who pays a due installment) ---------------------------------------------


@hookspec(firstresult=True)
def lendkit_collection_sources(
    ctx: HookContext, loan: LoanRecord, installment: Installment
) -> Sequence[str] | None:
    """Decision: whose available balances close of business collects a due installment from.

    Return the party ids to collect from, in order (an acceptor bank, a core enterprise, a
    lessee, then the borrower...), or ``None`` to leave it to the next plugin; lendkit's default
    (last) answers the borrower only. COB takes what each party has available, up to what the
    installment still owes, and every payment's record names its payer. An answer that is not a
    registered party may be the code of a plugin's or third party's account
    (``owner_kind:owner_id:purpose:CUR``, e.g. ``margin``'s controlled trading account), which
    pays what its balance holds. Anything else refuses the run (a
    :class:`~lendkit.core.errors.PluginError`).

    :param ctx: the close of business's unit of work.
    :param loan: the loan whose installment is due.
    :param installment: the due installment (``payment`` its scheduled total).
    """


# -- close of business ---------------------------------------------------------------------------


@hookspec
def lendkit_cob_day(ctx: HookContext, run_date: date, shard: str) -> None:
    """Notification: close of business finished a date for a shard (collections, overdue marks,
    waterfall).

    Called once per date and shard, after all that date's chunks, in the transaction that marks
    the date done in COB's own run records: a rerun of a finished date, or a resumed run after a
    crash, never calls it twice (a crash before that commit undoes the plugins' writes too, and
    the rerun calls it once). Dates skipped since the last run are closed one by one, in order,
    each with its own call. ``ctx.today`` is ``run_date``. Settle here what must be shared among
    the whole day's claims: ``reserve`` pays the day's queued claims pro rata. It replaces
    ``lendkit_business_day_closed(ctx, business_date)``: rename the implementation and its
    argument (``run_date``).

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param run_date: the business date closed (``datetime.date``).
    :param shard: the shard that closed it, ``"i/n"`` (``"1/1"`` when COB is not split).

    Example::

        @hookimpl
        def lendkit_cob_day(ctx, run_date, shard):
            ctx.after_commit(lambda: print(f"COB {run_date} closed (shard {shard})"))
    """


# -- disclosure ----------------------------------------------------------------------------------


@hookspec
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Figures a plugin publishes (guarantor capacity, reserve balance and coverage, pledges...).

    Return :class:`lendkit.Disclosure` records; ``platform.reports.disclosure()`` collects them.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    """
    raise NotImplementedError


# -- secondary market (debt transfer, 债权转让) -----------------------------------------------------


@hookspec
def lendkit_validate_transfer(
    ctx: HookContext,
    transfer: TransferRecord,
    loan: LoanRecord,
    buyer_id: str | None,
    principal: Money,
) -> Sequence[str]:
    """Veto a transfer of a loan's claim: when it is offered (``buyer_id`` is ``None``) and
    again when a buyer buys part of it.

    Return violations; empty allows. Lendkit's own rules (the loan current, the holding period,
    the days before a due date, price bounds, what the seller holds) were checked before; a
    plugin adds its product's: a product that must not change hands returns a violation for
    every loan of it (a margin account's lender stays who funded it). Reads only: a refused
    offer or purchase changes nothing.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param transfer: the offer (on an offer, as it would be stored, ``state`` ``open``).
    :param loan: the loan whose claim changes hands (``loan.product`` names the product).
    :param buyer_id: the buying party, or ``None`` when the seller offers.
    :param principal: the :class:`lendkit.Money` of principal offered, or bought (trimmed to
        what remains).

    Example::

        @hookimpl
        def lendkit_validate_transfer(ctx, loan):
            if loan.product == "margin":
                return [f"loan {loan.id}: margin financing cannot be transferred"]
            return []
    """
    raise NotImplementedError


@hookspec
def lendkit_transfer_settled(
    ctx: HookContext,
    transfer: TransferRecord,
    agreement: TransferAgreement,
    loan: LoanRecord,
) -> None:
    """Notification: a buyer bought part or all of a transfer and it settled, in the purchase's
    transaction: the buyer's hold was posted to the seller (price plus accrued interest), the
    seller paid the fee and the position was split. Called once per purchase.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param transfer: the transfer after the purchase (``state`` ``filled`` when nothing is left).
    :param agreement: the transfer agreement (seller, buyer, principal, price, accrued interest,
        fee, date).
    :param loan: the loan with its positions after the split.

    Example::

        @hookimpl
        def lendkit_transfer_settled(ctx, agreement):
            ctx.after_commit(lambda: notify(agreement.seller_id, agreement.buyer_id))
    """


# -- close of business on the bulk path (chunk-level contract) -----------------------------------


@hookspec
def lendkit_repayments_received(ctx: HookContext, repayments: Sequence[Repayment]) -> None:
    """Notification: payments were booked and distributed; one call for many loans.

    The chunk-level twin of ``lendkit_repayment_received``: close of business delivers every
    payment of one chunk (``cob_chunk`` loans, one transaction) in a single call, after all the
    chunk's loans were processed, whichever path each took; any other payment (``loans.repay``,
    a prepayment, ``ctx.repay``) is delivered at once, alone. Covers (``ctx.pay_investors``) are
    not repayments and are not reported. A plugin that implements this hook instead of
    ``lendkit_repayment_received`` lets close of business keep every loan on its bulk path (a
    plugin listening per loan sends COB down the one-loan path: correct, several times slower).
    Read the rows of the loans you care about with one query (``loan_id IN (...)``) and write
    with ``executemany``: a plugin that covers one loan in a hundred then costs about one loan in
    a hundred. ``guarantee`` releases frozen deposit, ``reserve`` and ``collateral`` follow the
    outstanding principal, ``insurance`` withholds investor-paid premiums.

    :param ctx: the current unit of work (:class:`~lendkit.core.context.HookContext`).
    :param repayments: :class:`lendkit.core.records.Repayment` records in booking order: the
        payment (``payment``: amount, split, payer) and its loan as it stands now (``loan_id``,
        ``product``, ``state``, ``outstanding_principal``).

    Example::

        @hookimpl
        def lendkit_repayments_received(ctx, repayments):
            ids = sorted({r.loan_id for r in repayments})
            mine = {row.loan_id for row in ctx.conn.execute(
                select(covers.c.loan_id).where(covers.c.loan_id.in_(ids)))}
            ctx.conn.execute(update(covers).where(covers.c.loan_id == bindparam("lid"))
                             .values(outstanding=bindparam("out")),
                             [{"lid": r.loan_id, "out": r.outstanding_principal.minor}
                              for r in repayments if r.loan_id in mine])
    """


@hookspec
def lendkit_cob_loans_of_interest(ctx: HookContext, loan_ids: Sequence[str]) -> Sequence[str]:
    """Declare which loans of a close-of-business chunk a plugin's per-loan hooks must see.

    Close of business computes plain collections in bulk and calls no per-loan hook for them.
    A plugin implementing a per-loan hook on that path (``lendkit_collection_sources``,
    ``lendkit_payment_allocation_order``, ``lendkit_repayment_received``) sends every loan down
    the one-loan path, unless it implements this hook too: then only the loans it names here
    take the one-loan path (where every plugin's per-loan hooks are called for them), and its
    per-loan hooks are not called for the others on a plain collection day, so they must not
    need them (a collection source answering ``None``, no allocation order, nothing to follow).
    Any plugin may name loans here (e.g. to see their payments one by one). Asked once per
    chunk with every loan of the chunk: answer with one query (``bills``: the loans financing
    a bill; ``supplychain``: the loans financing a receivable). Loans overdue, settling or
    with third parties' claims take the one-loan path anyway.

    :param ctx: the chunk's unit of work (``ctx.today``: the run date).
    :param loan_ids: the chunk's loan ids (at most ``cob_chunk``).
    :return: the ids among ``loan_ids`` this plugin cares about (any iterable; empty: none).

    Example::

        @hookimpl
        def lendkit_cob_loans_of_interest(ctx, loan_ids):
            return ctx.conn.execute(
                select(leases.c.loan_id).where(leases.c.loan_id.in_(loan_ids))).scalars().all()
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def lendkit_authorize(
    ctx: HookContext, actor: Actor, action: str, subject: Subject
) -> AccessDecision | None:
    """Decide whether ``actor`` may run the mutating command ``action`` on ``subject``.

    Asked inside the command's transaction before it runs. The first answer that is not
    ``None`` decides; with none, lendkit's default policy does (``system`` may do everything, a
    staff member what its roles grant by ``PlatformConfig.roles``, a party its
    ``party_actions`` on what it owns). Four-eyes rules (``four_eyes``) are checked after an
    allowing answer either way. A refusal raises ``PermissionDenied`` naming the actor, the
    action and ``decision.missing``; nothing changes, and the refusal gets its audit row.

    :param ctx: the command's unit of work (``ctx.actor`` is ``actor``).
    :param actor: :class:`lendkit.core.access.Actor` (``kind``: party, staff or system;
        ``id``; ``roles`` as given by the host, empty when they come from the staff register).
    :param action: the command's name (``listings.approve``, ``reserve.seed``).
    :param subject: :class:`lendkit.core.access.Subject` (``kind``, ``id``, and ``owner`` when
        the command's arguments name the party it acts for).
    :return: ``AccessDecision.allow()``, ``AccessDecision.deny(missing, reason)`` or ``None``
        (no opinion).

    Example::

        @hookimpl
        def lendkit_authorize(ctx, actor, action, subject):
            if action == "custody.refund" and actor.kind == "staff":
                return AccessDecision.deny("custody.refund", "refunds go through the bank desk")
            return None
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def lendkit_subject_owner(ctx: HookContext, subject: Subject) -> str | None:
    """Name the party that owns a subject of a plugin's own kind, for a party acting for itself.

    Asked when a party actor runs a command on a subject whose ``owner`` the command did not
    name and whose kind lendkit does not know (it knows ``party``, ``listing``, ``loan``,
    ``hold``, ``transfer`` and ``rule``). With no answer the subject has no owner, so a party
    is refused on it.

    :param ctx: the command's unit of work.
    :param subject: :class:`lendkit.core.access.Subject` (``kind``, ``id``).
    :return: the owning party's id, or ``None`` (not this plugin's kind, or no owner).

    Example::

        @hookimpl
        def lendkit_subject_owner(ctx, subject):
            if subject.kind != "margin_account":
                return None
            return ctx.conn.execute(select(accounts.c.trader_id)
                                    .where(accounts.c.id == subject.id)).scalar()
    """
    raise NotImplementedError
