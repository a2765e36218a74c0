"""What a plugin's hook receives to act: the ``HookContext`` protocol.

A plugin imports only ``lendkit`` and ``lendkit.core``; it moves money by the ledger's rules,
reads and writes its own tables in the current transaction, reads the clock and its configuration
through this context, never through services or store internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Connection

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

    def config(self, plugin: str) -> Mapping[str, Any]:
        """The configuration the integrator gave for ``plugin`` (empty mapping if none)."""

    def settings(self, plugin: str) -> Any:
        """``plugin``'s settings: the object its ``lendkit_register_settings`` class was
        structured into from ``config.plugins[plugin]`` when the Platform opened (bad
        configuration is refused there). ``PluginError`` if ``plugin`` declares no settings."""

    def loan(self, loan_id: str) -> LoanRecord:
        """The loan ``loan_id`` with its positions, as it is now in this unit of work
        (``NotFound`` if there is none)."""

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

    def pay_investors(
        self,
        loan_id: str,
        source: AccountRef,
        principal: Money,
        interest: Money,
        *,
        reason: str,
        period: int | None = None,
    ) -> Money:
        """Pay a loan's investors pro rata from ``source`` (a third party's or reserve account).

        Pays what investors are still owed on due installments (``period``, or oldest first),
        at most ``principal`` and ``interest``. Returns what was paid. The payer holds the claim
        it paid: the borrower's later payments on those installments go to ``source`` (追偿).
        """

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once after the unit of work commits (external side effects go here)."""
