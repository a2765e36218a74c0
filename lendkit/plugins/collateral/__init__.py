"""Collateral (抵押): secured loans against registered real estate, vehicles or equipment.

The plugin keeps a **registry** of assets (kind, unique identifier such as a property certificate
number, VIN or serial, owner, appraised value and date) and the **pledges** (liens) that tie an
asset to a listing and then to its loan:

* **No double pledge (重复抵押).** An identifier (VIN, certificate number) carries at most one live
  pledge, whatever kind its asset is registered as. The database enforces it (a UNIQUE column
  holding a digest of the identifier while the pledge is live), so two transactions racing to
  pledge the same VIN cannot both succeed; the loser gets ``InvalidState`` naming the pledge
  that holds it. The same (kind, identifier) cannot be registered twice either.
* **External registry veto.** Pledges elsewhere (other platforms, the vehicle or land registry)
  are outside this database; the integrator may pass an object with a
  ``check_pledge(kind, identifier, owner_id) -> str | None`` method (see
  :class:`ExternalRegistry`) or a plain callable with that signature as plugin configuration
  ``"external_registry"``; a returned string refuses the pledge with that reason. One object per
  Platform, no global state, no extra hook.
* **Loan-to-value caps per kind** (default real_estate 70 %, vehicle 60 %, equipment 50 %,
  configurable): a listing with pledges is refused on application and on approval when its amount
  exceeds the sum of ``appraised value x cap`` of its pledged assets. A listing of the product
  ``secured`` (registered by this plugin) cannot be approved without a pledge.
  :func:`revalue` records a new appraisal and flags every live pledge whose exposure (listing
  amount, then the loan's outstanding principal) is now above the capped value (a breach).
* **Lien life.** ``pledged`` when :func:`pledge` ties the asset to an applied or approved listing
  (the approval validates it), ``active`` when the loan is disbursed, ``released`` when the loan
  is repaid in full (or the listing fails), ``enforcing`` when the loan defaults, ``enforced``
  once :func:`record_sale` has booked the sale.
* **Enforcement.** :func:`record_sale` books the buyer's money (a ``collateral:sale-gateway``
  account that may go negative: money entering the platform), pays the enforcement costs to
  ``plugin:collateral:costs``, and applies the rest as the borrower's payment on the loan: each
  installment oldest first, penalty then interest then principal (the platform's allocation
  order), every part split among the investors pro rata to the cent, and installments a third
  party already paid (guarantor, insurer, reserve) recover that payer first (追偿). Installments not
  yet due are paid too (enforcement accelerates the loan). What is left is the **surplus**: it
  stays with the borrower (or goes to a third-party owner of the asset). A **shortfall** leaves
  the unpaid installments unpaid: they pass down the waterfall to the plugins after it on the
  next close of business, or stay a loss to investors.

Why the proceeds are applied as the borrower's payment and not through ``ctx.pay_investors``:
the proceeds are the borrower's own money (the asset is theirs); ``pay_investors`` would make the
plugin a creditor holding the claim (so the borrower would repay twice), cannot pay penalty or
installments not yet due, and would give a surplus to the borrower before reimbursing a guarantor
that paid first. The payment therefore goes through ``ctx.repay`` (core's repayment path) inside
the same transaction, so the sale, the costs and every payment commit together or not at all.
Collateral needs no slot in the waterfall (it pays when the asset is sold, not on a day overdue).

Configuration (``Platform.open(..., config={"plugins": {"collateral": {...}}})``)::

    {
        "ltv_caps": {"real_estate": "0.7", "vehicle": "0.6", "equipment": "0.5"},
        "external_registry": my_registry,   # optional: .check_pledge(...) or a callable
    }

Only kinds named in ``ltv_caps`` can be registered.

Example (runnable; ``tests/plugins/collateral`` has the same scenario with every figure checked)::

    from datetime import UTC, date, datetime, timedelta

    import lendkit
    from lendkit.plugins import collateral

    clock_now = [datetime(2026, 1, 1, 9, tzinfo=UTC)]
    p = lendkit.Platform.open(
        "sqlite:///secured.db",
        plugins=["online", "collateral"],
        config={"grace_days": 0, "default_after_days": 60},
        clock=lambda: clock_now[0],
    )
    borrower, investor = p.parties.register("b").id, p.parties.register("i").id
    for party in (borrower, investor):
        p.parties.verify(party)
    car = collateral.register_asset(
        p, "vehicle", "LSVAM4187C2184847", borrower, "100000", date(2026, 1, 1)
    )
    listing = p.listings.apply(borrower, "50000", "12%", months=3, product="secured")
    collateral.pledge(p, listing.id, car.id)  # LTV 50 % <= the vehicle cap of 60 %
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "50000")
    p.bidding.bid(listing.id, investor, "50000")
    loan = p.loans.disburse(listing.id)  # the lien becomes active
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)  # and pays nothing back
    first_due = p.loans.schedule(loan.id).installments[0].due_date
    for days in (1, 29, 60):  # close of business; at 60 days overdue the loan defaults
        p.cob.run(first_due + timedelta(days=days), allow_future=True)
    clock_now[0] = datetime.combine(first_due + timedelta(days=60), datetime.min.time(), UTC)
    sale = collateral.record_sale(p, loan.id, proceeds="80000", costs="2000")
    print(sale.costs, sale.penalty, sale.interest, sale.principal, sale.surplus)
    print(p.loans.get(loan.id).state, p.custody.balance(borrower).available)
    for d in p.reports.disclosure():
        if d.plugin == "collateral":
            print(d.name, "=", d.value)
    assert p.verify().ok
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

from attrs import field, frozen
from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.errors import (
    InvalidAmount,
    InvalidState,
    InvalidValue,
    NotFound,
)
from lendkit.core.inputs import check_date, check_id, check_text, parse_amount
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money, parse_rate
from lendkit.core.records import (
    Disclosure,
    ListingRecord,
    LoanRecord,
    PaymentRecord,
    PluginSettings,
    Product,
)
from lendkit.migrations import PluginSchema
from lendkit.plugins.collateral.tables import assets, metadata, pledges, sales, valuations

Platform = lendkit.Platform

__all__ = [
    "DEFAULT_LTV_CAPS",
    "Asset",
    "ExternalRegistry",
    "Pledge",
    "Sale",
    "asset_pledges",
    "get_asset",
    "pledge",
    "record_sale",
    "register_asset",
    "revalue",
]

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

lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")


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


# -- configuration --------------------------------------------------------------------------------


def _ltv_caps(raw: object) -> Mapping[str, Decimal]:
    if raw is None:
        return dict(DEFAULT_LTV_CAPS)
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidValue(
            f"collateral ltv_caps must map asset kinds to caps, e.g. {{'vehicle': '0.6'}}: {raw!r}"
        )
    return {str(k): parse_rate(v, f"LTV cap of {k}") for k, v in raw.items()}


def _registry(raw: object) -> Callable[[str, str, str], str | None] | None:
    if raw is None:
        return None
    if isinstance(raw, ExternalRegistry):
        return raw.check_pledge
    if callable(raw):
        return cast("Callable[[str, str, str], str | None]", raw)
    raise InvalidValue(
        "collateral external_registry must have check_pledge(kind, identifier, owner_id)"
        f" or be callable; got {type(raw).__name__}"
    )


@frozen
class Settings:
    """``config.plugins["collateral"]``, structured when the Platform opens: ``ltv_caps`` (asset
    kind -> cap) and ``external_registry`` (kept as its check: ``check_pledge`` or the callable).
    """

    ltv_caps: Mapping[str, Decimal] = field(default=None, converter=_ltv_caps)
    external_registry: Callable[[str, str, str], str | None] | None = field(
        default=None, converter=_registry
    )


def _caps(ctx: HookContext) -> dict[str, Decimal]:
    settings: Settings = ctx.settings(PLUGIN)
    return dict(settings.ltv_caps)


def _registry_veto(ctx: HookContext, kind: str, identifier: str, owner_id: str) -> str | None:
    check = ctx.settings(PLUGIN).external_registry
    if check is None:
        return None
    answer = check(kind, identifier, owner_id)
    return None if answer is None else str(answer)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _lending_value(value_minor: int, cap: Decimal) -> int:
    """``value x cap`` rounded down to a whole minor unit (the most that may be lent on it)."""
    return int((Decimal(value_minor) * cap).to_integral_value(rounding=ROUND_FLOOR))


def _pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.01'))}%"


# -- reading --------------------------------------------------------------------------------------


def _asset(conn: Connection, asset_id: str) -> Any:
    row = conn.execute(select(assets).where(assets.c.id == asset_id)).first()
    if row is None:
        raise NotFound(f"collateral asset {asset_id!r} is not registered")
    return row


def _asset_record(row: Any) -> Asset:
    return Asset(
        row.id,
        row.kind,
        row.identifier,
        row.owner_id,
        Money.from_minor(row.appraised_value, row.currency),
        row.appraised_on,
    )


def _pledge_rows(conn: Connection, **where: str) -> list[Any]:
    stmt = select(pledges, assets.c.kind, assets.c.appraised_value, assets.c.currency).join(
        assets, assets.c.id == pledges.c.asset_id
    )
    for column, value in where.items():
        stmt = stmt.where(pledges.c[column] == value)
    return list(conn.execute(stmt.order_by(pledges.c.created_at, pledges.c.id)).all())


def _pledge_record(row: Any, caps: Mapping[str, Decimal]) -> Pledge:
    cur = row.currency
    ltv = (
        Decimal(row.exposure) / Decimal(row.appraised_value) if row.appraised_value else Decimal(0)
    )
    return Pledge(
        row.id,
        row.asset_id,
        row.listing_id,
        row.loan_id,
        row.state,
        Money.from_minor(row.exposure, cur),
        Money.from_minor(row.appraised_value, cur),
        caps.get(row.kind, Decimal(0)),
        ltv.quantize(Decimal("0.0001")),
        bool(row.breach),
    )


def get_asset(platform: Platform, asset_id: str) -> Asset:
    """The registered asset ``asset_id`` with its latest appraisal (``NotFound`` if none)."""
    asset_id = check_id(asset_id, "asset id")
    return platform.command(
        "collateral.get_asset", lambda ctx: _asset_record(_asset(ctx.conn, asset_id))
    )


def asset_pledges(platform: Platform, listing_or_loan_id: str) -> list[Pledge]:
    """Every pledge of a listing or of the loan it became, oldest first."""
    ident = check_id(listing_or_loan_id, "listing or loan id")

    def run(ctx: HookContext) -> list[Pledge]:
        caps = _caps(ctx)
        rows = _pledge_rows(ctx.conn, listing_id=ident) or _pledge_rows(ctx.conn, loan_id=ident)
        return [_pledge_record(r, caps) for r in rows]

    return platform.command("collateral.asset_pledges", run)


# -- commands -------------------------------------------------------------------------------------


def _identifier(value: object) -> str:
    """An asset identifier as the registry keeps it: stripped, upper case, 1..100 printable."""
    return check_text(value, "asset identifier", 100).upper()


def _identifier_key(identifier: str) -> str:
    """What ``pledges.active_key`` holds for a live pledge: a 40-hex digest of the identifier, so
    one identifier carries one live pledge whatever kind its asset is registered as."""
    return hashlib.blake2b(identifier.encode(), digest_size=20).hexdigest()


def register_asset(
    platform: Platform,
    kind: str,
    identifier: str,
    owner_id: str,
    appraised_value: object,
    appraised_on: date,
    *,
    key: str | None = None,
) -> Asset:
    """Register an asset that can be pledged.

    :param kind: one of the kinds with an LTV cap (default ``real_estate``, ``vehicle``,
        ``equipment``).
    :param identifier: the certificate number, VIN or serial; unique per kind (and one live
        pledge per identifier whatever its kind).
    :param owner_id: the registered party that owns it (the borrower or a third-party mortgagor).
    :param appraised_value: str/int/Decimal amount (floats are refused).
    :param appraised_on: the appraisal date.
    :param key: an idempotency key (a repeat returns the first outcome).
    :raises InvalidValue: unknown kind, empty identifier, non-positive value.
    :raises NotFound: ``owner_id`` is not a registered party.
    :raises InvalidState: the identifier is already registered for this kind.
    """
    appraised_on = check_date(appraised_on, "appraised_on")
    identifier = _identifier(identifier)
    owner_id = check_id(owner_id, "asset owner")
    value = parse_amount(appraised_value, platform.config.currency, "appraised value")
    if not isinstance(kind, str):
        raise InvalidValue(f"asset kind must be a string, got {type(kind).__name__}")
    asset_id = _new_id("ast")

    def run(ctx: HookContext) -> Asset:
        caps = _caps(ctx)
        if kind not in caps:
            raise InvalidValue(
                f"asset kind {kind[:40]!r} has no LTV cap configured; allowed:"
                f" {', '.join(sorted(caps))}"
            )
        ctx.party(owner_id)  # NotFound names it
        existing = ctx.conn.execute(
            select(assets.c.id).where(assets.c.kind == kind, assets.c.identifier == identifier)
        ).scalar()
        if existing is not None:
            raise InvalidState(f"{kind} {identifier} is already registered as asset {existing}")
        try:
            with ctx.conn.begin_nested():
                ctx.conn.execute(
                    assets.insert().values(
                        id=asset_id,
                        kind=kind,
                        identifier=identifier,
                        owner_id=owner_id,
                        currency=ctx.currency,
                        appraised_value=value.minor,
                        appraised_on=appraised_on,
                        created_at=ctx.now,
                    )
                )
        except IntegrityError:
            raise InvalidState(f"{kind} {identifier} was registered concurrently") from None
        ctx.conn.execute(
            valuations.insert().values(
                asset_id=asset_id, value=value.minor, valued_on=appraised_on, created_at=ctx.now
            )
        )
        return _asset_record(_asset(ctx.conn, asset_id))

    return platform.command(
        "collateral.register_asset",
        run,
        key=key,
        payload=[kind, identifier, owner_id, value.format(), appraised_on],
        result_type=Asset,
    )


def pledge(platform: Platform, listing_id: str, asset_id: str, *, key: str | None = None) -> Pledge:
    """Pledge an asset for an applied or approved listing (抵押登记).

    Refused (``InvalidState``) when the asset -- or any asset registered with the same
    identifier under another kind -- already carries a live pledge, here or (through the
    configured external registry) elsewhere, or the listing is past approval. The uniqueness is
    enforced by the database, so of two concurrent pledges of one identifier exactly one
    succeeds. The LTV cap is checked when the listing is approved (and here, if it already is).
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    listing_id = check_id(listing_id, "listing id")
    asset_id = check_id(asset_id, "asset id")

    def run(ctx: HookContext) -> Pledge:
        listing = ctx.listing(listing_id)
        if listing.state not in PLEDGEABLE_LISTING_STATES:
            raise InvalidState(
                f"listing {listing_id} is {listing.state}: assets can be pledged only while it is"
                f" {' or '.join(PLEDGEABLE_LISTING_STATES)}"
            )
        row = _asset(ctx.conn, asset_id)
        holder = ctx.conn.execute(
            select(pledges.c.id, pledges.c.listing_id, assets.c.kind)
            .join(assets, assets.c.id == pledges.c.asset_id)
            .where(assets.c.identifier == row.identifier, pledges.c.state.in_(LIVE))
        ).first()
        if holder is not None:
            registered = "" if holder.kind == row.kind else f" (registered as {holder.kind})"
            raise InvalidState(
                f"{row.kind} {row.identifier} is already pledged{registered} (pledge {holder.id}"
                f" for listing {holder.listing_id}); an asset carries one live pledge (重复抵押 is"
                " refused)"
            )
        veto = _registry_veto(ctx, row.kind, row.identifier, row.owner_id)
        if veto:
            raise InvalidState(
                f"external registry refused pledging {row.kind} {row.identifier}: {veto}"
            )
        pledge_id = _new_id("plg")
        try:
            with ctx.conn.begin_nested():
                ctx.conn.execute(
                    pledges.insert().values(
                        id=pledge_id,
                        asset_id=asset_id,
                        listing_id=listing_id,
                        loan_id=None,
                        state=PLEDGED,
                        active_key=_identifier_key(row.identifier),
                        exposure=listing.amount.minor,
                        breach=False,
                        created_at=ctx.now,
                    )
                )
        except IntegrityError:
            raise InvalidState(
                f"{row.kind} {row.identifier} was pledged concurrently by another listing;"
                " an asset carries one live pledge (重复抵押 is refused)"
            ) from None
        if listing.state == "approved":
            violations = _ltv_violations(ctx, listing)
            if violations:
                raise InvalidState("; ".join(violations))
        caps = _caps(ctx)
        return next(_pledge_record(r, caps) for r in _pledge_rows(ctx.conn, id=pledge_id))

    return platform.command(
        "collateral.pledge", run, key=key, payload=[listing_id, asset_id], result_type=Pledge
    )


