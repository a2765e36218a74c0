"""Insurance (保险): an insurer in the guarantor's seat, with a capacity and its own custody account.

**Insurers** (:func:`register_insurer`) have a name, a capacity (the most they insure at once:
the sum insured of their pending and in-force policies can never exceed it; a policy that would
is refused with ``LimitExceeded`` naming the figures) and a custody account
``insurer:<id>:plugin:<CUR>`` that pays claims. :func:`fund_insurer` moves money into it from the
insurer's own custody balance when the insurer is a registered party, else from its bank (the
``insurer:<id>:gateway`` account, which may go negative: money entering the platform). Premiums
are paid into the same account.

**Policy kinds**

* ``credit`` (:func:`insure_loan`): one loan's credit risk. Claims open on the policy's trigger:
  ``trigger_days`` days overdue, or ``trigger_days="default"`` (the loan defaulted). The insurer
  pays the loan's investors what is still unpaid (principal, and interest unless
  ``cover_interest=False``) through ``ctx.pay_investors``: it then holds the claim, and the
  borrower's later payments on those installments go to the insurer (追偿). It pays in the
  waterfall (list ``"insurance"`` in ``Platform.open(..., config={"waterfall": [...]})``) and,
  for ``"default"`` policies, the day the loan defaults. Each payment is capped by what the
  policy still covers and by the insurer's custody balance.
* ``asset`` (:func:`insure_asset`): insurance of a pledged asset. :func:`claim_asset_loss` pays the
  indemnity as the owner's payment on the secured loan (the lender is loss payee): applied to
  the loan's installments oldest first, any rest to the borrower.
* ``account`` (:func:`insure_account`): an investor's account funds; :func:`claim_account_loss`
  pays a loss into the investor's available balance.
* ``platform`` (:func:`insure_platform`): credit-guarantee insurance on the platform's whole
  volume. It pays investors of any overdue loan in the waterfall (after the loan's own credit
  policies), and :func:`reimburse` reimburses whoever paid investors first (a guarantor's or the
  reserve's account).

**Premium** = ``premium_rate`` x sum insured (HALF_UP to the cent), paid by

* ``payer="borrower"``: deducted from the proceeds at disbursement (or, for a loan already
  disbursed, from the borrower's available balance when the policy is written);
* ``payer="investors"``: withheld from the interest the investors receive, in proportion:
  after a payment, the premium withheld so far is ``premium x interest received / scheduled
  interest`` (rounded, so the whole premium is withheld once all interest is in), split among
  the investors by the same interest weights lendkit pays them with. :func:`yield_effect`
  shows what that does to their yield (``net rate = rate x (1 - premium / scheduled interest)``).
* ``account`` policies are paid by the investor, ``platform`` policies by the platform (from its
  revenue account), when written.

Disclosure (``platform.reports.disclosure()``): per insurer capacity, exposure, utilization and
custody balance; policies in force, premiums, claims paid, recoveries (from the ledger: balance -
funding - premiums + claims) and the loss ratio (claims / premiums); the yield effect of
investor-paid premiums.

Example (runnable; ``tests/plugins/insurance`` has the same scenario with every figure checked)::

    from datetime import timedelta

    import lendkit
    from lendkit.plugins import insurance

    p = lendkit.Platform.open(
        "sqlite:///insured.db",
        plugins=["online", "insurance"],
        config={"waterfall": ["insurance"], "grace_days": 0},
    )
    borrower, investor = p.parties.register("b").id, p.parties.register("i").id
    for party in (borrower, investor):
        p.parties.verify(party)
    insurer = insurance.register_insurer(p, "PICC", capacity="1000000")
    insurance.fund_insurer(p, insurer.id, "100000")  # from the insurer's bank into custody
    listing = p.listings.apply(borrower, "3000", "12%", months=3)
    policy = insurance.insure_loan(p, listing.id, insurer.id, "2%", payer="borrower", trigger_days=1)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "3000")
    p.bidding.bid(listing.id, investor, "3000")
    loan = p.loans.disburse(listing.id)  # 60.00 premium deducted from the borrower's proceeds
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    first = p.loans.schedule(loan.id).installments[0]
    p.cob.run(first.due_date + timedelta(days=1), allow_future=True)  # the insurer pays
    print(insurance.get_policy(p, policy.id).claims_paid)  # 1020.07 CNY
    p.custody.deposit(borrower, "1100")
    p.loans.repay(loan.id)  # the late payment recovers the insurer (追偿)
    print(insurance.get_insurer(p, insurer.id).balance)  # 100060.00 CNY
    for d in p.reports.disclosure():
        if d.plugin == "insurance":
            print(d.name, "=", d.value)
    assert p.verify().ok
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from attrs import frozen
from sqlalchemy import Connection, func, select, update

import lendkit
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
from lendkit.core.money import DEFAULT_ROUNDING, Money, allocate, parse_rate
from lendkit.core.records import (
    Claim,
    Deduction,
    Disclosure,
    ListingRecord,
    LoanRecord,
    PaymentRecord,
)
from lendkit.migrations import PluginSchema
from lendkit.plugins.insurance.tables import claims, insurers, metadata, policies

__all__ = [
    "Insurer",
    "Policy",
    "YieldEffect",
    "claim_account_loss",
    "claim_asset_loss",
    "fund_insurer",
    "get_insurer",
    "get_policy",
    "insure_account",
    "insure_asset",
    "insure_loan",
    "insure_platform",
    "register_insurer",
    "reimburse",
    "yield_effect",
]

Platform = lendkit.Platform

PLUGIN = "insurance"
KINDS = ("credit", "asset", "account", "platform")
LOAN_PAYERS = ("borrower", "investors")
PENDING, IN_FORCE, EXPIRED, CANCELLED = "pending", "in_force", "expired", "cancelled"
HOLDING = (PENDING, IN_FORCE)
MAX_TRIGGER_DAYS = 3650  # policies that count against the insurer's capacity

lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")


@frozen
class Insurer:
    """An insurer: capacity, current exposure (sum insured held), and custody balance."""

    id: str
    name: str
    party_id: str | None
    capacity: Money
    exposure: Money
    balance: Money


@frozen
class Policy:
    """A policy: what it insures, its premium and who pays it, its trigger and what it paid.

    ``trigger_days`` is ``None`` for a policy that pays only after default.
    """

    id: str
    insurer_id: str
    kind: str
    listing_id: str | None
    loan_id: str | None
    subject: str | None
    sum_insured: Money
    premium_rate: Decimal
    premium: Money
    premium_collected: Money
    payer: str
    trigger_days: int | None
    claims_paid: Money
    state: str


@frozen
class YieldEffect:
    """What an investor-paid premium does to the investors' yield on one loan."""

    gross_rate: Decimal
    premium: Money
    scheduled_interest: Money
    premium_share: Decimal
    net_rate: Decimal


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.01'))}%"


