"""``Ctx``: the unit of work as services and plugins use it (implements ``HookContext``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from lendkit.core.errors import Forbidden
from lendkit.core.ledger import AVAILABLE, FROZEN, AccountRef, Leg, plugin_movement_violation
from lendkit.core.money import Money
from lendkit.services.uow import Tx
from lendkit.store import ledger as store_ledger
from lendkit.store.tables import claims

if TYPE_CHECKING:
    from lendkit.core.config import PlatformConfig
    from lendkit.core.hooks import Hooks
    from lendkit.core.records import PaymentRecord, Product
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
        include_future: bool = False,
        penalty: Money | None = None,
    ) -> Money:
        """See ``HookContext.pay_investors``: ``lendkit.services.loans.pay_investors_from``."""
        # imported here: loans builds on Ctx (the hook context and the unit of work are still
        # one class; issue 11 separates them)
        from lendkit.services.loans import pay_investors_from

        return pay_investors_from(
            self,
            loan_id,
            source,
            principal,
            interest,
            reason=reason,
            period=period,
            include_future=include_future,
            penalty=penalty,
        )

    def settle(
        self,
        loan_id: str,
        source: AccountRef,
        interest: str = "accrued",
        fee: Money | None = None,
    ) -> PaymentRecord:
        """See ``HookContext.settle``: ``lendkit.services.settlement.settle``."""
        from lendkit.services.settlement import settle  # imported here: settlement uses Ctx

        return settle(self, loan_id, source, interest=interest, fee=fee)
