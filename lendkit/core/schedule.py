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
    parse_rate,
)

# the builders' hot loops use these under short local names
from lendkit.core.money import format_minor as _format_minor
from lendkit.core.money import minor_exponent as _exponent
from lendkit.core.money import round_div as _round_div
from lendkit.core.money import unchecked_money as _money_from_minor

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
    """A complete repayment schedule as produced by :func:`build_schedule`.

    A schedule built by :func:`build_schedule` keeps its rows as integers (minor units) and
    creates the :class:`Installment` objects on the first read of ``installments`` (once; the
    tuple is then reused). The totals and :meth:`to_dict` work from the integers directly.
    Everything else (equality, hashing, ``repr``, ``attrs.evolve``, pickling) reads
    ``installments`` like any attribute, so a built schedule behaves exactly like one
    constructed with an explicit ``installments=`` tuple.
    """

    principal: Money
    annual_rate: Decimal
    months: int
    method: str
    start_date: date
    rounding: RoundingPolicy
    installments: tuple[Installment, ...]

    def _sum(self, field: str) -> Money:
        code = self.principal.currency
        raw = _slot_get(self, Schedule)
        if type(raw) is _Rows:
            total = raw.total(field)
        else:
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
        raw = _slot_get(self, Schedule)
        rows = raw.to_dicts() if type(raw) is _Rows else [r.to_dict() for r in self.installments]
        return {
            "principal": self.principal.format(),
            "annual_rate": f"{self.annual_rate:f}",
            "months": self.months,
            "method": self.method,
            "installments": rows,
            "total_payment": self.total_payment.format(),
            "total_interest": self.total_interest.format(),
        }


# ``Schedule.installments`` is a slot; build_schedule stores a _Rows there instead of a tuple and
# the descriptor below (which replaces the slot's own in the class) turns it into Installments
# on first read. Reads and writes of any other value go straight to the slot.
_slot: Final = Schedule.__dict__["installments"]
_slot_get: Final = _slot.__get__
_slot_set: Final = _slot.__set__


class _LazyInstallments:
    """Data descriptor for ``Schedule.installments`` (see above)."""

    __slots__ = ()

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = _slot_get(obj, owner)
        if type(value) is _Rows:
            return value.installments()
        return value

    def __set__(self, obj: object, value: object) -> None:
        _slot_set(obj, value)

    def __delete__(self, obj: object) -> None:
        _slot.__delete__(obj)


type.__setattr__(Schedule, "installments", _LazyInstallments())

# Installment has no validators or post-init: build rows by filling its slots directly.
_new = object.__new__
_set_period = Installment.__dict__["period"].__set__
_set_due_date = Installment.__dict__["due_date"].__set__
_set_payment = Installment.__dict__["payment"].__set__
_set_principal = Installment.__dict__["principal"].__set__
_set_interest = Installment.__dict__["interest"].__set__
_set_balance = Installment.__dict__["balance"].__set__


def _due_dates(start: date, offsets: range) -> list[date]:
    """``[add_months(start, k) for k in offsets]``, without the month-end check when not needed."""
    day = start.day
    if day > 28:
        return [add_months(start, k) for k in offsets]
    base = start.year * 12 + start.month - 1
    out: list[date] = []
    append = out.append
    for k in offsets:
        year, month0 = divmod(base + k, 12)
        append(date(year, month0 + 1, day))
    return out