def revalue(
    platform: Platform,
    asset_id: str,
    value: object,
    valued_on: date,
    *,
    key: str | None = None,
) -> list[Pledge]:
    """Record a new appraisal of an asset and re-check the LTV of its live pledge.

    Returns the live pledges of the listings/loans this asset secures, each with ``breach`` set
    when their exposure is now above the capped value of all their pledged assets (and cleared when
    it no longer is). ``key``: an idempotency key (a repeat returns the first outcome).
    """
    valued_on = check_date(valued_on, "valued_on")
    asset_id = check_id(asset_id, "asset id")
    money = parse_amount(value, platform.config.currency, "appraised value")

    def run(ctx: HookContext) -> list[Pledge]:
        _asset(ctx.conn, asset_id)
        ctx.conn.execute(
            update(assets)
            .where(assets.c.id == asset_id)
            .values(appraised_value=money.minor, appraised_on=valued_on)
        )
        ctx.conn.execute(
            valuations.insert().values(
                asset_id=asset_id, value=money.minor, valued_on=valued_on, created_at=ctx.now
            )
        )
        caps = _caps(ctx)
        listings_secured = {
            r.listing_id for r in _pledge_rows(ctx.conn, asset_id=asset_id) if r.state in LIVE
        }
        out: list[Pledge] = []
        for listing_id in sorted(listings_secured):
            live = [r for r in _pledge_rows(ctx.conn, listing_id=listing_id) if r.state in LIVE]
            limit = sum(
                _lending_value(r.appraised_value, caps.get(r.kind, Decimal(0))) for r in live
            )
            exposure = max(r.exposure for r in live)
            breach = exposure > limit
            ctx.conn.execute(
                update(pledges)
                .where(pledges.c.listing_id == listing_id, pledges.c.state.in_(LIVE))
                .values(breach=breach)
            )
            out.extend(
                _pledge_record(r, caps)
                for r in _pledge_rows(ctx.conn, listing_id=listing_id)
                if r.state in LIVE
            )
        return out

    return platform.command(
        "collateral.revalue",
        run,
        key=key,
        payload=[asset_id, money.format(), valued_on],
        result_type=list[Pledge],
    )


