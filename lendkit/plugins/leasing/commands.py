"""The ``leasing`` plugin's public commands: each runs through ``platform.command`` (one
transaction, retried, joining a host transaction, idempotent with ``key=``). The row helpers
here are shared with the hooks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

import lendkit
from lendkit.core.access import Actor
from lendkit.core.context import HookContext
from lendkit.core.errors import (
    Forbidden,
    InsufficientFunds,
    InvalidState,
    InvalidValue,
    NotFound,
)
from lendkit.core.inputs import (
    MAX_NAME_LENGTH,
    check_bool,
    check_choice,
    check_id,
    check_int,
    check_text,
    parse_amount,
)
from lendkit.core.money import Money, parse_rate
from lendkit.core.records import PaymentRecord
from lendkit.core.schedule import Schedule
from lendkit.plugins.leasing import rules
from lendkit.plugins.leasing.records import (
    Asset,
    Lease,
    Lessee,
    Lessor,
    OwnershipChange,
    Sale,
)
from lendkit.plugins.leasing.settings import PLUGIN
from lendkit.plugins.leasing.tables import (
    assets,
    leases,
    lessees,
    lessors,
    live_serials,
    ownership,
    rent_rows,
    sales,
)

PRODUCT = "leasing"
#: the longest asset kind and serial
MAX_KIND_LENGTH = 60
MAX_SERIAL_LENGTH = 64
#: lease states in which the lease holds its serial
LIVE = ("filing", "listed", "active", "buyback_due", "repossessed")


# -- reading (shared with the hooks) --------------------------------------------------------------


def _one(conn: Connection, table: Any, column: Any, value: str, what: str, lock: bool) -> Any:
    stmt = select(table).where(column == value)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"{what} {value!r} is not registered")
    return row


def lease_row(conn: Connection, lease_id: str, *, lock: bool = False) -> Any:
    """The lease's row (``NotFound`` if none); ``lock`` takes it FOR UPDATE (PostgreSQL)."""
    return _one(conn, leases, leases.c.id, lease_id, "lease", lock)


def asset_row(conn: Connection, asset_id: str, *, lock: bool = False) -> Any:
    """The asset's row (``NotFound`` naming it if none)."""
    return _one(conn, assets, assets.c.id, asset_id, "asset", lock)


def lessor_row(conn: Connection, lessor_id: str) -> Any:
    """The lessor's row (``NotFound`` if none)."""
    return _one(conn, lessors, lessors.c.id, lessor_id, "lessor", False)


def lease_for(
    conn: Connection, *, listing_id: str | None = None, loan_id: str | None = None
) -> Any:
    """The lease a listing or loan finances, or ``None``."""
    column = leases.c.listing_id if listing_id is not None else leases.c.loan_id
    return conn.execute(select(leases).where(column == (listing_id or loan_id))).first()


def to_lease(row: Any) -> Lease:
    """The public record of a lease row."""
    cur = row.currency
    return Lease(
        id=row.id,
        listing_id=row.listing_id,
        loan_id=row.loan_id,
        lessor_id=row.lessor_id,
        lessee_id=row.lessee_id,
        asset_id=row.asset_id,
        form=row.form,
        supplier_id=row.supplier_id,
        amount=Money.from_minor(int(row.amount), cur),
        annual_rate=Decimal(row.annual_rate),
        frequency=row.frequency,
        rents=int(row.rents),
        residual=Money.from_minor(int(row.residual), cur),
        buy_back=bool(row.buy_back),
        state=row.state,
        missed=int(row.missed),
        bought_out_on=row.bought_out_on,
        ended_on=row.ended_on,
    )


def to_asset(conn: Connection, row: Any) -> Asset:
    """The public record of an asset row (with its live lease, if any)."""
    live = conn.execute(
        select(live_serials.c.lease_id).where(live_serials.c.serial == row.serial)
    ).scalar()
    return Asset(
        id=row.id,
        kind=row.kind,
        serial=row.serial,
        value=Money.from_minor(int(row.value), row.currency),
        owner_id=row.owner_id,
        state=row.state,
        lease_id=live,
        description=row.description,
    )


