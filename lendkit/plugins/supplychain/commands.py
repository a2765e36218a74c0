"""The ``supplychain`` plugin's public commands: each runs through ``platform.command`` (one
transaction, retried, joining a host transaction, idempotent with ``key=``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

import lendkit
from lendkit.core.access import Actor
from lendkit.core.context import HookContext
from lendkit.core.errors import Forbidden, InvalidState, InvalidValue, NotFound
from lendkit.core.inputs import (
    MAX_NAME_LENGTH,
    check_choice,
    check_date,
    check_id,
    check_text,
    parse_amount,
)
from lendkit.core.money import Money
from lendkit.core.records import PaymentRecord
from lendkit.plugins.supplychain import queries as q
from lendkit.plugins.supplychain.records import (
    AffectedLoan,
    CoreEnterprise,
    Exposure,
    InvestorExposure,
    Receivable,
)
from lendkit.plugins.supplychain.rules import CONFIRMATIONS, largest_first
from lendkit.plugins.supplychain.tables import (
    core_enterprises,
    holdings,
    industries,
    invoices,
    receivables,
)

#: the longest industry name and invoice number
MAX_INDUSTRY_LENGTH = 60
MAX_INVOICE_LENGTH = 64


def register_core_enterprise(
    platform: lendkit.Platform,
    name: str,
    party_id: str,
    credit_limit: object,
    industry: str,
    *,
    confirmation: str = "online",
    key: str | None = None,
    actor: Actor | str | None = None,
) -> CoreEnterprise:
    """Register the registered party ``party_id`` as a core enterprise (核心企业).

    ``credit_limit`` caps what its suppliers' receivables may finance in all (approved listings
    and outstanding principal); ``industry`` groups core enterprises for the industry cap;
    ``confirmation`` is how it confirms receivables: ``online`` or ``written`` (a document
    reference is then required). A party is one core enterprise at most. ``key``: idempotency.
    """
    name = check_text(name, "core enterprise name", MAX_NAME_LENGTH)
    party_id = check_id(party_id, "core enterprise party id")
    limit = parse_amount(credit_limit, platform.config.currency, "credit limit")
    industry = check_text(industry, "industry", MAX_INDUSTRY_LENGTH)
    confirmation = check_choice(confirmation, "confirmation method", CONFIRMATIONS)
    core_id = f"ce_{uuid.uuid4().hex}"

    def run(ctx: HookContext) -> CoreEnterprise:
        q.party_exists(ctx, party_id, "core enterprise party")
        taken = ctx.conn.execute(
            select(core_enterprises.c.id).where(core_enterprises.c.party_id == party_id)
        ).first()
        if taken is not None:
            raise InvalidState(f"party {party_id} is already core enterprise {taken.id}")
        ctx.conn.execute(
            core_enterprises.insert().values(
                id=core_id,
                name=name,
                party_id=party_id,
                industry=industry,
                confirmation=confirmation,
                currency=limit.currency,
                credit_limit=limit.minor,
                used=0,
                created_at=ctx.now,
            )
        )
        q.insert_missing(ctx.conn, industries, {"name": industry, "used": 0})
        return q.core_record(q.core_row(ctx.conn, core_id))

    return platform.command(
        "supplychain.register_core_enterprise",
        run,
        key=key,
        actor=actor,
        payload=[name, party_id, limit.format(), industry, confirmation],
        result_type=CoreEnterprise,
    )


def submit_receivable(
    platform: lendkit.Platform,
    listing_id: str,
    supplier_id: str,
    core_enterprise_id: str,
    invoice_number: str,
    amount: object,
    due_date: date,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Receivable:
    """The supplier ``supplier_id`` submits the receivable its listing ``listing_id`` finances:
    ``amount`` owed by the core enterprise on ``invoice_number``, due on ``due_date``.

    An invoice finances one listing: a second receivable on an invoice of the same core
    enterprise is refused (``InvalidState`` naming the first listing) until the first is
    cancelled or its listing ends unfunded. An unknown listing is ``NotFound``, a listing of
    another product than ``supplychain`` ``InvalidValue``, both with nothing changed. The
    listing's borrower must be the supplier (checked at approval, with the core enterprise's
    confirmation). ``key``: idempotency.
    """
    listing_id = check_id(listing_id, "listing id")
    supplier_id = check_id(supplier_id, "supplier id")
    core_enterprise_id = check_id(core_enterprise_id, "core enterprise id")
    invoice = check_text(invoice_number, "invoice number", MAX_INVOICE_LENGTH)
    money = parse_amount(amount, platform.config.currency, "receivable amount")
    due = check_date(due_date, "receivable due date")
    receivable_id = f"rcv_{uuid.uuid4().hex}"

    def run(ctx: HookContext) -> Receivable:
        if due <= ctx.today:
            raise InvalidValue(
                f"receivable due date {due} is not allowed: it must be after today ({ctx.today})"
            )
        listing = ctx.listing(listing_id)  # NotFound naming it
        if listing.product != q.PRODUCT:
            raise InvalidValue(
                f"listing {listing_id} is of product {listing.product!r}: a receivable is"
                f" financed by a {q.PRODUCT!r} listing"
            )
        q.party_exists(ctx, supplier_id, "supplier")
        core = q.core_row(ctx.conn, core_enterprise_id)
        if core.party_id == supplier_id:
            raise Forbidden(
                f"supplier {supplier_id} is core enterprise {core.id} itself: a core enterprise"
                " does not finance receivables on itself"
            )
        existing = q.for_listing(ctx.conn, listing_id)
        if existing is not None:
            raise InvalidState(
                f"listing {listing_id} already finances receivable {existing.id} (invoice"
                f" {existing.invoice_number}): one listing finances one receivable"
            )
        taken = _invoice_taken(ctx, core.id, invoice)
        if taken:
            raise InvalidState(taken)
        ctx.conn.execute(
            receivables.insert().values(
                id=receivable_id,
                listing_id=listing_id,
                core_enterprise_id=core.id,
                supplier_id=supplier_id,
                invoice_number=invoice,
                currency=money.currency,
                amount=money.minor,
                due_date=due,
                state="submitted",
                stage="none",
                exposure=0,
                overdue=False,
                created_at=ctx.now,
            )
        )
        try:
            with ctx.conn.begin_nested():
                ctx.conn.execute(
                    invoices.insert().values(
                        core_enterprise_id=core.id,
                        invoice_number=invoice,
                        receivable_id=receivable_id,
                    )
                )
        except IntegrityError:  # a concurrent submission of the same invoice committed first
            raise InvalidState(
                _invoice_taken(ctx, core.id, invoice) or f"invoice {invoice!r} is already financed"
            ) from None
        return q.receivable_record(q.receivable_row(ctx.conn, receivable_id))

    return platform.command(
        "supplychain.submit_receivable",
        run,
        key=key,
        actor=actor,
        payload=[listing_id, supplier_id, core_enterprise_id, invoice, money.format(), str(due)],
        result_type=Receivable,
    )


def _invoice_taken(ctx: HookContext, core_id: str, invoice: str) -> str | None:
    row = ctx.conn.execute(
        select(receivables.c.id, receivables.c.listing_id)
        .join(invoices, invoices.c.receivable_id == receivables.c.id)
        .where(invoices.c.core_enterprise_id == core_id, invoices.c.invoice_number == invoice)
    ).first()
    if row is None:
        return None
    return (
        f"invoice {invoice!r} of core enterprise {core_id} already finances listing"
        f" {row.listing_id} (receivable {row.id}): one invoice finances one listing"
    )


def confirm_receivable(
    platform: lendkit.Platform,
    receivable_id: str,
    amount: object,
    due_date: date,
    *,
    reference: str | None = None,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Receivable:
    """The core enterprise confirms (确权) the receivable: it owes ``amount`` on ``due_date``,
    undisputed and not assigned elsewhere. Both must equal what the supplier submitted
    (``InvalidState`` naming both otherwise: dispute it instead). A core enterprise confirming
    ``written`` needs the confirmation document's ``reference``. ``key``: idempotency."""
    receivable_id = check_id(receivable_id, "receivable id")
    money = parse_amount(amount, platform.config.currency, "confirmed amount")
    due = check_date(due_date, "confirmed due date")
    ref = None if reference is None else check_text(reference, "confirmation reference", 200)

    def run(ctx: HookContext) -> Receivable:
        row = q.receivable_row(ctx.conn, receivable_id, lock=True)
        core = q.core_row(ctx.conn, row.core_enterprise_id)
        if row.state != "submitted":
            raise InvalidState(
                f"receivable {row.id} is {row.state}: only a submitted receivable is confirmed"
            )
        submitted = Money.from_minor(int(row.amount), row.currency)
        if money != submitted or due != row.due_date:
            raise InvalidState(
                f"receivable {row.id} was submitted as {submitted} due {row.due_date}; the core"
                f" enterprise confirms {money} due {due}: they must agree (dispute_receivable"
                " otherwise)"
            )
        if core.confirmation == "written" and ref is None:
            raise InvalidValue(
                f"core enterprise {core.id} confirms in writing: give the document's reference="
            )
        ctx.conn.execute(
            update(receivables)
            .where(receivables.c.id == row.id)
            .values(state="confirmed", confirmed_at=ctx.now, reference=ref)
        )
        return q.receivable_record(q.receivable_row(ctx.conn, row.id))

    return platform.command(
        "supplychain.confirm_receivable",
        run,
        key=key,
        actor=actor,
        payload=[receivable_id, money.format(), str(due), ref],
        result_type=Receivable,
    )


