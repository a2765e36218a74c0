"""The records the ``leasing`` plugin returns (frozen attrs values; amounts are ``Money``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from attrs import frozen

from lendkit.core.money import Money


@frozen
class Lessor:
    """A leasing company (融资租赁公司), the registered party ``party_id``."""

    id: str
    party_id: str
    name: str


@frozen
class Lessee:
    """A lessee (承租人), the registered party ``party_id``: the borrower of its leases' loans."""

    party_id: str
    name: str


@frozen
class Asset:
    """A leased asset. ``serial`` is unique on the platform and under one live lease at a time
    (``lease_id``, ``None`` when none). ``owner_id`` is the party owning it now: the supplier or
    the lessee before a lease, the lessor's party during it, the lessee after its buy-out.
    ``state``: ``available``, ``leased``, ``repossessed`` or ``sold``."""

    id: str
    kind: str
    serial: str
    value: Money
    owner_id: str
    state: str
    lease_id: str | None
    description: str | None = None


@frozen
class Lease:
    """A financial lease (融资租赁) financed by a listing whose loan the lessee repays in rents.

    ``form``: ``direct`` (the lessor buys the asset from ``supplier_id``; the proceeds go to the
    supplier) or ``leaseback`` (售后回租: the lessee sells its asset to the lessor; the proceeds go
    to the lessee). ``amount`` is the financed amount (the loan's principal), ``annual_rate``
    the lease's implicit rate, ``residual`` the buy-out price paid with the last rent.

    ``state``: ``listed`` (the listing is open), ``active`` (the loan runs), ``bought_out`` (paid
    in full: the asset is the lessee's), ``repossessed`` (default without buy-back: the lessor
    holds the asset until it is sold), ``sold``, ``buyback_due`` (the lessor must buy back but
    its balance is short: retried at each close of business), ``bought_back`` (the lessor paid
    the investors), ``written_off`` or ``withdrawn`` (the listing did not fund). ``missed`` is the
    number of rents unpaid past the grace days at the last close of business.
    """

    id: str
    listing_id: str | None
    loan_id: str | None
    lessor_id: str
    lessee_id: str
    asset_id: str
    form: str
    supplier_id: str | None
    amount: Money
    annual_rate: Decimal
    frequency: str
    rents: int
    residual: Money
    buy_back: bool
    state: str
    missed: int
    bought_out_on: date | None = None
    ended_on: date | None = None


@frozen
class OwnershipChange:
    """One change of an asset's owner: ``reason`` is ``purchase`` (direct lease: from the
    supplier to the lessor), ``sale-leaseback`` (from the lessee to the lessor), ``buy-out``
    (from the lessor to the lessee) or ``sale`` (from the lessor to the buyer of a repossessed
    asset: ``to_id`` is then the :class:`Sale`'s id, its record names the buyer)."""

    asset_id: str
    seq: int
    from_id: str
    to_id: str
    reason: str
    on: date
    lease_id: str | None = None


@frozen
class Sale:
    """A repossessed asset sold for ``price``: ``penalty + interest + principal`` of it paid the
    lease's loan (investors first, pro rata), ``surplus`` went to the lessee, ``shortfall`` is
    the principal the lessee still owes after the sale (zero when the price covered the payoff)."""

    id: str
    lease_id: str
    loan_id: str
    buyer: str
    price: Money
    penalty: Money
    interest: Money
    principal: Money
    surplus: Money
    shortfall: Money
    sold_on: date
