"""The reserve plugin's commands (each one unit of work through ``platform.command``) and the
helpers they share with its hooks; inside a command only ``ctx`` is used."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects import postgresql

import lendkit
from lendkit.core.access import Actor
from lendkit.core.context import HookContext
from lendkit.core.errors import InsufficientFunds
from lendkit.core.inputs import check_bool, check_id, parse_amount
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money
from lendkit.plugins.reserve.records import (
    CLOSED,
    OPEN,
    PAID,
    PLUGIN,
    QUEUED,
    Payout,
    QueuedClaim,
    ReserveStatus,
)
from lendkit.plugins.reserve.rules import water_fill
from lendkit.plugins.reserve.tables import claims, loans, lock, movements


def fund_account(ctx: HookContext) -> AccountRef:
    """The reserve fund's ledger account (created on first use)."""
    return ctx.account("plugin", PLUGIN, "reserve-fund", ctx.currency)


def reserve_revenue(ctx: HookContext) -> AccountRef:
    return ctx.account("platform", "revenue", "revenue", ctx.currency)


def reserve_lock(ctx: HookContext) -> None:
    """Serialize the fund's payouts on PostgreSQL (SQLite write transactions already are)."""
    if ctx.conn.dialect.name != "postgresql":
        return
    ctx.conn.execute(postgresql.insert(lock).values(id=1).on_conflict_do_nothing())
    ctx.conn.execute(select(lock.c.id).where(lock.c.id == 1).with_for_update())


def record(
    ctx: HookContext,
    kind: str,
    amount: int,
    reference: str,
    *,
    loan_id: str | None = None,
    period: int | None = None,
    claim_id: int | None = None,
) -> None:
    ctx.conn.execute(
        movements.insert().values(
            kind=kind,
            amount=amount,
            loan_id=loan_id,
            period=period,
            claim_id=claim_id,
            reference=reference[:80],
            booked_on=ctx.today,
            created_at=ctx.now,
        )
    )


def _pay_claim(ctx: HookContext, fund: AccountRef, r: Row[Any], amount: int) -> int:
    """Pay up to ``amount`` of claim ``r`` (principal first); update it; return what was paid."""
    cur = ctx.currency
    want_p = min(amount, r.principal - r.paid_principal)
    want_i = min(amount - want_p, r.interest - r.paid_interest)
    paid = ctx.pay_investors(
        r.loan_id,
        fund,
        Money.from_minor(want_p, cur),
        Money.from_minor(want_i, cur),
        reason="reserve",
        period=r.period,
    ).minor
    got_p = min(want_p, paid)
    new_p, new_i = r.paid_principal + got_p, r.paid_interest + paid - got_p
    if new_p == r.principal and new_i == r.interest:
        state = PAID
    elif paid < want_p + want_i:
        state = CLOSED  # its investors are owed less than queued: someone else paid them
    else:
        state = OPEN
    ctx.conn.execute(
        update(claims)
        .where(claims.c.id == r.id)
        .values(paid_principal=new_p, paid_interest=new_i, state=state)
    )
    if paid:
        record(
            ctx, "payout", paid, "reserve payout", loan_id=r.loan_id, period=r.period, claim_id=r.id
        )
    return paid


def reserve_settle(ctx: HookContext) -> dict[int, int]:
    """Pay the queue with what the fund holds, oldest day first, pro rata within a day.

    Returns what each claim (by id) received now. Call with the lock held.
    """
    fund = fund_account(ctx)
    got: dict[int, int] = {}
    while True:
        balance = ctx.balance(fund)
        if not balance.is_positive():
            break
        # claims queued on a business date after "today" (a COB run ahead of the clock) wait:
        # their installments are not due yet as this unit of work sees it
        rows = ctx.conn.execute(
            select(claims)
            .where(claims.c.state == OPEN, claims.c.queued_on <= ctx.today)
            .order_by(claims.c.queued_on, claims.c.id)
        ).all()
        if not rows:
            break
        day = [r for r in rows if r.queued_on == rows[0].queued_on]
        shares = water_fill(
            balance,
            [r.principal + r.interest for r in day],
            [r.paid_principal + r.paid_interest for r in day],
        )
        if not any(share.is_positive() for share in shares):
            break
        for r, share in zip(day, shares, strict=True):
            if share.is_positive():
                got[r.id] = got.get(r.id, 0) + _pay_claim(ctx, fund, r, share.minor)
        # Each round pays a whole day, spends the balance, or closes a claim: the loop ends.
    return got


def reserve_covered(ctx: HookContext, loan_id: str) -> Row[Any] | None:
    return ctx.conn.execute(
        select(loans).where(loans.c.loan_id == loan_id, loans.c.state != "pending")
    ).first()


