"""Pure rules of margin lending: leverage, symbols, quotes, valuation and the lines.

No SQL and no context here: the commands and hooks feed these functions plain values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from lendkit.core.errors import InvalidState, InvalidValue
from lendkit.core.money import Money, minor_exponent, round_div, to_decimal
from lendkit.plugins.margin.records import Fill, Quote

_SYMBOL = re.compile(r"[0-9A-Z][0-9A-Z.\-]{0,31}")
_LEVERAGE = re.compile(r"\s*1\s*:\s*(\d{1,3})\s*")
_RATIO = Decimal("0.0001")
#: at most this many shares in one position or order
MAX_QUANTITY = 10**12
#: prices carry at most this many decimal places
PRICE_PLACES = 4


def leverage_text(n: int) -> str:
    """``1:n``."""
    return f"1:{n}"


def parse_leverage(value: object, cap: int | None = None) -> int:
    """A leverage ``1:N`` (or the whole number ``N``) from 1:1 up to ``1:cap``; refused naming
    the value and the cap (without ``cap``: only its form is checked, ``N`` at least 1)."""
    allowed = (
        "allowed 1:1 or more"
        if cap is None
        else f"allowed 1:1 up to {leverage_text(cap)} (the product's cap)"
    )
    n: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str):
        m = _LEVERAGE.fullmatch(value)
        if m:
            n = int(m.group(1))
        elif value.strip().isdigit() and len(value.strip()) <= 3:
            n = int(value.strip())
    if n is None:
        raise InvalidValue(f"leverage {str(value)[:40]!r} is not a leverage like '1:3': {allowed}")
    if n < 1 or (cap is not None and n > cap):
        raise InvalidValue(f"leverage {leverage_text(n)} is not allowed: {allowed}")
    return n


def parse_symbol(value: object) -> str:
    """A security's symbol: 1..32 letters, digits, dots and hyphens (kept upper case)."""
    if not isinstance(value, str) or not _SYMBOL.fullmatch(value.strip().upper()):
        raise InvalidValue(
            f"symbol {str(value)[:40]!r} is not allowed: use 1..32 letters, digits, dots and"
            " hyphens (e.g. '600519.SH')"
        )
    return value.strip().upper()


def parse_quantity(value: object, what: str = "quantity") -> int:
    """A whole number of shares, 1 up to ``MAX_QUANTITY``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_QUANTITY:
        raise InvalidValue(
            f"{what} {value!r} must be a whole number of shares, 1..{MAX_QUANTITY:,}"
        )
    return value


def parse_price(value: object, symbol: str) -> Decimal:
    """A price per share: a positive finite number with at most 4 decimals (floats, 0, negative
    and NaN refused, naming the symbol and the value)."""
    what = f"price of {symbol}"
    if isinstance(value, float):
        raise InvalidValue(f"{what} {value!r} is a float: give a str or Decimal (e.g. '12.34')")
    try:
        price = to_decimal(value, what)
    except InvalidValue:
        raise InvalidValue(
            f"{what} {str(value)[:40]!r} is not allowed: a price is a positive finite number"
        ) from None
    if price <= 0:
        raise InvalidValue(f"{what} {price} is not allowed: a price must be more than 0")
    if -price.as_tuple().exponent > PRICE_PLACES:  # type: ignore[operator]
        raise InvalidValue(f"{what} {price} has more than {PRICE_PLACES} decimal places")
    return price


def check_quote(quote: object, symbol: str, now: datetime, max_age: int) -> Quote:
    """``quote`` checked: a :class:`Quote` for ``symbol`` with a valid price, a timezone-aware
    time no older than ``max_age`` seconds before ``now`` (``InvalidState``: stale)."""
    if not isinstance(quote, Quote):
        raise InvalidValue(f"the price of {symbol} must be a Quote, got {type(quote).__name__}")
    price = parse_price(quote.price, symbol)
    if not isinstance(quote.as_of, datetime) or quote.as_of.tzinfo is None:
        raise InvalidValue(
            f"the price of {symbol} needs a timezone-aware time, got {quote.as_of!r}"
        )
    oldest = now - timedelta(seconds=max_age)
    if quote.as_of < oldest:
        raise InvalidState(
            f"the price of {symbol} ({price} at {quote.as_of.isoformat()}) is stale: prices older"
            f" than {max_age} seconds (before {oldest.isoformat()}) are refused"
        )
    return Quote(symbol, price, quote.as_of)


def amount(quantity: int, price: Decimal, currency: str) -> Money:
    """``quantity x price`` HALF_UP to the minor unit."""
    return _round(quantity * price, currency)


def _round(value: Decimal, currency: str) -> Money:
    quantum = Decimal(1).scaleb(-minor_exponent(currency))
    return Money.of(value.quantize(quantum, rounding=ROUND_HALF_UP), currency)


def basket_value(holdings: Sequence[tuple[int, Decimal]], currency: str) -> Money:
    """The basket at current prices: ``sum(quantity x price)`` rounded HALF_UP once."""
    return _round(sum((Decimal(q) * p for q, p in holdings), Decimal(0)), currency)


def ratio(value: Money, borrowed: Money) -> Decimal | None:
    """value / borrowed cut (not rounded) to 4 decimals for display, so that a ratio below a
    line never shows as on it; ``None`` when nothing is borrowed."""
    if borrowed.is_zero():
        return None
    return Decimal(round_div(value.minor * 10000, borrowed.minor, "DOWN")) * _RATIO


def below(value: Money, borrowed: Money, line: Decimal) -> bool:
    """Whether value / borrowed < ``line`` (exact)."""
    return borrowed.is_positive() and value.amount < borrowed.amount * line


def at_or_below(value: Money, borrowed: Money, line: Decimal) -> bool:
    """Whether value / borrowed <= ``line`` (exact)."""
    return borrowed.is_positive() and value.amount <= borrowed.amount * line


def pct(value: Decimal | None) -> str:
    """A ratio as a percentage with two decimals (``1.1`` -> ``110.00%``)."""
    return "-" if value is None else f"{(value * 100).quantize(Decimal('0.01'))}%"


def fill_proceeds(fills: Sequence[Fill], currency: str) -> Money:
    """What the fills raised: each fill's ``quantity x price`` HALF_UP to the cent, summed."""
    total = Money.zero(currency)
    for f in fills:
        total = total + amount(f.quantity, f.price, currency)
    return total
