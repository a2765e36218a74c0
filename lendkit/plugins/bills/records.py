"""The ``bills`` plugin's public records."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from attrs import frozen

from lendkit.core.money import Money

#: a bill's states: registered (not listed), applying (inside apply_with_bill's transaction),
#: listed (its listing is open), funded (a loan runs on it), overdue, paid, withdrawn (its
#: listing was rejected, cancelled or failed), written_off
REGISTERED, APPLYING, LISTED, FUNDED, OVERDUE, PAID, WITHDRAWN, WRITTEN_OFF = (
    "registered",
    "applying",
    "listed",
    "funded",
    "overdue",
    "paid",
    "withdrawn",
    "written_off",
)
#: states in which the bill's number is held by its listing or loan (a second listing is a clone)
LIVE = (APPLYING, LISTED, FUNDED, OVERDUE, WRITTEN_OFF)


@frozen
class Pricing:
    """A bill's discount terms: investors pay ``price`` now and receive ``face`` at maturity.

    ``discount = face x discount_rate x days / year_days`` rounded HALF_UP to the minor unit,
    ``price = face - discount``; ``investor_yield = discount / price x year_days / days``
    (the investors' annual yield on what they pay), rounded HALF_UP to 4 decimals (0.01 %).
    """

    face: Money
    price: Money
    discount: Money
    discount_rate: Decimal
    days: int
    basis: str
    investor_yield: Decimal


@frozen
class Bill:
    """A bank acceptance bill (银行承兑汇票) and, once listed, its pricing.

    ``endorsements`` is the endorsement chain in order (recorded, not enforced). ``verified_by``
    names the staff member who marked it verified (the default registry's decision);
    ``pledged_to`` whoever holds it as a pledge (such a bill is refused).
    """

    id: str
    number: str
    face: Money
    drawer_id: str
    acceptor_id: str
    issue_date: date
    maturity: date
    penalty_rate: Decimal
    state: str
    endorsements: tuple[str, ...] = ()
    verified_by: str | None = None
    pledged_to: str | None = None
    listing_id: str | None = None
    loan_id: str | None = None
    pricing: Pricing | None = None


@frozen
class RecoursePayment:
    """A payment the drawer made on its overdue bill (recourse, 追索)."""

    payment_id: str
    bill_id: str
    payer_id: str
    amount: Money
    paid_on: date