def dispute_receivable(
    platform: lendkit.Platform,
    receivable_id: str,
    reason: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Receivable:
    """The core enterprise disputes the receivable (wrong amount, goods returned, assigned
    elsewhere): its listing cannot be approved or published. Refused once a loan finances it.
    ``key``: idempotency."""
    receivable_id = check_id(receivable_id, "receivable id")
    why = check_text(reason, "dispute reason")

    def run(ctx: HookContext) -> Receivable:
        row = q.receivable_row(ctx.conn, receivable_id, lock=True)
        if row.state not in ("submitted", "confirmed") or row.stage not in ("none", "committed"):
            raise InvalidState(
                f"receivable {row.id} is {row.state} ({row.stage}): only a submitted or"
                " confirmed receivable not yet financed by a loan can be disputed"
            )
        ctx.conn.execute(
            update(receivables)
            .where(receivables.c.id == row.id)
            .values(state="disputed", dispute_reason=why)
        )
        return q.receivable_record(q.receivable_row(ctx.conn, row.id))

    return platform.command(
        "supplychain.dispute_receivable",
        run,
        key=key,
        actor=actor,
        payload=[receivable_id, why],
        result_type=Receivable,
    )


def cancel_receivable(
    platform: lendkit.Platform,
    receivable_id: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Receivable:
    """The supplier withdraws a receivable whose listing is not approved; its invoice may then
    finance another listing. ``key``: idempotency."""
    receivable_id = check_id(receivable_id, "receivable id")

    def run(ctx: HookContext) -> Receivable:
        row = q.receivable_row(ctx.conn, receivable_id, lock=True)
        if row.stage != "none" or row.state == "cancelled":
            raise InvalidState(
                f"receivable {row.id} is {row.state} ({row.stage}): only a receivable whose"
                " listing is not approved can be cancelled"
            )
        ctx.conn.execute(
            update(receivables).where(receivables.c.id == row.id).values(state="cancelled")
        )
        ctx.conn.execute(delete(invoices).where(invoices.c.receivable_id == row.id))
        return q.receivable_record(q.receivable_row(ctx.conn, row.id))

    return platform.command(
        "supplychain.cancel_receivable",
        run,
        key=key,
        actor=actor,
        payload=[receivable_id],
        result_type=Receivable,
    )


def pay_early(
    platform: lendkit.Platform,
    loan_id: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> PaymentRecord:
    """The core enterprise pays the receivable before its due date: the loan is settled from the
    core enterprise's available balance at the interest accrued to today (``ctx.settle(...,
    interest="accrued")``); investors are paid pro rata to the cent. ``InsufficientFunds`` (nothing
    changes) when the core enterprise's balance is short; ``NotFound`` for a loan that finances
    no receivable. ``key``: idempotency."""
    loan_id = check_id(loan_id, "loan id")

    def run(ctx: HookContext) -> PaymentRecord:
        row = q.for_loan(ctx.conn, loan_id)
        if row is None:
            raise NotFound(f"loan {loan_id} finances no receivable")
        if row.stage != "active":
            raise InvalidState(f"loan {loan_id} is {row.stage}: only an open loan is paid early")
        core = q.core_row(ctx.conn, row.core_enterprise_id)
        source = ctx.party_account(core.party_id, row.currency)
        return ctx.settle(loan_id, source, interest="accrued")

    return platform.command(
        "supplychain.pay_early",
        run,
        key=key,
        actor=actor,
        payload=[loan_id],
        result_type=PaymentRecord,
    )


def get_core_enterprise(platform: lendkit.Platform, core_enterprise_id: str) -> CoreEnterprise:
    """A core enterprise with its credit limit and what is used of it."""
    core_id = check_id(core_enterprise_id, "core enterprise id")
    return platform.query(
        "supplychain.get_core_enterprise",
        lambda ctx: q.core_record(q.core_row(ctx.conn, core_id)),
    )


def core_enterprises_of(platform: lendkit.Platform) -> list[CoreEnterprise]:
    """Every core enterprise, oldest first."""

    def run(ctx: HookContext) -> list[CoreEnterprise]:
        rows = ctx.conn.execute(
            select(core_enterprises).order_by(core_enterprises.c.created_at, core_enterprises.c.id)
        ).all()
        return [q.core_record(r) for r in rows]

    return platform.query("supplychain.core_enterprises_of", run)


def receivable_of(platform: lendkit.Platform, ident: str) -> Receivable:
    """The receivable with id ``ident``, or the one a listing or loan ``ident`` finances."""
    ident = check_id(ident, "receivable, listing or loan id")

    def run(ctx: HookContext) -> Receivable:
        row = (
            q.for_listing(ctx.conn, ident)
            or q.for_loan(ctx.conn, ident)
            or ctx.conn.execute(select(receivables).where(receivables.c.id == ident)).first()
        )
        if row is None:
            raise NotFound(f"{ident} is no receivable and finances none")
        return q.receivable_record(row)

    return platform.query("supplychain.receivable_of", run)


def exposure_of(ctx: HookContext, core_id: str) -> Exposure:
    """The stress view of one core enterprise, read in ``ctx``'s transaction."""
    core = q.core_record(q.core_row(ctx.conn, core_id))
    cur = core.credit_limit.currency
    rows = ctx.conn.execute(
        select(receivables)
        .where(
            receivables.c.core_enterprise_id == core.id,
            receivables.c.stage.in_(("committed", "active")),
        )
        .order_by(receivables.c.due_date, receivables.c.stage, receivables.c.listing_id)
    ).all()
    held: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for h in ctx.conn.execute(
        select(holdings).where(holdings.c.core_enterprise_id == core.id, holdings.c.amount > 0)
    ).all():
        held[h.listing_id].append((h.investor_id, int(h.amount)))
    totals: dict[str, int] = defaultdict(int)
    loans = []
    for r in rows:
        investors = largest_first(held.get(r.listing_id, []))
        for investor, amount in investors:
            totals[investor] += amount
        loans.append(
            AffectedLoan(
                listing_id=r.listing_id,
                loan_id=r.loan_id,
                supplier_id=r.supplier_id,
                invoice_number=r.invoice_number,
                due_date=r.due_date,
                stage=r.stage,
                amount=Money.from_minor(int(r.exposure), cur),
                overdue=bool(r.overdue),
                investors=tuple(
                    InvestorExposure(i, Money.from_minor(a, cur)) for i, a in investors
                ),
            )
        )
    return Exposure(
        core_enterprise=core,
        loans=tuple(loans),
        investors=tuple(
            InvestorExposure(i, Money.from_minor(a, cur))
            for i, a in largest_first(list(totals.items()))
        ),
        total=Money.from_minor(sum(int(r.exposure) for r in rows), cur),
    )


def exposure(platform: lendkit.Platform, core_enterprise_id: str) -> Exposure:
    """If the core enterprise stopped paying: every approved listing and open loan financing
    its receivables, each investor and amount affected (open bids, then outstanding principal),
    and the totals."""
    core_id = check_id(core_enterprise_id, "core enterprise id")

    def run(ctx: HookContext) -> Exposure:
        return exposure_of(ctx, core_id)

    return platform.query("supplychain.exposure", run)


__all__: list[str] = [
    "cancel_receivable",
    "confirm_receivable",
    "core_enterprises_of",
    "dispute_receivable",
    "exposure",
    "exposure_of",
    "get_core_enterprise",
    "pay_early",
    "receivable_of",
    "register_core_enterprise",
    "submit_receivable",
]
