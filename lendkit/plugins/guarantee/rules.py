"""The guarantee plugin's pure rules (no database, no context)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Row

from lendkit.core.errors import (
    InvalidValue,
)
from lendkit.core.inputs import check_id
from lendkit.core.money import Money, to_decimal
from lendkit.plugins.guarantee.records import (
    COVERS,
    LIABILITIES,
    MAX_AFTER_DAYS,
    MAX_LEVERAGE,
    OPERATOR,
    Guarantee,
)


def choice(value: object, what: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValue(
            f"{what} {str(value)[:40]!r} is not allowed: choose {' or '.join(allowed)}"
        )
    return value


def days(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AFTER_DAYS:
        raise InvalidValue(f"{what} {value!r} must be a whole number of days, 0..{MAX_AFTER_DAYS}")
    return value


def guarantee_leverage(value: object) -> Decimal:
    lev = to_decimal(value, "leverage")
    if not 0 < lev <= MAX_LEVERAGE:
        raise InvalidValue(
            f"leverage {lev} is out of range: allowed more than 0, at most {MAX_LEVERAGE}"
        )
    if lev != lev.quantize(Decimal("0.0001")):
        raise InvalidValue(f"leverage {lev} is too precise: at most 4 decimal places")
    return Decimal(format(lev.normalize(), "f"))  # "10", never "1E+1"


def percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def rate_of(amount_minor: int, rate: Decimal) -> int:
    """``amount x rate`` rounded HALF_UP to a whole minor unit."""
    return int((Decimal(amount_minor) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def guarantee_record(r: Row[Any], currency: str) -> Guarantee:
    def m(units: int) -> Money:
        return Money.from_minor(int(units), currency)

    return Guarantee(
        listing_id=r.listing_id,
        guarantor_id=r.guarantor_id,
        borrower_id=r.borrower_id,
        loan_id=r.loan_id,
        amount=m(r.amount),
        liability=r.liability,
        after_days=r.after_days,
        cover=r.cover,
        fee_rate=Decimal(r.fee_rate),
        deposit_rate=Decimal(r.deposit_rate),
        state=r.state,
        fee=m(r.fee),
        outstanding=m(r.outstanding),
        frozen=m(r.frozen),
        defaulted=bool(r.defaulted),
    )


def controllers_of(controlled_by: object) -> list[str]:
    if isinstance(controlled_by, (str, bytes)) or not isinstance(controlled_by, (list, tuple)):
        raise InvalidValue(
            f"controlled_by {str(controlled_by)[:50]!r} must be a list of party ids (or"
            f" {OPERATOR!r})"
        )
    return [c if c == OPERATOR else check_id(c, "controller") for c in controlled_by]


def guarantee_terms(
    liability: object, after_days: object, cover: object
) -> tuple[str | None, int | None, str | None]:
    return (
        None if liability is None else choice(liability, "liability", LIABILITIES),
        None if after_days is None else days(after_days, "after_days"),
        None if cover is None else choice(cover, "cover", COVERS),
    )
