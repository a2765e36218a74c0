"""Repayment schedules: equal installment, equal principal, interest-first and bullet.

Everything is exact: amounts are handled as integer counts of minor units and the monthly rate
``annual / 12`` as an exact integer ratio, so no float (and no truncated decimal expansion) is
ever on the path. Each computed figure (a row's interest, the level payment, the equal principal
part) is rounded by the :class:`~lendkit.core.money.RoundingPolicy`; whatever rounding leaves
over is absorbed by the last row, which always repays the remaining balance exactly.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal
from math import gcd
from typing import Any, Final

import attrs

from lendkit.core.errors import CurrencyMismatch, InvalidAmount, InvalidValue, WrongType
from lendkit.core.money import (
    DEFAULT_ROUNDING,
    Money,
    RoundingPolicy,
    _exponent,
    _money_from_minor,
    _round_div,
    parse_rate,
)

__all__ = ["METHODS", "Installment", "Schedule", "add_months", "build_schedule"]

#: the repayment methods :func:`build_schedule` knows
METHODS: Final = ("equal-installment", "equal-principal", "interest-first", "bullet")
MIN_MONTHS: Final = 1
MAX_MONTHS: Final = 600


def add_months(d: date, n: int) -> date:
    """``d`` moved ``n`` calendar months, clamped to the month's end (Jan 31 + 1 -> Feb 28/29)."""
    index = d.year * 12 + (d.month - 1) + n
    year, month0 = divmod(index, 12)
    month = month0 + 1
    day = d.day
    if day > 28:
        last = calendar.monthrange(year, month)[1]
        if day > last:
            day = last
    return date(year, month, day)


