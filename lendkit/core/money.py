"""Exact money: currencies, rounding policies, parsing and largest-remainder allocation.

Every amount in lendkit is a :class:`Money`: a finite ``Decimal`` stored with exactly as many
decimal places as its currency has minor units (CNY/USD/EUR/GBP: 2, JPY: 0), plus the currency
code. Floats are refused with ``TypeError`` wherever money or a rate enters; strings, ints and
``Decimal`` are accepted. All arithmetic runs in a private high-precision decimal context, so it is
exact for every amount lendkit accepts (magnitude below ``10**MAX_INTEGER_DIGITS``).
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

import attrs

from lendkit.core.errors import (
    CurrencyMismatch,
    InvalidAmount,
    InvalidRate,
    InvalidValue,
    UnknownCurrency,
    WrongType,
)

__all__ = [
    "CURRENCIES",
    "DEFAULT_ROUNDING",
    "MAX_INTEGER_DIGITS",
    "ROUNDING_MODES",
    "Currency",
    "Money",
    "RoundingPolicy",
    "allocate",
    "allocate_minor",
    "currency",
    "parse_rate",
    "to_decimal",
]

#: amounts must be smaller than 10**MAX_INTEGER_DIGITS in absolute value
MAX_INTEGER_DIGITS: Final = 40
#: longest numeric string accepted from outside
_MAX_TEXT: Final = 64

# Private context: precision far above anything an accepted amount needs, so + - * are exact.
_CTX: Final = decimal.Context(
    prec=120,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_LIMIT: Final = Decimal(10) ** MAX_INTEGER_DIGITS
_scaleb: Final = Decimal.scaleb
_HUNDRED: Final = Decimal(100)


@attrs.frozen
class Currency:
    """An ISO 4217 currency: its code and the number of decimal places of its minor unit."""

    code: str
    exponent: int


#: the currencies lendkit knows, by code
CURRENCIES: Final[dict[str, Currency]] = {
    c.code: c
    for c in (
        Currency("CNY", 2),
        Currency("USD", 2),
        Currency("EUR", 2),
        Currency("GBP", 2),
        Currency("JPY", 0),
    )
}

# code -> (exponent, quantum Decimal("0.01") / Decimal("1"))
_EXP: dict[str, int] = {c.code: c.exponent for c in CURRENCIES.values()}
_QUANTUM: dict[int, Decimal] = {}


def _quantum(places: int) -> Decimal:
    q = _QUANTUM.get(places)
    if q is None:
        q = _QUANTUM[places] = Decimal(1).scaleb(-places)
    return q


def _unknown(code: object) -> UnknownCurrency:
    known = ", ".join(sorted(CURRENCIES))
    return UnknownCurrency(f"unknown currency {code!r}: known currencies are {known}")


def currency(code: str) -> Currency:
    """The :class:`Currency` for ``code``; ``UnknownCurrency`` (naming the known ones) if none."""
    try:
        return CURRENCIES[code]
    except (KeyError, TypeError):
        raise _unknown(code) from None


def minor_exponent(code: str) -> int:
    """How many minor-unit digits currency ``code`` has (CNY 2, JPY 0); ``UnknownCurrency``
    for a code lendkit does not know."""
    try:
        return _EXP[code]
    except (KeyError, TypeError):
        raise _unknown(code) from None


# ---------------------------------------------------------------------------------------------
# Rounding

#: rounding mode name -> decimal module constant
ROUNDING_MODES: Final[dict[str, str]] = {
    "HALF_UP": decimal.ROUND_HALF_UP,
    "HALF_EVEN": decimal.ROUND_HALF_EVEN,
    "DOWN": decimal.ROUND_DOWN,
}


def _check_mode(_inst: object, _attr: object, value: str) -> None:
    if value not in ROUNDING_MODES:
        allowed = ", ".join(ROUNDING_MODES)
        raise InvalidValue(f"rounding mode {value!r} is not supported: allowed {allowed}")


def _check_places(_inst: object, _attr: object, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 18:
        raise InvalidValue(f"rounding places {value!r} is out of range: allowed None or 0..18")


@attrs.frozen
class RoundingPolicy:
    """How lendkit rounds computed amounts (interest, level payments, multiplied amounts).

    ``mode`` is ``"HALF_UP"`` (the default; reproduces the published Chinese calculators),
    ``"HALF_EVEN"`` (banker's rounding) or ``"DOWN"`` (truncate toward zero). ``places`` is the
    number of decimal places to keep; ``None`` means the currency's minor-unit exponent.
    Residuals (what rounding leaves over) always go to the last schedule row.
    """

    mode: str = attrs.field(default="HALF_UP", validator=_check_mode)
    places: int | None = attrs.field(default=None, validator=_check_places)

    def places_for(self, currency: str = "CNY") -> int:
        """Number of decimal places this policy keeps for ``currency``."""
        return minor_exponent(currency) if self.places is None else self.places

    def quantize(self, value: Decimal, currency: str = "CNY") -> Decimal:
        """Round ``value`` to this policy's places for ``currency`` with this policy's mode."""
        places = minor_exponent(currency) if self.places is None else self.places
        if not isinstance(value, Decimal):
            value = to_decimal(value, "value")
        try:
            q = value.quantize(_quantum(places), rounding=ROUNDING_MODES[self.mode], context=_CTX)
        except decimal.InvalidOperation:
            raise InvalidAmount(f"value {value} cannot be rounded to {places} places") from None
        return q.copy_abs() if q.is_zero() else q

    @classmethod
    def parse(cls, text: str, places: int | None = None) -> RoundingPolicy:
        """Build a policy from a mode name such as ``"half-up"``, ``"HALF_EVEN"`` or ``"down"``."""
        if not isinstance(text, str):
            raise WrongType(f"rounding mode must be a str, got {type(text).__name__}")
        mode = text.strip().upper().replace("-", "_").replace(" ", "_")
        if mode not in ROUNDING_MODES:
            allowed = ", ".join(m.lower().replace("_", "-") for m in ROUNDING_MODES)
            raise InvalidValue(f"rounding mode {text!r} is not supported: allowed {allowed}")
        return cls(mode, places)


#: HALF_UP to the currency's minor unit
DEFAULT_ROUNDING: Final = RoundingPolicy()


def round_div(num: int, den: int, mode: str) -> int:
    """``num / den`` rounded to an integer with ``mode`` (``den > 0``); exact integer arithmetic."""
    if num < 0:
        return -round_div(-num, den, mode)
    q, r = divmod(num, den)
    if mode == "DOWN" or r == 0:
        return q
    twice = 2 * r
    if twice > den or (twice == den and (mode == "HALF_UP" or q & 1)):
        return q + 1
    return q


# ---------------------------------------------------------------------------------------------
# Parsing


def _refuse_type(value: object, what: str) -> TypeError:
    if isinstance(value, float):
        return WrongType(
            f"{what} {value!r} is a float: floats are refused on money paths, "
            "use a str or Decimal instead"
        )
    return WrongType(f"{what} must be a str, int or Decimal, got {type(value).__name__} {value!r}")


def _parse(value: object, what: str, error: type[InvalidValue]) -> Decimal:
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_TEXT:
            raise error(f"{what} {value[:20]!r}... is too long: at most {_MAX_TEXT} characters")
        try:
            d = Decimal(text)
        except (decimal.InvalidOperation, ValueError):
            raise error(f"{what} {value!r} is not a valid number") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    else:
        raise _refuse_type(value, what)
    if not d.is_finite():
        raise error(f"{what} {value!r} is not a finite number")
    return d


def to_decimal(value: object, what: str = "amount") -> Decimal:
    """Convert a str, int or Decimal to a finite ``Decimal``.

    Floats, bools and other types raise ``TypeError``. Malformed strings, strings longer than 64
    characters, NaN and Infinity raise ``InvalidAmount`` naming the value (``what`` names it in
    the message, e.g. ``"principal"``). Surrounding whitespace is ignored.
    """
    return _parse(value, what, InvalidAmount)


#: rates carry at most this many decimal places as a fraction
MAX_RATE_PLACES = 8


def parse_rate(value: object, what: str = "annual rate") -> Decimal:
    """Parse a rate given as a fraction (``"0.12"``) or a percentage (``"12%"``).

    Returns a normalized ``Decimal`` between 0 and 1 inclusive (``"12%"`` -> ``Decimal("0.12")``).
    Floats raise ``TypeError``; malformed or out-of-range values raise ``InvalidRate``.
    """
    percent = False
    number = value
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            percent = True
            number = text[:-1]
    try:
        d = _parse(number, what, InvalidRate)
    except InvalidRate:
        if percent:
            raise InvalidRate(f"{what} {value!r} is not a valid percentage") from None
        raise
    if percent:
        d = _CTX.divide(d, _HUNDRED)
    if not 0 <= d <= 1:
        shown = value.strip() if isinstance(value, str) else value
        hint = ""
        if not percent and 1 < d <= 100:
            # "12" is almost always meant as 12 %: a bare number is a fraction (0.12)
            hint = f"; did you mean {shown}%? (a rate is a fraction such as 0.12 or a percentage such as 12%)"
        raise InvalidRate(f"{what} {shown} is out of range: allowed 0..100%{hint}")
    if d.is_zero():
        return Decimal(0)
    d = d.normalize(_CTX)
    if -d.as_tuple().exponent > MAX_RATE_PLACES:  # type: ignore[operator]
        shown = value.strip() if isinstance(value, str) else value
        raise InvalidRate(
            f"{what} {shown} is too precise: at most {MAX_RATE_PLACES} decimal places"
            " as a fraction (0.00000001 = 0.000001%)"
        )
    return d


# ---------------------------------------------------------------------------------------------
# Money


def _validate_amount(amount: object, code: str) -> Decimal:
    exp = minor_exponent(code)
    if not isinstance(amount, Decimal):
        amount = to_decimal(amount, "amount")
    elif not amount.is_finite():
        raise InvalidAmount(f"amount {amount} is not a finite number")
    if amount.as_tuple().exponent == -exp and abs(amount) < _LIMIT:
        return amount.copy_abs() if amount.is_zero() else amount
    if abs(amount) >= _LIMIT:
        raise InvalidAmount(
            f"amount {amount} {code} is too large: at most {MAX_INTEGER_DIGITS} digits"
        )
    q = amount.quantize(_quantum(exp), context=_CTX)
    if q != amount:
        raise InvalidAmount(f"amount {amount} has more decimal places than {code} allows ({exp})")
    return q.copy_abs() if q.is_zero() else q


@attrs.frozen(eq=False, order=False)
class Money:
    """An exact amount of one currency, stored with exactly the currency's minor-unit places.

    Build with :meth:`Money.of`, :meth:`Money.from_minor` or :meth:`Money.zero`; direct
    construction ``Money(Decimal("1.5"), "CNY")`` is validated too (and stored as ``1.50``).
    ``+``, ``-``, comparisons and :meth:`multiply` work within one currency; mixing currencies
    raises ``CurrencyMismatch`` (``==`` simply answers ``False``).
    """

    amount: Decimal
    currency: str = "CNY"

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "amount", _validate_amount(self.amount, self.currency))

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def of(cls, value: object, currency: str | None = None, *, what: str = "amount") -> Money:
        """Money from a str, int, Decimal or Money (``currency`` defaults to CNY).

        Floats raise ``TypeError``; malformed values or more decimal places than the currency
        has raise ``InvalidAmount`` (``what`` names the value in messages); an unknown currency
        raises ``UnknownCurrency``. Passing a ``Money`` with a different explicit ``currency``
        raises ``CurrencyMismatch``.
        """
        if isinstance(value, Money):
            if currency is not None and currency != value.currency:
                raise CurrencyMismatch(
                    f"{what} {value} is in {value.currency}, expected {currency}"
                )
            return value
        code = "CNY" if currency is None else currency
        exp = minor_exponent(code)
        d = to_decimal(value, what)
        shown = value.strip() if isinstance(value, str) else value
        if abs(d) >= _LIMIT:
            raise InvalidAmount(
                f"{what} {shown} is too large: at most {MAX_INTEGER_DIGITS} integer digits"
            )
        q = d.quantize(_quantum(exp), context=_CTX)
        if q != d:
            raise InvalidAmount(
                f"{what} {shown} has more decimal places than {code} allows ({exp})"
            )
        return _money(q.copy_abs() if q.is_zero() else q, code)

    @classmethod
    def from_minor(cls, units: int, currency: str = "CNY") -> Money:
        """Money from an integer count of minor units (cents for CNY: ``150`` -> ``1.50``)."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise _refuse_type(units, "minor units")
        exp = minor_exponent(currency)
        amount = Decimal(units).scaleb(-exp, _CTX)
        if abs(amount) >= _LIMIT:
            raise InvalidAmount(f"amount {amount} {currency} is too large")
        return _money(amount, currency)

    @classmethod
    def zero(cls, currency: str = "CNY") -> Money:
        """Zero in ``currency``."""
        return _money(Decimal(0).scaleb(-minor_exponent(currency), _CTX), currency)

    # -- views -----------------------------------------------------------------------------

    @property
    def minor(self) -> int:
        """The amount as an integer count of minor units (``1.50 CNY`` -> ``150``)."""
        return int(_scaleb(self.amount, _EXP[self.currency], _CTX))

    @property
    def exponent(self) -> int:
        """Number of decimal places of this currency's minor unit."""
        return _EXP[self.currency]

    def format(self) -> str:
        """The amount with exactly the currency's places and no code: ``"8884.88"``."""
        return f"{self.amount:f}"

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"

    def __repr__(self) -> str:
        return f"Money('{self.amount:f}', '{self.currency}')"

    # -- predicates --------------------------------------------------------------------------

    def is_zero(self) -> bool:
        """True if the amount is zero."""
        return self.amount.is_zero()

    def is_positive(self) -> bool:
        """True if the amount is greater than zero."""
        return self.amount > 0

    def is_negative(self) -> bool:
        """True if the amount is less than zero."""
        return self.amount < 0

    def __bool__(self) -> bool:
        return not self.amount.is_zero()

    # -- comparison --------------------------------------------------------------------------

    def _same(self, other: Money, op: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot {op} {self} and {other}: currencies differ "
                f"({self.currency} vs {other.currency})"
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency == other.currency and self.amount == other.amount

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return not (self.currency == other.currency and self.amount == other.amount)

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "compare")
        return self.amount >= other.amount

    # -- arithmetic --------------------------------------------------------------------------

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "add")
        return _checked(_CTX.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other, "subtract")
        return _checked(_CTX.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return _money(_CTX.minus(self.amount), self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return _money(self.amount.copy_abs(), self.currency)

    def multiply(
        self, factor: Decimal | int | str, rounding: RoundingPolicy = DEFAULT_ROUNDING
    ) -> Money:
        """``self * factor`` rounded by ``rounding`` to the currency's places.

        ``factor`` is a Decimal, int or numeric str; a float raises ``TypeError``. A policy with
        more places than the currency has raises ``InvalidAmount`` (Money cannot hold them).
        """
        f = to_decimal(factor, "factor")
        product = _CTX.multiply(self.amount, f)
        rounded = rounding.quantize(product, self.currency)
        return Money(rounded, self.currency)


# Slot descriptors of the frozen class: setting through them skips attrs' frozen __setattr__.
_set_amount = Money.__dict__["amount"].__set__
_set_currency = Money.__dict__["currency"].__set__
_new = object.__new__


def _money(amount: Decimal, currency: str) -> Money:
    """Fast internal constructor: ``amount`` must already satisfy the Money invariant."""
    m: Money = _new(Money)
    _set_amount(m, amount)
    _set_currency(m, currency)
    return m


def unchecked_money(units: int, exp: int, currency: str) -> Money:
    """``Money.from_minor(units, currency)`` without validation, for hot loops inside
    ``lendkit.core`` whose inputs are already checked (``exp`` is the currency's exponent)."""
    m: Money = _new(Money)
    _set_amount(m, _scaleb(Decimal(units), -exp, _CTX))
    _set_currency(m, currency)
    return m


def format_minor(units: int, exp: int) -> str:
    """``Money.from_minor(units, code).format()`` for a currency with ``exp`` places, from ints."""
    if exp == 0:
        return str(units)
    whole, frac = divmod(-units if units < 0 else units, 10**exp)
    return f"{'-' if units < 0 else ''}{whole}.{frac:0{exp}d}"


def _checked(amount: Decimal, currency: str) -> Money:
    if abs(amount) >= _LIMIT:
        raise InvalidAmount(f"amount {amount} {currency} is too large")
    return _money(amount, currency)


# ---------------------------------------------------------------------------------------------
# Allocation


def _int_weights(weights: Sequence[int | Decimal]) -> list[int]:
    """Weights as non-negative ints with the same ratios (Decimal weights scaled up exactly)."""
    ints: list[int] = []
    scale = 0
    has_decimal = False
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, int | Decimal):
            raise _refuse_type(w, f"weight #{i}")
        if isinstance(w, Decimal):
            if not w.is_finite():
                raise InvalidValue(f"weight #{i} {w} is not a finite number")
            has_decimal = True
            e = w.as_tuple().exponent
            assert isinstance(e, int)
            if -e > scale:
                scale = -e
        if w < 0:
            raise InvalidValue(f"weight #{i} {w} is negative: weights must be >= 0")
    if not has_decimal:
        return list(weights)  # type: ignore[arg-type]  # all ints, checked above
    factor = 10**scale
    for w in weights:
        if isinstance(w, Decimal):
            num, den = w.as_integer_ratio()
            ints.append(num * factor // den)
        else:
            ints.append(w * factor)
    return ints


def allocate_minor(total: int, weights: Sequence[int | Decimal]) -> list[int]:
    """Split an integer ``total`` (minor units) over ``weights`` by largest remainder.

    Exact integer arithmetic, O(n log n). Guarantees:

    * the shares sum exactly to ``total``;
    * each share is the floor or the ceiling of its exact quota ``total * w / sum(weights)``;
    * a zero weight gets exactly 0;
    * the result is deterministic.

    After every share gets the floor of its quota, the leftover units (fewer than the number of
    weights) go one each to the shares ordered by: largest fractional remainder first, then the
    larger weight, then the earlier index. Callers therefore pass weights in priority order
    (e.g. bid order) so that earlier bids win exact ties.

    A negative ``total`` is split as ``-total`` and negated. Negative weights raise
    ``InvalidValue``; so do all-zero weights with a nonzero total. Float or bool weights (or
    total) raise ``TypeError``.
    """
    if isinstance(total, bool) or not isinstance(total, int):
        raise _refuse_type(total, "total")
    ints = _int_weights(weights)
    if total < 0:
        return [-share for share in allocate_minor(-total, ints)]
    denom = sum(ints)
    if denom == 0:
        if total == 0:
            return [0] * len(ints)
        raise InvalidValue(f"cannot allocate {total} over weights that are all zero")
    shares: list[int] = []
    remainders: list[int] = []
    given = 0
    for w in ints:
        q, r = divmod(total * w, denom)
        shares.append(q)
        remainders.append(r)
        given += q
    leftover = total - given
    if leftover:
        candidates = [i for i, r in enumerate(remainders) if r]
        candidates.sort(key=lambda i: (-remainders[i], -ints[i], i))
        for i in candidates[:leftover]:
            shares[i] += 1
    return shares


def allocate(total: Money, weights: Sequence[int | Decimal]) -> list[Money]:
    """Split ``total`` over ``weights`` by largest remainder; see :func:`allocate_minor`.

    Returns one :class:`Money` per weight, in the same currency, summing exactly to ``total``.
    ``allocate(Money.of("100.00"), [1, 1, 1])`` gives ``33.34, 33.33, 33.33``.
    """
    if not isinstance(total, Money):
        raise WrongType(f"total must be Money, got {type(total).__name__} {total!r}")
    code = total.currency
    exp = _EXP[code]
    return [
        _money(Decimal(u).scaleb(-exp, _CTX), code) for u in allocate_minor(total.minor, weights)
    ]
