"""The ``bills`` plugin's public functions; each runs as one command (``Platform.command``).

Inside a command's work only the ``HookContext`` is used (the plugin's own tables on
``ctx.conn``, ``ctx.apply_listing``, the ledger's accounts), never a facade.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

import lendkit
from lendkit.core.access import Actor
from lendkit.core.context import HookContext
from lendkit.core.errors import InvalidState, InvalidValue, NotFound
from lendkit.core.inputs import check_date, check_id, check_text, parse_amount
from lendkit.core.money import Money, parse_rate
from lendkit.plugins.bills import records as R
from lendkit.plugins.bills import rules
from lendkit.plugins.bills.records import Bill, Pricing, RecoursePayment
from lendkit.plugins.bills.settings import PLUGIN, BillSettings
from lendkit.plugins.bills.tables import bills, numbers, recourse
from lendkit.plugins.bills.tables import endorsements as chain_rows

PRODUCT = "bill"
MAX_ENDORSEMENTS = 50
MAX_NAME = 200


# -- reading (shared with the hooks) --------------------------------------------------------------


def bill_row(conn: Connection, bill_id: str, *, lock: bool = False) -> Any:
    """The bill's row (``NotFound`` if none); ``lock`` takes it FOR UPDATE (PostgreSQL)."""
    stmt = select(bills).where(bills.c.id == bill_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"bill {bill_id!r} is not registered")
    return row


def row_for(conn: Connection, *, listing_id: str | None = None, loan_id: str | None = None) -> Any:
    """The bill financed by a listing or loan, or ``None``."""
    column = bills.c.listing_id if listing_id is not None else bills.c.loan_id
    return conn.execute(select(bills).where(column == (listing_id or loan_id))).first()


def to_bill(conn: Connection, row: Any) -> Bill:
    """The public record of a bill row (with its endorsement chain and pricing)."""
    cur = row.currency
    face = Money.from_minor(row.face, cur)
    chain = conn.execute(
        select(chain_rows.c.endorser)
        .where(chain_rows.c.bill_id == row.id)
        .order_by(chain_rows.c.seq)
    ).scalars()
    pricing = None
    if row.price is not None:
        pricing = rules_pricing(row)
    return Bill(
        row.id,
        row.number,
        face,
        row.drawer_id,
        row.acceptor_id,
        row.issue_date,
        row.maturity,
        Decimal(row.penalty_rate),
        row.state,
        tuple(chain),
        row.verified_by,
        row.pledged_to,
        row.listing_id,
        row.loan_id,
        pricing,
    )


def rules_pricing(row: Any) -> Pricing:
    """The pricing a listed bill row was given (recomputed exactly from its stored terms)."""
    return rules.price(
        Money.from_minor(row.face, row.currency),
        Decimal(row.discount_rate),
        row.priced_on,
        row.maturity,
        row.basis,
    )


def registry_answer(settings: BillSettings, bill: Bill) -> str | None:
    """The acceptor's registry's decision on ``bill`` (``None``: confirmed): the configured
    registry, or by default the staff's mark."""
    registry = settings.registry
    if registry is None:
        return rules.staff_decision(bill)
    check = registry.check_bill if hasattr(registry, "check_bill") else registry
    answer = check(bill)
    return None if answer is None else str(answer)


def problems_today(ctx: HookContext, settings: BillSettings, bill: Bill) -> list[str]:
    """Why ``bill`` cannot be financed today (see :func:`rules.bill_problems`)."""
    return rules.bill_problems(
        bill, ctx.today, settings.min_days_to_maturity, registry_answer(settings, bill)
    )


def _party_exists(ctx: HookContext, party_id: str, role: str) -> None:
    try:
        ctx.existing_account(f"party:{party_id}:available:{ctx.currency}")
    except NotFound:
        raise NotFound(f"{role} {party_id!r} is not a registered party") from None


def _holder(conn: Connection, number: str) -> Any:
    return conn.execute(select(numbers).where(numbers.c.number == number)).first()


def _clone_refusal(number: str, holder: Any, today: date) -> InvalidState:
    if holder.state == "live":
        where = f"listing {holder.listing_id}" if holder.listing_id else "a listing being filed"
        return InvalidState(
            f"bill number {number} is a clone: it is already financed by {where}"
            f" (bill {holder.bill_id}); a bill number is listed once on the platform"
        )
    return InvalidState(
        f"bill number {number} stays taken until {holder.held_until}: it was financed by listing"
        f" {holder.listing_id} (bill {holder.bill_id}, paid or withdrawn); a new listing may"
        f" use it after that date (today is {today})"
    )


