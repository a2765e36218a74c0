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
