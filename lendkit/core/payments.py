"""One repayment algorithm: a payment over installments, then over positions and claims (pure).

Every path that pays a loan's investors uses these functions: a single repayment, a
close-of-business chunk that collects for many loans at once, a third party's cover (代偿) and
a prepayment. They read nothing and write nothing; callers load rows, call them and write what
they return (one row at a time or in bulk: the figures are the same).

Amounts are integers in minor units; rates are ``Decimal``. Two steps:

1. :func:`allocate_payment` applies an amount to unpaid installments, oldest first, each by the
   allocation order (default penalty -> interest -> principal). Within an installment, what a
   third party already paid the investors (a claim: covered and not yet recovered) is owed to
   that payer: the borrower's payment goes to the investors' unpaid part first, the rest
   recovers the claims (追偿). :func:`allocate_cover` is the third party's side: it pays the
   investors' unpaid principal and interest, oldest first, up to the amounts offered.
2. :func:`split_payment` splits the investors' part over the loan's positions by largest
   remainder (:func:`~lendkit.core.money.allocate_minor`): principal and penalty by outstanding
   principal, interest by principal x rate; the platform's management fee (the interest x the
   fee rate, HALF_UP to the minor unit) is split over the positions' gross interest the same
   way. :func:`split_recovery` splits what recovers an installment's claims over its payers.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import Final

from attrs import field, frozen

from lendkit.core.config import PAYMENT_PARTS
from lendkit.core.errors import InvalidAmount, InvalidValue
from lendkit.core.money import DEFAULT_ROUNDING, allocate_minor

__all__ = [
    "PAYMENT_PARTS",
    "Allocation",
    "Applied",
    "ClaimStake",
    "Covered",
    "Owed",
    "Share",
    "Split",
    "Stake",
    "allocate_cover",
    "allocate_payment",
    "check_order",
    "interest_weights",
    "management_fee",
    "split_payment",
    "split_recovery",
]

_PARTS: Final = frozenset(PAYMENT_PARTS)


@frozen
class Owed:
    """What the borrower still owes on one unpaid installment, by part (minor units, >= 0).

    ``claimed_principal`` and ``claimed_interest`` are the parts of ``principal`` and
    ``interest`` that third parties already paid the investors and have not recovered: the
    borrower owes those to the payers. Invariant: ``0 <= claimed_x <= x``.
    """

    period: int
    penalty: int
    interest: int
    principal: int
    claimed_interest: int = 0
    claimed_principal: int = 0

    @property
    def total(self) -> int:
        """Everything still owed on the installment."""
        return self.penalty + self.interest + self.principal

    @property
    def investors_principal(self) -> int:
        """Principal the investors are still owed (unpaid and not covered by a third party)."""
        return self.principal - self.claimed_principal

    @property
    def investors_interest(self) -> int:
        """Interest the investors are still owed (unpaid and not covered by a third party)."""
        return self.interest - self.claimed_interest


@frozen
class Applied:
    """What one payment pays on one installment.

    ``penalty``, ``interest`` and ``principal`` are what the installment's unpaid parts fall
    by; of them, ``recovered_interest`` and ``recovered_principal`` go to the third parties
    holding claims on the installment, the rest to the investors. ``settled``: nothing is owed
    on the installment any more.
    """

    period: int
    penalty: int
    interest: int
    principal: int
    recovered_interest: int
    recovered_principal: int
    settled: bool


@frozen
class Allocation:
    """A payment applied to a loan's installments (see :func:`allocate_payment`).

    ``installments`` has one :class:`Applied` per installment the payment reached, in order.
    ``penalty``, ``interest`` and ``principal`` are the investors' part of the payment (what
    :func:`split_payment` splits over the positions); ``recovered_interest`` and
    ``recovered_principal`` the third parties' part. They sum to ``amount``.
    """

    amount: int
    installments: tuple[Applied, ...]
    penalty: int
    interest: int
    principal: int
    recovered_interest: int
    recovered_principal: int

    @property
    def recoveries(self) -> tuple[Applied, ...]:
        """The installments whose claims this payment recovers something of."""
        return tuple(a for a in self.installments if a.recovered_principal or a.recovered_interest)


@frozen
class Covered:
    """What a third party pays the investors on one installment (see :func:`allocate_cover`)."""

    period: int
    principal: int
    interest: int
    penalty: int = 0


@frozen
class Stake:
    """A position's weight in a loan's payments: its principal, what it received of it, its
    annual rate. Principal and penalty are split by ``principal - received_principal`` (by
    ``principal`` once every position is repaid), interest by ``principal x annual_rate``."""

    principal: int
    received_principal: int
    annual_rate: Decimal


@frozen
class Share:
    """One position's share of a payment: ``interest`` is gross, ``fee`` the management fee
    taken from it; the holder receives ``net``."""

    penalty: int
    interest: int
    principal: int
    fee: int

    @property
    def net(self) -> int:
        """What the position's holder receives: principal, penalty, interest less the fee."""
        return self.principal + self.penalty + self.interest - self.fee


