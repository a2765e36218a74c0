"""The ``leasing`` plugin's hook implementations (re-exported by the package so that pluggy
finds them on the registered module)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.core.records import (
    Disclosure,
    Installment,
    ListingRecord,
    LoanRecord,
    PluginSettings,
    Product,
)
from lendkit.core.schedule import Schedule, custom_rows
from lendkit.plugins.leasing import rules
from lendkit.plugins.leasing.commands import (
    LIVE,
    PRODUCT,
    asset_row,
    buy_back_now,
    change_owner,
    lease_for,
    lessor_row,
    release_serial,
    schedule_of,
    set_lease,
)
from lendkit.plugins.leasing.settings import PLUGIN, Settings
from lendkit.plugins.leasing.tables import assets, leases, live_serials, missed_rents, sales


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["leasing"]`` is structured into :class:`Settings` when the Platform
    opens (a bad value is refused there)."""
    return PluginSettings(PLUGIN, Settings)


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The ``leasing`` product: a financial lease's rents (method ``lease``, 30/360)."""
    return [
        Product(
            name=PRODUCT,
            description="financial lease (融资租赁): rent receivables transferred to investors",
            plugin=PLUGIN,
            methods=(rules.METHOD,),
            day_count=rules.BASIS,
        )
    ]


@lendkit.hookimpl
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """A ``leasing`` listing is filed by :func:`~lendkit.plugins.leasing.file_lease` (which
    takes the asset's serial); on approval and publication its lease must still hold it."""
    if listing.product != PRODUCT:
        return []
    if listing.state == "applied":
        filing = ctx.conn.execute(
            select(leases.c.id).where(
                leases.c.state == "filing",
                leases.c.listing_id.is_(None),
                leases.c.lessee_id == listing.borrower_id,
                leases.c.amount == listing.amount.minor,
            )
        ).first()
        if filing is None:
            return [
                f"listing {listing.id}: a leasing listing is filed with leasing.file_lease, which"
                " records the lease and takes its asset's serial"
            ]
        return []
    row = lease_for(ctx.conn, listing_id=listing.id)
    if row is None:
        return [f"listing {listing.id} of product {PRODUCT!r} has no lease"]
    held = ctx.conn.execute(
        select(live_serials.c.lease_id).where(live_serials.c.lease_id == row.id)
    ).first()
    if row.state != "listed" or held is None:
        return [f"listing {listing.id}: its lease {row.id} is {row.state} and holds no serial"]
    return []


def _withdraw(ctx: HookContext, listing: ListingRecord) -> None:
    row = lease_for(ctx.conn, listing_id=listing.id)
    if row is None or row.state != "listed":
        return
    set_lease(ctx.conn, row.id, state="withdrawn", ended_on=ctx.today)
    release_serial(ctx.conn, row.id)


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled leasing listing: the lease is withdrawn, its serial free again."""
    _withdraw(ctx, listing)


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed leasing listing (流标): the lease is withdrawn, its serial free again."""
    _withdraw(ctx, listing)


@lendkit.hookimpl
def lendkit_disbursement_account(ctx: HookContext, listing: ListingRecord) -> AccountRef | None:
    """A direct lease pays the supplier (the lessor buys the asset from it); a sale-leaseback
    pays the lessee (the lessor buys the lessee's own asset)."""
    row = lease_for(ctx.conn, listing_id=listing.id)
    if row is None:
        return None
    seller = row.supplier_id if row.form == "direct" else row.lessee_id
    return ctx.party_account(seller, listing.amount.currency)


@lendkit.hookimpl
def lendkit_build_schedule(
    ctx: HookContext, listing: ListingRecord, start: date
) -> Schedule | None:
    """A lease's rents from the disbursement date: level monthly or quarterly rents or the
    lease's custom rows, the buy-out price with the last rent, each split into interest on the
    balance at the implicit rate (30/360) and principal (core validates it)."""
    row = lease_for(ctx.conn, listing_id=listing.id)
    if row is None:
        return None
    return schedule_of(ctx.conn, row, start)


