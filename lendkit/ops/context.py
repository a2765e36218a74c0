"""The operations a plugin reaches through its ``HookContext`` (the unit of work).

The unit of work sits below the operations, so it cannot import them; the platform hands it
:data:`OPERATIONS` through its ``Environment`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lendkit.core.access import Actor, Subject
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import Bid, ListingRecord, LoanRecord, PartyRecord, PaymentRecord
from lendkit.core.schedule import Schedule
from lendkit.ops import access, listings, settlement
from lendkit.ops.bidding import find_bids
from lendkit.ops.loans import (
    installment_rows,
    load_loan,
    load_loans,
    load_schedule,
    loan_for_listing,
    owed_of,
)
from lendkit.ops.parties import load_party
from lendkit.ops.records import load_listing
from lendkit.ops.repayment import pay_investors_from, repay, repay_principal
from lendkit.uow import UnitOfWork


class Operations:
    """Implements ``lendkit.uow.PluginOperations`` with lendkit's operations."""

    def pay_investors(
        self,
        uow: UnitOfWork,
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
        return pay_investors_from(
            uow,
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
        uow: UnitOfWork,
        loan_id: str,
        source: AccountRef,
        *,
        interest: str,
        fee: Money | None,
    ) -> PaymentRecord:
        return settlement.settle(uow, loan_id, source, interest=interest, fee=fee)

    def loan(self, uow: UnitOfWork, loan_id: str) -> LoanRecord:
        return load_loan(uow, loan_id)

    def loans(self, uow: UnitOfWork, loan_ids: Sequence[str]) -> dict[str, LoanRecord]:
        return load_loans(uow, loan_ids)

    def loan_for_listing(self, uow: UnitOfWork, listing_id: str) -> LoanRecord:
        return loan_for_listing(uow, listing_id)

    def schedule(self, uow: UnitOfWork, loan_id: str) -> Schedule:
        return load_schedule(uow, loan_id)

    def listing(self, uow: UnitOfWork, listing_id: str) -> ListingRecord:
        return load_listing(uow, listing_id)

    def bids(
        self,
        uow: UnitOfWork,
        listing_id: str | None,
        investor_id: str | None,
        state: str | None,
    ) -> list[Bid]:
        return find_bids(uow, listing_id=listing_id, investor_id=investor_id, state=state)

    def party(self, uow: UnitOfWork, party_id: str) -> PartyRecord:
        return load_party(uow, party_id)

    def repay(
        self, uow: UnitOfWork, loan_id: str, amount: Money | None, source: AccountRef
    ) -> PaymentRecord:
        return repay(uow, loan_id, amount, source)

    def repay_principal(
        self, uow: UnitOfWork, loan_id: str, amount: Money, source: AccountRef
    ) -> PaymentRecord:
        return repay_principal(uow, loan_id, amount, None, source=source)

    def amount_due(self, uow: UnitOfWork, loan_id: str) -> Money:
        loan = load_loan(uow, loan_id)
        rows = installment_rows(uow, loan_id, unpaid=True)
        owed = sum(owed_of(r).total for r in rows if r.due_date <= uow.today)
        return Money.from_minor(owed, loan.principal.currency)

    def apply_listing(
        self, uow: UnitOfWork, borrower_id: str, amount: object, terms: Mapping[str, Any]
    ) -> ListingRecord:
        application = listings.parse_application(
            uow.platform_config, uow.products, borrower_id, amount, **terms
        )
        return listings.apply(uow, application)

    def authorize(self, uow: UnitOfWork, actor: Actor, action: str, subject: Subject) -> None:
        access.authorize(uow, actor, action, subject)


OPERATIONS = Operations()