def _custody(ctx: HookContext, insurer_id: str, currency: str) -> AccountRef:
    return ctx.account("insurer", insurer_id, "plugin", currency)


def _insurer_row(conn: Connection, insurer_id: str) -> Any:
    row = conn.execute(select(insurers).where(insurers.c.id == insurer_id)).first()
    if row is None:
        raise NotFound(f"insurer {insurer_id!r} is not registered")
    return row


def _policy_row(conn: Connection, policy_id: str) -> Any:
    row = conn.execute(select(policies).where(policies.c.id == policy_id)).first()
    if row is None:
        raise NotFound(f"insurance policy {policy_id!r} does not exist")
    return row


def _policy_record(row: Any, currency: str) -> Policy:
    def m(v: int) -> Money:
        return Money.from_minor(int(v), currency)

    return Policy(
        row.id,
        row.insurer_id,
        row.kind,
        row.listing_id,
        row.loan_id,
        row.subject,
        m(row.sum_insured),
        Decimal(row.premium_rate),
        m(row.premium),
        m(row.premium_collected),
        row.payer,
        row.trigger_days,
        m(row.claims_paid),
        row.state,
    )


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
            ctx.balance(_custody(ctx, row.id, row.currency)),
        )

    return platform.command("insurance.get_insurer", run)


