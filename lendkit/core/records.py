"""The public records lendkit returns and plugins exchange: frozen attrs value objects.

Amounts are :class:`~lendkit.core.money.Money`; ids are strings; dates are ``datetime.date``.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from decimal import Decimal

from attrs import field, frozen

from lendkit.core.errors import InvalidValue
from lendkit.core.money import Money
from lendkit.core.open_ended import OPEN_ENDED, OpenEndedTerms
from lendkit.core.schedule import METHOD_NAME, METHODS, DayCount, Installment

__all__ = [
    "Balance",
    "Bid",
    "Claim",
    "CobResult",
    "CreditAssessment",
    "Deduction",
    "Disclosure",
    "HoldRecord",
    "Installment",
    "ListingRecord",
    "LoanRecord",
    "Movement",
    "PartyRecord",
    "PaymentRecord",
    "PositionRecord",
    "Product",
    "Receipt",
    "Repayment",
    "TransferAgreement",
    "TransferRecord",
]


def _method_names(value: object) -> tuple[str, ...]:
    """A product's own repayment methods: distinct names, none of the four standard ones."""
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise InvalidValue(f"a product's methods must be a tuple of names, got {value!r}")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not METHOD_NAME.fullmatch(name):
            raise InvalidValue(
                f"method name {name!r} is not allowed: 1..20 lowercase letters, digits or '-'"
            )
        if name in METHODS:
            raise InvalidValue(
                f"method {name!r} is a standard method; a product declares only its own"
            )
        if name == OPEN_ENDED:
            raise InvalidValue(
                f"method {name!r} is not declared in methods: a product offers open-ended loans"
                " with open_ended=OpenEndedTerms(...)"
            )
    if len(set(names)) != len(names):
        raise InvalidValue(f"a product's methods are declared twice: {names!r}")
    return names


def _day_count(value: object) -> DayCount:
    return DayCount.parse(value)


@frozen
class Product:
    """A product (business model) a plugin offers; listings name it in ``product``.

    ``methods`` are the product's own repayment methods (e.g. ``("custom",)`` or
    ``("discount-bullet",)``), beside the four standard ones every product may use. A listing of
    the product may name one; its schedule then comes from the plugin's
    ``lendkit_build_schedule`` (core builders: :func:`lendkit.core.schedule.discount_bullet`,
    :func:`lendkit.core.schedule.custom_rows`) and the method is stored on the loan.

    ``day_count`` is the product's day-count basis (``"30/360"``, ``"ACT/360"`` or
    ``"ACT/365"``; default ``ACT/360``, lendkit's behaviour before products had one), stored on
    each loan at disbursement: prepayment's interest to date, settlement's accrued interest and
    the days penalty accrues are counted on it.

    ``open_ended`` (:class:`~lendkit.core.open_ended.OpenEndedTerms`: settlement period,
    maximum term in days, day-count basis) offers open-ended loans: a listing of the product
    with ``method="open-ended"`` becomes a loan with no schedule, whose interest accrues daily
    at close of business and settles on the period, whose principal is repaid in any amount at
    any time (``loans.repay_principal``) and falls due at the maximum term (docs/open-ended.md).

    ``transferable=False`` keeps loans of the product off the secondary market (docs/market.md).
    """

    name: str
    description: str = ""
    plugin: str = ""
    methods: tuple[str, ...] = field(default=(), converter=_method_names)
    day_count: DayCount = field(default=DayCount.ACT_360, converter=_day_count)
    open_ended: OpenEndedTerms | None = field(default=None)
    #: whether holders may sell loans of this product on the secondary market (debt transfer);
    #: ``False`` refuses every offer (a plugin may also refuse with ``lendkit_validate_transfer``)
    transferable: bool = True

    @open_ended.validator
    def _check_open_ended(self, _attribute: object, value: object) -> None:
        if value is not None and not isinstance(value, OpenEndedTerms):
            raise InvalidValue(
                f"a product's open_ended must be OpenEndedTerms or None, got {value!r}"
            )

    @property
    def allowed_methods(self) -> tuple[str, ...]:
        """The methods a listing of this product may use: the standard four, then its own
        (``open-ended`` last when the product declares open-ended terms)."""
        return METHODS + self.methods + ((OPEN_ENDED,) if self.open_ended is not None else ())


