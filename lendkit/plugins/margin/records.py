"""The ``margin`` plugin's public records."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from attrs import frozen

from lendkit.core.money import Money

#: a margin account's states: applying (its listing awaits investors), open (the loan runs),
#: warning (below the warning line: no withdrawals, unpledges or buys), liquidated (forced
#: sale done), repaid (the loan is repaid; the trader may take everything out), withdrawn
#: (its listing was rejected, cancelled or failed; the margin went back)
APPLYING, OPEN, WARNING, LIQUIDATED, REPAID, WITHDRAWN = (
    "applying",
    "open",
    "warning",
    "liquidated",
    "repaid",
    "withdrawn",
)
#: states in which the account is marked to market
LIVE = (OPEN, WARNING)


@frozen
class Quote:
    """A price of one share of ``symbol`` at ``as_of`` (a timezone-aware datetime), as the
    price feed (``lendkit_margin_price``) answers it or the integrator pushes it."""

    symbol: str
    price: Decimal
    as_of: datetime


@frozen
class Position:
    """Shares of ``symbol`` held in a margin account."""

    symbol: str
    quantity: int


@frozen
class Fill:
    """One executed sell order of a forced liquidation: ``quantity`` shares of ``symbol`` sold
    at ``price`` (proceeds ``quantity x price``, HALF_UP to the cent)."""

    symbol: str
    quantity: int
    price: Decimal


@frozen
class Valuation:
    """An account marked to market: ``value`` = cash + the basket at current prices,
    ``ratio`` = value / ``borrowed`` (the loan's outstanding principal; ``None`` when nothing is
    borrowed), cut to 4 decimals for display (the lines are compared exactly)."""

    account_id: str
    cash: Money
    positions_value: Money
    value: Money
    borrowed: Money
    ratio: Decimal | None
    state: str


@frozen
class Liquidation:
    """What a forced liquidation did: the sale ``proceeds``; ``investors_paid`` (principal,
    then interest; no prepayment fee), the platform's ``fee``, what went back to the trader,
    and the ``shortfall`` the investors are still owed (principal and interest due)."""

    account_id: str
    on: date
    proceeds: Money
    investors_paid: Money
    fee: Money
    trader_paid: Money
    shortfall: Money


@frozen
class MarginAccount:
    """A trader's margin account: own ``margin`` plus ``borrowed`` = margin x ``leverage``
    from investors (an open-ended loan), held in a controlled trading account (``cash``)
    with ``positions``. ``ratio`` is the last valuation's (``None`` before the first)."""

    id: str
    trader_id: str
    margin: Money
    leverage: int
    borrowed: Money
    annual_rate: Decimal
    state: str
    cash: Money
    positions: tuple[Position, ...]
    listing_id: str | None = None
    loan_id: str | None = None
    ratio: Decimal | None = None
    liquidation: Liquidation | None = None