def record_sale(
    platform: Platform,
    loan_id: str,
    proceeds: object,
    costs: object = "0",
    *,
    sold_on: date | None = None,
    key: str | None = None,
) -> Sale:
    """Book the enforcement sale of a defaulted loan's pledged assets and distribute it.

    Order: the buyer's ``proceeds`` enter; ``costs`` (auction, legal) go to the costs account;
    the rest is applied to the loan as the borrower's payment (penalty, interest, principal of
    each installment, oldest first, pro rata among investors; covered installments recover their
    payer), including installments not yet due; any surplus stays with the borrower, or goes to
    the asset's owner when that is a third party (through the plugin's proceeds account: a
    plugin never moves money from one user's account to another's). One transaction: all of it
    or nothing. ``key``: an idempotency key (a repeat returns the first outcome).

    :raises InvalidState: the loan is not defaulted or has no lien being enforced.
    :raises InvalidAmount: non-positive proceeds, negative costs, costs above proceeds.
    """
    loan_id = check_id(loan_id, "loan id")
    cur = platform.config.currency
    gross = parse_amount(proceeds, cur, "sale proceeds")
    cost = parse_amount(costs, cur, "sale costs", allow_zero=True)
    if cost > gross:
        raise InvalidAmount(f"sale costs {cost} must be between 0 and the proceeds {gross}")
    if sold_on is not None:
        sold_on = check_date(sold_on, "sold_on")
    sale_id = _new_id("sale")

    def run(ctx: HookContext) -> Sale:
        loan = ctx.loan(loan_id)
        if loan.state != "defaulted":
            raise InvalidState(
                f"loan {loan_id} is {loan.state}: an enforcement sale is recorded for a defaulted"
                " loan, before it is written off"
            )
        enforcing = [r for r in _pledge_rows(ctx.conn, loan_id=loan_id) if r.state == ENFORCING]
        if not enforcing:
            raise InvalidState(
                f"loan {loan_id} has no lien under enforcement (pledges become enforcing when the"
                " loan defaults)"
            )
        owners = {_asset(ctx.conn, r.asset_id).owner_id for r in enforcing}
        net = gross - cost
        borrower = ctx.party_account(loan.borrower_id, cur)
        legs = [(ctx.account("plugin", PLUGIN, "sale-gateway", cur, allow_negative=True), -gross)]
        if cost.is_positive():
            legs.append((ctx.account("plugin", PLUGIN, "costs", cur), cost))
        legs.append((borrower, net))
        ctx.transfer("collateral.sale", sale_id, legs)
        ctx.conn.execute(
            update(pledges)
            .where(pledges.c.loan_id == loan_id, pledges.c.state == ENFORCING)
            .values(state=ENFORCED, active_key=None, closed_on=ctx.today)
        )
        paid = _apply_to_loan(ctx, loan_id, borrower, net)
        applied = sum((p.amount for p in paid), Money.zero(cur))
        surplus = net - applied
        third_party = owners - {loan.borrower_id}
        if surplus.is_positive() and len(owners) == 1 and third_party:
            # the owner's money returns from the borrower's account to the sale's proceeds
            # account, and from there to the owner: two movements a plugin may make
            proceeds_acct = ctx.account("plugin", PLUGIN, "sale-proceeds", cur)
            ctx.transfer(
                "collateral.surplus", sale_id, [(borrower, -surplus), (proceeds_acct, surplus)]
            )
            owner_acct = ctx.party_account(third_party.pop(), cur)
            ctx.transfer(
                "collateral.surplus", sale_id, [(proceeds_acct, -surplus), (owner_acct, surplus)]
            )
        ctx.conn.execute(
            sales.insert().values(
                id=sale_id,
                loan_id=loan_id,
                currency=cur,
                proceeds=gross.minor,
                costs=cost.minor,
                penalty=sum(p.penalty.minor for p in paid),
                interest=sum(p.interest.minor for p in paid),
                principal=sum(p.principal.minor for p in paid),
                surplus=surplus.minor,
                sold_on=sold_on or ctx.today,
                created_at=ctx.now,
            )
        )
        row = ctx.conn.execute(select(sales).where(sales.c.id == sale_id)).one()
        return _sale_record(row)

    return platform.command(
        "collateral.record_sale",
        run,
        key=key,
        payload=[loan_id, gross.format(), cost.format(), sold_on],
        result_type=Sale,
    )


