"""``platform.reports``: the facade over :mod:`lendkit.ops.reports`."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from lendkit.core.access import AUDIT_OUTCOMES, Actor, AuditEntry, parse_actor
from lendkit.core.inputs import check_choice, check_datetime, check_id, check_text
from lendkit.core.money import Money
from lendkit.core.records import Disclosure, Receipt
from lendkit.core.servicing import Page, Portfolio, check_limit
from lendkit.ops import access, servicing
from lendkit.ops import reports as ops
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

    def audit(
        self,
        *,
        subject: str | None = None,
        actor: Actor | str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: datetime | date | None = None,
        until: datetime | date | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[AuditEntry]:
        """The audit trail a page at a time (see :meth:`lendkit.Platform.audit`)."""
        subject = None if subject is None else check_text(subject, "audit subject", 120)
        who = None if actor is None else parse_actor(actor).label
        action = None if action is None else check_text(action, "audit action", 80)
        if outcome is not None:
            outcome = check_choice(outcome, "audit outcome", AUDIT_OUTCOMES)
        since = None if since is None else check_datetime(since, "since")
        until = None if until is None else check_datetime(until, "until")
        after = None if after is None else check_id(after, "page cursor")
        limit = check_limit(limit)
        return self._p.runner.run(
            "reports.audit",
            lambda tx: access.audit_page(
                tx,
                subject=subject,
                actor=who,
                action=action,
                outcome=outcome,
                since=since,
                until=until,
                after=after,
                limit=limit,
            ),
        )

    def disclosure(self) -> list[Disclosure]:
        """Platform totals plus every enabled plugin's disclosures."""
        return self._p.runner.run("reports.disclosure", lambda tx: ops.disclosure(tx))
