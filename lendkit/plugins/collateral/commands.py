"""The collateral plugin's commands (each one unit of work through ``platform.command``) and the
helpers they share with its hooks; inside a command only ``ctx`` is used."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

import lendkit
from lendkit.core.access import Actor
from lendkit.core.context import HookContext
from lendkit.core.errors import (
    InvalidAmount,
    InvalidState,
    InvalidValue,
    NotFound,
)
from lendkit.core.inputs import check_date, check_id, parse_amount
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import (
    ListingRecord,
    PaymentRecord,
)
from lendkit.plugins.collateral.records import (
    ENFORCED,
    ENFORCING,
    LIVE,
    PLEDGEABLE_LISTING_STATES,
    PLEDGED,
    PLUGIN,
    PRODUCT,
    Asset,
    Pledge,
    Sale,
)
from lendkit.plugins.collateral.rules import (
    asset_record,
    collateral_identifier,
    identifier_key,
    lending_value,
    new_id,
    pct,
    pledge_record,
    sale_record,
)
from lendkit.plugins.collateral.settings import Settings
from lendkit.plugins.collateral.tables import assets, pledges, sales, valuations

Platform = lendkit.Platform


def collateral_caps(ctx: HookContext) -> dict[str, Decimal]:
    settings: Settings = ctx.settings(PLUGIN)
    return dict(settings.ltv_caps)


def _registry_veto(ctx: HookContext, kind: str, identifier: str, owner_id: str) -> str | None:
    check = ctx.settings(PLUGIN).external_registry
    if check is None:
        return None
    answer = check(kind, identifier, owner_id)
    return None if answer is None else str(answer)


def _asset(conn: Connection, asset_id: str) -> Any:
    row = conn.execute(select(assets).where(assets.c.id == asset_id)).first()
    if row is None:
        raise NotFound(f"collateral asset {asset_id!r} is not registered")
    return row


def pledge_rows(conn: Connection, **where: str) -> list[Any]:
    stmt = select(pledges, assets.c.kind, assets.c.appraised_value, assets.c.currency).join(
        assets, assets.c.id == pledges.c.asset_id
    )
    for column, value in where.items():
        stmt = stmt.where(pledges.c[column] == value)
    return list(conn.execute(stmt.order_by(pledges.c.created_at, pledges.c.id)).all())


def get_asset(platform: Platform, asset_id: str) -> Asset:
    """The registered asset ``asset_id`` with its latest appraisal (``NotFound`` if none)."""
    asset_id = check_id(asset_id, "asset id")
    return platform.query(
        "collateral.get_asset", lambda ctx: asset_record(_asset(ctx.conn, asset_id))
    )


def asset_pledges(platform: Platform, listing_or_loan_id: str) -> list[Pledge]:
    """Every pledge of a listing or of the loan it became, oldest first."""
    ident = check_id(listing_or_loan_id, "listing or loan id")

    def run(ctx: HookContext) -> list[Pledge]:
        caps = collateral_caps(ctx)
        rows = pledge_rows(ctx.conn, listing_id=ident) or pledge_rows(ctx.conn, loan_id=ident)
        return [pledge_record(r, caps) for r in rows]

    return platform.query("collateral.asset_pledges", run)


def pledges_of(platform: Platform, owner_id: str) -> list[Pledge]:
    """Every pledge of the assets ``owner_id`` owns (a borrower or a third party securing a
    loan), oldest first, whatever its state."""
    owner_id = check_id(owner_id, "owner id")

    def run(ctx: HookContext) -> list[Pledge]:
        caps = collateral_caps(ctx)
        owned = select(assets.c.id).where(assets.c.owner_id == owner_id)
        stmt = (
            select(pledges, assets.c.kind, assets.c.appraised_value, assets.c.currency)
            .join(assets, assets.c.id == pledges.c.asset_id)
            .where(pledges.c.asset_id.in_(owned))
            .order_by(pledges.c.created_at, pledges.c.id)
        )
        return [pledge_record(r, caps) for r in ctx.conn.execute(stmt)]

    return platform.query("collateral.pledges_of", run)


def register_asset(
    platform: Platform,
    kind: str,
    identifier: str,
    owner_id: str,
    appraised_value: object,
    appraised_on: date,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
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
    identifier = collateral_identifier(identifier)
    owner_id = check_id(owner_id, "asset owner")
    value = parse_amount(appraised_value, platform.config.currency, "appraised value")
    if not isinstance(kind, str):
        raise InvalidValue(f"asset kind must be a string, got {type(kind).__name__}")
    asset_id = new_id("ast")

    def run(ctx: HookContext) -> Asset:
        caps = collateral_caps(ctx)
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
        return asset_record(_asset(ctx.conn, asset_id))

    return platform.command(
        "collateral.register_asset",
        run,
        key=key,
        actor=actor,
        payload=[kind, identifier, owner_id, value.format(), appraised_on],
        result_type=Asset,
    )


def pledge(
    platform: Platform,
    listing_id: str,
    asset_id: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Pledge:
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
        pledge_id = new_id("plg")
        try:
            with ctx.conn.begin_nested():
                ctx.conn.execute(
                    pledges.insert().values(
                        id=pledge_id,
                        asset_id=asset_id,
                        listing_id=listing_id,
                        loan_id=None,
                        state=PLEDGED,
                        active_key=identifier_key(row.identifier),
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
            violations = ltv_violations(ctx, listing)
            if violations:
                raise InvalidState("; ".join(violations))
        caps = collateral_caps(ctx)
        return next(pledge_record(r, caps) for r in pledge_rows(ctx.conn, id=pledge_id))

    return platform.command(
        "collateral.pledge",
        run,
        key=key,
        actor=actor,
        payload=[listing_id, asset_id],
        result_type=Pledge,
    )


def revalue(
    platform: Platform,
    asset_id: str,
    value: object,
    valued_on: date,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
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
        caps = collateral_caps(ctx)
        listings_secured = {
            r.listing_id for r in pledge_rows(ctx.conn, asset_id=asset_id) if r.state in LIVE
        }
        out: list[Pledge] = []
        for listing_id in sorted(listings_secured):
            live = [r for r in pledge_rows(ctx.conn, listing_id=listing_id) if r.state in LIVE]
            limit = sum(
                lending_value(r.appraised_value, caps.get(r.kind, Decimal(0))) for r in live
            )
            exposure = max(r.exposure for r in live)
            breach = exposure > limit
            ctx.conn.execute(
                update(pledges)
                .where(pledges.c.listing_id == listing_id, pledges.c.state.in_(LIVE))
                .values(breach=breach)
            )
            out.extend(
                pledge_record(r, caps)
                for r in pledge_rows(ctx.conn, listing_id=listing_id)
                if r.state in LIVE
            )
        return out

    return platform.command(
        "collateral.revalue",
        run,
        key=key,
        actor=actor,
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
    actor: Actor | str | None = None,
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
    sale_id = new_id("sale")

    def run(ctx: HookContext) -> Sale:
        loan = ctx.loan(loan_id)
        if loan.state != "defaulted":
            raise InvalidState(
                f"loan {loan_id} is {loan.state}: an enforcement sale is recorded for a defaulted"
                " loan, before it is written off"
            )
        enforcing = [r for r in pledge_rows(ctx.conn, loan_id=loan_id) if r.state == ENFORCING]
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
        return sale_record(row)

    return platform.command(
        "collateral.record_sale",
        run,
        key=key,
        actor=actor,
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
        try:
            with ctx.savepoint():  # rolls back the installment's writes and its notifications
                payment = ctx.repay(loan_id, source=source)
                if payment.amount > left:
                    raise _TakesMore
        except (InvalidState, _TakesMore):  # nothing due, loan closed, or more than is left
            pass
        else:
            paid.append(payment)
            left = left - payment.amount
            continue
        try:
            paid.append(ctx.repay(loan_id, left, source=source))
        except (InvalidState, InvalidAmount):
            break  # nothing left owed: the rest is surplus
        break
    return paid


class _TakesMore(Exception):
    """The next installment takes more than is left: undo it and pay part of it instead."""


def ltv_violations(ctx: HookContext, listing: ListingRecord) -> list[str]:
    rows = [r for r in pledge_rows(ctx.conn, listing_id=listing.id) if r.state in LIVE]
    if not rows:
        if listing.product == PRODUCT and listing.state == "approved":
            return [
                f"listing {listing.id} is a secured listing without a pledged asset: pledge one"
                " before approval"
            ]
        return []
    caps = collateral_caps(ctx)
    limit = 0
    parts = []
    for r in rows:
        cap = caps.get(r.kind, Decimal(0))
        limit += lending_value(r.appraised_value, cap)
        parts.append(f"{r.kind} {Money.from_minor(r.appraised_value, r.currency)} x {pct(cap)}")
    if listing.amount.minor > limit:
        return [
            f"listing {listing.id} amount {listing.amount} exceeds the loan-to-value cap of its"
            f" collateral: at most {Money.from_minor(limit, listing.amount.currency)}"
            f" ({' + '.join(parts)})"
        ]
    return []


def close(ctx: HookContext, *, states: Sequence[str], to: str, **where: str) -> None:
    stmt = update(pledges).where(pledges.c.state.in_(states))
    for column, value in where.items():
        stmt = stmt.where(pledges.c[column] == value)
    ctx.conn.execute(stmt.values(state=to, active_key=None, exposure=0, closed_on=ctx.today))
