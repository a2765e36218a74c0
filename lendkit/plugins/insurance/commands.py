"""The insurance plugin's commands (each one unit of work through ``platform.command``) and the
helpers they share with its hooks; inside a command only ``ctx`` is used."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, update

import lendkit
from lendkit.core.access import Actor
from lendkit.core.context import HookContext
from lendkit.core.errors import (
    InvalidAmount,
    InvalidState,
    InvalidValue,
    LimitExceeded,
    NotFound,
)
from lendkit.core.inputs import (
    MAX_NAME_LENGTH,
    check_bool,
    check_choice,
    check_id,
    check_text,
    parse_amount,
)
from lendkit.core.ledger import AccountRef
from lendkit.core.money import DEFAULT_ROUNDING, Money, parse_rate
from lendkit.core.records import (
    ListingRecord,
    LoanRecord,
)
from lendkit.plugins.insurance.records import (
    IN_FORCE,
    LOAN_PAYERS,
    PENDING,
    Insurer,
    Policy,
    PolicyClaim,
    YieldEffect,
)
from lendkit.plugins.insurance.rules import (
    insurance_scheduled_interest,
    insurance_trigger,
    new_id,
    policy_record,
    reimbursed_reason,
)
from lendkit.plugins.insurance.tables import claims, insurers, policies

Platform = lendkit.Platform


def insurance_custody(ctx: HookContext, insurer_id: str, currency: str) -> AccountRef:
    return ctx.account("insurer", insurer_id, "plugin", currency)


def _insurer_row(conn: Connection, insurer_id: str) -> Any:
    row = conn.execute(select(insurers).where(insurers.c.id == insurer_id)).first()
    if row is None:
        raise NotFound(f"insurer {insurer_id!r} is not registered")
    return row


def policy_row(conn: Connection, policy_id: str) -> Any:
    row = conn.execute(select(policies).where(policies.c.id == policy_id)).first()
    if row is None:
        raise NotFound(f"insurance policy {policy_id!r} does not exist")
    return row


def get_insurer(platform: Platform, insurer_id: str) -> Insurer:
    """An insurer with its capacity, exposure and custody balance."""
    insurer_id = check_id(insurer_id, "insurer id")

    def run(ctx: HookContext) -> Insurer:
        row = _insurer_row(ctx.conn, insurer_id)
        return Insurer(
            row.id,
            row.name,
            row.party_id,
            Money.from_minor(row.capacity, row.currency),
            Money.from_minor(row.exposure, row.currency),
            ctx.balance(insurance_custody(ctx, row.id, row.currency)),
        )

    return platform.query("insurance.get_insurer", run)


def get_policy(platform: Platform, policy_id: str) -> Policy:
    """A policy as it stands (premium collected, claims paid, state)."""
    policy_id = check_id(policy_id, "policy id")
    return platform.query(
        "insurance.get_policy",
        lambda ctx: policy_record(policy_row(ctx.conn, policy_id), ctx.currency),
    )


def policies_of(platform: Platform, loan_id: str) -> list[Policy]:
    """Every policy on loan ``loan_id`` (or on the listing it came from), oldest first,
    whatever its state; platform-wide policies are not listed (they cover every loan)."""
    loan_id = check_id(loan_id, "loan id")

    def run(ctx: HookContext) -> list[Policy]:
        loan = ctx.loan(loan_id)
        rows = ctx.conn.execute(
            select(policies)
            .where(or_(policies.c.loan_id == loan_id, policies.c.listing_id == loan.listing_id))
            .order_by(policies.c.created_at, policies.c.id)
        ).all()
        return [policy_record(r, ctx.currency) for r in rows]

    return platform.query("insurance.policies_of", run)


def claims_of(platform: Platform, loan_id: str) -> list[PolicyClaim]:
    """Every claim insurers paid on loan ``loan_id`` (理赔), in order: per installment or at
    default, and which policy paid it."""
    loan_id = check_id(loan_id, "loan id")

    def run(ctx: HookContext) -> list[PolicyClaim]:
        ctx.loan(loan_id)  # NotFound for an unknown loan
        rows = ctx.conn.execute(
            select(claims).where(claims.c.loan_id == loan_id).order_by(claims.c.id)
        ).all()
        return [
            PolicyClaim(
                r.policy_id,
                r.loan_id,
                r.period,
                r.reason,
                Money.from_minor(r.amount, ctx.currency),
                r.paid_on,
            )
            for r in rows
        ]

    return platform.query("insurance.claims_of", run)


def register_insurer(
    platform: Platform,
    name: str,
    capacity: object,
    party_id: str | None = None,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Insurer:
    """Register an insurer with a ``capacity`` (the most it may insure at once).

    ``party_id``: the insurer's own custody party, if it has one (it then funds its claims
    account from its available balance); it must be a registered party.
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    name = check_text(name, "insurer name", MAX_NAME_LENGTH)
    cap = parse_amount(capacity, platform.config.currency, "insurer capacity")
    if party_id is not None:
        party_id = check_id(party_id, "insurer party id")
    insurer_id = new_id("ins")

    def run(ctx: HookContext) -> Insurer:
        if party_id is not None:
            ctx.party(party_id)  # NotFound names it
        if ctx.conn.execute(select(insurers.c.id).where(insurers.c.name == name)).first():
            raise InvalidState(f"an insurer named {name!r} is already registered")
        ctx.conn.execute(
            insurers.insert().values(
                id=insurer_id,
                name=name,
                party_id=party_id,
                currency=ctx.currency,
                capacity=cap.minor,
                exposure=0,
                funded=0,
                created_at=ctx.now,
            )
        )
        insurance_custody(ctx, insurer_id, ctx.currency)
        zero = Money.zero(ctx.currency)
        return Insurer(insurer_id, name, party_id, cap, zero, zero)

    return platform.command(
        "insurance.register_insurer",
        run,
        key=key,
        actor=actor,
        payload=[name, cap.format(), party_id],
        result_type=Insurer,
    )


