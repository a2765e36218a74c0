"""Pure rules of bill financing: pricing, the bill number, what refuses a bill.

No SQL and no context here: the commands and hooks feed these functions plain values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from lendkit.core.errors import InvalidValue
from lendkit.core.money import Money, allocate
from lendkit.core.schedule import DayCount, Schedule, discount_bullet
from lendkit.plugins.bills.records import Bill, Pricing

METHOD = "discount-bullet"
MAX_NUMBER_LENGTH = 64
_NUMBER = re.compile(r"[0-9A-Z]{1,64}")
_YIELD_QUANTUM = Decimal("0.0001")


def normalize_number(value: object) -> str:
    """A bill number as the platform keeps it: spaces and hyphens dropped, upper case, 1..64
    letters and digits (so ``"1 0201-abc"`` and ``"10201ABC"`` are the same bill)."""
    if not isinstance(value, str):
        raise InvalidValue(f"bill number must be a string, got {type(value).__name__}")
    text = re.sub(r"[\s\-]", "", value).upper()
    if not _NUMBER.fullmatch(text):
        shown = value[:40] + ("..." if len(value) > 40 else "")
        raise InvalidValue(
            f"bill number {shown!r} is not allowed ({len(value):,} characters): use 1..64 letters"
            " and digits (spaces and hyphens are ignored)"
        )
    return text


def schedule(
    face: Money, discount_rate: Decimal, priced_on: date, maturity: date, basis: str
) -> Schedule:
    """The loan's one row: principal = the price, interest = the discount, due at maturity
    (core's :func:`~lendkit.core.schedule.discount_bullet`)."""
    return discount_bullet(face, discount_rate, priced_on, maturity, basis, method=METHOD)


def price(
    face: Money, discount_rate: Decimal, priced_on: date, maturity: date, basis: str
) -> Pricing:
    """The discount terms of a bill priced on ``priced_on`` (see :class:`Pricing`)."""
    rows = schedule(face, discount_rate, priced_on, maturity, basis)
    b = DayCount.parse(basis)
    days = b.days(priced_on, maturity)
    discount = rows.installments[0].interest
    return Pricing(
        face,
        rows.principal,
        discount,
        discount_rate,
        days,
        b.value,
        investor_yield(rows.principal, discount, days, b.year_days),
    )


def investor_yield(price: Money, discount: Money, days: int, year_days: int) -> Decimal:
    """``discount / price x year_days / days``, HALF_UP to 4 decimals."""
    exact = Decimal(discount.minor * year_days) / Decimal(price.minor * days)
    return exact.quantize(_YIELD_QUANTUM, rounding=ROUND_HALF_UP)


def face_shares(pricing: Pricing, paid: Sequence[Money]) -> list[Money]:
    """What each investor receives at maturity for the part of the price it paid: its payment
    back (principal) plus its share of the discount by largest remainder (core's
    :func:`~lendkit.core.money.allocate`, as repayment splits interest over positions). The
    shares sum to the face exactly; each is within one minor unit of ``face x paid / price``."""
    interest = allocate(pricing.discount, [p.minor for p in paid])
    return [p + i for p, i in zip(paid, interest, strict=True)]


def bill_problems(
    bill: Bill,
    today: date,
    min_days: int,
    registry_answer: str | None,
) -> list[str]:
    """Why ``bill`` cannot be financed today (empty: it can): not verified by the acceptor's
    registry, too close to (or past) maturity, pledged elsewhere."""
    problems: list[str] = []
    if registry_answer:
        problems.append(f"bill {bill.number} is not verified: {registry_answer}")
    if bill.pledged_to:
        problems.append(
            f"bill {bill.number} is already pledged to {bill.pledged_to}: a pledged bill cannot"
            " be financed"
        )
    left = (bill.maturity - today).days
    if left < min_days:
        earliest = bill.maturity - timedelta(days=min_days)
        problems.append(
            f"bill {bill.number} matures on {bill.maturity}, {left} days from {today}: a bill is"
            f" financed only with at least {min_days} days to maturity (until {earliest})"
        )
    return problems


def staff_decision(bill: Bill) -> str | None:
    """The default registry's answer: a bill is confirmed once staff marked it verified."""
    if bill.verified_by:
        return None
    return "no acceptor registry confirmed it and staff have not marked it verified (bills.verify_bill)"
