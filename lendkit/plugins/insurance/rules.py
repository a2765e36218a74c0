"""The insurance plugin's pure rules (no database, no context)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from lendkit.core.errors import (
    InvalidValue,
)
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import (
    LoanRecord,
)
from lendkit.plugins.insurance.records import MAX_TRIGGER_DAYS, Policy


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.01'))}%"


def policy_record(row: Any, currency: str) -> Policy:
    def m(v: int) -> Money:
        return Money.from_minor(int(v), currency)

    return Policy(
        row.id,
        row.insurer_id,
        row.kind,
        row.listing_id,
        row.loan_id,
        row.subject,
        m(row.sum_insured),
        Decimal(row.premium_rate),
        m(row.premium),
        m(row.premium_collected),
        row.payer,
        row.trigger_days,
        m(row.claims_paid),
        row.state,
    )


def insurance_trigger(trigger_days: object) -> int | None:
    if isinstance(trigger_days, str) and trigger_days == "default":
        return None
    if (
        isinstance(trigger_days, bool)
        or not isinstance(trigger_days, int)
        or not 1 <= trigger_days <= MAX_TRIGGER_DAYS
    ):
        raise InvalidValue(
            f"trigger_days {str(trigger_days)[:40]!r} must be a whole number of days overdue"
            f" (1..{MAX_TRIGGER_DAYS}) or 'default'"
        )
    return trigger_days


def insurance_scheduled_interest(loan: LoanRecord) -> int:
    return sum(p.outstanding_interest.minor + p.received_interest.minor for p in loan.positions)


def reimbursed_reason(account: AccountRef) -> str:
    return f"reimburse #{account.id}"
