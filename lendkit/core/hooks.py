"""Typed facade over the plugin manager: the core never calls ``pm.hook`` directly.

Each method calls one hook with keyword arguments and turns its raw result into what the caller
needs: flattened and de-duplicated registrations, collected violations, the first decision.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from lendkit.core.access import AccessDecision, Actor, Subject
from lendkit.core.errors import PluginError, ValidationRefused
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
from lendkit.core.serde import structure_settings

if TYPE_CHECKING:
    from lendkit.core.context import HookContext
    from lendkit.core.schedule import Schedule


#: the name lendkit's own trylast implementations are registered under
DEFAULTS_NAME = "lendkit-defaults"
#: per-loan hooks close of business's bulk path does not call (``lendkit_cob_loans_of_interest``)
PER_LOAN_COB_HOOKS = ("payment_allocation_order", "repayment_received", "collection_sources")

__all__ = [
    "DEFAULTS_NAME",
    "Hooks",
    "ValidationRefused",
]  # ValidationRefused lives in lendkit.core.errors


class Hooks:
    """The only way lendkit calls its plugins."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._h: Any = pm.hook

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _violations(what: str, results: Sequence[Sequence[str] | None]) -> None:
        found = [v for result in results if result for v in result]
        if found:
            raise ValidationRefused(f"{what} refused: " + "; ".join(found))

    @property
    def plugin_hooks(self) -> Any:
        """The hook relay for the hooks plugins define themselves (their ``lendkit_hookspecs``),
        which lendkit does not call: ``HookContext.hook`` hands it to the plugin."""
        return self._h

    def plugin_name(self, plugin: object) -> str:
        return self.pm.get_name(plugin) or repr(plugin)

    def implemented(self, *names: str) -> bool:
        """Whether any plugin implements one of the hooks ``names`` (without the ``lendkit_``
        prefix), e.g. ``implemented("repayment_received")``: lets a caller take a faster path
        when nobody listens."""
        return any(getattr(self._h, f"lendkit_{name}").get_hookimpls() for name in names)

    # -- registration -----------------------------------------------------------------------------

    def products(self) -> dict[str, Product]:
        """Every registered product by name; duplicate names are refused naming both plugins."""
        found: dict[str, Product] = {}
        for impl in self._h.lendkit_register_products.get_hookimpls():
            for product in impl.function() or []:
                if not isinstance(product, Product):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} registered {product!r}: expected Product"
                    )
                if product.name in found:
                    raise PluginError(
                        f"product {product.name!r} is registered by both plugin"
                        f" {found[product.name].plugin!r} and plugin {impl.plugin_name!r}"
                    )
                found[product.name] = attrs.evolve(product, plugin=impl.plugin_name)
        return found

    def settings(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Every plugin's settings (``lendkit_register_settings``) structured from ``config``
        (the platform config's ``plugins`` mapping), by name; ``ConfigError`` names a bad key,
        ``PluginError`` a name declared twice."""
        found: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for impl in self._h.lendkit_register_settings.get_hookimpls():
            declared = impl.function()
            if declared is None:
                continue
            if not isinstance(declared, PluginSettings):
                raise PluginError(
                    f"plugin {impl.plugin_name!r} declared settings {declared!r}: expected"
                    " PluginSettings(name, cls)"
                )
            if declared.name in owner:
                raise PluginError(
                    f"settings {declared.name!r} are declared by both plugin"
                    f" {owner[declared.name]!r} and plugin {impl.plugin_name!r}"
                )
            owner[declared.name] = impl.plugin_name
            found[declared.name] = structure_settings(
                declared.name, declared.cls, config.get(declared.name)
            )
        return found

    # -- custody ----------------------------------------------------------------------------------

    def validate_deposit(self, ctx: HookContext, party_id: str, amount: Any) -> None:
        self._violations(
            "deposit", self._h.lendkit_validate_deposit(ctx=ctx, party_id=party_id, amount=amount)
        )

    def validate_withdrawal(self, ctx: HookContext, party_id: str, amount: Any) -> None:
        self._violations(
            "withdrawal",
            self._h.lendkit_validate_withdrawal(ctx=ctx, party_id=party_id, amount=amount),
        )

    def deposit_completed(
        self, ctx: HookContext, party_id: str, amount: Any, movement_id: str
    ) -> None:
        self._h.lendkit_deposit_completed(
            ctx=ctx, party_id=party_id, amount=amount, movement_id=movement_id
        )

    def withdrawal_completed(
        self, ctx: HookContext, party_id: str, amount: Any, movement_id: str
    ) -> None:
        self._h.lendkit_withdrawal_completed(
            ctx=ctx, party_id=party_id, amount=amount, movement_id=movement_id
        )

    # -- credit and listings ----------------------------------------------------------------------

    def assess_credit(
        self, ctx: HookContext, party_id: str, verified: Sequence[str], reports: Sequence[str]
    ) -> CreditAssessment | None:
        result = self._h.lendkit_assess_credit(
            ctx=ctx, party_id=party_id, verified=list(verified), reports=list(reports)
        )
        return result if isinstance(result, CreditAssessment) else None

    def validate_listing(self, ctx: HookContext, listing: ListingRecord) -> None:
        self._violations(
            f"listing {listing.id}", self._h.lendkit_validate_listing(ctx=ctx, listing=listing)
        )

    def price_listing(self, ctx: HookContext, listing: ListingRecord, grade: str) -> Decimal | None:
        result = self._h.lendkit_price_listing(ctx=ctx, listing=listing, grade=grade)
        return result if isinstance(result, Decimal) else None

    def validate_bid(
        self,
        ctx: HookContext,
        listing: ListingRecord,
        investor_id: str,
        amount: Any,
        rate: Decimal | None,
    ) -> None:
        self._violations(
            "bid",
            self._h.lendkit_validate_bid(
                ctx=ctx, listing=listing, investor_id=investor_id, amount=amount, rate=rate
            ),
        )

    def allocate_bids(
        self,
        ctx: HookContext,
        listing: ListingRecord,
        bids: Sequence[tuple[str, int, Decimal | None, int]],
    ) -> Sequence[tuple[str, int]] | None:
        result = self._h.lendkit_allocate_bids(ctx=ctx, listing=listing, bids=list(bids))
        return list(result) if result is not None else None

    def listing_funded(self, ctx: HookContext, listing: ListingRecord) -> None:
        self._h.lendkit_listing_funded(ctx=ctx, listing=listing)

    def listing_failed(self, ctx: HookContext, listing: ListingRecord) -> None:
        self._h.lendkit_listing_failed(ctx=ctx, listing=listing)

    def bid_placed(self, ctx: HookContext, listing: ListingRecord, bid: Bid) -> None:
        self._h.lendkit_bid_placed(ctx=ctx, listing=listing, bid=bid)

    def bid_released(self, ctx: HookContext, listing: ListingRecord, bid: Bid, reason: str) -> None:
        self._h.lendkit_bid_released(ctx=ctx, listing=listing, bid=bid, reason=reason)

    def listing_approved(self, ctx: HookContext, listing: ListingRecord) -> None:
        self._h.lendkit_listing_approved(ctx=ctx, listing=listing)

    def listing_withdrawn(self, ctx: HookContext, listing: ListingRecord, reason: str) -> None:
        self._h.lendkit_listing_withdrawn(ctx=ctx, listing=listing, reason=reason)

    def disbursement_deductions(
        self, ctx: HookContext, listing: ListingRecord, principal: Money, service_fee: Money
    ) -> list[Deduction]:
        out: list[Deduction] = []
        for result in self._h.lendkit_disbursement_deductions(
            ctx=ctx, listing=listing, principal=principal, service_fee=service_fee
        ):
            out.extend(result or [])
        return out

    # -- disbursement account ---------------------------------------------------------------------

    def disbursement_account(self, ctx: HookContext, listing: ListingRecord) -> AccountRef:
        """Where the net proceeds go: the first answer (lendkit's default: the borrower's
        available account). Only its type is checked here; the caller checks the account."""
        result = self._h.lendkit_disbursement_account(ctx=ctx, listing=listing)
        if not isinstance(result, AccountRef):
            raise PluginError(
                f"lendkit_disbursement_account answered {result!r} for listing {listing.id}:"
                " expected an AccountRef from ctx.party_account, ctx.account or"
                " ctx.existing_account"
            )
        return result

    def build_schedule(
        self, ctx: HookContext, listing: ListingRecord, start: Any
    ) -> Schedule | None:
        result: Schedule | None = self._h.lendkit_build_schedule(
            ctx=ctx, listing=listing, start=start
        )
        return result

    def replan_schedule(
        self,
        ctx: HookContext,
        loan: LoanRecord,
        remaining: Any,
        since: date,
        mode: str,
        unpaid: Sequence[Installment],
    ) -> Schedule | str | None:
        """The first plugin's re-plan after a partial prepayment (``str``: a refusal)."""
        result: Schedule | str | None = self._h.lendkit_replan_schedule(
            ctx=ctx, loan=loan, remaining=remaining, since=since, mode=mode, unpaid=tuple(unpaid)
        )
        return result

    def loan_disbursed(self, ctx: HookContext, loan: LoanRecord) -> None:
        self._h.lendkit_loan_disbursed(ctx=ctx, loan=loan)

    # -- repayment --------------------------------------------------------------------------------

    def payment_allocation_order(
        self, ctx: HookContext, loan: LoanRecord
    ) -> tuple[str, ...] | None:
        result = self._h.lendkit_payment_allocation_order(ctx=ctx, loan=loan)
        return tuple(result) if result is not None else None

    def repayment_received(
        self, ctx: HookContext, loan: LoanRecord, payment: PaymentRecord
    ) -> None:
        self._h.lendkit_repayment_received(ctx=ctx, loan=loan, payment=payment)

    def repayments_received(self, ctx: HookContext, repayments: Sequence[Repayment]) -> None:
        self._h.lendkit_repayments_received(ctx=ctx, repayments=list(repayments))

    def cob_single_loans(self, ctx: HookContext, loan_ids: Sequence[str]) -> set[str] | None:
        """The loans of a close-of-business chunk that must take the one-loan path because a
        plugin's per-loan hooks must see them (``lendkit_cob_loans_of_interest``); ``None``:
        every loan (a plugin implements a per-loan hook of that path, ``PER_LOAN_COB_HOOKS``,
        without declaring its loans)."""
        listeners = {
            impl.plugin_name
            for name in PER_LOAN_COB_HOOKS
            for impl in getattr(self._h, f"lendkit_{name}").get_hookimpls()
            if impl.plugin_name != DEFAULTS_NAME
        }
        impls = self._h.lendkit_cob_loans_of_interest.get_hookimpls()
        if listeners - {impl.plugin_name for impl in impls}:
            return None
        found: set[str] = set()
        if not impls:
            return found
        wanted = set(loan_ids)
        for result in self._h.lendkit_cob_loans_of_interest(ctx=ctx, loan_ids=list(loan_ids)):
            if isinstance(result, str):
                raise PluginError(
                    f"lendkit_cob_loans_of_interest answered {result!r}: expected loan ids"
                    " (a list), not one string"
                )
            found.update(loan_id for loan_id in result or () if loan_id in wanted)
        return found

    def installment_overdue(
        self, ctx: HookContext, loan: LoanRecord, installment: Installment, days_overdue: int
    ) -> None:
        self._h.lendkit_installment_overdue(
            ctx=ctx, loan=loan, installment=installment, days_overdue=days_overdue
        )

    # -- penalty rate -----------------------------------------------------------------------------

    def penalty_rate(
        self, ctx: HookContext, loan: LoanRecord, installment: Installment, default: Decimal
    ) -> Decimal:
        """A loan's daily penalty rate: the first answer, ``default`` (the configured
        ``penalty_daily_rate``) if none; a non-Decimal, negative or non-finite answer is a
        ``PluginError``."""
        result = self._h.lendkit_penalty_rate(ctx=ctx, loan=loan, installment=installment)
        if result is None:
            return default
        if (
            isinstance(result, bool)
            or not isinstance(result, Decimal)
            or not result.is_finite()
            or result < 0
        ):
            raise PluginError(
                f"lendkit_penalty_rate answered {result!r} for loan {loan.id}:"
                " expected a finite Decimal >= 0 (a daily rate) or None"
            )
        return result

    def coverers(self, order: Sequence[str]) -> Iterator[tuple[str, Any]]:
        """``lendkit_cover_claim`` implementations in waterfall ``order`` (unlisted ones skipped)."""
        impls = {i.plugin_name: i for i in self._h.lendkit_cover_claim.get_hookimpls()}
        for name in order:
            if name in impls:
                yield name, impls[name]

    def cover_claim(self, impl: Any, ctx: HookContext, claim: Claim) -> Any:
        """Call one waterfall step (pluggy lets it take fewer arguments than the spec)."""
        kwargs = {"ctx": ctx, "claim": claim}
        return impl.function(*[kwargs[name] for name in impl.argnames])

    # -- collection sources -----------------------------------------------------------------------

    def replaced(self, name: str) -> bool:
        """Whether a plugin (not lendkit's own default) implements the hook ``name`` (without
        the ``lendkit_`` prefix)."""
        impls = getattr(self._h, f"lendkit_{name}").get_hookimpls()
        return any(impl.plugin_name != DEFAULTS_NAME for impl in impls)

    def collection_sources(
        self, ctx: HookContext, loan: LoanRecord, installment: Installment
    ) -> tuple[str, ...]:
        """The party ids COB collects ``installment`` from, in order (at least one, each once)."""
        result = self._h.lendkit_collection_sources(ctx=ctx, loan=loan, installment=installment)
        if (
            isinstance(result, str)
            or not isinstance(result, Sequence)
            or not result
            or not all(isinstance(p, str) and p for p in result)
        ):
            raise PluginError(
                f"lendkit_collection_sources returned {result!r} for loan {loan.id} installment"
                f" {installment.period}: expected a non-empty list of party ids"
            )
        return tuple(dict.fromkeys(result))

    def cob_day(self, ctx: HookContext, run_date: date, shard: str) -> None:
        self._h.lendkit_cob_day(ctx=ctx, run_date=run_date, shard=shard)

    def loan_defaulted(self, ctx: HookContext, loan: LoanRecord) -> None:
        self._h.lendkit_loan_defaulted(ctx=ctx, loan=loan)

    def recovery_received(
        self,
        ctx: HookContext,
        loan: LoanRecord,
        *,
        payer: AccountRef,
        period: int,
        principal: Money,
        interest: Money,
    ) -> None:
        self._h.lendkit_recovery_received(
            ctx=ctx,
            loan=loan,
            amount=principal + interest,
            payer=payer,
            period=period,
            principal=principal,
            interest=interest,
        )

    def loan_closed(self, ctx: HookContext, loan: LoanRecord) -> None:
        self._h.lendkit_loan_closed(ctx=ctx, loan=loan)

    def disclosures(self, ctx: HookContext) -> list[Disclosure]:
        out: list[Disclosure] = []
        for result in self._h.lendkit_disclosures(ctx=ctx):
            out.extend(result or [])
        return out

    # -- secondary market ----------------------------------------------------------------------------

    def validate_transfer(
        self,
        ctx: HookContext,
        transfer: TransferRecord,
        loan: LoanRecord,
        buyer_id: str | None,
        principal: Money,
    ) -> None:
        self._violations(
            "transfer",
            self._h.lendkit_validate_transfer(
                ctx=ctx, transfer=transfer, loan=loan, buyer_id=buyer_id, principal=principal
            ),
        )

    def authorize(
        self, ctx: HookContext, actor: Actor, action: str, subject: Subject
    ) -> AccessDecision | None:
        """The first plugin's access decision (``None``: no plugin has one)."""
        decision = self._h.lendkit_authorize(ctx=ctx, actor=actor, action=action, subject=subject)
        if decision is not None and not isinstance(decision, AccessDecision):
            raise PluginError(
                f"lendkit_authorize returned {decision!r}: return an AccessDecision or None"
            )
        return decision

    def subject_owner(self, ctx: HookContext, subject: Subject) -> str | None:
        """The party a plugin says owns ``subject`` (``None``: none answered)."""
        owner = self._h.lendkit_subject_owner(ctx=ctx, subject=subject)
        if owner is not None and not isinstance(owner, str):
            raise PluginError(
                f"lendkit_subject_owner returned {owner!r}: return a party id or None"
            )
        return owner

    def transfer_settled(
        self,
        ctx: HookContext,
        transfer: TransferRecord,
        agreement: TransferAgreement,
        loan: LoanRecord,
    ) -> None:
        self._h.lendkit_transfer_settled(ctx=ctx, transfer=transfer, agreement=agreement, loan=loan)