@lendkit.hookimpl
def lendkit_replan_schedule(
    ctx: HookContext,
    loan: LoanRecord,
    remaining: Money,
    since: date,
    mode: str,
    unpaid: Sequence[Installment],
) -> Schedule | str | None:
    """A partial early buy-out keeps the lease's calendar (both modes): the same rent dates, the
    same buy-out price with the last rent, lower level rents on what is left at the implicit
    rate. Refused (the prepayment changes nothing) when the buy-out price alone would repay
    more than what is left."""
    row = lease_for(ctx.conn, loan_id=loan.id)
    if row is None:
        return None
    residual = Money.from_minor(int(row.residual), row.currency)
    return custom_rows(
        remaining,
        [r.due_date for r in unpaid],
        loan.annual_rate,
        rules.BASIS,
        residual=residual if residual.is_positive() else None,
        start=since,
        method=rules.METHOD,
    )


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """The lessor bought the asset (from the supplier, or from the lessee in a sale-leaseback):
    it owns it until the buy-out; the lease runs."""
    row = lease_for(ctx.conn, listing_id=loan.listing_id)
    if row is None or row.state != "listed":
        return
    set_lease(ctx.conn, row.id, state="active", loan_id=loan.id)
    lessor = lessor_row(ctx.conn, row.lessor_id)
    reason = "purchase" if row.form == "direct" else "sale-leaseback"
    change_owner(ctx, asset_row(ctx.conn, row.asset_id), lessor.party_id, reason, row.id, "leased")


@lendkit.hookimpl
def lendkit_cob_loans_of_interest(ctx: HookContext, loan_ids: Sequence[str]) -> Sequence[str]:
    """The chunk's loans that finance a lease: their lessee pays the rents (collection
    sources), so they take close of business's one-loan path; the others stay on its bulk path."""
    return list(
        ctx.conn.execute(select(leases.c.loan_id).where(leases.c.loan_id.in_(loan_ids))).scalars()
    )


@lendkit.hookimpl
def lendkit_collection_sources(
    ctx: HookContext, loan: LoanRecord, installment: Installment
) -> Sequence[str] | None:
    """The lessee pays the rents (collected from its available balance)."""
    row = lease_for(ctx.conn, loan_id=loan.id)
    return None if row is None else [row.lessee_id]


@lendkit.hookimpl
def lendkit_installment_overdue(
    ctx: HookContext, loan: LoanRecord, installment: Installment, days_overdue: int
) -> None:
    """Remember that this rent was still unpaid past its grace days today."""
    row = lease_for(ctx.conn, loan_id=loan.id)
    if row is None:
        return
    key = (missed_rents.c.lease_id == row.id) & (missed_rents.c.period == installment.period)
    done = ctx.conn.execute(missed_rents.update().where(key).values(last_seen=ctx.today))
    if done.rowcount == 0:
        ctx.conn.execute(
            missed_rents.insert().values(
                lease_id=row.id, period=installment.period, last_seen=ctx.today
            )
        )


@lendkit.hookimpl
def lendkit_cob_day(ctx: HookContext, run_date: date, shard: str) -> None:
    """Count each active lease's rents unpaid past the grace days today; at
    ``default_after_missed`` the lessor buys the receivable back (``buy_back`` leases; a lessor
    short of money leaves the lease ``buyback_due`` and is tried again each day) or the asset is
    repossessed."""
    settings: Settings = ctx.settings(PLUGIN)
    counts: dict[str, int] = dict(
        ctx.conn.execute(
            select(missed_rents.c.lease_id, func.count())
            .where(missed_rents.c.last_seen == run_date)
            .group_by(missed_rents.c.lease_id)
        ).all()
    )
    rows = ctx.conn.execute(
        select(leases).where(leases.c.state.in_(("active", "buyback_due"))).order_by(leases.c.id)
    ).all()
    for row in rows:
        missed = int(counts.get(row.id, 0))
        if row.state == "active" and missed != row.missed:
            set_lease(ctx.conn, row.id, missed=missed)
        if row.state == "buyback_due" or missed >= settings.default_after_missed:
            if row.buy_back:
                buy_back_now(ctx, row)
            else:
                set_lease(ctx.conn, row.id, state="repossessed")
                ctx.conn.execute(
                    assets.update().where(assets.c.id == row.asset_id).values(state="repossessed")
                )


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """Paid in full (the last rent carries the buy-out price): the asset passes to the lessee.
    Written off: the lease ends with the asset the lessor's."""
    row = lease_for(ctx.conn, loan_id=loan.id)
    if row is None or row.state not in ("active", "repossessed"):
        return
    if loan.state == "settled" and row.state == "active":
        set_lease(ctx.conn, row.id, state="bought_out", bought_out_on=ctx.today, ended_on=ctx.today)
        change_owner(
            ctx, asset_row(ctx.conn, row.asset_id), row.lessee_id, "buy-out", row.id, "available"
        )
    elif loan.state != "settled":
        set_lease(ctx.conn, row.id, state="written_off", ended_on=ctx.today)
    release_serial(ctx.conn, row.id)


