"""``platform.reports``: the facade over :mod:`lendkit.ops.reports`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lendkit.core.inputs import check_id
from lendkit.core.money import Money
from lendkit.core.records import Disclosure, Receipt
from lendkit.core.servicing import Portfolio
from lendkit.ops import reports as ops
from lendkit.ops import servicing
from lendkit.ops.reports import BAD_DEBT_RATE, OVERDUE_RATE, PlatformTotals

if TYPE_CHECKING:
    from lendkit.platform import Platform

__all__ = ["BAD_DEBT_RATE", "OVERDUE_RATE", "PlatformTotals", "ReportsService"]


class ReportsService:
    """``platform.reports``."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    def totals(self) -> PlatformTotals:
        """Volume, outstanding, overdue and defaulted principal, revenue, listings by state."""
        return self._p.runner.run("reports.totals", lambda tx: ops.totals(tx))

    def fees(self) -> Money:
        """Fees booked on payments (management, prepayment) — the revenue less service fees."""
        return self._p.runner.run("reports.fees", lambda tx: ops.fees(tx))

    def position_history(self, loan_id: str, investor_id: str) -> list[Receipt]:
        """What ``investor_id`` received on ``loan_id``, payment by payment, and who paid each
        (the borrower, a party paying for it, a guarantor, an insurer, the reserve...)."""
        loan_id = check_id(loan_id, "loan")
        investor_id = check_id(investor_id, "investor")
        return self._p.runner.run(
            "reports.position_history",
            lambda tx: ops.position_history(tx, loan_id, investor_id),
        )

    def portfolio(self, investor_id: str) -> Portfolio:
        """An investor's positions across loans (outstanding, received, covered by third
        parties, expected), cash available and frozen, open bids, and realised and expected
        yield (annual XIRR of its dated cash flows, net of fees)."""
        investor_id = check_id(investor_id, "investor")
        return self._p.runner.run(
            "reports.portfolio", lambda tx: servicing.portfolio(tx, investor_id)
        )

    def disclosure(self) -> list[Disclosure]:
        """Platform totals plus every enabled plugin's disclosures."""
        return self._p.runner.run("reports.disclosure", lambda tx: ops.disclosure(tx))