def get_policy(platform: Platform, policy_id: str) -> Policy:
    """A policy as it stands (premium collected, claims paid, state)."""
    policy_id = check_id(policy_id, "policy id")
    return platform.command(
        "insurance.get_policy",
        lambda ctx: _policy_record(_policy_row(ctx.conn, policy_id), ctx.currency),
    )


# -- insurers -------------------------------------------------------------------------------------


def register_insurer(
    platform: Platform,
    name: str,
    capacity: object,
    party_id: str | None = None,
    *,
    key: str | None = None,
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
    insurer_id = _new_id("ins")

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
        _custody(ctx, insurer_id, ctx.currency)
        zero = Money.zero(ctx.currency)
        return Insurer(insurer_id, name, party_id, cap, zero, zero)

    return platform.command(
        "insurance.register_insurer",
        run,
        key=key,
        payload=[name, cap.format(), party_id],
        result_type=Insurer,
    )


def fund_insurer(
    platform: Platform, insurer_id: str, amount: object, *, key: str | None = None
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
        custody = _custody(ctx, insurer_id, row.currency)
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
        payload=[insurer_id, money.format()],
        result_type=Money,
    )


# -- writing policies -----------------------------------------------------------------------------


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
    policy_id = _new_id("pol")
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
    return _policy_row(ctx.conn, policy_id)


def _collect_now(ctx: HookContext, row: Any, source: AccountRef, what: str) -> None:
    """Collect a premium from ``source`` when the policy is written."""
    premium = Money.from_minor(row.premium, source.currency)
    if not premium.is_positive():
        return
    if ctx.balance(source) < premium:
        raise LimitExceeded(
            f"{what} has {ctx.balance(source)} available; the premium {premium} cannot be paid"
        )
    custody = _custody(ctx, row.insurer_id, source.currency)
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


def _trigger(trigger_days: object) -> int | None:
    if isinstance(trigger_days, str) and trigger_days == "default":
        return None
    if (
        isinstance(trigger_days, bool)
        or not isinstance(trigger_days, int)
        or not 1 <= trigger_days <= MAX_TRIGGER_DAYS
    ):
        raise InvalidValue(
            f"trigger_days {str(trigger_days)[:40]!r} must be a whole number of days overdue"
            f" (1..{MAX_TRIGGER_DAYS}) or 'default'"
        )
    return trigger_days


def _scheduled_interest(loan: LoanRecord) -> int:
    return sum(p.outstanding_interest.minor + p.received_interest.minor for p in loan.positions)


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
    trigger = _trigger(trigger_days)
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
            total_interest=0 if loan is None else _scheduled_interest(loan),
        )
        if loan is not None and payer == "borrower":
            _collect_now(ctx, row, ctx.party_account(loan.borrower_id, ctx.currency), "borrower")
        return _policy_record(_policy_row(ctx.conn, row.id), ctx.currency)

    return platform.command(
        "insurance.insure_loan",
        run,
        key=key,
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
        return _policy_record(_policy_row(ctx.conn, row.id), ctx.currency)

    return platform.command(
        "insurance.insure_asset",
        run,
        key=key,
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
) -> Policy:
    """Credit-guarantee insurance on the platform's whole volume, paid by the platform now (from
    its revenue account). Pays investors of any loan ``trigger_days`` overdue in the waterfall,
    after the loan's own credit policies, and reimburses earlier payers through :func:`reimburse`.
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    insurer_id = check_id(insurer_id, "insurer id")
    trigger = _trigger(trigger_days)
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
    return _policy_record(_policy_row(ctx.conn, row.id), ctx.currency)


# -- claims ---------------------------------------------------------------------------------------


def _room(ctx: HookContext, row: Any) -> Money:
    """What a policy can pay now: cover left, capped by the insurer's custody balance."""
    cur = ctx.currency
    left = Money.from_minor(max(0, row.sum_insured - row.claims_paid), cur)
    balance = ctx.balance(_custody(ctx, row.insurer_id, cur))
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


def _pay_loan_claim(
    ctx: HookContext, row: Any, loan_id: str, principal: Money, interest: Money, period: int | None
) -> Money:
    """Pay investors of ``loan_id`` from the insurer (it then holds the claim)."""
    room = _room(ctx, row)
    if not room.is_positive():
        return Money.zero(ctx.currency)
    p = min(principal, room)
    i = min(interest, room - p) if row.cover_interest else Money.zero(ctx.currency)
    if not (p.is_positive() or i.is_positive()):
        return Money.zero(ctx.currency)
    source = _custody(ctx, row.insurer_id, ctx.currency)
    paid = ctx.pay_investors(loan_id, source, p, i, reason=f"insurance {row.kind}", period=period)
    if paid.is_positive():
        _record_claim(ctx, row, paid, "overdue" if period else "default", loan_id, period)
    return paid


def _loan_policies(ctx: HookContext, loan_id: str) -> list[Any]:
    own = ctx.conn.execute(
        select(policies)
        .where(
            policies.c.loan_id == loan_id,
            policies.c.kind == "credit",
            policies.c.state == IN_FORCE,
        )
        .order_by(policies.c.created_at, policies.c.id)
    ).all()
    wide = ctx.conn.execute(
        select(policies)
        .where(policies.c.kind == "platform", policies.c.state == IN_FORCE)
        .order_by(policies.c.created_at, policies.c.id)
    ).all()
    return [*own, *wide]


@lendkit.hookimpl
def lendkit_cover_claim(ctx: HookContext, claim: Claim) -> Money:
    """Waterfall step: each in-force credit policy of the loan whose trigger is met (days overdue,
    or the loan defaulted), then each platform policy, pays what is still unpaid, within its
    remaining cover and the insurer's balance; the insurer then holds the claim."""
    total = Money.zero(claim.principal.currency)
    principal, interest = claim.principal, claim.interest
    for row in _loan_policies(ctx, claim.loan_id):
        if not (principal.is_positive() or interest.is_positive()):
            break
        met = (
            bool(row.defaulted)
            if row.trigger_days is None
            else claim.days_overdue >= row.trigger_days
        )
        if not met:
            continue
        paid = _pay_loan_claim(ctx, row, claim.loan_id, principal, interest, claim.period)
        paid_p = min(paid, principal)
        principal, interest = principal - paid_p, interest - (paid - paid_p)
        total = total + paid
    return total


@lendkit.hookimpl
def lendkit_loan_defaulted(ctx: HookContext, loan: LoanRecord) -> None:
    """Default opens the claims of ``trigger_days="default"`` policies: they pay at once what is
    due and unpaid (principal first, then interest) and later installments in the waterfall."""
    rows = ctx.conn.execute(
        select(policies).where(
            policies.c.loan_id == loan.id,
            policies.c.kind == "credit",
            policies.c.state == IN_FORCE,
        )
    ).all()
    ctx.conn.execute(update(policies).where(policies.c.loan_id == loan.id).values(defaulted=1))
    for row in rows:
        if row.trigger_days is not None:
            continue
        fresh = _policy_row(ctx.conn, row.id)
        _pay_loan_claim(
            ctx, fresh, loan.id, loan.outstanding_principal, Money.zero(ctx.currency), None
        )
        fresh = _policy_row(ctx.conn, row.id)
        if fresh.cover_interest:
            room = _room(ctx, fresh)
            _pay_loan_claim(ctx, fresh, loan.id, Money.zero(ctx.currency), room, None)


def claim_asset_loss(
    platform: Platform, policy_id: str, loss: object, *, key: str | None = None
) -> Money:
    """Pay an asset policy's indemnity (at most the cover left and the insurer's balance) as the
    owner's payment on the secured loan, installments oldest first; returns the indemnity.
    What the loan no longer needs stays with the borrower. ``key``: an idempotency key."""
    policy_id = check_id(policy_id, "policy id")
    amount = parse_amount(loss, platform.config.currency, "loss")

    def run(ctx: HookContext) -> Money:
        row = _policy_row(ctx.conn, policy_id)
        if row.kind != "asset" or row.state != IN_FORCE or row.loan_id is None:
            raise InvalidState(
                f"policy {policy_id} is a {row.kind} policy in state {row.state}: asset losses"
                " are claimed on an in-force asset policy of a disbursed loan"
            )
        pay = min(amount, _room(ctx, row))
        if not pay.is_positive():
            raise LimitExceeded(f"policy {policy_id} has no cover or funds left to pay {amount}")
        loan = ctx.loan(row.loan_id)
        borrower = ctx.party_account(loan.borrower_id, ctx.currency)
        ctx.transfer(
            "insurance.indemnity",
            policy_id,
            [(_custody(ctx, row.insurer_id, ctx.currency), -pay), (borrower, pay)],
        )
        _record_claim(ctx, row, pay, "asset loss", row.loan_id, None)
        _apply_to_loan(ctx, row.loan_id, borrower, pay)
        return pay

    return platform.command(
        "insurance.claim_asset_loss",
        run,
        key=key,
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
        savepoint = ctx.conn.begin_nested()
        try:
            payment: PaymentRecord | None = ctx.repay(loan_id, source=source)
        except InvalidState:
            savepoint.rollback()
            payment = None
        if payment is not None and payment.amount <= left:
            savepoint.commit()
            left = left - payment.amount
            continue
        if payment is not None:
            savepoint.rollback()
        with contextlib.suppress(InvalidState, InvalidAmount):  # nothing more owed: rest stays
            ctx.repay(loan_id, left, source=source)
        return


def claim_account_loss(
    platform: Platform, policy_id: str, loss: object, *, key: str | None = None
) -> Money:
    """Pay an investor's account-funds loss (at most the cover left and the insurer's balance)
    into the investor's available balance; returns what was paid. ``key``: an idempotency key."""
    policy_id = check_id(policy_id, "policy id")
    amount = parse_amount(loss, platform.config.currency, "loss")

    def run(ctx: HookContext) -> Money:
        row = _policy_row(ctx.conn, policy_id)
        if row.kind != "account" or row.state != IN_FORCE:
            raise InvalidState(
                f"policy {policy_id} is a {row.kind} policy in state {row.state}: account losses"
                " are claimed on an in-force account policy"
            )
        pay = min(amount, _room(ctx, row))
        if not pay.is_positive():
            raise LimitExceeded(f"policy {policy_id} has no cover or funds left to pay {amount}")
        ctx.transfer(
            "insurance.indemnity",
            policy_id,
            [
                (_custody(ctx, row.insurer_id, ctx.currency), -pay),
                (ctx.party_account(row.subject, ctx.currency), pay),
            ],
        )
        _record_claim(ctx, row, pay, "account loss", None, None)
        return pay

    return platform.command(
        "insurance.claim_account_loss",
        run,
        key=key,
        payload=[policy_id, amount.format()],
        result_type=Money,
    )


def _reimbursed_reason(account: AccountRef) -> str:
    return f"reimburse #{account.id}"


def reimburse(
    platform: Platform,
    policy_id: str,
    payer_account: str,
    loan_id: str,
    amount: object,
    *,
    key: str | None = None,
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
        row = _policy_row(ctx.conn, policy_id)
        if row.kind != "platform" or row.state != IN_FORCE:
            raise InvalidState(
                f"policy {policy_id} is a {row.kind} policy in state {row.state}: reimbursements"
                " are paid by an in-force platform policy"
            )
        ctx.loan(loan_id)  # NotFound names it
        target = ctx.existing_account(code)
        reason = _reimbursed_reason(target)
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
        pay = min(amount_m, _room(ctx, row), Money.from_minor(owed, cur))
        if not pay.is_positive():
            raise LimitExceeded(f"policy {policy_id} has no cover or funds left to pay {amount_m}")
        ctx.transfer(
            "insurance.reimburse",
            policy_id,
            [(_custody(ctx, row.insurer_id, ctx.currency), -pay), (target, pay)],
        )
        _record_claim(ctx, row, pay, reason, loan_id, None)
        return pay

    return platform.command(
        "insurance.reimburse",
        run,
        key=key,
        payload=[policy_id, code, loan_id, amount_m.format()],
        result_type=Money,
    )


def yield_effect(platform: Platform, policy_id: str) -> YieldEffect:
    """How an investor-paid premium cuts the investors' yield on the insured loan.

    ``premium_share`` = premium / scheduled interest; ``net_rate`` = rate x (1 - share).
    """
    policy_id = check_id(policy_id, "policy id")

    def run(ctx: HookContext) -> YieldEffect:
        row = _policy_row(ctx.conn, policy_id)
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

    return platform.command("insurance.yield_effect", run)


# -- lifecycle hooks ------------------------------------------------------------------------------


@lendkit.hookimpl
def lendkit_disbursement_deductions(
    ctx: HookContext, listing: ListingRecord, principal: Any
) -> Sequence[Deduction]:
    """Borrower-paid premiums of the listing's pending policies, paid to the insurers' accounts."""
    rows = ctx.conn.execute(
        select(policies)
        .where(
            policies.c.listing_id == listing.id,
            policies.c.state == PENDING,
            policies.c.payer == "borrower",
        )
        .order_by(policies.c.created_at, policies.c.id)
    ).all()
    out = []
    for row in rows:
        if row.premium:
            account = _custody(ctx, row.insurer_id, listing.amount.currency)
            out.append(
                Deduction(
                    f"insurance premium {row.id}",
                    Money.from_minor(row.premium, listing.amount.currency),
                    account.code,
                )
            )
            ctx.conn.execute(
                update(policies)
                .where(policies.c.id == row.id)
                .values(premium_collected=row.premium)
            )
    return out


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """The listing's pending policies come into force on the loan."""
    ctx.conn.execute(
        update(policies)
        .where(policies.c.listing_id == loan.listing_id, policies.c.state == PENDING)
        .values(state=IN_FORCE, loan_id=loan.id, total_interest=_scheduled_interest(loan))
    )


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed listing cancels its pending policies and frees the insurers' capacity."""
    _end(ctx, policies.c.listing_id == listing.id, PENDING, CANCELLED)


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled listing cancels its pending policies, like a failed one."""
    lendkit_listing_failed(ctx, listing)


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """A repaid or written-off loan ends its policies and frees the insurers' capacity."""
    _end(ctx, policies.c.loan_id == loan.id, IN_FORCE, EXPIRED)


def _end(ctx: HookContext, where: Any, state: str, to: str) -> None:
    rows = ctx.conn.execute(select(policies).where(where, policies.c.state == state)).all()
    for row in rows:
        _release_capacity(ctx, row)
        ctx.conn.execute(update(policies).where(policies.c.id == row.id).values(state=to))


@lendkit.hookimpl
def lendkit_repayment_received(ctx: HookContext, loan: LoanRecord, payment: PaymentRecord) -> None:
    """Withhold investor-paid premiums from the interest the investors have received so far."""
    rows = ctx.conn.execute(
        select(policies).where(
            policies.c.loan_id == loan.id,
            policies.c.payer == "investors",
            policies.c.premium_collected < policies.c.premium,
        )
    ).all()
    if not rows or not loan.positions:
        return
    cur = loan.principal.currency
    received = sum(p.received_interest.minor + p.fees_paid.minor for p in loan.positions)
    weights = [p.principal.amount * p.annual_rate for p in loan.positions]
    for row in rows:
        if not row.total_interest:
            continue
        due = min(
            row.premium,
            int(
                DEFAULT_ROUNDING.quantize(
                    Decimal(row.premium) * received / Decimal(row.total_interest), "JPY"
                )
            ),
        )
        take = due - row.premium_collected
        if take <= 0:
            continue
        custody = _custody(ctx, row.insurer_id, cur)
        legs: list[tuple[AccountRef, Money]] = []
        got = Money.zero(cur)
        for position, share in zip(
            loan.positions, allocate(Money.from_minor(take, cur), weights), strict=True
        ):
            account = ctx.party_account(position.investor_id, cur)
            part = min(share, ctx.balance(account))
            if part.is_positive():
                legs.append((account, -part))
                got = got + part
        if got.is_positive():
            legs.append((custody, got))
            ctx.transfer("insurance.premium", row.id, legs)
            ctx.conn.execute(
                update(policies)
                .where(policies.c.id == row.id)
                .values(premium_collected=row.premium_collected + got.minor)
            )


# -- disclosure -----------------------------------------------------------------------------------


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Per insurer: capacity, exposure, utilization, custody balance. In total: policies in force,
    premiums, claims paid, recoveries (from the ledger: balances - funding - premiums + claims),
    loss ratio (claims / premiums); and the yield effect of investor-paid premiums."""
    cur = ctx.currency
    out: list[Disclosure] = []
    balances = funded = 0
    for ins in ctx.conn.execute(select(insurers).order_by(insurers.c.name)).all():
        balance = ctx.balance(_custody(ctx, ins.id, cur))
        balances += balance.minor
        funded += ins.funded
        util = Decimal(ins.exposure) / Decimal(ins.capacity) if ins.capacity else Decimal(0)
        out.extend(
            [
                Disclosure(
                    PLUGIN, f"{ins.name} capacity", str(Money.from_minor(ins.capacity, cur))
                ),
                Disclosure(PLUGIN, f"{ins.name} insured", str(Money.from_minor(ins.exposure, cur))),
                Disclosure(PLUGIN, f"{ins.name} utilization", _pct(util)),
                Disclosure(PLUGIN, f"{ins.name} custody balance", str(balance)),
            ]
        )
    in_force = ctx.conn.execute(
        select(func.count()).select_from(policies).where(policies.c.state == IN_FORCE)
    ).scalar_one()
    premiums, paid = ctx.conn.execute(
        select(
            func.coalesce(func.sum(policies.c.premium_collected), 0),
            func.coalesce(func.sum(policies.c.claims_paid), 0),
        )
    ).one()
    premiums, paid = int(premiums), int(paid)
    recoveries = balances - funded - premiums + paid
    out.extend(
        [
            Disclosure(PLUGIN, "policies in force", str(int(in_force))),
            Disclosure(PLUGIN, "premiums", str(Money.from_minor(premiums, cur))),
            Disclosure(PLUGIN, "claims paid", str(Money.from_minor(paid, cur))),
            Disclosure(PLUGIN, "recoveries", str(Money.from_minor(recoveries, cur))),
            Disclosure(
                PLUGIN,
                "loss ratio",
                _pct(Decimal(paid) / Decimal(premiums)) if premiums else "0.00%",
            ),
        ]
    )
    for row in ctx.conn.execute(
        select(policies)
        .where(policies.c.payer == "investors", policies.c.state == IN_FORCE)
        .order_by(policies.c.created_at, policies.c.id)
    ).all():
        if row.total_interest:
            share = Decimal(row.premium) / Decimal(row.total_interest)
            out.append(
                Disclosure(
                    PLUGIN,
                    f"policy {row.id} investors' yield",
                    f"premium {Money.from_minor(row.premium, cur)} is {_pct(share)} of the"
                    " scheduled interest",
                )
            )
    return out
