"""Open-ended loans: no fixed schedule; interest accrues daily and settles on a period (pure rules).

A product declares :class:`OpenEndedTerms` (``Product(open_ended=...)``) and its listings use the
method :data:`OPEN_ENDED`. The loan then has no schedule at disbursement: interest accrues each
day on the outstanding principal at the loan's rate on the terms' day-count basis, becomes due on
each settlement date (an installment row of interest only), and the principal is repaid in any
amount at any time; at maturity (``start + max_days``) all principal and interest fall due.

The rounding rule, exact by construction:

* the loan keeps ``base_days``, the exact integer sum over the days accrued of the outstanding
  principal in minor units times the day count of that stretch (:func:`accrue`); the day count
  of a stretch ``[a, b)`` is ``basis.days(start, b) - basis.days(start, a)``, so stretches add up
  to exactly one stretch over the same days (also on 30/360, whose day counts do not add up on
  their own);
* the interest accrued to date is ``base_days x annual rate / year days`` rounded HALF_UP once to
  the minor unit (:func:`interest_to_date`, exact rational arithmetic, no float, no Decimal
  context);
* each settlement takes that figure minus what earlier settlements took, so the cent residual of
  one period is carried into the next and the settlements of a year sum to the interest of one
  accrual over the whole year, to the cent. Accruing daily or once after a gap gives the same
  ``base_days``, hence the same figures.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Final

from attrs import field, frozen

from lendkit.core.errors import InvalidValue
from lendkit.core.money import Money
from lendkit.core.schedule import DayCount

__all__ = [
    "MAX_OPEN_DAYS",
    "OPEN_ENDED",
    "OpenEndedStatus",
    "OpenEndedTerms",
    "accrue",
    "interest_to_date",
]

#: the repayment method of an open-ended loan (a product offers it by declaring its terms)
OPEN_ENDED: Final = "open-ended"
#: the longest maximum term a product may declare, in days (about 30 years)
MAX_OPEN_DAYS: Final = 11_000


def _check_whole(value: object, what: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{what} {value!r} must be a whole number between {low} and {high}")
    if not low <= value <= high:
        raise InvalidValue(f"{what} {value} is out of range: allowed {low}..{high}")


def _basis(value: object) -> DayCount:
    return DayCount.parse(value)


@frozen
class OpenEndedTerms:
    """How a product's open-ended loans accrue and settle.

    :param max_days: the maximum term: the loan matures ``max_days`` after disbursement and all
        principal and accrued interest fall due that day (1..:data:`MAX_OPEN_DAYS`).
    :param settle_day: settle monthly on this day of the month (1..31; in shorter months the
        last day), or
    :param settle_every_days: settle every this many days after disbursement (1..``max_days``);
        exactly one of the two.
    :param basis: the day-count basis of the accrual (``30/360``, ``ACT/360`` or ``ACT/365``;
        default ``ACT/360``).

    >>> t = OpenEndedTerms(max_days=365, settle_day=21)
    >>> t.maturity(date(2026, 1, 10)), t.settlements(date(2026, 1, 10), date(2026, 3, 31))
    (datetime.date(2027, 1, 10), [datetime.date(2026, 1, 21), datetime.date(2026, 2, 21), \
datetime.date(2026, 3, 21)])
    """

    max_days: int
    settle_day: int | None = None
    settle_every_days: int | None = None
    basis: DayCount = field(default=DayCount.ACT_360, converter=_basis)

    def __attrs_post_init__(self) -> None:
        _check_whole(self.max_days, "max_days", 1, MAX_OPEN_DAYS)
        if self.settle_day is not None:
            _check_whole(self.settle_day, "settle_day", 1, 31)
        if self.settle_every_days is not None:
            _check_whole(self.settle_every_days, "settle_every_days", 1, MAX_OPEN_DAYS)
        if (self.settle_day is None) == (self.settle_every_days is None):
            raise InvalidValue(
                "open-ended terms need exactly one settlement period: settle_day (monthly on"
                f" that day) or settle_every_days, got settle_day={self.settle_day!r},"
                f" settle_every_days={self.settle_every_days!r}"
            )
        if self.settle_every_days is not None and self.settle_every_days > self.max_days:
            raise InvalidValue(
                f"settle_every_days {self.settle_every_days} is longer than the maximum term"
                f" max_days {self.max_days}: allowed 1..{self.max_days}"
            )

    def maturity(self, start: date) -> date:
        """The day a loan started on ``start`` matures: everything falls due."""
        return start + timedelta(days=self.max_days)

    def is_settlement(self, start: date, day: date) -> bool:
        """Whether interest settles on ``day`` (after ``start``, before maturity; maturity
        settles everything anyway)."""
        if not start < day < self.maturity(start):
            return False
        if self.settle_every_days is not None:
            return (day - start).days % self.settle_every_days == 0
        assert self.settle_day is not None
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(self.settle_day, last)

    def next_settlement(self, start: date, after: date) -> date | None:
        """The first settlement date (or the maturity) after ``after``; ``None`` past maturity."""
        day = after + timedelta(days=1)
        maturity = self.maturity(start)
        while day < maturity and not self.is_settlement(start, day):
            day += timedelta(days=1)
        return day if day <= maturity else None

    def settlements(self, start: date, through: date, after: date | None = None) -> list[date]:
        """The settlement dates after ``after`` (default ``start``) up to ``through``, then the
        maturity if it is not later than ``through``."""
        first = (after or start) + timedelta(days=1)
        end = min(through, self.maturity(start))
        days = [
            first + timedelta(days=k)
            for k in range(max(0, (end - first).days + 1))
            if self.is_settlement(start, first + timedelta(days=k))
        ]
        if self.maturity(start) <= through and self.maturity(start) >= first:
            days.append(self.maturity(start))
        return days


@frozen
class OpenEndedStatus:
    """Where an open-ended loan's accrual stands.

    ``accrued_interest`` is the interest accrued from the start to ``accrued_through``
    (exclusive), rounded once (see the module's rounding rule); ``settled_interest`` what
    settlements have put on installment rows so far (due, paid or not); ``unsettled_interest``
    the difference, which the next settlement takes. ``next_settlement`` is ``None`` once the
    loan has matured.
    """

    loan_id: str
    terms: OpenEndedTerms
    start_date: date
    maturity: date
    accrued_through: date
    outstanding_principal: Money
    accrued_interest: Money
    settled_interest: Money
    next_settlement: date | None

    @property
    def unsettled_interest(self) -> Money:
        """Accrued interest no settlement has taken yet."""
        return self.accrued_interest - self.settled_interest


def accrue(
    base_days: int, outstanding: int, basis: DayCount, start: date, since: date, to: date
) -> int:
    """``base_days`` after ``outstanding`` (minor units) accrued from ``since`` to ``to``
    (exclusive) on a loan started on ``start``: adds ``outstanding x (basis.days(start, to) -
    basis.days(start, since))`` exactly, so any split of a stretch adds up to the whole."""
    if to <= since:
        return base_days
    return base_days + outstanding * (basis.days(start, to) - basis.days(start, since))


def interest_to_date(base_days: int, annual_rate: Decimal, basis: DayCount) -> int:
    """The interest accrued to date in minor units: ``base_days x annual_rate / year days``
    rounded HALF_UP once (exact rational arithmetic)."""
    exact = Fraction(base_days) * Fraction(annual_rate) / basis.year_days
    if exact < 0:
        raise InvalidValue(f"accrued base {base_days} must not be negative")
    return int((exact * 2 + 1) // 2)