# -- disclosure ----------------------------------------------------------------------------------


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Leases (all, live, bought out), live leases by form and by asset kind (count and financed
    amount), the rents
    outstanding (principal owed on active leases' loans), leases in default, and repossessions
    with their sales (price, surplus to lessees, shortfall)."""
    cur = ctx.currency

    def m(units: int) -> str:
        return str(Money.from_minor(units, cur))

    rows = ctx.conn.execute(
        select(leases, assets.c.kind).join(assets, assets.c.id == leases.c.asset_id)
    ).all()
    live = [r for r in rows if r.state in LIVE and r.state != "filing"]
    out = [
        Disclosure(PLUGIN, "leases", str(len([r for r in rows if r.state != "filing"]))),
        Disclosure(PLUGIN, "live leases", str(len(live))),
        Disclosure(
            PLUGIN, "leases bought out", str(len([r for r in rows if r.state == "bought_out"]))
        ),
    ]
    by_form: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in live:
        for bucket in (by_form[r.form], by_kind[r.kind]):
            bucket[0] += 1
            bucket[1] += int(r.amount)
    for form in rules.FORMS:
        n, amount = by_form.get(form, [0, 0])
        out.append(Disclosure(PLUGIN, f"live leases {form}", f"{n} ({m(amount)})"))
    for kind in sorted(by_kind):
        n, amount = by_kind[kind]
        out.append(Disclosure(PLUGIN, f"live leases of {kind}", f"{n} ({m(amount)})"))
    outstanding = 0
    for r in live:
        if r.loan_id is not None and r.state in ("active", "buyback_due", "repossessed"):
            outstanding += ctx.loan(r.loan_id).outstanding_principal.minor
    out.append(Disclosure(PLUGIN, "outstanding rents (principal)", m(outstanding)))
    missed = [r for r in rows if r.state == "active" and r.missed > 0]
    out.append(
        Disclosure(
            PLUGIN,
            "leases with missed rents",
            f"{len(missed)} ({sum(int(r.missed) for r in missed)} rents)",
        )
    )
    out.append(
        Disclosure(
            PLUGIN,
            "buy-backs",
            f"{len([r for r in rows if r.state == 'bought_back'])} done,"
            f" {len([r for r in rows if r.state == 'buyback_due'])} due",
        )
    )
    sold = ctx.conn.execute(select(sales).order_by(sales.c.sold_on, sales.c.id)).all()
    repossessed = [r for r in rows if r.state == "repossessed"]
    out += [
        Disclosure(
            PLUGIN,
            "repossessions",
            f"{len(repossessed) + len(sold)} ({len(repossessed)} awaiting sale, {len(sold)} sold)",
        ),
        Disclosure(PLUGIN, "repossession sales", m(sum(int(s.price) for s in sold))),
        Disclosure(PLUGIN, "repossession surplus to lessees", m(sum(int(s.surplus) for s in sold))),
        Disclosure(PLUGIN, "repossession shortfall", m(sum(int(s.shortfall) for s in sold))),
    ]
    return out


__all__ = [
    "lendkit_build_schedule",
    "lendkit_cob_day",
    "lendkit_collection_sources",
    "lendkit_disbursement_account",
    "lendkit_disclosures",
    "lendkit_installment_overdue",
    "lendkit_listing_failed",
    "lendkit_listing_withdrawn",
    "lendkit_loan_closed",
    "lendkit_loan_disbursed",
    "lendkit_register_products",
    "lendkit_register_settings",
    "lendkit_replan_schedule",
    "lendkit_validate_listing",
]