@frozen
class Split:
    """A payment's investors' part split over a loan's positions (see :func:`split_payment`).

    One column per part, one entry per position in the positions' order (columns, not one
    object per position: close of business splits thousands of payments): ``interest`` is
    gross, ``fees`` the management fee each position pays from it. ``fee`` is the fee in total;
    every column sums to its part of the payment (``fees`` to ``fee``).
    """

    fee: int
    penalty: tuple[int, ...] = field(repr=False)
    interest: tuple[int, ...] = field(repr=False)
    principal: tuple[int, ...] = field(repr=False)
    fees: tuple[int, ...] = field(repr=False)

    @property
    def shares(self) -> tuple[Share, ...]:
        """The split as one :class:`Share` per position."""
        return tuple(
            Share(*share)
            for share in zip(self.penalty, self.interest, self.principal, self.fees, strict=True)
        )


@frozen
class ClaimStake:
    """A third party's claim on one installment: what it covered and has not recovered yet."""

    principal: int
    interest: int


def check_order(order: Sequence[str]) -> tuple[str, ...]:
    """``order`` as a tuple if it names each payment part once; ``InvalidValue`` otherwise."""
    parts = tuple(order)
    if len(parts) != len(PAYMENT_PARTS) or set(parts) != _PARTS:
        raise InvalidValue(
            f"payment allocation order {list(parts)!r} must name each of"
            f" {', '.join(PAYMENT_PARTS)} exactly once"
        )
    return parts


@cache
def _order_indices(order: tuple[str, ...]) -> tuple[int, ...]:
    """The positions in ``PAYMENT_PARTS`` of a checked order (asked once per order, not per
    payment: close of business allocates thousands of payments in the same order)."""
    return tuple(PAYMENT_PARTS.index(part) for part in check_order(order))


def allocate_payment(
    amount: int, owed: Sequence[Owed], order: Sequence[str] = PAYMENT_PARTS
) -> Allocation:
    """Apply ``amount`` to the unpaid installments ``owed`` (oldest first, in the given order).

    Each installment in turn is paid by ``order`` (a permutation of ``penalty``, ``interest``,
    ``principal``) until the amount is used up: each part takes ``min(owed, left)``. Of the
    principal and interest an installment takes, what exceeds the investors' unpaid part
    (``Owed.investors_principal``/``investors_interest``) recovers the third parties' claims.
    An installment the amount reaches with nothing owed is settled.

    Guarantees: the parts sum to ``amount``; no part takes more than is owed; an installment is
    paid only when every older one is settled, and within it a part only when the earlier parts
    in ``order`` are paid in full. ``InvalidAmount`` if ``amount`` is negative or more than
    everything owed; ``InvalidValue`` for an order that is not a permutation of the parts.
    """
    indices = _order_indices(tuple(order))
    if amount < 0:
        raise InvalidAmount(f"payment {amount} (minor units) must not be negative")
    left = amount
    applied: list[Applied] = []
    penalty = interest = principal = rec_i = rec_p = 0
    for o in owed:
        if left == 0:
            break
        due = (o.penalty, o.interest, o.principal)  # in PAYMENT_PARTS order
        took = [0, 0, 0]
        for i in indices:
            take = took[i] = min(due[i], left)
            left -= take
        took_n, took_i, took_p = took
        to_payer_p = max(0, took_p - o.investors_principal)
        to_payer_i = max(0, took_i - o.investors_interest)
        penalty += took_n
        interest += took_i - to_payer_i
        principal += took_p - to_payer_p
        rec_i, rec_p = rec_i + to_payer_i, rec_p + to_payer_p
        settled = took_n == o.penalty and took_i == o.interest and took_p == o.principal
        applied.append(Applied(o.period, took_n, took_i, took_p, to_payer_i, to_payer_p, settled))
    if left:
        raise InvalidAmount(
            f"payment {amount} (minor units) exceeds everything owed ({amount - left})"
        )
    return Allocation(amount, tuple(applied), penalty, interest, principal, rec_i, rec_p)