def claim_number(ctx: HookContext, number: str, bill_id: str) -> None:
    """Take ``number`` for ``bill_id`` atomically (a clone is refused naming the first
    listing): insert its row, or take over a retained one whose period ended (one guarded
    UPDATE); two racing claims never both succeed."""
    try:
        with ctx.conn.begin_nested():
            ctx.conn.execute(
                numbers.insert().values(
                    number=number, bill_id=bill_id, listing_id=None, state="live", held_until=None
                )
            )
        return
    except IntegrityError:
        pass
    taken = ctx.conn.execute(
        update(numbers)
        .where(
            numbers.c.number == number,
            numbers.c.state == "retained",
            numbers.c.held_until < ctx.today,
        )
        .values(bill_id=bill_id, listing_id=None, state="live", held_until=None)
    )
    if taken.rowcount != 1:
        holder = _holder(ctx.conn, number)
        if holder is None:  # held by a transaction this one's snapshot cannot see yet
            raise InvalidState(
                f"bill number {number} is a clone: another listing claimed it concurrently"
            )
        raise _clone_refusal(number, holder, ctx.today)


def release_number(ctx: HookContext, settings: BillSettings, row: Any) -> None:
    """A paid or withdrawn bill's number stays taken ``number_retention_days``."""
    ctx.conn.execute(
        update(numbers)
        .where(numbers.c.number == row.number, numbers.c.bill_id == row.id)
        .values(
            state="retained",
            held_until=ctx.today + timedelta(days=settings.number_retention_days),
        )
    )


# -- commands -------------------------------------------------------------------------------------


