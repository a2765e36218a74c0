"""The secondary market's rules (debt transfer, 债权转让), pure: no SQL, no plugins.

A holder sells outstanding principal of a loan ("units", minor units) at a price within
configured bounds of that principal; a buyer pays the price plus the interest accrued on the
principal since the last due date (the seller held the claim for those days) and the seller pays
a fee on the price. Operations (:mod:`lendkit.ops.market`) load rows, call these functions and
write what they return.

How a position is split exactly: a position's weight in a loan's payments is its outstanding
principal for principal and penalty, and ``weight x rate`` for interest (``weight`` starts as
the position's principal, see :func:`lendkit.core.payments.split_payment`). Selling ``units``
of a position with outstanding ``outstanding`` moves exactly ``units`` of outstanding principal
to the buyer and splits ``weight`` in the same proportion by largest remainder
(:func:`split_weight`), so the weights still add up to what they were: every later payment is
split over all holders by :func:`~lendkit.core.payments.split_payment` and the holders' shares
sum to what the borrower pays, to the minor unit, however many times a claim changed hands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from attrs import frozen

from lendkit.core.errors import InvalidAmount, InvalidValue, LimitExceeded
from lendkit.core.money import DEFAULT_ROUNDING, Money, allocate_minor
from lendkit.core.payments import Stake
from lendkit.core.schedule import DayCount

__all__ = [
    "TRANSFER_STATES",
    "Holding",
    "accrued_interest",
    "check_price",
    "check_units",
    "eligibility_problems",
    "fill_of",
    "fill_price",
    "holding_problem",
    "split_weight",
    "stake_of",
    "take_from",
    "transfer_fee",
]

#: a transfer is ``open`` until it is ``filled``, ``expired`` or ``cancelled`` (exactly once)
TRANSFER_STATES = ("open", "filled", "expired", "cancelled")


@frozen
class Holding:
    """A position's weights in its loan: ``principal`` (what the holder acquired), what of it
    was repaid (``received_principal``) or sold (``sold_principal``), and ``weight`` (its
    share of the loan's face for interest; ``None`` is ``principal``).

    Invariant: ``outstanding = principal - received_principal - sold_principal >= 0``.
    """

    principal: int
    received_principal: int
    sold_principal: int
    weight: int | None
    annual_rate: Decimal

    @property
    def outstanding(self) -> int:
        """Principal still owed to this position's holder."""
        return self.principal - self.received_principal - self.sold_principal

    @property
    def face(self) -> int:
        """The weight in interest (and in penalty once the loan is repaid)."""
        return self.principal if self.weight is None else self.weight


def stake_of(h: Holding) -> Stake:
    """The :class:`~lendkit.core.payments.Stake` a holding weighs in payments: ``face`` with
    ``face - outstanding`` counted as received, so principal goes by outstanding and interest by
    ``face x rate``. A position never transferred is ``Stake(principal, received_principal)``,
    exactly as before transfers existed."""
    return Stake(h.face, h.face - h.outstanding, h.annual_rate)


def split_weight(weight: int, outstanding: int, units: int) -> tuple[int, int]:
    """Split a position's ``weight`` between what it keeps and ``units`` of its ``outstanding``
    principal sold: ``(kept, sold)`` by largest remainder on ``(outstanding - units, units)``
    (:func:`~lendkit.core.money.allocate_minor`), so ``kept + sold == weight`` exactly. All
    sold: the buyer takes the whole weight. ``InvalidAmount`` unless ``0 < units <= outstanding``.
    """
    if not 0 < units <= outstanding:
        raise InvalidAmount(
            f"cannot sell {units} (minor units) of a position with {outstanding} outstanding"
        )
    if units == outstanding:
        return 0, weight
    kept, sold = allocate_minor(weight, [outstanding - units, units])
    return kept, sold


def take_from(outstanding: Sequence[int], units: int) -> list[int]:
    """How many of ``units`` come from each position (their ``outstanding`` principal, in
    order): the earliest positions first, each up to what it has. ``LimitExceeded`` if they
    have less than ``units`` in all."""
    if units > sum(outstanding):
        raise LimitExceeded(
            f"the positions hold {sum(outstanding)} (minor units) outstanding, less than {units}"
        )
    out = []
    left = units
    for have in outstanding:
        take = min(have, left)
        out.append(take)
        left -= take
    return out


def _multiple(amount: int, unit: int) -> bool:
    return amount % unit == 0


def check_units(amount: Money, unit: Money, whole: Money, what: str) -> None:
    """``amount`` must be more than zero, at most ``whole`` (what may be sold or bought) and
    a multiple of ``unit``, unless it is all of ``whole``: ``InvalidAmount`` naming both."""
    if not amount.is_positive():
        raise InvalidAmount(f"{what} {amount} must be more than zero")
    if amount > whole:
        raise LimitExceeded(f"{what} {amount} is more than the {whole} available")
    if amount != whole and not _multiple(amount.minor, unit.minor):
        raise InvalidAmount(
            f"{what} {amount} must be a multiple of the transfer unit {unit}, or all of {whole}"
        )


def fill_of(requested: Money, remaining: Money, unit: Money) -> Money:
    """What a purchase of ``requested`` gets of a transfer with ``remaining`` principal: first
    come, first served, trimmed to what remains. ``requested`` must be a multiple of ``unit``
    unless it takes everything that remains (``InvalidAmount``); nothing remaining is
    ``LimitExceeded``."""
    if not requested.is_positive():
        raise InvalidAmount(f"purchase {requested} must be more than zero")
    if not remaining.is_positive():
        raise LimitExceeded("the transfer has nothing left to buy")
    if requested >= remaining:
        return remaining
    if not _multiple(requested.minor, unit.minor):
        raise InvalidAmount(
            f"purchase {requested} must be a multiple of the transfer unit {unit}, or at least"
            f" the {remaining} that remains"
        )
    return requested


def check_price(principal: Money, price: Money, low: Decimal, high: Decimal) -> None:
    """``price`` for ``principal`` must lie within ``low`` to ``high`` times it (both
    included, exact): ``InvalidAmount`` naming the bounds as amounts."""
    if not (principal.amount * low <= price.amount <= principal.amount * high):
        raise InvalidAmount(
            f"price {price} for principal {principal} is out of bounds: allowed {low} to {high}"
            f" times the principal ({_fmt(principal.amount * low)} to"
            f" {_fmt(principal.amount * high)} {principal.currency})"
        )


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def fill_price(price_left: int, principal_left: int, fill: int) -> int:
    """The price of ``fill`` units when ``principal_left`` units remain at ``price_left``:
    pro rata by largest remainder, all of ``price_left`` for the last units, so the fills'
    prices add up to the transfer's price exactly."""
    if fill == principal_left:
        return price_left
    return allocate_minor(price_left, [fill, principal_left - fill])[0]


def accrued_interest(
    units: int, annual_rate: Decimal, since: date, today: date, basis: DayCount
) -> int:
    """Interest on ``units`` (minor units) at ``annual_rate`` from ``since`` (the last due date)
    to ``today`` on the day-count ``basis``, HALF_UP to the minor unit (zero before ``since``)."""
    return basis.interest(units, annual_rate, since, today)


def transfer_fee(price: int, fee_rate: Decimal) -> int:
    """The seller's fee: ``price x fee_rate`` HALF_UP to the minor unit."""
    if fee_rate < 0:
        raise InvalidValue(f"transfer fee rate {fee_rate} must not be negative")
    return int(DEFAULT_ROUNDING.quantize(Decimal(price) * fee_rate, "JPY"))


def eligibility_problems(
    *,
    loan_id: str,
    loan_state: str,
    allowed_states: Sequence[str],
    overdue_since: date | None,
    today: date,
    next_due: date | None,
    blackout_days: int,
) -> list[str]:
    """Why loan ``loan_id`` cannot change hands today (empty: it can).

    It must be in one of ``allowed_states`` (``active``, and ``overdue`` when not current-only);
    with current-only, no installment may be past due (``overdue_since``: the earliest unpaid
    due date before today, or None); and today must not be within ``blackout_days`` days
    before the next due date (``next_due``; on the due date itself too).
    """
    problems = []
    if loan_state not in allowed_states:
        problems.append(
            f"loan {loan_id} is {loan_state}; transfers are allowed only while it is"
            f" {' or '.join(allowed_states)}"
        )
    elif overdue_since is not None and "overdue" not in allowed_states:
        problems.append(
            f"loan {loan_id} is not current: an installment has been due since {overdue_since}"
        )
    if next_due is not None and (next_due - today).days <= blackout_days:
        problems.append(
            f"loan {loan_id} has an installment due on {next_due}: no transfer within"
            f" {blackout_days} days before a due date"
        )
    return problems


def holding_problem(acquired: date, today: date, min_days: int) -> str | None:
    """Why a position acquired on ``acquired`` cannot be sold today (None: it can): it must
    have been held ``min_days`` days."""
    if (today - acquired).days < min_days:
        return (
            f"held since {acquired}: a position may be transferred {min_days} days after it"
            f" was acquired ({acquired + timedelta(days=min_days)})"
        )
    return None