def custom_rows_of(conn: Connection, row: Any) -> list[tuple[date, Money | None]]:
    """A custom lease's rent rows as stored."""
    stored = conn.execute(
        select(rent_rows).where(rent_rows.c.lease_id == row.id).order_by(rent_rows.c.seq)
    ).all()
    return [
        (r.due_date, None if r.amount is None else Money.from_minor(int(r.amount), row.currency))
        for r in stored
    ]


def schedule_of(conn: Connection, row: Any, start: date) -> Schedule:
    """The lease's rent schedule from ``start`` (see :func:`rules.rent_schedule`)."""
    cur = row.currency
    return rules.rent_schedule(
        Money.from_minor(int(row.amount), cur),
        Decimal(row.annual_rate),
        start,
        row.frequency,
        int(row.rents),
        Money.from_minor(int(row.residual), cur),
        custom_rows_of(conn, row) if row.frequency == "custom" else (),
    )


def set_lease(conn: Connection, lease_id: str, **values: Any) -> None:
    """Update the lease's row."""
    conn.execute(update(leases).where(leases.c.id == lease_id).values(**values))


def release_serial(conn: Connection, lease_id: str) -> None:
    """The lease no longer holds its asset's serial: another lease may use it."""
    conn.execute(delete(live_serials).where(live_serials.c.lease_id == lease_id))


def change_owner(
    ctx: HookContext, asset: Any, to_id: str, reason: str, lease_id: str | None, state: str
) -> None:
    """Record that ``asset`` (its row) now belongs to ``to_id`` and is in ``state``."""
    seq = ctx.conn.execute(
        select(func.coalesce(func.max(ownership.c.seq), 0)).where(ownership.c.asset_id == asset.id)
    ).scalar_one()
    ctx.conn.execute(
        ownership.insert().values(
            asset_id=asset.id,
            seq=int(seq) + 1,
            from_id=asset.owner_id,
            to_id=to_id,
            lease_id=lease_id,
            reason=reason,
            on_date=ctx.today,
        )
    )
    ctx.conn.execute(
        update(assets).where(assets.c.id == asset.id).values(owner_id=to_id, state=state)
    )


def party_exists(ctx: HookContext, party_id: str, what: str) -> None:
    """``NotFound`` naming ``what`` unless ``party_id`` is a registered party."""
    try:
        ctx.party(party_id)
    except NotFound:
        raise NotFound(f"{what} {party_id!r} is not a registered party") from None


def buy_back_now(ctx: HookContext, row: Any) -> PaymentRecord | None:
    """The lessor buys the lease's remaining receivable back from the investors: the loan is
    settled from the lessor's available balance at the principal left plus the interest accrued
    to today (and what is overdue, with its penalty). ``None`` (and the lease ``buyback_due``)
    when the lessor's balance cannot pay it: nothing else changes."""
    lessor = lessor_row(ctx.conn, row.lessor_id)
    source = ctx.party_account(lessor.party_id, row.currency)
    # set first: the loan_closed hook sees a lease bought back, not bought out
    set_lease(ctx.conn, row.id, state="bought_back", ended_on=ctx.today)
    try:
        with ctx.savepoint():
            payment = ctx.settle(row.loan_id, source, interest="accrued")
    except InsufficientFunds:
        set_lease(ctx.conn, row.id, state="buyback_due", ended_on=None)
        return None
    release_serial(ctx.conn, row.id)
    return payment


# -- commands -------------------------------------------------------------------------------------