def fund_insurer(
    platform: Platform,
    insurer_id: str,
    amount: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Money:
    """Move ``amount`` into the insurer's claims account; returns its new balance.

    From the insurer's available custody balance if it is a registered party (its own command),
    else from its bank through the ``insurer:<id>:gateway`` account.
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    insurer_id = check_id(insurer_id, "insurer id")
    money = parse_amount(amount, platform.config.currency, "insurer funding")

    def run(ctx: HookContext) -> Money:
        row = _insurer_row(ctx.conn, insurer_id)
        source = (
            ctx.party_account(row.party_id, row.currency)
            if row.party_id
            else ctx.account("insurer", insurer_id, "gateway", row.currency, allow_negative=True)
        )
        custody = insurance_custody(ctx, insurer_id, row.currency)
        if row.party_id and ctx.balance(source) < money:
            raise LimitExceeded(
                f"insurer {row.name} has {ctx.balance(source)} available, cannot fund {money}"
            )
        ctx.transfer("insurance.fund", insurer_id, [(source, -money), (custody, money)])
        ctx.conn.execute(
            update(insurers)
            .where(insurers.c.id == insurer_id)
            .values(funded=insurers.c.funded + money.minor)
        )
        return ctx.balance(custody)

    return platform.command(
        "insurance.fund_insurer",
        run,
        key=key,
        actor=actor,
        payload=[insurer_id, money.format()],
        result_type=Money,
    )


def _reserve_capacity(ctx: HookContext, insurer_id: str, sum_insured: Money) -> None:
    """Guarded single statement: exposure grows only if it stays within the capacity."""
    row = _insurer_row(ctx.conn, insurer_id)
    done = ctx.conn.execute(
        update(insurers)
        .where(
            insurers.c.id == insurer_id,
            insurers.c.exposure + sum_insured.minor <= insurers.c.capacity,
        )
        .values(exposure=insurers.c.exposure + sum_insured.minor)
    ).rowcount
    if done != 1:
        cur = row.currency
        raise LimitExceeded(
            f"insurer {row.name} cannot insure {sum_insured}: it already insures"
            f" {Money.from_minor(row.exposure, cur)} of its capacity"
            f" {Money.from_minor(row.capacity, cur)}"
            f" (room {Money.from_minor(max(0, row.capacity - row.exposure), cur)})"
        )


def _release_capacity(ctx: HookContext, row: Any) -> None:
    ctx.conn.execute(
        update(insurers)
        .where(insurers.c.id == row.insurer_id)
        .values(exposure=insurers.c.exposure - row.sum_insured)
    )


def _write(
    ctx: HookContext,
    *,
    insurer_id: str,
    kind: str,
    sum_insured: Money,
    premium_rate: object,
    payer: str,
    state: str,
    listing_id: str | None = None,
    loan_id: str | None = None,
    subject: str | None = None,
    trigger_days: int | None = None,
    cover_interest: bool = True,
    total_interest: int = 0,
) -> Any:
    rate = parse_rate(premium_rate, "premium rate")
    if not sum_insured.is_positive():
        raise InvalidAmount(f"sum insured {sum_insured} must be positive")
    _reserve_capacity(ctx, insurer_id, sum_insured)
    premium = sum_insured.multiply(rate, DEFAULT_ROUNDING)
    policy_id = new_id("pol")
    ctx.conn.execute(
        policies.insert().values(
            id=policy_id,
            insurer_id=insurer_id,
            kind=kind,
            listing_id=listing_id,
            loan_id=loan_id,
            subject=subject,
            sum_insured=sum_insured.minor,
            premium_rate=str(rate),
            premium=premium.minor,
            premium_collected=0,
            payer=payer,
            trigger_days=trigger_days,
            cover_interest=1 if cover_interest else 0,
            total_interest=total_interest,
            claims_paid=0,
            state=state,
            defaulted=0,
            created_at=ctx.now,
        )
    )
    return policy_row(ctx.conn, policy_id)


def _collect_now(ctx: HookContext, row: Any, source: AccountRef, what: str) -> None:
    """Collect a premium from ``source`` when the policy is written."""
    premium = Money.from_minor(row.premium, source.currency)
    if not premium.is_positive():
        return
    if ctx.balance(source) < premium:
        raise LimitExceeded(
            f"{what} has {ctx.balance(source)} available; the premium {premium} cannot be paid"
        )
    custody = insurance_custody(ctx, row.insurer_id, source.currency)
    ctx.transfer("insurance.premium", row.id, [(source, -premium), (custody, premium)])
    ctx.conn.execute(
        update(policies).where(policies.c.id == row.id).values(premium_collected=row.premium)
    )


def _loan_or_listing(ctx: HookContext, ident: str) -> tuple[LoanRecord | None, ListingRecord]:
    try:
        loan = ctx.loan(ident)
    except NotFound:
        listing = ctx.listing(ident)
        if listing.state == "disbursed":
            return ctx.loan_for_listing(ident), listing
        return None, listing
    return loan, ctx.listing(loan.listing_id)


def insure_loan(
    platform: Platform,
    loan_or_listing_id: str,
    insurer_id: str,
    premium_rate: object,
    payer: str = "borrower",
    trigger_days: int | str = 30,
    *,
    sum_insured: object = None,
    cover_interest: bool = True,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Policy:
    """Write per-loan credit insurance on a listing (before disbursement) or a loan.

    :param premium_rate: fraction or percentage of the sum insured (``"2%"``).
    :param payer: ``"borrower"`` (at disbursement, or now for a disbursed loan) or
        ``"investors"`` (withheld from their interest; see :func:`yield_effect`).
    :param trigger_days: days overdue that open a claim, or ``"default"``.
    :param sum_insured: defaults to the loan's principal.
    :param key: an idempotency key (a repeat returns the first outcome).
    :raises LimitExceeded: the insurer's capacity would be exceeded.
    """
    ident = check_id(loan_or_listing_id, "loan or listing id")
    insurer_id = check_id(insurer_id, "insurer id")
    rate = parse_rate(premium_rate, "premium rate")
    payer = check_choice(payer, "premium payer", LOAN_PAYERS)
    trigger = insurance_trigger(trigger_days)
    cur = platform.config.currency
    insured = None if sum_insured is None else parse_amount(sum_insured, cur, "sum insured")
    cover_interest = check_bool(cover_interest, "cover_interest")

    def run(ctx: HookContext) -> Policy:
        _insurer_row(ctx.conn, insurer_id)
        loan, listing = _loan_or_listing(ctx, ident)
        if loan is None and listing.state not in ("applied", "approved", "published", "funded"):
            raise InvalidState(f"listing {listing.id} is {listing.state}: it cannot be insured")
        if loan is not None and loan.state in ("settled", "written_off"):
            raise InvalidState(f"loan {loan.id} is {loan.state}: it cannot be insured")
        principal = listing.amount if loan is None else loan.principal
        row = _write(
            ctx,
            insurer_id=insurer_id,
            kind="credit",
            sum_insured=principal if insured is None else insured,
            premium_rate=rate,
            payer=payer,
            state=PENDING if loan is None else IN_FORCE,
            listing_id=listing.id,
            loan_id=None if loan is None else loan.id,
            trigger_days=trigger,
            cover_interest=cover_interest,
            total_interest=0 if loan is None else insurance_scheduled_interest(loan),
        )
        if loan is not None and payer == "borrower":
            _collect_now(ctx, row, ctx.party_account(loan.borrower_id, ctx.currency), "borrower")
        return policy_record(policy_row(ctx.conn, row.id), ctx.currency)

    return platform.command(
        "insurance.insure_loan",
        run,
        key=key,
        actor=actor,
        payload=[ident, insurer_id, str(rate), payer, trigger, insured, cover_interest],
        result_type=Policy,
    )


def insure_asset(
    platform: Platform,
    loan_or_listing_id: str,
    insurer_id: str,
    asset: str,
    sum_insured: object,
    premium_rate: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Policy:
    """Insure a pledged asset (named by its identifier, e.g. a VIN) of a secured listing/loan.

    The borrower pays the premium (at disbursement, or now for a disbursed loan); a loss is
    claimed with :func:`claim_asset_loss`. ``key``: an idempotency key.
    """
    ident = check_id(loan_or_listing_id, "loan or listing id")
    insurer_id = check_id(insurer_id, "insurer id")
    subject = check_text(asset, "insured asset", 100)
    insured = parse_amount(sum_insured, platform.config.currency, "sum insured")
    rate = parse_rate(premium_rate, "premium rate")

    def run(ctx: HookContext) -> Policy:
        _insurer_row(ctx.conn, insurer_id)
        loan, listing = _loan_or_listing(ctx, ident)
        row = _write(
            ctx,
            insurer_id=insurer_id,
            kind="asset",
            sum_insured=insured,
            premium_rate=rate,
            payer="borrower",
            state=PENDING if loan is None else IN_FORCE,
            listing_id=listing.id,
            loan_id=None if loan is None else loan.id,
            subject=subject,
        )
        if loan is not None:
            _collect_now(ctx, row, ctx.party_account(loan.borrower_id, ctx.currency), "borrower")
        return policy_record(policy_row(ctx.conn, row.id), ctx.currency)

    return platform.command(
        "insurance.insure_asset",
        run,
        key=key,
        actor=actor,
        payload=[ident, insurer_id, subject, insured.format(), str(rate)],
        result_type=Policy,
    )


def insure_account(
    platform: Platform,
    investor_id: str,
    insurer_id: str,
    sum_insured: object,
    premium_rate: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Policy:
    """Insure an investor's account funds; the investor pays the premium now (own command).
    ``key``: an idempotency key (a repeat returns the first outcome)."""
    investor_id = check_id(investor_id, "investor id")
    insurer_id = check_id(insurer_id, "insurer id")
    insured = parse_amount(sum_insured, platform.config.currency, "sum insured")
    rate = parse_rate(premium_rate, "premium rate")

    def run(ctx: HookContext) -> Policy:
        ctx.party(investor_id)  # NotFound names it
        return _issue_paid_now(
            ctx,
            ctx.party_account(investor_id, ctx.currency),
            f"investor {investor_id}",
            insurer_id=insurer_id,
            kind="account",
            sum_insured=insured,
            premium_rate=rate,
            payer="investor",
            subject=investor_id,
        )

    return platform.command(
        "insurance.insure_account",
        run,
        key=key,
        actor=actor,
        payload=[investor_id, insurer_id, insured.format(), str(rate)],
        result_type=Policy,
    )


def insure_platform(
    platform: Platform,
    insurer_id: str,
    sum_insured: object,
    premium_rate: object,
    trigger_days: int = 30,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Policy:
    """Credit-guarantee insurance on the platform's whole volume, paid by the platform now (from
    its revenue account). Pays investors of any loan ``trigger_days`` overdue in the waterfall,
    after the loan's own credit policies, and reimburses earlier payers through :func:`reimburse`.
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    insurer_id = check_id(insurer_id, "insurer id")
    trigger = insurance_trigger(trigger_days)
    if trigger is None:
        raise InvalidValue("a platform policy needs trigger_days (days overdue), not 'default'")
    insured = parse_amount(sum_insured, platform.config.currency, "sum insured")
    rate = parse_rate(premium_rate, "premium rate")

    def run(ctx: HookContext) -> Policy:
        return _issue_paid_now(
            ctx,
            ctx.account("platform", "revenue", "revenue", ctx.currency),
            "the platform's revenue account",
            insurer_id=insurer_id,
            kind="platform",
            sum_insured=insured,
            premium_rate=rate,
            payer="platform",
            trigger_days=trigger,
        )

    return platform.command(
        "insurance.insure_platform",
        run,
        key=key,
        actor=actor,
        payload=[insurer_id, insured.format(), str(rate), trigger],
        result_type=Policy,
    )