def _apply_to_loan(
    ctx: HookContext, loan_id: str, source: AccountRef, amount: Money
) -> list[PaymentRecord]:
    """Repay ``loan_id`` from ``source`` (the borrower's account) with at most ``amount``,
    installment by installment (each in full while the money lasts, then a partial one) through
    ``ctx.repay``; returns the payments.

    An installment that would take more than is left is undone with a SAVEPOINT and paid in part
    instead, so the borrower's other money is never touched.
    """
    left = amount
    paid: list[PaymentRecord] = []
    while left.is_positive():
        savepoint = ctx.conn.begin_nested()
        try:
            payment = ctx.repay(loan_id, source=source)
        except InvalidState:  # nothing due, loan closed, or the installment exceeds what is left
            savepoint.rollback()
            payment = None
        if payment is not None and payment.amount <= left:
            savepoint.commit()
            paid.append(payment)
            left = left - payment.amount
            continue
        if payment is not None:
            savepoint.rollback()
        try:
            paid.append(ctx.repay(loan_id, left, source=source))
        except (InvalidState, InvalidAmount):
            break  # nothing left owed: the rest is surplus
        break
    return paid


def _sale_record(row: Any) -> Sale:
    cur = row.currency
    return Sale(
        row.id,
        row.loan_id,
        Money.from_minor(row.proceeds, cur),
        Money.from_minor(row.costs, cur),
        Money.from_minor(row.penalty, cur),
        Money.from_minor(row.interest, cur),
        Money.from_minor(row.principal, cur),
        Money.from_minor(row.surplus, cur),
        row.sold_on,
    )


