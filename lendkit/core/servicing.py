"""Servicing records: what the read API answers (a loan's status and payoff, an investor's
portfolio, a party's statement, claims, pages of lists) and the pure rules behind them (aging
buckets, the borrower's annual percentage rate).

Every amount is :class:`~lendkit.core.money.Money`; every record is frozen. Lists come in
:class:`Page` s: at most ``limit`` items and the cursor to pass as ``after=`` for the next page.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Generic, TypeVar

from attrs import field, frozen

from lendkit.core.errors import InvalidValue
from lendkit.core.money import Money
from lendkit.core.records import Bid, LoanRecord, PaymentRecord
from lendkit.core.schedule import METHODS, Schedule
from lendkit.core.yields import NoYield, irr, xirr

__all__ = [
    "BUCKETS",
    "MAX_PAGE",
    "BorrowerCost",
    "ClaimRecord",
    "HistoryLine",
    "InstallmentStatus",
    "LoanLine",
    "LoanStatus",
    "Page",
    "Payoff",
    "PayoffRow",
    "Portfolio",
    "PortfolioPosition",
    "aging_bucket",
    "borrower_cost",
    "bucket_days",
    "check_limit",
]

T = TypeVar("T")

#: the aging buckets (账龄) by days past due: current, M1 (1-30), M2 (31-60), M3 (61-90), M3+
BUCKETS: Final = ("current", "M1", "M2", "M3", "M3+")
_BUCKET_DAYS: Final = {
    "current": (0, 0),
    "M1": (1, 30),
    "M2": (31, 60),
    "M3": (61, 90),
    "M3+": (91, None),
}
#: the largest page a list returns
MAX_PAGE: Final = 500


def aging_bucket(days_past_due: int) -> str:
    """The aging bucket of a loan ``days_past_due`` days past its oldest unpaid due date.

    >>> [aging_bucket(d) for d in (0, 1, 30, 31, 60, 61, 90, 91)]
    ['current', 'M1', 'M1', 'M2', 'M2', 'M3', 'M3', 'M3+']
    """
    for name, (low, high) in _BUCKET_DAYS.items():
        if days_past_due >= low and (high is None or days_past_due <= high):
            return name
    return "current"  # negative days: nothing is past due


def bucket_days(bucket: str) -> tuple[int, int | None]:
    """The days past due (lowest, highest or None) of ``bucket``; ``InvalidValue`` names the
    buckets for an unknown one."""
    if bucket not in _BUCKET_DAYS:
        raise InvalidValue(f"aging bucket {bucket!r} is unknown: allowed {', '.join(BUCKETS)}")
    return _BUCKET_DAYS[bucket]


def check_limit(limit: object) -> int:
    """A page size: an int from 1 to :data:`MAX_PAGE` (``InvalidValue`` otherwise)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidValue(f"page limit {limit!r} is not allowed: an integer from 1 to {MAX_PAGE}")
    return limit


@frozen
class Page(Generic[T]):
    """One page of a list, in the list's stable order. ``next`` is the cursor of the next page
    (pass it as ``after=``), ``None`` on the last page."""

    items: tuple[T, ...]
    next: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@frozen
class ClaimRecord:
    """What a third party paid investors on one installment (代偿) and has recovered (追偿).

    ``payer_kind`` / ``payer_id`` / ``payer_account`` name the payer as
    :class:`~lendkit.core.records.Receipt` does (``guarantor g1``, ``plugin reserve``...)."""

    id: str
    loan_id: str
    period: int
    reason: str
    payer_kind: str
    payer_id: str
    payer_account: str
    principal: Money
    interest: Money
    recovered_principal: Money
    recovered_interest: Money
    created_at: datetime

    @property
    def covered(self) -> Money:
        """Principal plus interest the payer paid investors."""
        return self.principal + self.interest

    @property
    def recovered(self) -> Money:
        """What the borrower has paid the payer back so far."""
        return self.recovered_principal + self.recovered_interest

    @property
    def paid_by(self) -> str:
        """Who covered, for people: ``guarantor g1``, ``reserve``."""
        return (
            self.payer_id if self.payer_kind == "plugin" else f"{self.payer_kind} {self.payer_id}"
        )


@frozen
class InstallmentStatus:
    """One installment as it stands: what was due, what was paid and by whom, what is owed.

    ``paid_*`` are what the borrower's side paid (the borrower, or a party paying for it: see
    the loan's payments for who); ``covers`` what third parties paid investors on it, with what
    they recovered. ``penalty`` is the penalty interest accrued to date (close of business
    accrues it, through ``penalty_through``); ``owed`` everything still owed on it.
    """

    period: int
    due_date: date
    state: str
    principal: Money
    interest: Money
    penalty: Money
    paid_principal: Money
    paid_interest: Money
    paid_penalty: Money
    owed: Money
    days_past_due: int
    penalty_through: date | None
    covers: tuple[ClaimRecord, ...] = ()

    @property
    def due(self) -> Money:
        """Principal plus interest scheduled."""
        return self.principal + self.interest

    @property
    def covered(self) -> Money:
        """What third parties paid investors on this installment."""
        total = Money.zero(self.principal.currency)
        for c in self.covers:
            total = total + c.covered
        return total