def allocate_cover(
    principal: int, interest: int, owed: Sequence[Owed], penalty: int = 0
) -> tuple[Covered, ...]:
    """A third party's payment of at most ``principal``, ``interest`` and ``penalty`` to the
    investors.

    Oldest installment first, each pays what the investors are still owed on it
    (``investors_principal``, ``investors_interest``: unpaid and not already covered; the
    installment's unpaid ``penalty``) until the amounts offered are used up. Returns the
    installments paid something, in order; what was not needed is left out of the sums.
    ``InvalidAmount`` for a negative amount.
    """
    if principal < 0 or interest < 0 or penalty < 0:
        raise InvalidAmount(
            f"cover of principal {principal}, interest {interest} and penalty {penalty} (minor"
            " units) must not be negative"
        )
    out: list[Covered] = []
    left_p, left_i, left_n = principal, interest, penalty
    for o in owed:
        take_p, take_i = min(o.investors_principal, left_p), min(o.investors_interest, left_i)
        take_n = min(o.penalty, left_n)
        if take_p or take_i or take_n:
            out.append(Covered(o.period, take_p, take_i, take_n))
            left_p, left_i, left_n = left_p - take_p, left_i - take_i, left_n - take_n
    return tuple(out)


def management_fee(interest: int, fee_rate: Decimal) -> int:
    """The platform's management fee on ``interest``: ``interest x fee_rate``, HALF_UP to a
    whole minor unit (exact Decimal arithmetic)."""
    return int(DEFAULT_ROUNDING.quantize(Decimal(interest) * fee_rate, "JPY"))


def interest_weights(stakes: Sequence[Stake]) -> list[Decimal]:
    """The positions' weights in interest: principal x annual rate."""
    return [Decimal(s.principal) * s.annual_rate for s in stakes]


def split_payment(
    stakes: Sequence[Stake], penalty: int, interest: int, principal: int, fee_rate: Decimal
) -> Split:
    """Split the investors' part of a payment over a loan's positions, to the minor unit.

    Principal and penalty go by each position's outstanding principal (by its principal when
    all are repaid), interest by principal x rate, each by largest remainder
    (:func:`~lendkit.core.money.allocate_minor`, ties to the earlier position); the management
    fee (:func:`management_fee` of ``interest``) is split over the positions' gross interest the
    same way, so no position pays a fee on interest it did not get. Every part's shares sum to
    the part exactly.
    """
    n = len(stakes)
    fee = management_fee(interest, fee_rate)
    if principal or penalty:
        weights = [s.principal - s.received_principal for s in stakes]
        if not any(weights):
            weights = [s.principal for s in stakes]
        p_shares = allocate_minor(principal, weights) if principal else [0] * n
        n_shares = allocate_minor(penalty, weights) if penalty else [0] * n
    else:
        p_shares = n_shares = [0] * n
    i_shares = allocate_minor(interest, interest_weights(stakes)) if interest else [0] * n
    f_shares = allocate_minor(fee, i_shares) if fee else [0] * n
    return Split(fee, tuple(n_shares), tuple(i_shares), tuple(p_shares), tuple(f_shares))


def split_recovery(
    principal: int, interest: int, claims: Sequence[ClaimStake]
) -> list[tuple[int, int]]:
    """Split what a payment recovers of one installment's claims over its payers, by largest
    remainder on what each still claims: one ``(principal, interest)`` per claim, in order."""
    p_shares = allocate_minor(principal, [c.principal for c in claims])
    i_shares = allocate_minor(interest, [c.interest for c in claims])
    return list(zip(p_shares, i_shares, strict=True))
