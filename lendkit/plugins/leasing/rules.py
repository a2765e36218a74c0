"""The ``leasing`` plugin's rules as pure functions (no database, no context)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from lendkit.core.errors import InvalidValue
from lendkit.core.money import Money
from lendkit.core.schedule import DayCount, RentRow, Schedule, add_months, custom_rows

#: the two forms of a financial lease: the lessor buys from a supplier (``direct``) or from the
#: lessee itself, which leases the asset back (``leaseback``, 售后回租)
FORMS = ("direct", "leaseback")
#: how rents fall: level rents every month or quarter, or the lease's own rows
FREQUENCIES = ("monthly", "quarterly", "custom")
#: months between two level rents
MONTHS_PER_RENT = {"monthly": 1, "quarterly": 3}
#: the plugin's repayment method (stored on the loan)
METHOD = "lease"
#: rents split principal and interest on 30/360: a month's interest is exactly rate / 12
BASIS = DayCount.THIRTY_360
#: the most rents a lease may have
MAX_RENTS = 200


def rent_dates(start: date, frequency: str, rents: int) -> list[date]:
    """The due dates of ``rents`` level rents in arrears from ``start``."""
    step = MONTHS_PER_RENT[frequency]
    return [add_months(start, step * k) for k in range(1, rents + 1)]


def rent_schedule(
    amount: Money,
    rate: Decimal,
    start: date,
    frequency: str,
    rents: int,
    residual: Money,
    rows: Sequence[tuple[date, Money | None]] = (),
) -> Schedule:
    """The lease's rents from ``start``: level rents (``monthly`` or ``quarterly``, in arrears)
    or the ``custom`` rows (a ``None`` amount is a level rent), with ``residual`` (the buy-out
    price) paid with the last rent. Each rent is split into interest on the balance at ``rate``
    (30/360, HALF_UP to the cent) and principal; core's ``custom_rows`` solves the level rent
    exactly and refuses rents that cannot repay ``amount`` (``InvalidSchedule`` naming the row)."""
    items: list[RentRow]
    if frequency == "custom":
        items = [due if fixed is None else (due, fixed) for due, fixed in rows]
    else:
        items = list(rent_dates(start, frequency, rents))
    return custom_rows(
        amount,
        items,
        rate,
        BASIS,
        residual=residual if residual.is_positive() else None,
        start=start,
        method=METHOD,
    )


def term_months(start: date, last_due: date) -> int:
    """The listing's term in whole months from ``start`` to the last rent (at least 1)."""
    months = (last_due.year - start.year) * 12 + last_due.month - start.month
    if add_months(start, months) < last_due:
        months += 1
    return max(1, months)


def amount_problem(amount: Money, residual: Money, value: Money, asset: str) -> str | None:
    """Why a lease of ``amount`` with buy-out price ``residual`` cannot finance an asset worth
    ``value`` (``None`` if it can)."""
    if amount > value:
        return (
            f"the financed amount {amount} is more than asset {asset}'s value {value}: a lease"
            f" finances at most the asset's value"
        )
    if residual > value:
        return (
            f"the residual value {residual} is more than asset {asset}'s value {value}: allowed"
            f" 0 up to {value}"
        )
    return None


def check_rows(rows: object, currency: str) -> list[tuple[date, Money | None]]:
    """Custom rent rows from input: a list of dates (level rents) or ``(date, amount)`` pairs;
    amounts must not be negative (``InvalidValue`` naming the row)."""
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence) or not rows:
        raise InvalidValue(
            f"custom rents {rows!r} must be a non-empty list of dates or (date, amount) pairs"
        )
    if len(rows) > MAX_RENTS:
        raise InvalidValue(f"a lease has at most {MAX_RENTS} rents, got {len(rows)}")
    out: list[tuple[date, Money | None]] = []
    for k, item in enumerate(rows, 1):
        if isinstance(item, tuple | list):
            if len(item) != 2:
                raise InvalidValue(f"rent row {k}: expected (date, amount), got {item!r}")
            due, amount = item
            money = Money.of(amount, currency, what=f"rent row {k}")
            if money.is_negative():
                raise InvalidValue(
                    f"rent row {k}: rent {money} is negative: a rent is zero or more"
                )
        else:
            due, money = item, None
        if not isinstance(due, date):
            raise InvalidValue(f"rent row {k}: due date {due!r} must be a datetime.date")
        out.append((due, money))
    return out
