"""The reserve plugin's pure rules (no database, no context)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from lendkit.core.money import Money, allocate


def water_fill(budget: Money, amounts: Sequence[int], paid: Sequence[int]) -> list[Money]:
    """Split ``budget`` over claims of ``amounts`` (minor units) already ``paid`` in part.

    Everything owed if the budget covers it; otherwise the claims with the lowest paid fraction
    are raised to a common fraction ``level`` (``paid_i + share_i = level x amount_i``), the split
    made exactly with :func:`lendkit.allocate` (shares sum to the budget, each within a cent of its
    exact quota, ties to the earlier claim).
    """
    rest = [a - p for a, p in zip(amounts, paid, strict=True)]
    cur = budget.currency
    if budget.minor >= sum(rest):
        return [Money.from_minor(r, cur) for r in rest]
    order = sorted(
        (i for i, r in enumerate(rest) if r > 0), key=lambda i: (Fraction(paid[i], amounts[i]), i)
    )
    total_a = total_p = 0
    chosen: list[int] = []
    for k, i in enumerate(order):
        chosen.append(i)
        total_a, total_p = total_a + amounts[i], total_p + paid[i]
        level = Fraction(budget.minor + total_p, total_a)
        nxt = order[k + 1] if k + 1 < len(order) else None
        if nxt is None or level <= Fraction(paid[nxt], amounts[nxt]):
            break
    weights = [0] * len(amounts)
    for i in chosen:  # proportional to level x amount_i - paid_i, in integers
        weights[i] = (budget.minor + total_p) * amounts[i] - paid[i] * total_a
    return allocate(budget, weights)


def percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"