# -- hooks ----------------------------------------------------------------------------------------


def _ltv_violations(ctx: HookContext, listing: ListingRecord) -> list[str]:
    rows = [r for r in _pledge_rows(ctx.conn, listing_id=listing.id) if r.state in LIVE]
    if not rows:
        if listing.product == PRODUCT and listing.state == "approved":
            return [
                f"listing {listing.id} is a secured listing without a pledged asset: pledge one"
                " before approval"
            ]
        return []
    caps = _caps(ctx)
    limit = 0
    parts = []
    for r in rows:
        cap = caps.get(r.kind, Decimal(0))
        limit += _lending_value(r.appraised_value, cap)
        parts.append(f"{r.kind} {Money.from_minor(r.appraised_value, r.currency)} x {_pct(cap)}")
    if listing.amount.minor > limit:
        return [
            f"listing {listing.id} amount {listing.amount} exceeds the loan-to-value cap of its"
            f" collateral: at most {Money.from_minor(limit, listing.amount.currency)}"
            f" ({' + '.join(parts)})"
        ]
    return []


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["collateral"]`` is structured into :class:`Settings` at open."""
    return PluginSettings(PLUGIN, Settings)


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The ``secured`` product: a listing that must carry at least one pledged asset."""
    return [Product(name=PRODUCT, description="loan secured by pledged real estate or vehicles")]