@frozen
class PluginSettings:
    """A plugin's settings class (``lendkit_register_settings``): ``config.plugins[name]`` is
    structured into ``cls`` (an attrs class; fields with defaults are optional, converters and
    validators raising ``InvalidValue`` check values) once, when the Platform opens."""

    name: str
    cls: type


@frozen
class Balance:
    """A party's custody balance: ``available`` to bid or withdraw, ``frozen`` in open holds."""

    party_id: str
    available: Money
    frozen: Money

    @property
    def total(self) -> Money:
        return self.available + self.frozen


@frozen
class HoldRecord:
    """A hold (pending transfer): ``amount`` frozen for the one ``destination`` it may be posted to.

    ``state`` is ``open`` until it resolves exactly once to ``posted``, ``voided`` or ``expired``.
    """

    id: str
    owner_id: str
    amount: Money
    destination: str
    reference: str
    state: str
    posted_amount: Money
    expires_at: datetime | None = None


@frozen
class Movement:
    """A deposit, withdrawal or refund through the custody gateway."""

    id: str
    party_id: str
    kind: str
    amount: Money
    state: str
    external_ref: str | None = None


@frozen
class PartyRecord:
    """A borrower and/or investor."""

    id: str
    name: str
    kind: str
    verified: bool
    grade: str | None = None
    credit_score: int | None = None
    credit_line: Money | None = None
    risk_level: int | None = None


@frozen
class CreditAssessment:
    """A credit decision: score (0..1000), grade (AA, A, B, C, D, E, HR) and credit line."""

    score: int
    grade: str
    credit_line: Money


@frozen
class ListingRecord:
    """A listing (标的) at a point of its life."""

    id: str
    borrower_id: str
    product: str
    amount: Money
    months: int
    method: str
    bidding: str
    state: str
    annual_rate: Decimal | None
    max_rate: Decimal | None
    min_bid: Money
    max_bid: Money | None
    window_days: int
    grade: str | None
    bid_total: Money
    bid_count: int
    clearing: str = "own"
    reason: str | None = None
    closes_at: datetime | None = None
    #: the borrower's annual percentage rate, every fee included (``p.listings.cost``), when
    #: the record was read through the listings facade (``ctx.listing`` in a hook leaves it
    #: ``None``); a quote derived from the listing, so records compare equal without it
    apr: Decimal | None = field(default=None, eq=False)

    @property
    def remaining(self) -> Money:
        """What fixed-rate bids can still fill."""
        return (
            self.amount - self.bid_total
            if self.bid_total < self.amount
            else Money.zero(self.amount.currency)
        )


@frozen
class Bid:
    """A bid; ``amount`` is what filled (fixed-rate bids are trimmed to what remained)."""

    id: str
    listing_id: str
    investor_id: str
    amount: Money
    requested: Money
    rate: Decimal | None
    state: str
    hold_id: str
    auto: bool = False


@frozen
class PositionRecord:
    """An investor's share of a loan and what it has received / is still owed."""

    id: str
    loan_id: str
    investor_id: str
    principal: Money
    annual_rate: Decimal
    received_principal: Money
    received_interest: Money
    received_penalty: Money
    outstanding_principal: Money
    outstanding_interest: Money
    fees_paid: Money
    #: outstanding principal the holder sold on the secondary market (``None``: nothing sold);
    #: ``outstanding_principal = principal - received_principal - sold``
    sold_principal: Money | None = None

    @property
    def sold(self) -> Money:
        """:attr:`sold_principal`, zero when nothing was sold."""
        return self.sold_principal or Money.zero(self.principal.currency)


@frozen
class TransferRecord:
    """An offer on the secondary market (债权转让): ``seller_id`` sells ``principal`` of its
    outstanding principal in loan ``loan_id`` for ``price`` (par, a premium or a discount).

    ``sold`` is the principal bought so far (first come, first served). ``state`` is ``open``
    until it resolves exactly once to ``filled``, ``expired`` or ``cancelled``.
    """

    id: str
    loan_id: str
    seller_id: str
    principal: Money
    price: Money
    sold: Money
    state: str
    created_at: datetime
    expires_at: datetime

    @property
    def remaining(self) -> Money:
        """Principal still for sale."""
        return self.principal - self.sold


