"""The collateral plugin's records and constants."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

from attrs import frozen

from lendkit.core.money import Money

PLUGIN = "collateral"
PRODUCT = "secured"
DEFAULT_LTV_CAPS: Mapping[str, Decimal] = {
    "real_estate": Decimal("0.7"),
    "vehicle": Decimal("0.6"),
    "equipment": Decimal("0.5"),
}
#: pledge states; ``LIVE`` ones hold the asset (its id in ``active_key``)
PLEDGED, ACTIVE, ENFORCING, ENFORCED, RELEASED = (
    "pledged",
    "active",
    "enforcing",
    "enforced",
    "released",
)
LIVE = (PLEDGED, ACTIVE, ENFORCING)
PLEDGEABLE_LISTING_STATES = ("applied", "approved")


@runtime_checkable
class ExternalRegistry(Protocol):
    """An outside register of liens (other platforms, the vehicle or land registry).

    ``check_pledge`` returns ``None`` to allow the pledge or a sentence saying why it is refused
    (e.g. ``"VIN ... is already mortgaged at the vehicle registry"``).
    """

    def check_pledge(self, kind: str, identifier: str, owner_id: str) -> str | None:
        """Veto (a reason) or allow (``None``) pledging the asset."""


@frozen
class Asset:
    """A registered asset and its latest appraisal."""

    id: str
    kind: str
    identifier: str
    owner_id: str
    appraised_value: Money
    appraised_on: date


@frozen
class Pledge:
    """A lien of one asset for one listing/loan.

    ``ltv`` is exposure / appraised value (exposure: the listing amount, then the loan's
    outstanding principal); ``cap`` the kind's LTV cap; ``breach`` is set by a revaluation that
    pushed the listing's exposure above its capped collateral value.
    """

    id: str
    asset_id: str
    listing_id: str
    loan_id: str | None
    state: str
    exposure: Money
    appraised_value: Money
    cap: Decimal
    ltv: Decimal
    breach: bool


@frozen
class Sale:
    """A recorded enforcement sale and where its proceeds went.

    ``proceeds = costs + penalty + interest + principal + surplus``; ``interest`` and
    ``principal`` include what recovered third parties' claims on covered installments.
    """

    id: str
    loan_id: str
    proceeds: Money
    costs: Money
    penalty: Money
    interest: Money
    principal: Money
    surplus: Money
    sold_on: date
