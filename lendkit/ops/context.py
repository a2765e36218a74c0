"""The operations a plugin reaches through its ``HookContext`` (the unit of work).

The unit of work sits below the operations, so it cannot import them; the platform hands it
:data:`OPERATIONS` through its ``Environment`` instead.
"""

from __future__ import annotations

from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import PaymentRecord
from lendkit.ops import settlement
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


OPERATIONS = Operations()
