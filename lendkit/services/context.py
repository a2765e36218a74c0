"""``Ctx``: the unit of work as services and plugins use it (implements ``HookContext``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from lendkit.core.errors import Forbidden, PluginError
from lendkit.core.ledger import AVAILABLE, FROZEN, AccountRef, Leg, plugin_movement_violation
from lendkit.core.money import Money
from lendkit.core.records import Bid, ListingRecord, LoanRecord, PartyRecord, PaymentRecord
from lendkit.core.schedule import Schedule
from lendkit.services.common import check_id, parse_amount
from lendkit.services.uow import Tx
from lendkit.store import ledger as store_ledger
from lendkit.store.tables import claims

if TYPE_CHECKING:
    from lendkit.core.config import PlatformConfig
    from lendkit.core.hooks import Hooks
    from lendkit.core.records import Product
    from lendkit.platform import Platform
    from lendkit.store.ledger import AccountCache


class Ctx:
    """Services' and plugins' handle on the current transaction."""

    def __init__(self, tx: Tx, business_date: date | None = None) -> None:
        self.tx = tx
        self.platform: Platform = tx.platform
        self._today = business_date

    @property
    def conn(self) -> Connection:
        return self.tx.conn

    @property
    def hooks(self) -> Hooks:
        """The platform's hook caller (core code only: plugins never call hooks)."""
        return self.platform.hooks

    @property
    def platform_config(self) -> PlatformConfig:
        """The platform's configuration (core code; plugins read ``config(plugin)``)."""
        return self.platform.config

    @property
    def accounts(self) -> AccountCache:
        """The platform's cache of committed accounts."""
        return self.platform.accounts

    @property
    def products(self) -> Mapping[str, Product]:
        """The products the enabled plugins registered, by name."""
        return self.platform.products

    @property
    def now(self) -> datetime:
        return self.tx.now

    @property
    def today(self) -> date:
        return self._today or self.tx.now.date()

    @property
    def currency(self) -> str:
        return self.platform_config.currency

    def config(self, plugin: str) -> Mapping[str, Any]:
        return self.platform_config.plugins.get(plugin, {})

    # -- what plugins read and do through core (HookContext; module functions of services) -------
    # imported at call time: the services build on Ctx (issue 11 separates the two)

    @property
    def plugin_settings(self) -> Mapping[str, Any]:
        """Every plugin's structured settings by name (core code; plugins use ``settings``)."""
        return self.platform.settings

    def settings(self, plugin: str) -> Any:
        """See ``HookContext.settings``."""
        try:
            return self.plugin_settings[plugin]
        except KeyError:
            raise PluginError(
                f"plugin {plugin!r} declares no settings (lendkit_register_settings);"
                f" declared: {', '.join(sorted(self.plugin_settings)) or 'none'}"
            ) from None

    def loan(self, loan_id: str) -> LoanRecord:
        """See ``HookContext.loan``."""
        from lendkit.services.loans import load_loan

        return load_loan(self, check_id(loan_id, "loan"))

    def loan_for_listing(self, listing_id: str) -> LoanRecord:
        """See ``HookContext.loan_for_listing``."""
        from lendkit.services.loans import loan_for_listing

        return loan_for_listing(self, check_id(listing_id, "listing"))

    def schedule(self, loan_id: str) -> Schedule:
        """See ``HookContext.schedule``."""
        from lendkit.services.loans import load_schedule

        return load_schedule(self, check_id(loan_id, "loan"))

    def listing(self, listing_id: str) -> ListingRecord:
        """See ``HookContext.listing``."""
        from lendkit.services.records import load_listing

        return load_listing(self, check_id(listing_id, "listing"))

    def bids(
        self,
        listing_id: str | None = None,
        investor_id: str | None = None,
        state: str | None = None,
    ) -> list[Bid]:
        """See ``HookContext.bids``."""
        from lendkit.services.bidding import find_bids

        return find_bids(self, listing_id=listing_id, investor_id=investor_id, state=state)

    def party(self, party_id: str) -> PartyRecord:
        """See ``HookContext.party``."""
        from lendkit.services.parties import load_party

        return load_party(self, check_id(party_id, "party"))

    def repay(
        self, loan_id: str, amount: Money | None = None, *, source: AccountRef
    ) -> PaymentRecord:
        """See ``HookContext.repay``."""
        from lendkit.services.loans import repay

        money = None if amount is None else parse_amount(amount, self.currency, "repayment")
        return repay(self, check_id(loan_id, "loan"), money, source)

    def apply_listing(self, borrower_id: str, amount: object, **terms: Any) -> ListingRecord:
        """See ``HookContext.apply_listing``."""
        from lendkit.services.listings import apply_listing, parse_application

        application = parse_application(
            self.platform_config, self.products, borrower_id, amount, **terms
        )
        return apply_listing(self, application)

    def after_commit(self, fn: Callable[[], None]) -> None:
        self.tx.after_commit(fn)

    # -- accounts and movements --------------------------------------------------------------------

    def account(
        self,
        owner_kind: str,
        owner_id: str,
        purpose: str,
        currency: str,
        *,
        allow_negative: bool = False,
    ) -> AccountRef:
        cache = self.accounts
        ref = cache.get(f"{owner_kind}:{owner_id}:{purpose}:{currency}")
        if ref is not None:
            return ref
        ref = store_ledger.ensure_account(
            self.conn,
            cache,
            owner_kind=owner_kind,
            owner_id=owner_id,
            purpose=purpose,
            currency=currency,
            allow_negative=allow_negative,
        )
        # cached only once committed: a rolled back creation must not leave a dangling id
        self.after_commit(lambda: cache.put(ref))
        return ref

    def party_account(self, party_id: str, currency: str | None = None) -> AccountRef:
        return self.account("party", party_id, AVAILABLE, currency or self.currency)

    def party_frozen(self, party_id: str, currency: str | None = None) -> AccountRef:
        return self.account("party", party_id, FROZEN, currency or self.currency)

    def system(self, name: str, purpose: str, *, allow_negative: bool = False) -> AccountRef:
        return self.account("platform", name, purpose, self.currency, allow_negative=allow_negative)

    def balance(self, account: AccountRef) -> Money:
        return Money.from_minor(store_ledger.balance_of(self.conn, account.id), account.currency)

    def existing_account(self, code: str) -> AccountRef:
        """The account with ``code`` if it exists (``NotFound`` otherwise); never creates one."""
        return store_ledger.find_account(self.conn, self.accounts, code)

    def paid_for(self, loan_id: str, account: AccountRef) -> Money:
        """What ``account`` paid ``loan_id``'s investors as a third party and has not recovered."""
        owed = self.conn.execute(
            select(
                func.coalesce(
                    func.sum(
                        claims.c.principal
                        + claims.c.interest
                        - claims.c.recovered_principal
                        - claims.c.recovered_interest
                    ),
                    0,
                )
            ).where(claims.c.loan_id == loan_id, claims.c.account_id == account.id)
        ).scalar_one()
        return Money.from_minor(int(owed), account.currency)

    def transfer(self, kind: str, reference: str, legs: Sequence[tuple[AccountRef, Money]]) -> int:
        """A plugin's movement: refused (``Forbidden``) unless a plugin may make it.

        See ``lendkit.core.ledger.plugin_movement_violation``: never from one user's account to
        another user's, never a user's frozen money, a listing's escrow or out of a loan's
        clearing account, never the platform's gateway.
        """
        minor = [Leg(account, money.minor) for account, money in legs]
        problem = plugin_movement_violation(minor)
        if problem:
            raise Forbidden(f"{kind} {reference}: {problem}")
        return self.post(kind, reference, minor)

    def post(self, kind: str, reference: str, legs: Sequence[Leg], memo: str = "") -> int:
        """Book one balanced entry from minor-unit legs."""
        return store_ledger.append_entry(
            self.conn, kind=kind, reference=reference, legs=legs, now=self.now, memo=memo
        )

    def post_many(self, entries: Sequence[store_ledger.NewEntry]) -> list[int]:
        """Book several balanced entries in order (as ``post`` each would) in a few statements."""
        return store_ledger.append_entries(self.conn, entries, self.now)

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
        """See ``HookContext.pay_investors``: ``lendkit.services.loans.pay_investors_from``."""
        # imported here: loans builds on Ctx (the hook context and the unit of work are still
        # one class; issue 11 separates them)
        from lendkit.services.loans import pay_investors_from

        return pay_investors_from(
            self, loan_id, source, principal, interest, reason=reason, period=period
        )
