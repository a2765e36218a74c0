"""Yields: the internal rate of return of dated or periodic cash flows, in ``Decimal``.

``xirr(flows)`` is the annual effective rate ``r`` that makes the net present value of dated cash
flows zero, discounting each flow by ``(1 + r) ** (days / 365)`` from the first flow's date (the
convention of spreadsheets' XIRR). ``irr(amounts)`` is the per-period rate of equally spaced flows;
an annual percentage rate of a monthly schedule is ``irr(...) * 12`` (nominal) or
``(1 + irr(...)) ** 12 - 1`` (effective).

Both solve by bisection on a bracket where the net present value changes sign (it is monotonic
for a conventional investment: money out first, money back later), in a private decimal context,
to ``RATE_PLACES`` decimal places. No float is used: a yield is shown next to money and must be
reproducible on every machine. Flows with no sign change have no rate: :class:`NoYield`.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Final

from lendkit.core.errors import NoYield
from lendkit.core.money import Money, to_decimal

__all__ = ["RATE_PLACES", "NoYield", "irr", "xirr"]

RATE_PLACES: Final = 10
_CONTEXT: Final = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
_LOWEST: Final = Decimal("-0.999999")  # a rate of -100% or below has no discount factor
_HIGHEST: Final = Decimal(1_000_000)
_STEPS: Final = 200  # bisection halves the bracket: 2**-200 of a million is far below 1e-10


def _amount(value: Money | Decimal | int | str) -> Decimal:
    return value.amount if isinstance(value, Money) else to_decimal(value, "cash flow")


def _solve(npv: Callable[[Decimal], Decimal], what: str) -> Decimal:
    with decimal.localcontext(_CONTEXT):
        lo, hi = _LOWEST, Decimal(1)
        f_lo = npv(lo)
        f_hi = npv(hi)
        while f_lo * f_hi > 0 and hi < _HIGHEST:  # widen upwards for very high yields
            hi *= 10
            f_hi = npv(hi)
        if f_lo * f_hi > 0:
            raise NoYield(f"{what} has no rate of return between {_LOWEST} and {_HIGHEST}")
        if f_lo == 0:
            return lo
        for _ in range(_STEPS):
            mid = (lo + hi) / 2
            f_mid = npv(mid)
            if f_mid == 0:
                lo = hi = mid
                break
            if (f_mid > 0) == (f_lo > 0):
                lo, f_lo = mid, f_mid
            else:
                hi = mid
        return ((lo + hi) / 2).quantize(Decimal(1).scaleb(-RATE_PLACES))


def _check_signs(amounts: Sequence[Decimal], what: str) -> None:
    if not any(a > 0 for a in amounts) or not any(a < 0 for a in amounts):
        raise NoYield(
            f"{what} needs money going both ways (at least one negative and one positive flow); "
            f"got {[str(a) for a in amounts]}"
        )


def xirr(flows: Sequence[tuple[date, Money | Decimal | int | str]]) -> Decimal:
    """Annual effective rate of dated cash flows (negative: paid out, positive: received).

    >>> from datetime import date
    >>> xirr([(date(2025, 1, 1), -1000), (date(2026, 1, 1), 1100)])
    Decimal('0.1000000000')
    """
    if len(flows) < 2:
        raise NoYield(f"a rate of return needs at least two cash flows; got {len(flows)}")
    start = min(day for day, _ in flows)
    dated = [((day - start).days, _amount(value)) for day, value in flows]
    _check_signs([a for _, a in dated], "the cash flows")
    year = Decimal(365)

    def npv(rate: Decimal) -> Decimal:
        base = (1 + rate).ln()
        return sum(
            (amount / (base * days / year).exp() for days, amount in dated), start=Decimal(0)
        )

    return _solve(npv, "the cash flows")


def irr(amounts: Sequence[Money | Decimal | int | str]) -> Decimal:
    """Per-period rate of equally spaced cash flows, the first at period 0.

    >>> irr([-1000, 0, 1210])
    Decimal('0.1000000000')
    """
    values = [_amount(v) for v in amounts]
    if len(values) < 2:
        raise NoYield(f"a rate of return needs at least two cash flows; got {len(values)}")
    _check_signs(values, "the cash flows")

    def npv(rate: Decimal) -> Decimal:
        factor = 1 + rate
        total, discount = Decimal(0), Decimal(1)
        for value in values:
            total += value / discount
            discount *= factor
        return total

    return _solve(npv, "the cash flows")