def _issue_paid_now(
    ctx: HookContext,
    source: AccountRef,
    label: str,
    *,
    insurer_id: str,
    sum_insured: Money,
    **fields: Any,
) -> Policy:
    """Write a policy in force whose whole premium ``source`` pays at once."""
    _insurer_row(ctx.conn, insurer_id)
    row = _write(ctx, insurer_id=insurer_id, sum_insured=sum_insured, state=IN_FORCE, **fields)
    _collect_now(ctx, row, source, label)
    return policy_record(policy_row(ctx.conn, row.id), ctx.currency)


def insurance_room(ctx: HookContext, row: Any) -> Money:
    """What a policy can pay now: cover left, capped by the insurer's custody balance."""
    cur = ctx.currency
    left = Money.from_minor(max(0, row.sum_insured - row.claims_paid), cur)
    balance = ctx.balance(insurance_custody(ctx, row.insurer_id, cur))
    return min(left, balance) if balance.is_positive() else Money.zero(cur)


def _record_claim(
    ctx: HookContext, row: Any, amount: Money, reason: str, loan_id: str | None, period: int | None
) -> None:
    ctx.conn.execute(
        claims.insert().values(
            policy_id=row.id,
            loan_id=loan_id,
            period=period,
            reason=reason[:40],
            amount=amount.minor,
            paid_on=ctx.today,
            created_at=ctx.now,
        )
    )
    ctx.conn.execute(
        update(policies)
        .where(policies.c.id == row.id)
        .values(claims_paid=policies.c.claims_paid + amount.minor)
    )