def seed(
    platform: lendkit.Platform,
    amount: object,
    *,
    from_party: str | None = None,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Money:
    """The platform puts ``amount`` into the fund; returns the balance after settling the queue.

    The money comes from the platform's revenue account (fees it earned), or, with
    ``from_party``, from that party's available custody balance -- a party the operator funded
    with its own money (the call is the operator's instruction for its own account).
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    cur = platform.config.currency
    money = parse_amount(amount, cur, "seed amount")
    if from_party is not None:
        from_party = check_id(from_party, "party")

    def run(ctx: HookContext) -> Money:
        if from_party is not None:
            ctx.party(from_party)  # NotFound names it
        reserve_lock(ctx)
        source = reserve_revenue(ctx) if from_party is None else ctx.party_account(from_party, cur)
        have = ctx.balance(source)
        if have < money:
            where = (
                "platform revenue"
                if from_party is None
                else f"party {from_party}'s available balance"
            )
            raise InsufficientFunds(
                f"cannot seed the reserve with {money}: {where} holds only {have}"
            )
        fund = fund_account(ctx)
        ctx.transfer("reserve.seed", from_party or "revenue", [(source, -money), (fund, money)])
        record(ctx, "seed", money.minor, from_party or "platform revenue")
        reserve_settle(ctx)
        return ctx.balance(fund)

    return platform.command(
        "reserve.seed",
        run,
        key=key,
        actor=actor,
        payload=[money.format(), from_party],
        result_type=Money,
    )


def settle(
    platform: lendkit.Platform, *, key: str | None = None, actor: Actor | str | None = None
) -> Money:
    """Pay queued claims with what the fund holds now (it also happens whenever money arrives).
    Returns what was paid. ``key``: an idempotency key (a repeat returns the first outcome)."""

    def run(ctx: HookContext) -> Money:
        reserve_lock(ctx)
        return Money.from_minor(sum(reserve_settle(ctx).values()), ctx.currency)

    return platform.command(
        "reserve.settle", run, key=key, actor=actor, payload=[], result_type=Money
    )


def reserve_status(ctx: HookContext) -> ReserveStatus:
    cur = ctx.currency
    totals = dict(
        ctx.conn.execute(
            select(movements.c.kind, func.coalesce(func.sum(movements.c.amount), 0)).group_by(
                movements.c.kind
            )
        ).all()
    )
    n_payouts = ctx.conn.execute(
        select(func.count()).select_from(movements).where(movements.c.kind == "payout")
    ).scalar_one()
    queued = ctx.conn.execute(
        select(
            func.count(),
            func.coalesce(
                func.sum(
                    claims.c.principal
                    + claims.c.interest
                    - claims.c.paid_principal
                    - claims.c.paid_interest
                ),
                0,
            ),
        ).where(claims.c.state.in_(QUEUED))
    ).one()
    covered = ctx.conn.execute(
        select(func.count(), func.coalesce(func.sum(loans.c.outstanding), 0)).where(
            loans.c.state == "open"
        )
    ).one()
    balance = ctx.balance(fund_account(ctx)).minor
    seeded, contributed, paid = (int(totals.get(k, 0)) for k in ("seed", "contribution", "payout"))
    return ReserveStatus(
        balance=Money.from_minor(balance, cur),
        seeded=Money.from_minor(seeded, cur),
        contributions=Money.from_minor(contributed, cur),
        paid=Money.from_minor(paid, cur),
        payouts=int(n_payouts),
        recoveries=Money.from_minor(balance - seeded - contributed + paid, cur),
        queued_shortfall=Money.from_minor(int(queued[1]), cur),
        queued_claims=int(queued[0]),
        covered_loans=int(covered[0]),
        outstanding_principal=Money.from_minor(int(covered[1]), cur),
    )


def status(platform: lendkit.Platform) -> ReserveStatus:
    """Balance, seeded, contributions, payouts, recoveries, queued shortfall, coverage."""
    return platform.query("reserve.status", reserve_status)


def payouts(platform: lendkit.Platform) -> list[Payout]:
    """Every payout the fund made, in order."""
    cur = platform.config.currency

    def run(ctx: HookContext) -> list[Payout]:
        rows = ctx.conn.execute(
            select(movements).where(movements.c.kind == "payout").order_by(movements.c.id)
        ).all()
        return [
            Payout(r.loan_id, r.period, Money.from_minor(r.amount, cur), r.booked_on, r.claim_id)
            for r in rows
        ]

    return platform.query("reserve.payouts", run)


def queue(platform: lendkit.Platform, *, open_only: bool = False) -> list[QueuedClaim]:
    """The claims the reserve took on (only those still queued with ``open_only``), in order."""
    cur = platform.config.currency
    stmt = select(claims).order_by(claims.c.queued_on, claims.c.id)
    if check_bool(open_only, "open_only"):
        stmt = stmt.where(claims.c.state.in_(QUEUED))

    def run(ctx: HookContext) -> list[QueuedClaim]:
        return [
            QueuedClaim(
                r.id,
                r.loan_id,
                r.period,
                r.queued_on,
                Money.from_minor(r.principal + r.interest, cur),
                Money.from_minor(r.paid_principal + r.paid_interest, cur),
                r.state,
            )
            for r in ctx.conn.execute(stmt).all()
        ]

    return platform.query("reserve.queue", run)