@lendkit.hookimpl
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """Refuse an application/approval above the LTV cap of its pledged assets; refuse approving a
    ``secured`` listing without a pledge (reads only)."""
    return _ltv_violations(ctx, listing)


@lendkit.hookimpl
def lendkit_listing_approved(ctx: HookContext, listing: ListingRecord) -> None:
    """Every validator passed: the pledges' exposure is the approved listing's amount."""
    ctx.conn.execute(
        update(pledges)
        .where(pledges.c.listing_id == listing.id, pledges.c.state == PLEDGED)
        .values(exposure=listing.amount.minor)
    )


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed listing (流标) releases its pledges."""
    _close(ctx, listing_id=listing.id, states=(PLEDGED,), to=RELEASED)


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled listing releases its pledges, like a failed one."""
    lendkit_listing_failed(ctx, listing)


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """The lien becomes active on the new loan."""
    ctx.conn.execute(
        update(pledges)
        .where(pledges.c.listing_id == loan.listing_id, pledges.c.state == PLEDGED)
        .values(state=ACTIVE, loan_id=loan.id, exposure=loan.outstanding_principal.minor)
    )


@lendkit.hookimpl
def lendkit_repayment_received(ctx: HookContext, loan: LoanRecord, payment: PaymentRecord) -> None:
    """Track the secured exposure (the loan's outstanding principal) for LTV disclosure."""
    ctx.conn.execute(
        update(pledges)
        .where(pledges.c.loan_id == loan.id, pledges.c.state.in_(LIVE))
        .values(exposure=loan.outstanding_principal.minor)
    )