def register_lessor(
    platform: lendkit.Platform,
    name: str,
    party_id: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Lessor:
    """Register the registered party ``party_id`` as a lessor (融资租赁公司) called ``name``: it
    files leases and, where a lease says so, buys them back from investors. A party is one
    lessor at most (``InvalidState`` naming it). ``key``: idempotency."""
    name = check_text(name, "lessor name", MAX_NAME_LENGTH)
    party_id = check_id(party_id, "lessor party id")
    lessor_id = f"lsr_{uuid.uuid4().hex}"

    def run(ctx: HookContext) -> Lessor:
        party_exists(ctx, party_id, "lessor party")
        taken = ctx.conn.execute(select(lessors).where(lessors.c.party_id == party_id)).first()
        if taken is not None:
            raise InvalidState(f"party {party_id} is already lessor {taken.id} ({taken.name})")
        ctx.conn.execute(
            lessors.insert().values(id=lessor_id, party_id=party_id, name=name, created_at=ctx.now)
        )
        return Lessor(lessor_id, party_id, name)

    return platform.command(
        "leasing.register_lessor",
        run,
        key=key,
        actor=actor,
        payload=[name, party_id],
        result_type=Lessor,
    )


def register_lessee(
    platform: lendkit.Platform,
    party_id: str,
    name: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Lessee:
    """Register the registered party ``party_id`` as a lessee (承租人) called ``name``: it leases
    assets and pays their rents (it is the borrower of its leases' loans). ``key``:
    idempotency."""
    party_id = check_id(party_id, "lessee party id")
    name = check_text(name, "lessee name", MAX_NAME_LENGTH)

    def run(ctx: HookContext) -> Lessee:
        party_exists(ctx, party_id, "lessee party")
        taken = ctx.conn.execute(select(lessees).where(lessees.c.party_id == party_id)).first()
        if taken is not None:
            raise InvalidState(f"party {party_id} is already a lessee ({taken.name})")
        ctx.conn.execute(lessees.insert().values(party_id=party_id, name=name, created_at=ctx.now))
        return Lessee(party_id, name)

    return platform.command(
        "leasing.register_lessee",
        run,
        key=key,
        actor=actor,
        payload=[party_id, name],
        result_type=Lessee,
    )


def register_asset(
    platform: lendkit.Platform,
    kind: str,
    serial: str,
    value: object,
    owner_id: str,
    *,
    description: str | None = None,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Asset:
    """Register an asset to lease: its ``kind`` (``"excavator"``, ``"medical"``...), ``serial``
    (unique on the platform: a second registration is refused naming the first asset), its
    ``value`` (the purchase price) and ``owner_id``, the registered party that owns it now (the
    supplier of a direct lease, the lessee of a sale-leaseback). ``key``: idempotency."""
    kind = check_text(kind, "asset kind", MAX_KIND_LENGTH)
    serial = check_text(serial, "serial", MAX_SERIAL_LENGTH)
    money = parse_amount(value, platform.config.currency, "asset value")
    owner_id = check_id(owner_id, "asset owner")
    text = None if description is None else check_text(description, "asset description", 400)
    asset_id = f"ast_{uuid.uuid4().hex}"

    def run(ctx: HookContext) -> Asset:
        party_exists(ctx, owner_id, "asset owner")
        taken = ctx.conn.execute(select(assets).where(assets.c.serial == serial)).first()
        if taken is not None:
            raise InvalidState(f"serial {serial!r} is already registered as asset {taken.id}")
        try:
            with ctx.savepoint():
                ctx.conn.execute(
                    assets.insert().values(
                        id=asset_id,
                        kind=kind,
                        serial=serial,
                        currency=money.currency,
                        value=money.minor,
                        owner_id=owner_id,
                        state="available",
                        description=text,
                        created_at=ctx.now,
                    )
                )
        except IntegrityError:  # a concurrent registration of the serial committed first
            raise InvalidState(f"serial {serial!r} is already registered") from None
        return to_asset(ctx.conn, asset_row(ctx.conn, asset_id))

    return platform.command(
        "leasing.register_asset",
        run,
        key=key,
        actor=actor,
        payload=[kind, serial, money.format(), owner_id, text],
        result_type=Asset,
    )


def _rate(value: object) -> Decimal:
    rate = parse_rate(value, "implicit rate")
    if rate <= 0:
        raise InvalidValue(f"implicit rate {value} must be more than 0%")
    return rate


def file_lease(
    platform: lendkit.Platform,
    lessor_id: str,
    lessee_id: str,
    asset_id: str,
    amount: object,
    annual_rate: object,
    *,
    form: str,
    supplier_id: str | None = None,
    frequency: str = "monthly",
    rents: int = 12,
    residual: object = "0",
    rows: Sequence[object] | None = None,
    buy_back: bool = False,
    window_days: int = 7,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Lease:
    """The lessor files a lease and the listing that finances it, in one transaction.

    :param lessor_id: a registered lessor (:func:`register_lessor`).
    :param lessee_id: a registered lessee (:func:`register_lessee`): the listing's borrower, who
        pays the rents.
    :param asset_id: the registered asset; its serial is taken for this lease while it lives
        (a serial under another live lease is refused naming that lease).
    :param amount: the financed amount (the listing's amount), at most the asset's value.
    :param annual_rate: the lease's implicit rate: rents are split into interest on the balance
        at this rate (30/360) and principal.
    :param form: ``direct`` (the proceeds go to ``supplier_id``, who owns the asset now) or
        ``leaseback`` (the lessee owns the asset and receives the proceeds).
    :param frequency: ``monthly`` or ``quarterly`` level rents (``rents`` of them, in arrears
        from disbursement), or ``custom`` with ``rows``.
    :param residual: the buy-out price (留购价) paid with the last rent; at most the asset's value.
    :param rows: for ``custom``: dates (level rents) or ``(date, amount)`` pairs, rising.
    :param buy_back: whether the lessor buys the receivable back from the investors when the
        lessee defaults (otherwise the asset is repossessed and sold).
    :param window_days: the listing's funding window.
    :param key: an idempotency key.
    :raises NotFound: an unknown lessor, lessee, asset or supplier.
    :raises InvalidValue: a bad amount, rate, residual or rent row; rents that do not repay the
        amount at the rate (``InvalidSchedule``).
    :raises InvalidState: the asset's serial is under another live lease, or the asset is not
        owned as the form needs.
    """
    lessor_id = check_id(lessor_id, "lessor id")
    lessee_id = check_id(lessee_id, "lessee id")
    asset_id = check_id(asset_id, "asset id")
    cur = platform.config.currency
    money = parse_amount(amount, cur, "financed amount")
    rate = _rate(annual_rate)
    form = check_choice(form, "lease form", rules.FORMS)
    frequency = check_choice(frequency, "rent frequency", rules.FREQUENCIES)
    res = parse_amount(residual, cur, "residual value", allow_zero=True)
    buy_back = check_bool(buy_back, "buy_back")
    supplier = None if supplier_id is None else check_id(supplier_id, "supplier id")
    if form == "direct" and supplier is None:
        raise InvalidValue("a direct lease needs supplier_id: the proceeds go to the supplier")
    if form == "leaseback" and supplier is not None:
        raise InvalidValue("a sale-leaseback has no supplier: the lessee sells its own asset")
    custom: list[tuple[date, Money | None]] = []
    if frequency == "custom":
        if rows is None:
            raise InvalidValue("custom rents need rows=[date or (date, amount), ...]")
        custom = rules.check_rows(rows, cur)
        count = len(custom)
    else:
        if rows is not None:
            raise InvalidValue(f"rows are for custom rents, not {frequency} ones")
        count = check_int(rents, "rents", 1, rules.MAX_RENTS)
    lease_id = f"lse_{uuid.uuid4().hex}"

    def run(ctx: HookContext) -> Lease:
        lessor = lessor_row(ctx.conn, lessor_id)
        if ctx.conn.execute(select(lessees).where(lessees.c.party_id == lessee_id)).first() is None:
            raise NotFound(f"lessee {lessee_id!r} is not registered: register_lessee() first")
        if lessor.party_id == lessee_id:
            raise Forbidden(f"lessor {lessor_id} cannot lease to itself ({lessee_id})")
        asset = asset_row(ctx.conn, asset_id, lock=True)
        value = Money.from_minor(int(asset.value), asset.currency)
        problem = rules.amount_problem(money, res, value, asset_id)
        if problem:
            raise InvalidValue(problem)
        if form == "direct":
            assert supplier is not None
            party_exists(ctx, supplier, "supplier")
            if asset.owner_id != supplier:
                raise InvalidState(
                    f"asset {asset_id} belongs to {asset.owner_id}, not to the supplier {supplier}:"
                    " a direct lease buys the asset from its owner"
                )
        elif asset.owner_id != lessee_id:
            raise InvalidState(
                f"asset {asset_id} belongs to {asset.owner_id}, not to the lessee {lessee_id}: a"
                " sale-leaseback buys the asset from the lessee"
            )
        holder = _live_lease(ctx.conn, asset.serial)
        if holder is not None:
            raise InvalidState(_serial_taken(asset.serial, holder))
        # validated now (start today), built again at disbursement from the disbursement date
        schedule = rules.rent_schedule(money, rate, ctx.today, frequency, count, res, custom)
        last_due = schedule.installments[-1].due_date
        ctx.conn.execute(
            leases.insert().values(
                id=lease_id,
                listing_id=None,
                loan_id=None,
                lessor_id=lessor_id,
                lessee_id=lessee_id,
                asset_id=asset_id,
                form=form,
                supplier_id=supplier,
                currency=cur,
                amount=money.minor,
                annual_rate=str(rate),
                frequency=frequency,
                rents=count,
                residual=res.minor,
                buy_back=buy_back,
                state="filing",
                missed=0,
                created_at=ctx.now,
            )
        )
        if custom:
            ctx.conn.execute(
                rent_rows.insert(),
                [
                    {
                        "lease_id": lease_id,
                        "seq": k,
                        "due_date": due,
                        "amount": None if fixed is None else fixed.minor,
                    }
                    for k, (due, fixed) in enumerate(custom, 1)
                ],
            )
        try:
            with ctx.savepoint():
                ctx.conn.execute(
                    live_serials.insert().values(serial=asset.serial, lease_id=lease_id)
                )
        except IntegrityError:  # a concurrent lease on the serial committed first
            holder = _live_lease(ctx.conn, asset.serial)
            raise InvalidState(
                _serial_taken(asset.serial, holder)
                if holder is not None
                else f"serial {asset.serial!r} was taken by another lease concurrently"
            ) from None
        listing = ctx.apply_listing(
            lessee_id,
            money,
            annual_rate=rate,
            months=rules.term_months(ctx.today, last_due),
            method=rules.METHOD,
            product=PRODUCT,
            window_days=window_days,
        )
        set_lease(ctx.conn, lease_id, listing_id=listing.id, state="listed")
        return to_lease(lease_row(ctx.conn, lease_id))

    return platform.command(
        "leasing.file_lease",
        run,
        key=key,
        actor=actor,
        payload=[
            lessor_id,
            lessee_id,
            asset_id,
            money.format(),
            str(rate),
            form,
            supplier,
            frequency,
            count,
            res.format(),
            [[d.isoformat(), None if m is None else m.format()] for d, m in custom],
            buy_back,
            window_days,
        ],
        result_type=Lease,
    )


def _live_lease(conn: Connection, serial: str) -> str | None:
    held: str | None = conn.execute(
        select(live_serials.c.lease_id).where(live_serials.c.serial == serial)
    ).scalar()
    return held


def _serial_taken(serial: str, holder: str) -> str:
    return (
        f"serial {serial!r} is already under live lease {holder}: an asset is leased once at a"
        " time (the lease must end first)"
    )


def buy_back(
    platform: lendkit.Platform,
    lease_id: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> PaymentRecord:
    """The lessor buys the lease's remaining receivable back from the investors now: the loan is
    settled from the lessor's available balance (principal left, interest accrued to today,
    anything overdue with its penalty), the asset stays the lessor's. Close of business does it
    itself when a lease with ``buy_back=True`` reaches ``default_after_missed`` missed rents;
    call this to retry a ``buyback_due`` lease once the lessor has the money, or to buy back
    earlier. ``InsufficientFunds`` (nothing changes) when the lessor's balance is short.
    ``key``: idempotency."""
    lease_id = check_id(lease_id, "lease id")

    def run(ctx: HookContext) -> PaymentRecord:
        row = lease_row(ctx.conn, lease_id, lock=True)
        if row.state not in ("active", "buyback_due"):
            raise InvalidState(
                f"lease {lease_id} is {row.state}: only an active lease (or one whose buy-back is"
                " due) is bought back"
            )
        payment = buy_back_now(ctx, row)
        if payment is None:
            lessor = lessor_row(ctx.conn, row.lessor_id)
            raise InsufficientFunds(
                f"lessor {row.lessor_id} (party {lessor.party_id}) cannot pay the buy-back of lease"
                f" {lease_id}: its available balance is"
                f" {ctx.balance(ctx.party_account(lessor.party_id, row.currency))}"
            )
        return payment

    return platform.command(
        "leasing.buy_back", run, key=key, actor=actor, payload=[lease_id], result_type=PaymentRecord
    )


def record_sale(
    platform: lendkit.Platform,
    lease_id: str,
    price: object,
    *,
    buyer: str,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Sale:
    """Record the sale of a repossessed asset for ``price`` to ``buyer`` (a name) and apply it.

    The price enters through the plugin's sale gateway. When it covers the payoff (what is
    overdue with its penalty, the principal left and the interest accrued to today) the loan is
    settled from it (investors paid pro rata) and the **surplus** goes to the lessee's available
    balance. Otherwise the whole price is applied as the lessee's payment, rent by rent oldest
    first (penalty, interest, principal), pro rata among investors; the lessee still owes the
    rest (the **shortfall**: principal left), which follows lendkit's overdue and default rules
    (and the waterfall). The asset passes to the buyer. One transaction. ``key``: idempotency.

    :raises InvalidState: the lease's asset is not repossessed.
    :raises InvalidAmount: a price that is not more than zero.
    """
    lease_id = check_id(lease_id, "lease id")
    cur = platform.config.currency
    gross = parse_amount(price, cur, "sale price")
    who = check_text(buyer, "buyer", MAX_NAME_LENGTH)
    sale_id = f"sal_{uuid.uuid4().hex}"

    def run(ctx: HookContext) -> Sale:
        row = lease_row(ctx.conn, lease_id, lock=True)
        if row.state != "repossessed":
            raise InvalidState(
                f"lease {lease_id} is {row.state}: only a repossessed asset is sold (a lease is"
                " repossessed when its lessee misses the configured number of rents)"
            )
        set_lease(ctx.conn, lease_id, state="sold", ended_on=ctx.today)
        gateway = ctx.account("plugin", PLUGIN, "sale-gateway", cur, allow_negative=True)
        proceeds = ctx.account("plugin", PLUGIN, "sale-proceeds", cur)
        ctx.transfer("leasing.sale", sale_id, [(gateway, -gross), (proceeds, gross)])
        payment: PaymentRecord | None
        try:
            with ctx.savepoint():
                payment = ctx.settle(row.loan_id, proceeds, interest="accrued")
        except InsufficientFunds:
            payment = ctx.repay(row.loan_id, gross, source=proceeds)
        # the proceeds account holds nothing between sales: what is left is this sale's surplus
        surplus = ctx.balance(proceeds)
        if surplus.is_positive():
            lessee = ctx.party_account(row.lessee_id, cur)
            ctx.transfer("leasing.surplus", sale_id, [(proceeds, -surplus), (lessee, surplus)])
        loan = ctx.loan(row.loan_id)
        asset = asset_row(ctx.conn, row.asset_id, lock=True)
        change_owner(ctx, asset, sale_id, "sale", lease_id, "sold")
        release_serial(ctx.conn, lease_id)
        ctx.conn.execute(
            sales.insert().values(
                id=sale_id,
                lease_id=lease_id,
                loan_id=row.loan_id,
                buyer=who,
                currency=cur,
                price=gross.minor,
                penalty=payment.penalty.minor,
                interest=payment.interest.minor,
                principal=payment.principal.minor,
                surplus=surplus.minor,
                shortfall=loan.outstanding_principal.minor,
                sold_on=ctx.today,
                created_at=ctx.now,
            )
        )
        return to_sale(ctx.conn.execute(select(sales).where(sales.c.id == sale_id)).one())

    return platform.command(
        "leasing.record_sale",
        run,
        key=key,
        actor=actor,
        payload=[lease_id, gross.format(), who],
        result_type=Sale,
    )


def to_sale(row: Any) -> Sale:
    """The public record of a sale row."""

    def m(units: int) -> Money:
        return Money.from_minor(int(units), row.currency)

    return Sale(
        id=row.id,
        lease_id=row.lease_id,
        loan_id=row.loan_id,
        buyer=row.buyer,
        price=m(row.price),
        penalty=m(row.penalty),
        interest=m(row.interest),
        principal=m(row.principal),
        surplus=m(row.surplus),
        shortfall=m(row.shortfall),
        sold_on=row.sold_on,
    )


# -- queries --------------------------------------------------------------------------------------


def get_lease(platform: lendkit.Platform, ident: str) -> Lease:
    """The lease with id ``ident``, or the one a listing or loan ``ident`` finances."""
    ident = check_id(ident, "lease, listing or loan id")

    def run(ctx: HookContext) -> Lease:
        row = (
            ctx.conn.execute(select(leases).where(leases.c.id == ident)).first()
            or lease_for(ctx.conn, listing_id=ident)
            or lease_for(ctx.conn, loan_id=ident)
        )
        if row is None:
            raise NotFound(
                f"no lease {ident!r}, and no listing or loan finances a lease by that id"
            )
        return to_lease(row)

    return platform.query("leasing.get_lease", run)


def get_asset(platform: lendkit.Platform, asset_id_or_serial: str) -> Asset:
    """An asset by its id or its serial, with its owner and live lease."""
    ident = check_text(asset_id_or_serial, "asset id or serial", MAX_SERIAL_LENGTH)

    def run(ctx: HookContext) -> Asset:
        row = ctx.conn.execute(
            select(assets).where((assets.c.id == ident) | (assets.c.serial == ident))
        ).first()
        if row is None:
            raise NotFound(f"asset {ident!r} is not registered")
        return to_asset(ctx.conn, row)

    return platform.query("leasing.get_asset", run)


def ownership_of(platform: lendkit.Platform, asset_id: str) -> list[OwnershipChange]:
    """Every change of the asset's owner, oldest first."""
    asset_id = check_id(asset_id, "asset id")

    def run(ctx: HookContext) -> list[OwnershipChange]:
        asset_row(ctx.conn, asset_id)
        rows = ctx.conn.execute(
            select(ownership).where(ownership.c.asset_id == asset_id).order_by(ownership.c.seq)
        ).all()
        return [
            OwnershipChange(r.asset_id, r.seq, r.from_id, r.to_id, r.reason, r.on_date, r.lease_id)
            for r in rows
        ]

    return platform.query("leasing.ownership_of", run)


def get_sale(platform: lendkit.Platform, lease_id: str) -> Sale:
    """The sale of a lease's repossessed asset (``NotFound`` if it was not sold)."""
    lease_id = check_id(lease_id, "lease id")

    def run(ctx: HookContext) -> Sale:
        row = ctx.conn.execute(select(sales).where(sales.c.lease_id == lease_id)).first()
        if row is None:
            raise NotFound(f"lease {lease_id!r}'s asset was not sold")
        return to_sale(row)

    return platform.query("leasing.get_sale", run)


__all__: list[str] = [
    "buy_back",
    "file_lease",
    "get_asset",
    "get_lease",
    "get_sale",
    "ownership_of",
    "record_sale",
    "register_asset",
    "register_lessee",
    "register_lessor",
]