def register_bill(
    platform: lendkit.Platform,
    number: str,
    face: object,
    drawer_id: str,
    acceptor_id: str,
    issue_date: date,
    maturity: date,
    *,
    endorsements: Sequence[str] = (),
    penalty_rate: object = None,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Bill:
    """Register a bank acceptance bill the drawer (the borrower) wants financed.

    :param number: the bill number (unique on the platform; spaces and hyphens ignored).
    :param face: the face value the acceptor pays at maturity (str/int/Decimal; floats refused).
    :param drawer_id: the drawer, a registered party: the borrower and the recourse payer.
    :param acceptor_id: the acceptor bank, a registered party: it pays the face at maturity.
    :param issue_date: the bill's issue date.
    :param maturity: its maturity, after ``issue_date``.
    :param endorsements: the endorsement chain in order (names; recorded, not enforced).
    :param penalty_rate: the bill's own daily penalty rate (default: the configured one).
    :param key: an idempotency key (a repeat returns the first outcome).
    :raises InvalidValue: a bad number, face, date or name.
    :raises NotFound: the drawer or acceptor is not a registered party.
    :raises InvalidState: the number is held by a live or retained listing (a clone).
    """
    num = rules.normalize_number(number)
    money = parse_amount(face, platform.config.currency, "face value")
    drawer = check_id(drawer_id, "drawer")
    acceptor = check_id(acceptor_id, "acceptor bank")
    if drawer == acceptor:
        raise InvalidValue(f"the acceptor bank {acceptor} cannot be the bill's drawer")
    issued = check_date(issue_date, "issue date")
    due = check_date(maturity, "maturity")
    if due <= issued:
        raise InvalidValue(f"maturity {due} must be after the issue date {issued}")
    if isinstance(endorsements, str) or not isinstance(endorsements, Sequence):
        raise InvalidValue("endorsements must be a list of endorser names")
    if len(endorsements) > MAX_ENDORSEMENTS:
        raise InvalidValue(f"at most {MAX_ENDORSEMENTS} endorsements, got {len(endorsements)}")
    chain = [check_text(e, "endorser", MAX_NAME) for e in endorsements]
    rate = None if penalty_rate is None else parse_rate(penalty_rate, "penalty rate")
    if rate is not None and not Decimal(0) <= rate < Decimal(1):
        raise InvalidValue(f"penalty rate {rate} must be a daily rate from 0 up to 1")
    bill_id = f"bill_{uuid.uuid4().hex}"

    def run(ctx: HookContext) -> Bill:
        settings: BillSettings = ctx.settings(PLUGIN)
        _party_exists(ctx, drawer, "drawer")
        _party_exists(ctx, acceptor, "acceptor bank")
        holder = _holder(ctx.conn, num)
        if holder is not None and (holder.state == "live" or holder.held_until >= ctx.today):
            raise _clone_refusal(num, holder, ctx.today)
        ctx.conn.execute(
            bills.insert().values(
                id=bill_id,
                number=num,
                currency=money.currency,
                face=money.minor,
                drawer_id=drawer,
                acceptor_id=acceptor,
                issue_date=issued,
                maturity=due,
                penalty_rate=str(settings.penalty_daily_rate if rate is None else rate),
                state=R.REGISTERED,
                created_at=ctx.now,
            )
        )
        if chain:
            ctx.conn.execute(
                chain_rows.insert(),
                [{"bill_id": bill_id, "seq": k, "endorser": e} for k, e in enumerate(chain, 1)],
            )
        return to_bill(ctx.conn, bill_row(ctx.conn, bill_id))

    return platform.command(
        "bills.register_bill",
        run,
        key=key,
        actor=actor,
        payload=[num, money.format(), drawer, acceptor, issued, due, chain, str(rate)],
        result_type=Bill,
    )


def verify_bill(
    platform: lendkit.Platform,
    bill_id: str,
    *,
    staff: str,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Bill:
    """Staff confirm a bill with its acceptor bank (the default registry's decision).

    :param staff: who confirmed it (recorded on the bill).
    :raises NotFound: no such bill. :raises InvalidState: the bill is paid or withdrawn.
    """
    bill_id = check_id(bill_id, "bill id")
    who = check_text(staff, "staff", MAX_NAME)

    def run(ctx: HookContext) -> Bill:
        row = bill_row(ctx.conn, bill_id, lock=True)
        if row.state in (R.PAID, R.WITHDRAWN):
            raise InvalidState(f"bill {row.number} is {row.state}: it cannot be verified again")
        ctx.conn.execute(update(bills).where(bills.c.id == bill_id).values(verified_by=who))
        return to_bill(ctx.conn, bill_row(ctx.conn, bill_id))

    return platform.command(
        "bills.verify_bill", run, key=key, actor=actor, payload=[bill_id, who], result_type=Bill
    )


def mark_pledged(
    platform: lendkit.Platform,
    bill_id: str,
    pledgee: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Bill:
    """Record that a bill is pledged to ``pledgee`` (found at the registry or told by the
    acceptor): from then on it is refused at application, approval and publication."""
    bill_id = check_id(bill_id, "bill id")
    holder = check_text(pledgee, "pledgee", MAX_NAME)

    def run(ctx: HookContext) -> Bill:
        bill_row(ctx.conn, bill_id, lock=True)
        ctx.conn.execute(update(bills).where(bills.c.id == bill_id).values(pledged_to=holder))
        return to_bill(ctx.conn, bill_row(ctx.conn, bill_id))

    return platform.command(
        "bills.mark_pledged", run, key=key, actor=actor, payload=[bill_id, holder], result_type=Bill
    )


def quote(
    platform: lendkit.Platform, bill_id: str, discount_rate: object, on: date | None = None
) -> Pricing:
    """What a bill would be priced at a ``discount_rate`` on ``on`` (default today): price,
    discount, days and the investors' yield. Reads only."""
    bill_id = check_id(bill_id, "bill id")
    rate = _discount_rate(discount_rate)
    when = None if on is None else check_date(on, "pricing date")

    def run(ctx: HookContext) -> Pricing:
        row = bill_row(ctx.conn, bill_id)
        settings: BillSettings = ctx.settings(PLUGIN)
        day = when or ctx.today
        if row.maturity <= day:
            raise InvalidState(f"bill {row.number} matured on {row.maturity}: it has no price")
        face = Money.from_minor(row.face, row.currency)
        return rules.price(face, rate, day, row.maturity, settings.basis)

    return platform.query("bills.quote", run)


def _discount_rate(value: object) -> Decimal:
    rate = parse_rate(value, "discount rate")
    if rate <= 0:
        raise InvalidValue(f"discount rate {value} must be more than 0%")
    return rate


def apply_with_bill(
    platform: lendkit.Platform,
    bill_id: str,
    discount_rate: object,
    *,
    window_days: int = 7,
    min_bid: object = None,
    max_bid: object = None,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Bill:
    """The drawer applies to finance a registered bill: one transaction that claims the bill's
    number platform-wide and files the listing (product ``bill``, method ``discount-bullet``).

    The listing's amount is the price (face less the discount at ``discount_rate`` over the days
    from today to maturity on the configured basis), its rate the discount rate; investors pay
    the price and receive the face at maturity. Refused with nothing changed when the bill is
    not confirmed by the acceptor's registry, too close to maturity, pledged, already listed
    (clone: naming the first listing) or its number is still retained.

    :returns: the bill with ``listing_id`` and ``pricing`` (price, face, investors' yield).
    """
    bill_id = check_id(bill_id, "bill id")
    rate = _discount_rate(discount_rate)
    terms: dict[str, Any] = {"window_days": window_days}
    if min_bid is not None:
        terms["min_bid"] = min_bid
    if max_bid is not None:
        terms["max_bid"] = max_bid

    def run(ctx: HookContext) -> Bill:
        settings: BillSettings = ctx.settings(PLUGIN)
        row = bill_row(ctx.conn, bill_id, lock=True)
        if row.state != R.REGISTERED:
            where = f" (listing {row.listing_id})" if row.listing_id else ""
            raise InvalidState(
                f"bill {row.number} is {row.state}{where}: only a registered bill can be listed"
            )
        bill = to_bill(ctx.conn, row)
        problems = problems_today(ctx, settings, bill)
        if problems:
            raise InvalidState("; ".join(problems))
        claim_number(ctx, row.number, bill_id)
        pricing = rules.price(bill.face, rate, ctx.today, bill.maturity, settings.basis)
        ctx.conn.execute(
            update(bills)
            .where(bills.c.id == bill_id)
            .values(
                state=R.APPLYING,
                discount_rate=str(rate),
                basis=settings.basis,
                price=pricing.price.minor,
                priced_on=ctx.today,
            )
        )
        listing = ctx.apply_listing(
            bill.drawer_id,
            pricing.price,
            annual_rate=rate,
            months=1,
            method=rules.METHOD,
            product=PRODUCT,
            **terms,
        )
        ctx.conn.execute(
            update(bills).where(bills.c.id == bill_id).values(state=R.LISTED, listing_id=listing.id)
        )
        ctx.conn.execute(
            update(numbers).where(numbers.c.number == row.number).values(listing_id=listing.id)
        )
        return to_bill(ctx.conn, bill_row(ctx.conn, bill_id))

    return platform.command(
        "bills.apply_with_bill",
        run,
        key=key,
        actor=actor,
        payload=[bill_id, str(rate), terms.get("window_days"), str(min_bid), str(max_bid)],
        result_type=Bill,
    )


def get_bill(platform: lendkit.Platform, bill_listing_or_loan_id: str) -> Bill:
    """A bill by its id, or the bill a listing or loan finances (``NotFound`` if none)."""
    ident = check_id(bill_listing_or_loan_id, "bill, listing or loan id")

    def run(ctx: HookContext) -> Bill:
        row = (
            ctx.conn.execute(select(bills).where(bills.c.id == ident)).first()
            or row_for(ctx.conn, listing_id=ident)
            or row_for(ctx.conn, loan_id=ident)
        )
        if row is None:
            raise NotFound(f"no bill {ident!r}, and no listing or loan finances a bill by that id")
        return to_bill(ctx.conn, row)

    return platform.query("bills.get_bill", run)


def recourse_payments(platform: lendkit.Platform, bill_id: str) -> list[RecoursePayment]:
    """What the drawer paid on its overdue bill as the recourse payer, oldest first."""
    bill_id = check_id(bill_id, "bill id")

    def run(ctx: HookContext) -> list[RecoursePayment]:
        row = bill_row(ctx.conn, bill_id)
        rows = ctx.conn.execute(
            select(recourse)
            .where(recourse.c.bill_id == bill_id)
            .order_by(recourse.c.paid_on, recourse.c.payment_id)
        ).all()
        return [
            RecoursePayment(
                r.payment_id,
                r.bill_id,
                r.payer_id,
                Money.from_minor(r.amount, row.currency),
                r.paid_on,
            )
            for r in rows
        ]

    return platform.query("bills.recourse_payments", run)
