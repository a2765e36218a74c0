"""Repayment schedules: equal installment, equal principal, interest-first and bullet.

Everything is exact: amounts are handled as integer counts of minor units and the monthly rate
``annual / 12`` as an exact integer ratio, so no float (and no truncated decimal expansion) is
ever on the path. Each computed figure (a row's interest, the level payment, the equal principal
part) is rounded by the :class:`~lendkit.core.money.RoundingPolicy`; whatever rounding leaves
over is absorbed by the last row, which always repays the remaining balance exactly.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from math import gcd
from typing import Any, Final

import attrs

from lendkit.core.errors import (
    CurrencyMismatch,
    InvalidAmount,
    InvalidSchedule,
    InvalidValue,
    WrongType,
)
from lendkit.core.money import (
    DEFAULT_ROUNDING,
    Money,
    RoundingPolicy,
    allocate_minor,
    parse_rate,
)

# the builders' hot loops use these under short local names
from lendkit.core.money import format_minor as _format_minor
from lendkit.core.money import minor_exponent as _exponent
from lendkit.core.money import round_div as _round_div
from lendkit.core.money import unchecked_money as _money_from_minor

__all__ = [
    "DAY_COUNTS",
    "METHODS",
    "DayCount",
    "Installment",
    "Schedule",
    "add_months",
    "build_schedule",
    "custom_rows",
    "discount_bullet",
    "replan_schedule",
    "validate_schedule",
]

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


# ---------------------------------------------------------------------------------------------
# Day-count bases, products' own schedules (builders) and the one validator every schedule passes


class DayCount(StrEnum):
    """A day-count basis: how many days a period counts and how many days a year has.

    * ``30/360`` (bond basis): every month counts 30 days; a start on the 31st counts as the
      30th, and so does an end on the 31st when the start is the 30th or 31st.
    * ``ACT/360``: actual calendar days over 360 (Chinese bank convention, bill discount).
    * ``ACT/365``: actual calendar days over 365 (fixed, also in leap years).

    >>> DayCount("ACT/360").days(date(2026, 1, 1), date(2026, 4, 1)), DayCount.ACT_360.year_days
    (90, 360)
    >>> DayCount.THIRTY_360.days(date(2026, 1, 31), date(2026, 2, 28))
    28
    """

    THIRTY_360 = "30/360"
    ACT_360 = "ACT/360"
    ACT_365 = "ACT/365"

    @classmethod
    def parse(cls, value: object) -> DayCount:
        """``value`` as a basis (a ``DayCount`` or its name, case-insensitive), else InvalidValue."""
        if isinstance(value, DayCount):
            return value
        if isinstance(value, str):
            for basis in cls:
                if value.strip().upper() == basis.value:
                    return basis
        allowed = ", ".join(b.value for b in cls)
        raise InvalidValue(f"unknown day-count basis {value!r}: allowed {allowed}")

    @property
    def year_days(self) -> int:
        """The days in a year: 360 or 365."""
        return 365 if self is DayCount.ACT_365 else 360

    def days(self, start: date, end: date) -> int:
        """The days from ``start`` to ``end`` counted on this basis (negative if ``end`` is earlier)."""
        if self is not DayCount.THIRTY_360:
            return (end - start).days
        d1 = min(start.day, 30)
        d2 = min(end.day, 30) if d1 == 30 else end.day
        return 360 * (end.year - start.year) + 30 * (end.month - start.month) + d2 - d1

    def days_within(self, anchor: date, since: date, until: date) -> int:
        """The days from ``since`` to ``until`` of a period counted from ``anchor``.

        ``days(anchor, until) - days(anchor, since)``: consecutive pieces add up to the whole
        (30/360 alone is not additive: Jan 29 -> 31 -> Feb 1 counts 2 + 1, Jan 29 -> Feb 1 counts
        2), so accruing daily or once after a gap counts the same days. Zero if ``until`` is not
        after ``since``.

        >>> DayCount.THIRTY_360.days_within(date(2026, 1, 29), date(2026, 1, 31), date(2026, 2, 1))
        0
        """
        return max(0, self.days(anchor, until) - self.days(anchor, since))

    def interest(self, amount_minor: int, annual_rate: Decimal, since: date, until: date) -> int:
        """Simple interest on ``amount_minor`` (minor units) from ``since`` to ``until``:
        ``amount x days x annual_rate / year days`` rounded once, HALF_UP to a whole minor unit
        (exact Decimal arithmetic; zero if ``until`` is not after ``since``).

        >>> DayCount.ACT_365.interest(10_000_00, Decimal("0.0365"), date(2026, 1, 1), date(2026, 1, 11))
        1000
        """
        days = max(0, self.days(since, until))
        value = Decimal(amount_minor * days) * (annual_rate / self.year_days)
        return int(DEFAULT_ROUNDING.quantize(value, "JPY"))


#: the day-count bases by name
DAY_COUNTS: Final = tuple(b.value for b in DayCount)


def _check_date(value: object, what: str) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise WrongType(f"{what} must be a date, got {type(value).__name__} {value!r}")
    return value


def _money_arg(value: object, currency: str | None, what: str) -> Money:
    if isinstance(value, Money):
        if currency is not None and currency != value.currency:
            raise CurrencyMismatch(f"{what} {value} is not in {currency}")
        return value
    return Money.of(value, currency or "CNY", what=what)


def _rows_schedule(
    principal: Money,
    rate: Decimal,
    method: str,
    start: date,
    rows: Sequence[tuple[date, int, int]],
) -> Schedule:
    """A Schedule from (due date, principal, interest) rows in minor units, numbered from 1."""
    code, exp = principal.currency, principal.exponent
    out: list[Installment] = []
    bal = principal.minor
    for k, (due, part, interest) in enumerate(rows, 1):
        bal -= part
        out.append(
            Installment(
                period=k,
                due_date=due,
                payment=_money_from_minor(part + interest, exp, code),
                principal=_money_from_minor(part, exp, code),
                interest=_money_from_minor(interest, exp, code),
                balance=_money_from_minor(bal, exp, code),
            )
        )
    return Schedule(principal, rate, len(out), method, start, DEFAULT_ROUNDING, tuple(out))


def _check_method_name(method: object) -> str:
    if not isinstance(method, str) or not METHOD_NAME.fullmatch(method):
        raise InvalidValue(
            f"method name {method!r} is not allowed: 1..20 lowercase letters, digits or '-'"
        )
    return method


#: what a product's own method may be called (it is stored in a 20-character column)
METHOD_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,19}")


def discount_bullet(
    face: object,
    rate: object,
    start: date,
    maturity: date,
    basis: object = DayCount.ACT_360,
    *,
    method: str = "discount-bullet",
    currency: str | None = None,
) -> Schedule:
    """A discounted bill (贴现): investors pay the price now and receive ``face`` at ``maturity``.

    ``discount = face x rate x days / basis_days`` rounded HALF_UP to the currency's minor unit
    (``days`` counted from ``start`` to ``maturity`` on ``basis``, ACT/360 by default as bill
    discount is quoted); ``price = face - discount``. The schedule's principal is the price
    (what the listing raises) and its one row, due at ``maturity``, repays the price as principal
    and pays the discount as interest, so the row's payment is ``face``. ``annual_rate`` is the
    discount rate (the investors' yield on the price is higher: ``discount / price x 360 /
    days``). ``method`` is the name stored on the loan (a product declares it); ``months`` is
    the number of rows (1), as for every schedule a builder here makes.

    >>> s = discount_bullet("100000", "3.6%", date(2026, 1, 1), date(2026, 4, 1))
    >>> s.principal, s.installments[0].interest, s.installments[0].payment
    (Money('99100.00', 'CNY'), Money('900.00', 'CNY'), Money('100000.00', 'CNY'))
    """
    face_m = _money_arg(face, currency, "face value")
    if not face_m.is_positive():
        raise InvalidAmount(f"face value {face_m} must be greater than zero")
    r = parse_rate(rate, "discount rate")
    b = DayCount.parse(basis)
    start = _check_date(start, "start date")
    maturity = _check_date(maturity, "maturity")
    method = _check_method_name(method)
    if maturity <= start:
        raise InvalidValue(f"maturity {maturity} must be after the start date {start}")
    days = b.days(start, maturity)
    if days <= 0:
        raise InvalidValue(f"{start} to {maturity} counts {days} days on {b.value}: must be > 0")
    num, den = r.as_integer_ratio()
    discount = _round_div(face_m.minor * num * days, den * b.year_days, "HALF_UP")
    price = face_m.minor - discount
    if price <= 0:
        raise InvalidValue(
            f"discount {Money.from_minor(discount, face_m.currency)} at {r:%} over {days} days"
            f" leaves no price for face value {face_m}"
        )
    p_money = Money.from_minor(price, face_m.currency)
    return _rows_schedule(p_money, r, method, start, [(maturity, price, discount)])


#: a row of :func:`custom_rows`: a due date (a level rent) or a (due date, rent amount) pair
RentRow = date | tuple[date, object]


def custom_rows(
    principal: object,
    rows: Sequence[RentRow],
    rate: object,
    basis: object = DayCount.THIRTY_360,
    residual: object | tuple[date, object] | None = None,
    *,
    start: date,
    method: str = "custom",
    currency: str | None = None,
) -> Schedule:
    """Rents (租金) as a schedule: level or irregular rents and a residual / buy-out row.

    ``rows`` are the rent dates in rising order, each either a ``date`` (a level rent that core
    computes) or a ``(date, amount)`` pair (a fixed rent). ``residual`` (留购价 / buy-out price,
    or a residual value) is an amount paid with the last rent, or a ``(date, amount)`` pair for
    a row of its own after the last rent. ``start`` is when the principal is paid out.

    Split: each row's interest is the balance before it x ``rate`` x days since the previous
    row (or ``start``) / basis days, on ``basis`` (30/360 by default: a month is exactly
    ``rate / 12``), rounded HALF_UP to the minor unit; its principal is the rent minus that
    interest. The level rent is the one that repays ``principal`` exactly at ``rate`` (solved
    exactly, then rounded HALF_UP once). The last row repays the balance left: when it is level
    its rent is that balance plus its interest (it absorbs the rounding); when its amount is
    fixed (a fixed rent or the residual) the amount stays as agreed and its interest is the
    amount minus the balance. Refused (``InvalidSchedule``, naming the row): a rent that does not
    cover its interest, rents that repay the principal before the last row, dates not rising.

    >>> s = custom_rows("3000", [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)],
    ...                 "12%", start=date(2026, 1, 1))
    >>> [(str(i.payment.amount), str(i.interest.amount)) for i in s.installments]
    [('1020.07', '30.00'), ('1020.07', '20.10'), ('1020.06', '10.10')]
    """
    p_money = _money_arg(principal, currency, "principal")
    code = p_money.currency
    if not p_money.is_positive():
        raise InvalidAmount(f"principal {p_money} must be greater than zero")
    r = parse_rate(rate, "annual rate")
    b = DayCount.parse(basis)
    start = _check_date(start, "start date")
    method = _check_method_name(method)
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise WrongType(f"rows must be a list of dates or (date, amount) pairs, got {rows!r}")
    # (due date, fixed amount in minor units or None for level, residual added in minor units)
    plan: list[tuple[date, int | None, int]] = []
    for k, item in enumerate(rows, 1):
        if isinstance(item, tuple | list):
            if len(item) != 2:
                raise InvalidValue(f"row {k}: expected (date, amount), got {item!r}")
            due = _check_date(item[0], f"row {k} due date")
            amount = _money_arg(item[1], code, f"row {k} rent")
            if amount.is_negative():
                raise InvalidSchedule(f"row {k}: rent {amount} is negative", row=k, rule="negative")
            plan.append((due, amount.minor, 0))
        else:
            plan.append((_check_date(item, f"row {k} due date"), None, 0))
    if residual is not None:
        if isinstance(residual, tuple | list):
            if len(residual) != 2:
                raise InvalidValue(f"residual: expected an amount or (date, amount): {residual!r}")
            due = _check_date(residual[0], "residual due date")
            res = _money_arg(residual[1], code, "residual")
            if res.is_negative():
                raise InvalidValue(f"residual {res} must not be negative")
            plan.append((due, res.minor, 0))
        else:
            res = _money_arg(residual, code, "residual")
            if res.is_negative():
                raise InvalidValue(f"residual {res} must not be negative")
            if not plan:
                raise InvalidValue("a residual paid with the last rent needs at least one rent")
            due, fixed, _ = plan[-1]
            plan[-1] = (due, fixed, res.minor)
    if not plan:
        raise InvalidSchedule("a schedule needs at least one row", rule="rows")
    previous = start
    for k, (due, _, _) in enumerate(plan, 1):
        if due <= previous:
            what = "the start date" if k == 1 else f"row {k - 1}'s due date"
            raise InvalidSchedule(
                f"row {k}: due date {due} is not after {what} {previous}", row=k, rule="due-date"
            )
        previous = due
    num, den = r.as_integer_ratio()
    year = den * b.year_days
    days: list[int] = []
    previous = start
    for due, _, _ in plan:
        days.append(b.days(previous, due))
        previous = due
    # growth factors (1 + rate x days / year) as exact fractions; the level rent L solves
    # P x prod(all) - sum(fixed_k x after_k) - L x sum(after_k over level rows) = 0
    growth = [Fraction(year + num * d, year) for d in days]
    after: list[Fraction] = [Fraction(1)] * len(plan)
    acc = Fraction(1)
    for k in range(len(plan) - 1, -1, -1):
        after[k] = acc
        acc *= growth[k]
    level_weight = sum(
        (after[k] for k, (_, fixed, _) in enumerate(plan) if fixed is None), Fraction(0)
    )
    level = 0
    if level_weight:
        owed = p_money.minor * acc - sum(
            ((fixed or 0) + extra) * after[k] for k, (_, fixed, extra) in enumerate(plan)
        )
        exact = owed / level_weight
        if exact <= 0:
            raise InvalidSchedule(
                f"row {len(plan)}: the fixed rents and residual repay more than the principal"
                f" {p_money} at {r:%}; no level rent is left",
                row=len(plan),
                rule="principal-sum",
            )
        level = _round_div(exact.numerator, exact.denominator, "HALF_UP")
    built: list[tuple[date, int, int]] = []
    bal = p_money.minor
    last = len(plan)
    for k, ((due, fixed, extra), d) in enumerate(zip(plan, days, strict=True), 1):
        interest = _round_div(bal * num * d, year, "HALF_UP")
        if k == last:
            if fixed is None:
                built.append((due, bal, interest))
                continue
            pay = fixed + extra
            if pay < bal:
                raise InvalidSchedule(
                    f"row {k}: the last amount {Money.from_minor(pay, code)} is less than the"
                    f" principal left {Money.from_minor(bal, code)}: the rents do not repay"
                    f" {p_money} at {r:%}",
                    row=k,
                    rule="principal-sum",
                )
            built.append((due, bal, pay - bal))
            continue
        pay = (level if fixed is None else fixed) + extra
        part = pay - interest
        if part < 0:
            raise InvalidSchedule(
                f"row {k}: rent {Money.from_minor(pay, code)} does not cover its interest"
                f" {Money.from_minor(interest, code)}",
                row=k,
                rule="negative",
            )
        if part > bal:
            raise InvalidSchedule(
                f"row {k}: rent {Money.from_minor(pay, code)} repays more than the principal"
                f" left {Money.from_minor(bal, code)} before the last row",
                row=k,
                rule="balance",
            )
        bal -= part
        built.append((due, part, interest))
    return _rows_schedule(p_money, r, method, start, built)


def validate_schedule(
    schedule: Schedule, *, principal: Money | None = None, start: date | None = None
) -> Schedule:
    """Check every rule a schedule must keep before a loan is disbursed on it; return it.

    ``principal`` is the loan's principal (default: the schedule's own) and ``start`` the date
    the loan starts (default: the schedule's). Rules, checked row by row (``rule`` names in the
    error): at least one row (``rows``); the schedule's principal is the loan's (``principal``);
    periods numbered 1, 2, ... (``period``); amounts in the principal's currency (``currency``);
    no negative payment, principal, interest or balance (``negative``); payment = principal +
    interest (``payment``); principal never more than what is left and each row's balance the
    principal left after it, so balances never go negative and never rise (``balance``); due
    dates strictly rising, the first after ``start`` (``due-date``); the last balance zero, the
    principal rows summing to the principal exactly (``principal-sum``). The first broken rule
    is raised as :class:`~lendkit.core.errors.InvalidSchedule` naming the row and the rule.
    """
    if not isinstance(schedule, Schedule):
        raise WrongType(f"a schedule must be a Schedule, got {type(schedule).__name__}")
    want = schedule.principal if principal is None else principal
    begin = schedule.start_date if start is None else start
    code = want.currency
    if not isinstance(schedule.principal, Money) or schedule.principal.currency != code:
        raise InvalidSchedule(
            f"the schedule's principal {schedule.principal!r} is not an amount in {code}",
            rule="currency",
        )
    if schedule.principal != want:
        raise InvalidSchedule(
            f"the schedule's principal {schedule.principal} is not the loan's {want}",
            rule="principal",
        )
    rows = schedule.installments
    if not rows:
        raise InvalidSchedule("a schedule needs at least one row", rule="rows")
    left = want.minor
    previous = begin
    for k, row in enumerate(rows, 1):

        def refuse(text: str, rule: str, k: int = k, row: Installment = row) -> InvalidSchedule:
            return InvalidSchedule(f"row {k} (due {row.due_date}): {text}", row=k, rule=rule)

        if row.period != k:
            raise refuse(f"period is {row.period}, expected {k} (periods run 1, 2, ...)", "period")
        amounts = {
            "payment": row.payment,
            "principal": row.principal,
            "interest": row.interest,
            "balance": row.balance,
        }
        for name, amount in amounts.items():
            if not isinstance(amount, Money) or amount.currency != code:
                raise refuse(f"{name} {amount!r} is not an amount in {code}", "currency")
        for name, amount in amounts.items():
            if amount.is_negative():
                raise refuse(f"{name} {amount} is negative", "negative")
        if row.payment.minor != row.principal.minor + row.interest.minor:
            raise refuse(
                f"payment {row.payment} is not principal {row.principal} + interest {row.interest}",
                "payment",
            )
        if row.principal.minor > left:
            raise refuse(
                f"principal {row.principal} is more than the {Money.from_minor(left, code)} left"
                " (the balance would go negative)",
                "balance",
            )
        left -= row.principal.minor
        if row.balance.minor != left:
            raise refuse(
                f"balance {row.balance} is not the principal left after it,"
                f" {Money.from_minor(left, code)}",
                "balance",
            )
        if not isinstance(row.due_date, date) or row.due_date <= previous:
            what = "the start date" if k == 1 else f"row {k - 1}'s due date"
            raise refuse(f"due date is not after {what} {previous}", "due-date")
        previous = row.due_date
    if left:
        raise InvalidSchedule(
            f"row {len(rows)} (due {rows[-1].due_date}): {Money.from_minor(left, code)} is still"
            f" owed after the last row: principal rows sum to"
            f" {Money.from_minor(want.minor - left, code)}, not the principal {want}",
            row=len(rows),
            rule="principal-sum",
        )
    return schedule


def replan_schedule(
    method: str,
    remaining: Money,
    annual_rate: Decimal,
    since: date,
    mode: str,
    unpaid: Sequence[Installment],
) -> Schedule:
    """lendkit's own re-plan of what is left after a partial prepayment (periods from 1).

    The four standard methods are rebuilt as before: ``reduce`` keeps the number of rows and
    lowers the payment; ``shorten`` (equal-installment and equal-principal) takes the fewest
    rows whose first payment is not above the current next payment. Any other method (a
    product's own rows) keeps its calendar: the same due dates, each row's principal reduced
    pro rata (:func:`~lendkit.core.money.allocate_minor` of ``remaining`` over the old
    principals) and its interest scaled by ``remaining / outstanding`` (HALF_UP per row), in
    both modes. A product re-plans otherwise through ``lendkit_replan_schedule``.
    """
    if not unpaid:
        raise InvalidValue("nothing is left to re-plan")
    code = remaining.currency
    if method in METHODS:
        months = len(unpaid)
        plan = build_schedule(
            remaining, annual_rate, months, method, start_date=since, currency=code
        )
        if mode == "shorten" and method in ("equal-installment", "equal-principal"):
            target = unpaid[0].payment.minor
            for n in range(1, months + 1):
                candidate = build_schedule(
                    remaining, annual_rate, n, method, start_date=since, currency=code
                )
                if candidate.installments[0].payment.minor <= target:
                    return candidate
        return plan
    outstanding = sum(r.principal.minor for r in unpaid)
    parts = allocate_minor(remaining.minor, [r.principal.minor for r in unpaid])
    rows = [
        (r.due_date, part, _round_div(r.interest.minor * remaining.minor, outstanding, "HALF_UP"))
        for r, part in zip(unpaid, parts, strict=True)
    ]
    return _rows_schedule(remaining, annual_rate, method, since, rows)