def pay_loan_claim(
    ctx: HookContext, row: Any, loan_id: str, principal: Money, interest: Money, period: int | None
) -> Money:
    """Pay investors of ``loan_id`` from the insurer (it then holds the claim)."""
    room = insurance_room(ctx, row)
    if not room.is_positive():
        return Money.zero(ctx.currency)
    p = min(principal, room)
    i = min(interest, room - p) if row.cover_interest else Money.zero(ctx.currency)
    if not (p.is_positive() or i.is_positive()):
        return Money.zero(ctx.currency)
    source = insurance_custody(ctx, row.insurer_id, ctx.currency)
    paid = ctx.pay_investors(loan_id, source, p, i, reason=f"insurance {row.kind}", period=period)
    if paid.is_positive():
        _record_claim(ctx, row, paid, "overdue" if period else "default", loan_id, period)
    return paid


def loan_policies(ctx: HookContext, loan_id: str) -> list[Any]:
    """The loan's credit policies in force, then the platform policies in force (each in the
    order written), in one read."""
    wide = policies.c.kind == "platform"
    return list(
        ctx.conn.execute(
            select(policies)
            .where(
                policies.c.state == IN_FORCE,
                or_(and_(policies.c.loan_id == loan_id, policies.c.kind == "credit"), wide),
            )
            .order_by(case((wide, 1), else_=0), policies.c.created_at, policies.c.id)
        ).all()
    )