@frozen
class TransferAgreement:
    """A settled purchase (债权转让协议): ``buyer_id`` bought ``principal`` of ``seller_id``'s
    claim on ``loan_id`` on ``settled_on``, paying ``price`` plus ``accrued_interest`` (since the
    last due date, to the seller); the seller paid ``fee`` to the platform. ``hold_id`` is the
    buyer's custody hold the payment was posted from."""

    id: str
    transfer_id: str
    loan_id: str
    seller_id: str
    buyer_id: str
    principal: Money
    price: Money
    accrued_interest: Money
    fee: Money
    settled_on: date
    hold_id: str

    @property
    def buyer_paid(self) -> Money:
        """What the buyer paid: price plus accrued interest."""
        return self.price + self.accrued_interest

    @property
    def seller_received(self) -> Money:
        """What the seller received net: price plus accrued interest less the fee."""
        return self.price + self.accrued_interest - self.fee


@frozen
class LoanRecord:
    """A disbursed loan."""

    id: str
    listing_id: str
    borrower_id: str
    product: str
    principal: Money
    annual_rate: Decimal
    months: int
    method: str
    start_date: date
    state: str
    outstanding_principal: Money
    positions: tuple[PositionRecord, ...] = field(factory=tuple)
    #: the product's day-count basis, stored at disbursement (interest to date, penalty days)
    day_count: DayCount = DayCount.ACT_360


@frozen
class PaymentRecord:
    """One booked payment and how it was split."""

    id: str
    loan_id: str
    kind: str
    amount: Money
    penalty: Money
    interest: Money
    principal: Money
    fee: Money
    paid_on: date
    #: the party whose available balance paid (``None``: not a party's account, e.g. a plugin's
    #: fund covering investors; payments booked before payers were recorded)
    payer: str | None = None


@frozen
class Repayment:
    """One payment a ``lendkit_repayments_received`` batch reports, with its loan as it stands
    when the batch is delivered (close of business delivers a chunk's payments together, after
    every loan of the chunk: a loan paid twice in the chunk is reported twice, both times with
    its state after both)."""

    loan_id: str
    product: str
    borrower_id: str
    #: the loan's state when the batch is delivered (``active``, ``overdue``, ``settled``...)
    state: str
    #: the loan's outstanding principal when the batch is delivered
    outstanding_principal: Money
    payment: PaymentRecord


@frozen
class Receipt:
    """One payment an investor received on a loan (a line of its position's history), and
    who paid it.

    ``amount`` is what reached the investor's available balance from that payment, net of the
    platform's management fee, over all its positions in the loan. ``payer_kind`` says who paid:
    ``"borrower"``, ``"party"`` (another party paying for the borrower from its available
    balance: an acceptor bank, a core enterprise, a lessee) or, for any other account, the
    account's owner kind (``"guarantor"``, ``"insurer"``, ``"plugin"`` for a plugin's own
    fund such as the reserve's...); ``payer_id`` is that owner (the party, the guarantor, the
    plugin's name) and ``payer_account`` the paying account's code.
    """

    payment_id: str
    loan_id: str
    investor_id: str
    paid_on: date
    #: the payment's kind: ``repayment``, ``collection``, ``prepayment``, ``settlement``,
    #: ``cover`` (a third party paying investors)...
    kind: str
    amount: Money
    payer_kind: str
    payer_id: str
    payer_account: str

    @property
    def paid_by(self) -> str:
        """Who paid, for people: ``borrower b1``, ``party p7``, ``guarantor g2``, ``reserve``."""
        if self.payer_kind == "plugin":
            return self.payer_id
        return f"{self.payer_kind} {self.payer_id}"


@frozen
class Deduction:
    """An amount taken from a borrower's proceeds at disbursement, paid to ``account`` (a code)."""

    name: str
    amount: Money
    account: str


@frozen
class Claim:
    """What investors are still owed on an overdue or defaulted loan, for the waterfall."""

    loan_id: str
    period: int | None
    reason: str  # overdue | default
    days_overdue: int
    principal: Money
    interest: Money


@frozen
class Disclosure:
    """One published figure, e.g. ``Disclosure("reserve", "balance", "1200.00 CNY")``."""

    plugin: str
    name: str
    value: str


@frozen
class CobResult:
    """What one close-of-business run did."""

    date: date
    shard: str
    expired_listings: int
    collected: int
    overdue: int
    defaulted: int
    expired_holds: int
    already_done: bool = False
    #: the dates this run closed, in order: skipped days caught up, then ``date`` (empty when
    #: ``already_done``); the counts are their totals
    days: tuple[dt.date, ...] = ()