@attrs.frozen
class Installment:
    """One schedule row: what is due on ``due_date`` and the principal still owed after it."""

    period: int
    due_date: date
    payment: Money
    principal: Money
    interest: Money
    balance: Money

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (amounts as strings with the currency's places)."""
        return {
            "period": self.period,
            "due_date": self.due_date.isoformat(),
            "payment": self.payment.format(),
            "principal": self.principal.format(),
            "interest": self.interest.format(),
            "balance": self.balance.format(),
        }


@attrs.frozen
class Schedule:
    """A complete repayment schedule as produced by :func:`build_schedule`."""

    principal: Money
    annual_rate: Decimal
    months: int
    method: str
    start_date: date
    rounding: RoundingPolicy
    installments: tuple[Installment, ...]

    def _sum(self, field: str) -> Money:
        code = self.principal.currency
        total = sum(getattr(row, field).minor for row in self.installments)
        return Money.from_minor(total, code)

    @property
    def total_payment(self) -> Money:
        """Sum of every row's payment."""
        return self._sum("payment")

    @property
    def total_interest(self) -> Money:
        """Sum of every row's interest."""
        return self._sum("interest")

    @property
    def total_principal(self) -> Money:
        """Sum of every row's principal (always exactly the loan principal)."""
        return self._sum("principal")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: principal, annual_rate, months, method, installments and totals."""
        return {
            "principal": self.principal.format(),
            "annual_rate": f"{self.annual_rate:f}",
            "months": self.months,
            "method": self.method,
            "installments": [row.to_dict() for row in self.installments],
            "total_payment": self.total_payment.format(),
            "total_interest": self.total_interest.format(),
        }


def _check_months(months: object) -> int:
    if isinstance(months, bool) or not isinstance(months, int):
        raise WrongType(f"months must be an int, got {type(months).__name__} {months!r}")
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        raise InvalidValue(f"months {months} is out of range: allowed {MIN_MONTHS}..{MAX_MONTHS}")
    return months


def build_schedule(
    principal: object,
    annual_rate: object,
    months: int,
    method: str = "equal-installment",
    *,
    start_date: date | None = None,
    rounding: RoundingPolicy = DEFAULT_ROUNDING,
    currency: str | None = None,
) -> Schedule:
    """Build the repayment schedule of a loan.

    ``principal`` is a :class:`Money` or a str/int/Decimal amount (floats raise ``TypeError``)
    and must be greater than zero. ``annual_rate`` is parsed by
    :func:`~lendkit.core.money.parse_rate` (``"12%"`` or ``"0.12"``, 0..100%). ``months`` is
    1..600. ``currency`` defaults to the principal's currency (CNY for plain amounts). Period
    ``k`` is due ``add_months(start_date, k)`` (``start_date`` defaults to today).

    Methods (monthly rate ``r = annual_rate / 12``, each row's interest is the previous
    balance times ``r`` rounded by ``rounding``):

    * ``equal-installment``: a level payment ``P*r*(1+r)^n / ((1+r)^n - 1)`` (``P/n`` when
      ``r == 0``) rounded once; each row's principal is payment minus interest; the last row
      repays the remaining balance.
    * ``equal-principal``: principal ``P/n`` rounded each row, the last row takes the rest.
    * ``interest-first``: interest only; the last row also repays all the principal.
    * ``bullet``: one row after ``months`` months: simple interest ``P*annual*months/12``.

    Invariants: principals sum exactly to ``P``, every balance is >= 0 and the last is 0, each
    payment equals principal plus interest, no principal is negative.
    """
    if currency is not None:
        _exponent(currency)  # validates the code
    if isinstance(principal, Money):
        if currency is not None and currency != principal.currency:
            raise CurrencyMismatch(f"principal {principal} is not in {currency}")
        p_money = principal
    else:
        p_money = Money.of(principal, currency or "CNY", what="principal")
    code = p_money.currency
    if not p_money.is_positive():
        raise InvalidAmount(f"principal {p_money} must be greater than zero")
    rate = parse_rate(annual_rate, "annual rate")
    n = _check_months(months)
    if method not in METHODS:
        raise InvalidValue(f"unknown repayment method {method!r}: allowed {', '.join(METHODS)}")
    if not isinstance(rounding, RoundingPolicy):
        raise WrongType(f"rounding must be a RoundingPolicy, got {type(rounding).__name__}")
    exp = _exponent(code)
    places = exp if rounding.places is None else rounding.places
    if places > exp:
        raise InvalidValue(
            f"rounding to {places} places is finer than {code} allows ({exp} places)"
        )
    if start_date is None:
        start_date = date.today()

    unit = 10 ** (exp - places)
    mode = rounding.mode
    p = p_money.minor
    a_num, a_den = rate.as_integer_ratio()

    # rows of (principal, interest) in minor units
    rows: list[tuple[int, int]]
    if method == "bullet":
        interest = _round_div(p * a_num * n, a_den * 12 * unit, mode) * unit
        rows = [(p, interest)]
    else:
        r_num, r_den = a_num, a_den * 12
        g = gcd(r_num, r_den)
        r_num //= g
        r_den //= g
        i_den = r_den * unit  # interest = round(balance * r_num / i_den) * unit
        rows = []
        append = rows.append
        bal = p
        if method == "equal-installment":
            if r_num == 0:
                level = _round_div(p, n * unit, mode) * unit
            else:
                grow = (r_den + r_num) ** n
                base = r_den**n
                level = _round_div(p * r_num * grow, r_den * (grow - base) * unit, mode) * unit
            for _ in range(n - 1):
                interest = _round_div(bal * r_num, i_den, mode) * unit if r_num else 0
                part = level - interest
                if part > bal:
                    part = bal
                elif part < 0:
                    part = 0
                append((part, interest))
                bal -= part
            interest = _round_div(bal * r_num, i_den, mode) * unit if r_num else 0
            append((bal, interest))
        elif method == "equal-principal":
            each = _round_div(p, n * unit, mode) * unit
            for _ in range(n - 1):
                interest = _round_div(bal * r_num, i_den, mode) * unit if r_num else 0
                part = each if each <= bal else bal
                append((part, interest))
                bal -= part
            interest = _round_div(bal * r_num, i_den, mode) * unit if r_num else 0
            append((bal, interest))
        else:  # interest-first
            interest = _round_div(p * r_num, i_den, mode) * unit if r_num else 0
            rows = [(0, interest)] * (n - 1)
            rows.append((p, interest))

    installments = _materialize(rows, p, code, exp, start_date, n if method == "bullet" else 0)
    return Schedule(p_money, rate, n, method, start_date, rounding, installments)


def _materialize(
    rows: list[tuple[int, int]],
    p: int,
    code: str,
    exp: int,
    start: date,
    bullet_months: int,
) -> tuple[Installment, ...]:
    """Turn integer rows into Installments, sharing Money objects for repeated amounts."""
    cache: dict[int, Money] = {}
    get = cache.get
    out: list[Installment] = []
    bal = p
    for k, (part, interest) in enumerate(rows, 1):
        bal -= part
        pay = part + interest
        m_pay = get(pay)
        if m_pay is None:
            m_pay = cache[pay] = _money_from_minor(pay, exp, code)
        m_part = get(part)
        if m_part is None:
            m_part = cache[part] = _money_from_minor(part, exp, code)
        m_int = get(interest)
        if m_int is None:
            m_int = cache[interest] = _money_from_minor(interest, exp, code)
        m_bal = get(bal)
        if m_bal is None:
            m_bal = cache[bal] = _money_from_minor(bal, exp, code)
        due = add_months(start, bullet_months or k)
        out.append(Installment(k, due, m_pay, m_part, m_int, m_bal))
    return tuple(out)