@lendkit.hookimpl
def lendkit_loan_defaulted(ctx: HookContext, loan: LoanRecord) -> None:
    """Start enforcement: the active liens of a defaulted loan become ``enforcing``."""
    ctx.conn.execute(
        update(pledges)
        .where(pledges.c.loan_id == loan.id, pledges.c.state == ACTIVE)
        .values(state=ENFORCING)
    )


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """Payoff releases the lien; a written-off loan keeps an unsold lien under enforcement."""
    if loan.state == "settled":
        _close(ctx, loan_id=loan.id, states=(ACTIVE, ENFORCING), to=RELEASED)


def _close(ctx: HookContext, *, states: Sequence[str], to: str, **where: str) -> None:
    stmt = update(pledges).where(pledges.c.state.in_(states))
    for column, value in where.items():
        stmt = stmt.where(pledges.c[column] == value)
    ctx.conn.execute(stmt.values(state=to, active_key=None, exposure=0, closed_on=ctx.today))


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Live pledges, pledged value, secured exposure and LTV (overall and per pledge), breaches,
    and enforcement sales (proceeds, costs, paid to the loans, surplus). The sale figures equal
    the ledger: proceeds = -balance of ``plugin:collateral:sale-gateway``, costs = balance of
    ``plugin:collateral:costs``."""
    caps = _caps(ctx)
    cur = ctx.currency
    rows = [r for r in _pledge_rows(ctx.conn) if r.state in LIVE]
    value = sum(r.appraised_value for r in rows)
    exposure = sum(r.exposure for r in rows)
    out = [
        Disclosure(PLUGIN, "live pledges", str(len(rows))),
        Disclosure(PLUGIN, "pledged value", str(Money.from_minor(value, cur))),
        Disclosure(PLUGIN, "secured exposure", str(Money.from_minor(exposure, cur))),
        Disclosure(
            PLUGIN,
            "loan-to-value",
            _pct(Decimal(exposure) / Decimal(value)) if value else "0.00%",
        ),
        Disclosure(PLUGIN, "LTV breaches", str(sum(1 for r in rows if r.breach))),
    ]
    for r in rows:
        p = _pledge_record(r, caps)
        out.append(
            Disclosure(
                PLUGIN,
                f"pledge {p.id} ({r.kind}, {p.state})",
                f"LTV {_pct(p.ltv)} of cap {_pct(p.cap)}{' BREACH' if p.breach else ''}",
            )
        )
    totals = ctx.conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(sales.c.proceeds), 0),
            func.coalesce(func.sum(sales.c.costs), 0),
            func.coalesce(func.sum(sales.c.penalty + sales.c.interest + sales.c.principal), 0),
            func.coalesce(func.sum(sales.c.surplus), 0),
        )
    ).one()
    out.extend(
        [
            Disclosure(PLUGIN, "enforcement sales", str(int(totals[0]))),
            Disclosure(PLUGIN, "sale proceeds", str(Money.from_minor(int(totals[1]), cur))),
            Disclosure(PLUGIN, "sale costs", str(Money.from_minor(int(totals[2]), cur))),
            Disclosure(
                PLUGIN, "sale proceeds applied to loans", str(Money.from_minor(int(totals[3]), cur))
            ),
            Disclosure(
                PLUGIN, "sale surplus to owners", str(Money.from_minor(int(totals[4]), cur))
            ),
        ]
    )
    return out
