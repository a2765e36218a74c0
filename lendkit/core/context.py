"""What a plugin's hook receives to act: the ``HookContext`` protocol.

A plugin imports only ``lendkit`` and ``lendkit.core``; it moves money by the ledger's rules,
reads and writes its own tables in the current transaction, reads the clock and its configuration
through this context, never through services or store internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from lendkit.core.access import Actor
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import Bid, ListingRecord, LoanRecord, PartyRecord, PaymentRecord
from lendkit.core.schedule import Schedule


class HookContext(Protocol):
    """The current unit of work as a plugin sees it."""

    @property
    def conn(self) -> Connection:
        """The transaction's connection: read and write the plugin's own tables here."""

    @property
    def now(self) -> datetime:
        """The platform clock's time for this unit of work (UTC)."""

    @property
    def today(self) -> date:
        """The business date of this unit of work (``now.date()``, or the COB date)."""

    @property
    def currency(self) -> str:
        """The platform's currency code."""

    @property
    def actor(self) -> Actor:
        """Who runs the command (``Actor``: a party, a staff member or ``system``); internal
        work such as close of business's steps runs as ``system``."""

    def config(self, plugin: str) -> Mapping[str, Any]:
        """The configuration the integrator gave for ``plugin`` (empty mapping if none)."""

    def settings(self, plugin: str) -> Any:
        """``plugin``'s settings: the object its ``lendkit_register_settings`` class was
        structured into from ``config.plugins[plugin]`` when the Platform opened (bad
        configuration is refused there). ``PluginError`` if ``plugin`` declares no settings."""

    def loan(self, loan_id: str) -> LoanRecord:
        """The loan ``loan_id`` with its positions, as it is now in this unit of work
        (``NotFound`` if there is none)."""

    def loans(self, loan_ids: Sequence[str]) -> dict[str, LoanRecord]:
        """``loan`` for many loans at once (a few reads however many): the records by id,
        the ids with no loan left out. For a hook that handles a batch
        (``lendkit_repayments_received``)."""

    def loan_for_listing(self, listing_id: str) -> LoanRecord:
        """The loan the listing ``listing_id`` became (``NotFound`` if it was not disbursed)."""

    def schedule(self, loan_id: str) -> Schedule:
        """The loan's current schedule (after any prepayment re-plan)."""

    def listing(self, listing_id: str) -> ListingRecord:
        """The listing ``listing_id`` as it is now (``NotFound`` if there is none)."""

    def bids(
        self,
        listing_id: str | None = None,
        investor_id: str | None = None,
        state: str | None = None,
    ) -> list[Bid]:
        """Bids on ``listing_id``, by ``investor_id``, in ``state`` (``open``, ``won``,
        ``lost``, ``voided``, ``posted``); each filter optional; in the order placed."""

    def party(self, party_id: str) -> PartyRecord:
        """The party ``party_id`` (``NotFound`` if there is none)."""

    def repay(
        self, loan_id: str, amount: Money | None = None, *, source: AccountRef
    ) -> PaymentRecord:
        """Repay ``loan_id`` from ``source`` through core's one repayment path, as
        ``platform.loans.repay`` does: ``amount`` (None: the next unpaid installment in full)
        goes to unpaid installments oldest first, each by the allocation order; investors are
        paid exactly as when the borrower pays and the payment record names the paying party.

        ``source`` is the borrower's available account, another verified party's available
        account, or a plugin's or third party's account; never a frozen balance, a listing's
        escrow, a loan's clearing account or the gateway (``Forbidden``). ``InvalidState`` if
        nothing is due or the loan takes no payments; ``InvalidAmount`` above what is owed.
        """

    def repay_principal(self, loan_id: str, amount: Money, *, source: AccountRef) -> PaymentRecord:
        """Repay ``amount`` of open-ended loan ``loan_id``'s principal from ``source`` (a
        plugin's or third party's account, e.g. a margin trading account, or a party's
        available account), as ``platform.loans.repay_principal`` does: interest accrues to
        today at the old balance first, investors receive the principal pro rata, and when no
        principal is left the interest accrued and not yet settled falls due today.
        ``Forbidden`` for a source ``repay`` refuses; ``InvalidState`` for a loan that is not
        open-ended, closed or matured; ``InvalidAmount`` above the outstanding principal."""

    def amount_due(self, loan_id: str) -> Money:
        """What loan ``loan_id``'s installments due on or before today still owe (principal,
        interest and the penalty close of business accrued): the amount ``repay`` takes to
        clear them (zero when nothing is due; ``NotFound`` for an unknown loan)."""

    @property
    def hook(self) -> Any:
        """The plugin manager's hook relay (``pm.hook``): a plugin calls the hooks of its own
        hookspecs (declared by its ``lendkit_hookspecs`` module attribute) with it, always with
        keyword arguments, e.g. ``ctx.hook.lendkit_margin_price(ctx=ctx, symbol=s)``."""

    def apply_listing(self, borrower_id: str, amount: object, **terms: Any) -> ListingRecord:
        """File a borrower's application in this unit of work, as ``platform.listings.apply``
        does (``terms``: its keyword arguments but ``key``: ``annual_rate``, ``months``,
        ``method``, ``product``...). The listing awaits review; ``lendkit_validate_listing``
        may refuse it."""

    def account(
        self,
        owner_kind: str,
        owner_id: str,
        purpose: str,
        currency: str,
        *,
        allow_negative: bool = False,
    ) -> AccountRef:
        """Get or create an account owned by a plugin or a third party (guarantor, insurer...)."""

    def party_account(self, party_id: str, currency: str) -> AccountRef:
        """A party's available custody account."""

    def balance(self, account: AccountRef) -> Money:
        """An account's balance now, within this transaction."""

    def existing_account(self, code: str) -> AccountRef:
        """The account with ``code`` (``owner_kind:owner_id:purpose:CUR``) if it exists.

        ``NotFound`` otherwise: use it for an account named by a caller, so that money never
        moves into an account nobody owns.
        """

    def platform_outstanding(self) -> Money:
        """The principal still owed on every open loan of the platform (active, overdue or
        defaulted; every product), in the platform's currency, within this transaction.

        Concentration limits use it as their base (``supplychain``: an industry's share of the
        platform's outstanding).
        """

    def paid_for(self, loan_id: str, account: AccountRef) -> Money:
        """What ``account`` paid ``loan_id``'s investors as a third party (through
        ``pay_investors``) and has not yet recovered from the borrower (zero if nothing)."""

    def transfer(self, kind: str, reference: str, legs: Sequence[tuple[AccountRef, Money]]) -> int:
        """Book one balanced journal entry (amounts signed: positive into the account).

        Only the movements a plugin may make (``Forbidden`` otherwise): to and from the plugin's
        and third parties' own accounts and the platform's revenue, into a loan's clearing
        account, from or to a user's available balance; never from one user's account to another
        user's, never a user's frozen money, a listing's escrow, out of a loan's clearing account
        or the platform's gateway account.
        """

    def transfer_many(
        self, kind: str, movements: Sequence[tuple[str, Sequence[tuple[AccountRef, Money]]]]
    ) -> list[int]:
        """Book several journal entries of ``kind`` at once: one per ``(reference, legs)``, in
        order, each checked as ``transfer`` checks one (a refused one refuses them all).

        The same entries, sequence numbers and hashes as ``transfer`` called for each in turn,
        written in a few statements: a batch hook (``lendkit_repayments_received``) moving money
        for many loans uses it. Returns the entries' sequence numbers.
        """

    def pay_investors(
        self,
        loan_id: str,
        source: AccountRef,
        principal: Money,
        interest: Money,
        *,
        reason: str,
        period: int | None = None,
        include_future: bool = False,
        penalty: Money | None = None,
    ) -> Money:
        """Pay a loan's investors pro rata from ``source`` (a third party's or reserve account).

        Pays what investors are still owed on due installments (``period``, or oldest first),
        at most ``principal`` and ``interest``. Returns what was paid. The payer holds the claim
        it paid: the borrower's later payments on those installments go to ``source`` (追偿).
        Principal and penalty are split over the positions by outstanding principal, interest by
        principal x rate, each by largest remainder, as when the borrower pays.

        :param loan_id: the loan whose investors are paid.
        :param source: the paying account (``ctx.account(...)`` of the plugin or third party).
        :param principal: the most principal to pay (``Money`` >= 0).
        :param interest: the most interest to pay (``Money`` >= 0).
        :param reason: why (kept on the claim, e.g. ``"guarantee"``, ``"buy-back"``).
        :param period: only this installment (default: every one in scope, oldest first).
        :param include_future: also the installments not yet due: a third party buys out the
            whole remaining claim (a lessor's buy-back, a guarantor's full compensation). The
            investors' positions then show nothing outstanding on what was paid; the borrower
            owes it to ``source`` instead, on the same schedule.
        :param penalty: the most penalty interest to pay investors on the due installments
            (default none). The borrower no longer owes the penalty the payer paid (lendkit keeps
            no claim on penalty; a payer that charges it on does so by its own ``transfer``).
        :return: what was paid (``Money``; zero when investors were owed nothing in scope).

        Example (a lessor buys the lease back, everything the investors are still owed)::

            lessor = ctx.account("leasing", lessor_id, "deposit", loan.principal.currency)
            everything = Money.of("100000000", lessor.currency)
            ctx.pay_investors(loan.id, lessor, everything, everything, reason="buy-back",
                              include_future=True, penalty=everything)
        """

    def settle(
        self,
        loan_id: str,
        source: AccountRef,
        interest: str = "accrued",
        fee: Money | None = None,
    ) -> PaymentRecord:
        """Settle a loan early (结清) from ``source``: the loan closes in one payment.

        Pays the installments due (principal, interest and the penalty accrued by close of
        business), then the remaining principal with the interest to date (``"accrued"``: on
        the remaining principal since the last due date, or the start, counted on the loan's
        day-count basis, HALF_UP to the cent, never more than scheduled) or the scheduled
        interest of the remaining installments (``"scheduled"``), plus ``fee`` to the
        platform's revenue. None of prepayment's refusals apply (overdue, due or partly paid
        installments). Investors are paid pro rata (largest remainder) as for any payment; a
        third party that covered installments recovers what it paid. A refusal changes
        nothing: ``InvalidState`` for a closed loan, ``InvalidValue`` for another ``interest``,
        ``NotFound`` for an account that does not exist, ``InsufficientFunds`` when ``source``
        cannot pay.

        :param loan_id: the loan to settle (active, overdue or defaulted).
        :param source: the paying account: a party's available balance (the borrower's, a
            lessee's, a trading account's owner) or a plugin's or third party's account.
        :param interest: ``"accrued"`` (interest to date) or ``"scheduled"``.
        :param fee: a settlement fee paid from ``source`` to platform revenue (default none).
        :return: the settlement's ``PaymentRecord`` (``kind="settlement"``; ``fee`` includes
            the management fee on the interest).

        Example (a margin account's trading balance repays everything at forced liquidation)::

            trading = ctx.account("margin", loan.borrower_id, "trading", loan.principal.currency)
            ctx.settle(loan.id, trading, interest="accrued", fee=Money.of("50", trading.currency))
        """

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once after the unit of work commits (external side effects go here)."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A block run in a SAVEPOINT: an exception inside it rolls back only the block's
        writes, drops the after-commit callbacks registered in it (such as caching an account
        created in it) and propagates. Use it, not ``ctx.conn.begin_nested()``, around an
        operation that may be refused and whose refusal you handle (``leasing`` tries a buy-back
        settlement and keeps the lease ``buyback_due`` on ``InsufficientFunds``).

        Example::

            try:
                with ctx.savepoint():
                    ctx.settle(loan_id, source, interest="accrued")
            except InsufficientFunds:
                ...  # nothing of the attempt is left
        """