class _Rows:
    """The integer rows of a built schedule; makes the Installments once, when first asked."""

    __slots__ = (
        "_built",
        "bullet_months",
        "code",
        "each",
        "exp",
        "interests",
        "level",
        "p",
        "start",
    )

    def __init__(
        self,
        interests: list[int],
        p: int,
        level: int | None,
        each: int,
        code: str,
        exp: int,
        start: date,
        bullet_months: int,
    ) -> None:
        self.interests = interests  # each row's interest, minor units
        self.p = p  # the principal, minor units
        self.level = level  # equal-installment: the level payment; else None
        self.each = each  # otherwise: each row's principal part (the last row takes the rest)
        self.code = code
        self.exp = exp
        self.start = start
        self.bullet_months = bullet_months  # 0, or the bullet row's month offset
        self._built: tuple[Installment, ...] | None = None

    def parts(self) -> list[int]:
        """Each row's principal part, as build_schedule defined it (see there)."""
        level, each = self.level, self.each
        out: list[int] = []
        append = out.append
        bal = self.p
        interests = self.interests
        for i in range(len(interests) - 1):
            part = each if level is None else level - interests[i]
            if part > bal:
                part = bal
            elif part < 0:
                part = 0
            append(part)
            bal -= part
        append(bal)
        return out

    def total(self, field: str) -> int:
        if field == "principal":
            return sum(self.parts())
        if field == "interest":
            return sum(self.interests)
        return sum(self.parts()) + sum(self.interests)

    def _dates(self) -> list[date]:
        if self.bullet_months:
            return [add_months(self.start, self.bullet_months)]
        return _due_dates(self.start, range(1, len(self.interests) + 1))

    def installments(self) -> tuple[Installment, ...]:
        built = self._built
        if built is None:
            built = self._built = self._materialize()
        return built

    def _materialize(self) -> tuple[Installment, ...]:
        """Installments from the integer rows, sharing Money objects for repeated amounts."""
        exp, code = self.exp, self.code
        cache: dict[int, Money] = {}
        get = cache.get
        out: list[Installment] = []
        append = out.append
        bal = self.p
        rows = zip(self.parts(), self.interests, self._dates(), strict=True)
        for k, (part, interest, due) in enumerate(rows, 1):
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
            row: Installment = _new(Installment)
            _set_period(row, k)
            _set_due_date(row, due)
            _set_payment(row, m_pay)
            _set_principal(row, m_part)
            _set_interest(row, m_int)
            _set_balance(row, m_bal)
            append(row)
        return tuple(out)

    def to_dicts(self) -> list[dict[str, Any]]:
        """``[row.to_dict() for row in installments]``, straight from the integers."""
        exp = self.exp
        out: list[dict[str, Any]] = []
        append = out.append
        bal = self.p
        rows = zip(self.parts(), self.interests, self._dates(), strict=True)
        for k, (part, interest, due) in enumerate(rows, 1):
            bal -= part
            append(
                {
                    "period": k,
                    "due_date": due.isoformat(),
                    "payment": _format_minor(part + interest, exp),
                    "principal": _format_minor(part, exp),
                    "interest": _format_minor(interest, exp),
                    "balance": _format_minor(bal, exp),
                }
            )
        return out


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
    p = p_money.minor
    a_num, a_den = rate.as_integer_ratio()
    # Every rounded figure is round(num / den) in ``rounding.mode``, done inline as
    #   t, rem = divmod(num * 2 + den, 2 * den)  (HALF_UP; DOWN: divmod(num, den)); t -= 1 when
    #   rem == 0 and t is odd under HALF_EVEN (an exact half rounded up to an odd number).
    # This is _round_div(num, den, mode) for num >= 0, without a call per row.
    mode = rounding.mode

    # Each row's interest in minor units; its principal part follows from the interest (see
    # _Rows.parts): the level payment minus the interest (equal-installment) or the fixed
    # ``each`` (equal-principal 1/n, interest-first 0), never more than the balance; the last
    # row repays the balance.
    level: int | None = None
    each = 0
    interests: list[int]
    if method == "bullet":
        interests = [_round_div(p * a_num * n, a_den * 12 * unit, mode) * unit]
    else:
        r_num, r_den = a_num, a_den * 12
        g = gcd(r_num, r_den)
        r_num //= g
        r_den //= g
        i_den = r_den * unit  # interest = round(balance * r_num / i_den) * unit
        if method == "interest-first":
            interests = [_round_div(p * r_num, i_den, mode) * unit] * n
        else:
            interests = []
            add = interests.append
            bal = p
            if method == "equal-installment":
                if r_num == 0:
                    level = _round_div(p, n * unit, mode) * unit
                else:
                    grow = (r_den + r_num) ** n
                    base = r_den**n
                    level = _round_div(p * r_num * grow, r_den * (grow - base) * unit, mode) * unit
                if mode == "HALF_EVEN":
                    for _ in range(n - 1):
                        interest = _round_div(bal * r_num, i_den, mode) * unit
                        add(interest)
                        part = level - interest  # clamped to 0..bal
                        if part > bal:
                            bal = 0
                        elif part > 0:
                            bal -= part
                else:
                    # _round_div inlined: HALF_UP is floor((2x + d) / 2d), DOWN floor(x / d)
                    up = mode == "HALF_UP"
                    i_mul = 2 * r_num if up else r_num
                    i_add = i_den if up else 0
                    i_div = 2 * i_den if up else i_den
                    for _ in range(n - 1):
                        interest = (bal * i_mul + i_add) // i_div * unit
                        add(interest)
                        part = level - interest  # clamped to 0..bal
                        if part > bal:
                            bal = 0
                        elif part > 0:
                            bal -= part
            else:  # equal-principal
                each = _round_div(p, n * unit, mode) * unit
                for _ in range(n - 1):
                    add(_round_div(bal * r_num, i_den, mode) * unit)
                    bal -= each if each <= bal else bal
            add(_round_div(bal * r_num, i_den, mode) * unit)

    rows = _Rows(interests, p, level, each, code, exp, start_date, n if method == "bullet" else 0)
    try:
        add_months(start_date, n)  # the latest due date: must exist
    except ValueError:
        rows.installments()  # fails on the first due date that does not, as it always has
        raise
    schedule = Schedule(p_money, rate, n, method, start_date, rounding, ())
    _slot_set(schedule, rows)
    return schedule