def claim_asset_loss(
    platform: Platform,
    policy_id: str,
    loss: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Money:
    """Pay an asset policy's indemnity (at most the cover left and the insurer's balance) as the
    owner's payment on the secured loan, installments oldest first; returns the indemnity.
    What the loan no longer needs stays with the borrower. ``key``: an idempotency key."""
    policy_id = check_id(policy_id, "policy id")
    amount = parse_amount(loss, platform.config.currency, "loss")

    def run(ctx: HookContext) -> Money:
        row = policy_row(ctx.conn, policy_id)
        if row.kind != "asset" or row.state != IN_FORCE or row.loan_id is None:
            raise InvalidState(
                f"policy {policy_id} is a {row.kind} policy in state {row.state}: asset losses"
                " are claimed on an in-force asset policy of a disbursed loan"
            )
        pay = min(amount, insurance_room(ctx, row))
        if not pay.is_positive():
            raise LimitExceeded(f"policy {policy_id} has no cover or funds left to pay {amount}")
        loan = ctx.loan(row.loan_id)
        borrower = ctx.party_account(loan.borrower_id, ctx.currency)
        ctx.transfer(
            "insurance.indemnity",
            policy_id,
            [(insurance_custody(ctx, row.insurer_id, ctx.currency), -pay), (borrower, pay)],
        )
        _record_claim(ctx, row, pay, "asset loss", row.loan_id, None)
        _apply_to_loan(ctx, row.loan_id, borrower, pay)
        return pay

    return platform.command(
        "insurance.claim_asset_loss",
        run,
        key=key,
        actor=actor,
        payload=[policy_id, amount.format()],
        result_type=Money,
    )


def _apply_to_loan(ctx: HookContext, loan_id: str, source: AccountRef, amount: Money) -> None:
    """Repay ``loan_id`` from ``source`` (the borrower's account) with at most ``amount`` (whole
    installments while the money lasts, then part of one) through ``ctx.repay``; a SAVEPOINT
    undoes an installment that would take more, so the borrower's other money is never
    touched."""
    left = amount
    while left.is_positive():
        try:
            with ctx.savepoint():  # rolls back the installment's writes and its notifications
                payment = ctx.repay(loan_id, source=source)
                if payment.amount > left:
                    raise _TakesMore
        except (InvalidState, _TakesMore):
            pass
        else:
            left = left - payment.amount
            continue
        with contextlib.suppress(InvalidState, InvalidAmount):  # nothing more owed: rest stays
            ctx.repay(loan_id, left, source=source)
        return


class _TakesMore(Exception):
    """The next installment takes more than is left: undo it and pay part of it instead."""


def claim_account_loss(
    platform: Platform,
    policy_id: str,
    loss: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Money:
    """Pay an investor's account-funds loss (at most the cover left and the insurer's balance)
    into the investor's available balance; returns what was paid. ``key``: an idempotency key."""
    policy_id = check_id(policy_id, "policy id")
    amount = parse_amount(loss, platform.config.currency, "loss")

    def run(ctx: HookContext) -> Money:
        row = policy_row(ctx.conn, policy_id)
        if row.kind != "account" or row.state != IN_FORCE:
            raise InvalidState(
                f"policy {policy_id} is a {row.kind} policy in state {row.state}: account losses"
                " are claimed on an in-force account policy"
            )
        pay = min(amount, insurance_room(ctx, row))
        if not pay.is_positive():
            raise LimitExceeded(f"policy {policy_id} has no cover or funds left to pay {amount}")
        ctx.transfer(
            "insurance.indemnity",
            policy_id,
            [
                (insurance_custody(ctx, row.insurer_id, ctx.currency), -pay),
                (ctx.party_account(row.subject, ctx.currency), pay),
            ],
        )
        _record_claim(ctx, row, pay, "account loss", None, None)
        return pay

    return platform.command(
        "insurance.claim_account_loss",
        run,
        key=key,
        actor=actor,
        payload=[policy_id, amount.format()],
        result_type=Money,
    )


def reimburse(
    platform: Platform,
    policy_id: str,
    payer_account: str,
    loan_id: str,
    amount: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Money:
    """Platform policy: reimburse a payer that paid a loan's investors first (a guarantor's,
    the reserve's or another insurer's account, by its code ``owner_kind:owner_id:purpose:CUR``);
    at most what that account paid the loan's investors and has neither recovered from the
    borrower nor been reimbursed, the cover left and the insurer's balance. Returns what was paid.

    The account must exist (``NotFound``) and must have paid this loan's investors
    (``InvalidState`` otherwise): an insurer's money never goes to an account nobody owns or to
    someone who paid nothing. The insurer does not become the holder of the reimbursed claim.
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    policy_id = check_id(policy_id, "policy id")
    code = check_text(payer_account, "payer account", 200)
    loan_id = check_id(loan_id, "loan id")
    cur = platform.config.currency
    amount_m = parse_amount(amount, cur, "reimbursement")
    if code.count(":") < 3 or not code.endswith(f":{cur}"):
        raise InvalidValue(
            f"payer account {code!r} must be a code like 'plugin:reserve:reserve-fund:{cur}'"
        )

    def run(ctx: HookContext) -> Money:
        row = policy_row(ctx.conn, policy_id)
        if row.kind != "platform" or row.state != IN_FORCE:
            raise InvalidState(
                f"policy {policy_id} is a {row.kind} policy in state {row.state}: reimbursements"
                " are paid by an in-force platform policy"
            )
        ctx.loan(loan_id)  # NotFound names it
        target = ctx.existing_account(code)
        reason = reimbursed_reason(target)
        already = ctx.conn.execute(
            select(func.coalesce(func.sum(claims.c.amount), 0)).where(
                claims.c.loan_id == loan_id, claims.c.reason == reason
            )
        ).scalar_one()
        owed = ctx.paid_for(loan_id, target).minor - int(already)
        if owed <= 0:
            raise InvalidState(
                f"account {code} has nothing to be reimbursed for loan {loan_id}: it paid the"
                " loan's investors nothing that is not recovered or reimbursed already"
            )
        pay = min(amount_m, insurance_room(ctx, row), Money.from_minor(owed, cur))
        if not pay.is_positive():
            raise LimitExceeded(f"policy {policy_id} has no cover or funds left to pay {amount_m}")
        ctx.transfer(
            "insurance.reimburse",
            policy_id,
            [(insurance_custody(ctx, row.insurer_id, ctx.currency), -pay), (target, pay)],
        )
        _record_claim(ctx, row, pay, reason, loan_id, None)
        return pay

    return platform.command(
        "insurance.reimburse",
        run,
        key=key,
        actor=actor,
        payload=[policy_id, code, loan_id, amount_m.format()],
        result_type=Money,
    )


def yield_effect(platform: Platform, policy_id: str) -> YieldEffect:
    """How an investor-paid premium cuts the investors' yield on the insured loan.

    ``premium_share`` = premium / scheduled interest; ``net_rate`` = rate x (1 - share).
    """
    policy_id = check_id(policy_id, "policy id")

    def run(ctx: HookContext) -> YieldEffect:
        row = policy_row(ctx.conn, policy_id)
        if row.loan_id is None:
            raise InvalidState(f"policy {policy_id} is not on a disbursed loan")
        loan = ctx.loan(row.loan_id)
        cur = ctx.currency
        share = (
            Decimal(row.premium) / Decimal(row.total_interest)
            if row.payer == "investors" and row.total_interest
            else Decimal(0)
        )
        return YieldEffect(
            loan.annual_rate,
            Money.from_minor(row.premium if row.payer == "investors" else 0, cur),
            Money.from_minor(row.total_interest, cur),
            share.quantize(Decimal("0.000001")),
            (loan.annual_rate * (1 - share)).quantize(Decimal("0.000001")),
        )

    return platform.query("insurance.yield_effect", run)


def end(ctx: HookContext, where: Any, state: str, to: str) -> None:
    rows = ctx.conn.execute(select(policies).where(where, policies.c.state == state)).all()
    for row in rows:
        _release_capacity(ctx, row)
        ctx.conn.execute(update(policies).where(policies.c.id == row.id).values(state=to))
