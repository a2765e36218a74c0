"""The reserve plugin's settings: ``config.plugins["reserve"]``, structured when the Platform opens."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from attrs import field, frozen

from lendkit.core.config import GRADES
from lendkit.core.errors import InvalidValue
from lendkit.core.money import parse_rate
from lendkit.plugins.reserve.records import DEFAULT_RATES, MAX_AFTER_DAYS, SOURCES


def _rates(raw: object) -> Mapping[str, Decimal]:
    if not isinstance(raw, Mapping):
        raise InvalidValue("rates must map grades to rates, e.g. {'AA': '0', 'HR': '0.05'}")
    bad = sorted(set(raw) - set(GRADES))
    if bad:
        raise InvalidValue(f"rates name unknown grades {bad}; grades are {', '.join(GRADES)}")
    return {g: parse_rate(r, f"reserve rate for grade {g}") for g, r in raw.items()}


def _source(source: object) -> str:
    if source not in SOURCES:
        raise InvalidValue(f"contribution_from {source!r} is not allowed: choose borrower or fees")
    return str(source)


def _after_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_AFTER_DAYS:
        raise InvalidValue(f"after_days {days!r} must be a whole number 0..{MAX_AFTER_DAYS}")
    return days


def _pay_interest(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(f"pay_interest {value!r} must be true or false")
    return value


def _products(products: object) -> tuple[str, ...] | None:
    if products is None:
        return None
    if isinstance(products, str) or not isinstance(products, (list, tuple)):
        raise InvalidValue(f"products {products!r} must be a list of product names or null")
    if not all(isinstance(x, str) for x in products):
        raise InvalidValue(f"products {products!r} must be a list of product names or null")
    return tuple(products)


@frozen
class Settings:
    """``config.plugins["reserve"]``, structured when the Platform opens (see the module docs
    for the keys); a bad value is refused there with a ``ConfigError``."""

    rates: Mapping[str, Decimal] = field(default=DEFAULT_RATES, converter=_rates)
    contribution_from: str = field(default="borrower", converter=_source)
    after_days: int = field(default=30, converter=_after_days)
    pay_interest: bool = field(default=False, converter=_pay_interest)
    products: tuple[str, ...] | None = field(default=None, converter=_products)