@frozen
class LoanStatus:
    """A loan as servicing sees it on ``as_of`` (``p.loans.status``)."""

    loan_id: str
    borrower_id: str
    state: str
    as_of: date
    days_past_due: int
    bucket: str
    principal: Money
    outstanding_principal: Money
    #: penalty accrued to date over all installments, and the part still unpaid
    penalty_accrued: Money
    penalty_unpaid: Money
    #: everything owed on the installments due on or before ``as_of``
    due_today: Money
    next_due_date: date | None
    next_due_amount: Money | None
    installments: tuple[InstallmentStatus, ...]
    #: every payment on the loan, oldest first, with its payer and fee
    payments: tuple[PaymentRecord, ...] = ()


@frozen
class LoanLine:
    """A loan in a list (``p.loans.list``): the loan (without positions), its days past the
    oldest unpaid due date and its aging bucket today."""

    loan: LoanRecord
    days_past_due: int
    bucket: str


@frozen
class PayoffRow:
    """An installment due on or before the payoff date: what settles it, penalty included."""

    period: int
    due_date: date
    penalty: Money
    interest: Money
    principal: Money

    @property
    def total(self) -> Money:
        return self.penalty + self.interest + self.principal


@frozen
class Payoff:
    """The exact amount that settles a loan on ``on`` (``p.loans.payoff``), itemised.

    ``total`` = the overdue (due) rows with their penalty + the remaining principal of the rows
    not yet due + the interest accrued on it to ``on`` (the product's day-count basis) + the
    prepayment fee on that principal. ``repay`` of exactly ``total`` on ``on`` settles the loan.
    """

    loan_id: str
    on: date
    overdue: tuple[PayoffRow, ...]
    principal: Money
    interest: Money
    fee: Money
    total: Money


@frozen
class PortfolioPosition:
    """An investor's positions in one loan, summed (``p.portfolio``).

    ``received_*`` are what reached the investor (interest net of the management fee), from
    anyone; ``covered`` is the part of it third parties paid (guarantor, insurer, reserve...);
    ``expected`` what the investor is still to receive (principal, and interest net of fee).
    """

    loan_id: str
    loan_state: str
    principal: Money
    outstanding_principal: Money
    received_principal: Money
    received_interest: Money
    received_penalty: Money
    fees_paid: Money
    covered: Money
    expected: Money

    @property
    def received(self) -> Money:
        return self.received_principal + self.received_interest + self.received_penalty


@frozen
class Portfolio:
    """An investor's positions, cash, open bids and yields (``p.portfolio``).

    ``realised_yield``: the annual effective XIRR of the investor's dated cash flows (each
    position's principal out on its loan's start date, every receipt net of fees on its date)
    with the outstanding principal valued at par today. ``expected_yield``: the same flows with
    what is still expected on each installment's due date (overdue ones: today) instead. Either
    is ``None`` when there are no flows to rate.
    """

    investor_id: str
    as_of: date
    positions: tuple[PortfolioPosition, ...]
    available: Money
    frozen: Money
    open_bids: tuple[Bid, ...]
    realised_yield: Decimal | None
    expected_yield: Decimal | None

    @property
    def outstanding(self) -> Money:
        total = Money.zero(self.available.currency)
        for p in self.positions:
            total = total + p.outstanding_principal
        return total

    @property
    def received(self) -> Money:
        total = Money.zero(self.available.currency)
        for p in self.positions:
            total = total + p.received
        return total

    @property
    def expected(self) -> Money:
        total = Money.zero(self.available.currency)
        for p in self.positions:
            total = total + p.expected
        return total


@frozen
class HistoryLine:
    """One movement of a party's custody accounts (``p.custody.history``), with the balances
    after it. ``available`` / ``frozen`` are the changes (money in positive)."""

    seq: int
    at: datetime
    kind: str
    reference: str
    description: str
    available: Money
    frozen: Money
    available_balance: Money
    frozen_balance: Money

    @property
    def amount(self) -> Money:
        """The change of the party's total (available + frozen)."""
        return self.available + self.frozen

    @property
    def balance(self) -> Money:
        """The party's total after the movement."""
        return self.available_balance + self.frozen_balance


@frozen
class BorrowerCost:
    """What a loan costs its borrower, every fee included (the all-in cost, 综合年化成本).

    ``apr`` is the annual percentage rate: the internal rate of return of the net proceeds
    against the schedule's payments, per month x 12 for a monthly schedule (the nominal
    convention, so a loan with no fee has ``apr == nominal_rate`` up to rounding), the annual
    effective XIRR for any other schedule. ``effective_rate`` is always the XIRR.
    """

    nominal_rate: Decimal
    fees: Money
    net_proceeds: Money
    apr: Decimal
    effective_rate: Decimal = field(default=Decimal(0))


def borrower_cost(
    schedule: Schedule, fees: Money, start: date, *, nominal_rate: Decimal | None = None
) -> BorrowerCost | None:
    """The borrower's all-in cost of ``schedule`` when ``fees`` are taken from the proceeds on
    ``start``; ``None`` if the flows have no rate (no payments, or fees eat the proceeds)."""
    net = schedule.principal - fees
    if not net.is_positive() or not schedule.installments:
        return None
    payments: Sequence[Money] = [i.payment for i in schedule.installments]
    try:
        effective = xirr([(start, -net), *((i.due_date, i.payment) for i in schedule.installments)])
        monthly = schedule.method in METHODS and all(
            _months_between(start, i.due_date) == i.period for i in schedule.installments
        )
        apr = irr([-net, *payments]) * 12 if monthly else effective
    except NoYield:
        return None
    return BorrowerCost(
        nominal_rate=schedule.annual_rate if nominal_rate is None else nominal_rate,
        fees=fees,
        net_proceeds=net,
        apr=apr,
        effective_rate=effective,
    )


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month
