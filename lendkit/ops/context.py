"""The operations a plugin reaches through its ``HookContext`` (the unit of work).

The unit of work sits below the operations, so it cannot import them; the platform hands it
:data:`OPERATIONS` through its ``Environment`` instead.
"""

from __future__ import annotations

from typing import Any

from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import ListingRecord
from lendkit.services.listings import apply_listing
from lendkit.services.loans import pay_investors_from
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
    ) -> Money:
        return pay_investors_from(
            uow, loan_id, source, principal, interest, reason=reason, period=period
        )

    def apply_listing(
        self, uow: UnitOfWork, borrower_id: str, amount: object, **terms: Any
    ) -> ListingRecord:
        return apply_listing(uow, borrower_id, amount, **terms)


OPERATIONS = Operations()
