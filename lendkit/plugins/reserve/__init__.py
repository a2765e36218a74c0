"""Risk reserve (风险准备金): a fund in its own custody account pays investors when borrowers do not.

**Disabled unless listed.** Several jurisdictions bar platforms from keeping a risk reserve (China's
2016 interim measures for online lending intermediaries forbid a platform to guarantee loans or
promise principal and interest, and a platform reserve is read as such a promise; elsewhere it may
make the platform a deposit-taker or an insurer). lendkit therefore never enables it by default:
an integrator who may run one lists it, ``plugins=[..., "reserve"]``, and puts it in the waterfall.

How it works:

* **The fund** is the ledger account ``plugin:reserve:reserve-fund:<currency>``; every figure the
  plugin discloses is read from it or reconciles with it.
* **Seed** (:func:`seed`): the platform funds it -- by default from its revenue account
  (``platform:revenue:revenue``, i.e. out of fees it has earned), or with ``from_party=`` from the
  available custody balance of a party the operator funded (e.g. an initial deposit such as
  Renrendai's); in both cases it is the platform's own money, never a user's.
* **Contributions**: at disbursement, ``rates[grade]`` of the principal (default AA 0 % .. HR 5 %)
  goes into the fund, taken from the borrower's proceeds (``contribution_from="borrower"``, a
  disbursement deduction) or from the platform's revenue (``"fees"``: transferred once the loan is
  disbursed, when the service fee is already in revenue; refused with ``InsufficientFunds`` if
  revenue cannot pay it).
* **Payouts**: once an installment of a covered loan is ``after_days`` overdue (default 30) the
  waterfall asks the reserve to cover it; it takes the claim on (the overdue principal, and
  interest with ``pay_interest=True``) and pays it when close of business ends the day
  (``lendkit_cob_day``), together with every other claim of that day, through
  ``ctx.pay_investors``. It then holds the claim, so the borrower's later payments on that
  installment flow back into the fund (recoveries). Because it pays at the day's end, plugins
  listed after it in the waterfall are asked before it pays: list the reserve last.
* **Shortfall queue**: every claim it takes on is recorded (``lendkit_reserve_claims``); what it
  cannot pay stays queued. At the end of each COB day, and whenever money arrives (contribution,
  recovery, seed, or :func:`settle`), the queue is settled oldest day first; the claims queued on
  the same day share what there is pro rata, raising the lowest paid fraction first so that each
  ends with the same share of its amount paid (``lendkit.allocate``, to the cent): two claims of
  one day on a short fund get the same fraction, whichever loan COB met first. A claim whose
  investors were paid meanwhile (by the borrower or a later waterfall step) is closed with what
  it had received. With COB split into shards, each shard's close settles the claims queued so
  far that day.
* **Coverage ratio** = fund balance / outstanding principal of the covered loans.

Configuration::

    config={"waterfall": ["reserve"],
            "plugins": {"reserve": {
                "rates": {"AA": "0", "A": "0.005", "B": "0.01", "C": "0.02", "D": "0.03",
                          "E": "0.04", "HR": "0.05"},
                "contribution_from": "borrower",   # or "fees"
                "after_days": 30, "pay_interest": False,
                "products": None}}}                  # or a list: only these products are covered

Example::

    import tempfile
    from datetime import timedelta
    import lendkit
    from lendkit.plugins import reserve

    url = f"sqlite:///{tempfile.mkdtemp()}/reserve.db"
    p = lendkit.Platform.open(url, plugins=["online", "reserve"],
                              config={"waterfall": ["reserve"], "grace_days": 0,
                                      "plugins": {"reserve": {"after_days": 30}}})
    operator, borrower, investor = (p.parties.register(n).id for n in ("operator", "b", "i"))
    for x in (operator, borrower, investor):
        p.parties.verify(x)
    p.custody.deposit(operator, "500")
    reserve.seed(p, "500", from_party=operator)
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade="HR")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "3000")
    p.bidding.bid(listing.id, investor, "3000")
    loan = p.loans.disburse(listing.id)              # 150.00 (5 %) from the proceeds to the fund
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    due = p.loans.schedule(loan.id).installments[0].due_date
    p.cob.run(due + timedelta(days=30), allow_future=True)  # the reserve pays the principal
    print(reserve.status(p))
    print([d for d in p.reports.disclosure() if d.plugin == "reserve"])
    assert p.verify().ok
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from attrs import field, frozen
from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects import postgresql

import lendkit
from lendkit.core.config import GRADES
from lendkit.core.context import HookContext
from lendkit.core.errors import InsufficientFunds, InvalidValue
from lendkit.core.inputs import check_bool, check_id, parse_amount
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money, allocate, parse_rate
from lendkit.core.records import (
    Claim,
    Deduction,
    Disclosure,
    ListingRecord,
    LoanRecord,
    PaymentRecord,
    PluginSettings,
)
from lendkit.migrations import PluginSchema
from lendkit.plugins.reserve.tables import claims, loans, lock, metadata, movements

__all__ = [
    "DEFAULT_RATES",
    "Payout",
    "QueuedClaim",
    "ReserveStatus",
    "fund_account",
    "payouts",
    "queue",
    "seed",
    "settle",
    "status",
]

PLUGIN = "reserve"
SOURCES = ("borrower", "fees")
DEFAULT_RATES: Mapping[str, str] = {
    "AA": "0",
    "A": "0.005",
    "B": "0.01",
    "C": "0.02",
    "D": "0.03",
    "E": "0.04",
    "HR": "0.05",
}
KEYS = ("rates", "contribution_from", "after_days", "pay_interest", "products")
MAX_AFTER_DAYS = 3650
OPEN, PAID, CLOSED = "open", "paid", "closed"
#: taken on by today's close of business, paid when the day closes (then open)
NEW = "new"
QUEUED = (NEW, OPEN)

lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")


# -- records ---------------------------------------------------------------------------------------


def _rates(raw: object) -> Mapping[str, Decimal]:
    if not isinstance(raw, Mapping):
        raise InvalidValue("rates must map grades to rates, e.g. {'AA': '0', 'HR': '0.05'}")
    bad = sorted(set(raw) - set(GRADES))
    if bad:
        raise InvalidValue(f"rates name unknown grades {bad}; grades are {', '.join(GRADES)}")
    return {g: parse_rate(r, f"reserve rate for grade {g}") for g, r in raw.items()}


def _source(source: object) -> str:
    if source not in SOURCES:
        raise InvalidValue(f"contribution_from {source!r} is not allowed: choose borrower or fees")
    return str(source)


def _after_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_AFTER_DAYS:
        raise InvalidValue(f"after_days {days!r} must be a whole number 0..{MAX_AFTER_DAYS}")
    return days


def _pay_interest(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(f"pay_interest {value!r} must be true or false")
    return value


def _products(products: object) -> tuple[str, ...] | None:
    if products is None:
        return None
    if isinstance(products, str) or not isinstance(products, (list, tuple)):
        raise InvalidValue(f"products {products!r} must be a list of product names or null")
    if not all(isinstance(x, str) for x in products):
        raise InvalidValue(f"products {products!r} must be a list of product names or null")
    return tuple(products)


@frozen
class Settings:
    """``config.plugins["reserve"]``, structured when the Platform opens (see the module docs
    for the keys); a bad value is refused there with a ``ConfigError``."""

    rates: Mapping[str, Decimal] = field(default=DEFAULT_RATES, converter=_rates)
    contribution_from: str = field(default="borrower", converter=_source)
    after_days: int = field(default=30, converter=_after_days)
    pay_interest: bool = field(default=False, converter=_pay_interest)
    products: tuple[str, ...] | None = field(default=None, converter=_products)


@frozen
class ReserveStatus:
    """The fund now. ``recoveries`` is what came back from borrowers (the balance not explained by
    seeds, contributions and payouts), so ``balance = seeded + contributions + recoveries - paid``."""

    balance: Money
    seeded: Money
    contributions: Money
    paid: Money
    payouts: int
    recoveries: Money
    queued_shortfall: Money
    queued_claims: int
    covered_loans: int
    outstanding_principal: Money

    @property
    def coverage_ratio(self) -> Decimal:
        """Balance / outstanding principal of covered loans (0 when nothing is outstanding)."""
        if self.outstanding_principal.is_zero():
            return Decimal(0)
        return self.balance.amount / self.outstanding_principal.amount


@frozen
class Payout:
    """One payment from the fund to a loan's investors."""

    loan_id: str
    period: int | None
    amount: Money
    paid_on: date
    claim_id: int | None


@frozen
class QueuedClaim:
    """A claim the reserve took on: ``amount`` to cover, ``paid`` so far, ``state`` new (taken on
    by a COB day still running, paid when it closes), open (queued), paid, or closed (the
    investors were paid by someone else first)."""

    id: int
    loan_id: str
    period: int
    queued_on: date
    amount: Money
    paid: Money
    state: str

    @property
    def shortfall(self) -> Money:
        """What is still queued (zero unless new or open)."""
        if self.state in QUEUED:
            return self.amount - self.paid
        return Money.zero(self.amount.currency)


# -- configuration and helpers ---------------------------------------------------------------------


def fund_account(ctx: HookContext) -> AccountRef:
    """The reserve fund's ledger account (created on first use)."""
    return ctx.account("plugin", PLUGIN, "reserve-fund", ctx.currency)


def _revenue(ctx: HookContext) -> AccountRef:
    return ctx.account("platform", "revenue", "revenue", ctx.currency)


def _lock(ctx: HookContext) -> None:
    """Serialize the fund's payouts on PostgreSQL (SQLite write transactions already are)."""
    if ctx.conn.dialect.name != "postgresql":
        return
    ctx.conn.execute(postgresql.insert(lock).values(id=1).on_conflict_do_nothing())
    ctx.conn.execute(select(lock.c.id).where(lock.c.id == 1).with_for_update())


def _record(
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


def water_fill(budget: Money, amounts: Sequence[int], paid: Sequence[int]) -> list[Money]:
    """Split ``budget`` over claims of ``amounts`` (minor units) already ``paid`` in part.

    Everything owed if the budget covers it; otherwise the claims with the lowest paid fraction
    are raised to a common fraction ``level`` (``paid_i + share_i = level x amount_i``), the split
    made exactly with :func:`lendkit.allocate` (shares sum to the budget, each within a cent of its
    exact quota, ties to the earlier claim).
    """
    rest = [a - p for a, p in zip(amounts, paid, strict=True)]
    cur = budget.currency
    if budget.minor >= sum(rest):
        return [Money.from_minor(r, cur) for r in rest]
    order = sorted(
        (i for i, r in enumerate(rest) if r > 0), key=lambda i: (Fraction(paid[i], amounts[i]), i)
    )
    total_a = total_p = 0
    chosen: list[int] = []
    for k, i in enumerate(order):
        chosen.append(i)
        total_a, total_p = total_a + amounts[i], total_p + paid[i]
        level = Fraction(budget.minor + total_p, total_a)
        nxt = order[k + 1] if k + 1 < len(order) else None
        if nxt is None or level <= Fraction(paid[nxt], amounts[nxt]):
            break
    weights = [0] * len(amounts)
    for i in chosen:  # proportional to level x amount_i - paid_i, in integers
        weights[i] = (budget.minor + total_p) * amounts[i] - paid[i] * total_a
    return allocate(budget, weights)


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
        _record(
            ctx, "payout", paid, "reserve payout", loan_id=r.loan_id, period=r.period, claim_id=r.id
        )
    return paid


def _settle(ctx: HookContext) -> dict[int, int]:
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


def _covered(ctx: HookContext, loan_id: str) -> Row[Any] | None:
    return ctx.conn.execute(
        select(loans).where(loans.c.loan_id == loan_id, loans.c.state != "pending")
    ).first()


# -- public API --------------------------------------------------------------------------------------


def seed(
    platform: lendkit.Platform,
    amount: object,
    *,
    from_party: str | None = None,
    key: str | None = None,
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
        _lock(ctx)
        source = _revenue(ctx) if from_party is None else ctx.party_account(from_party, cur)
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
        _record(ctx, "seed", money.minor, from_party or "platform revenue")
        _settle(ctx)
        return ctx.balance(fund)

    return platform.command(
        "reserve.seed", run, key=key, payload=[money.format(), from_party], result_type=Money
    )


def settle(platform: lendkit.Platform, *, key: str | None = None) -> Money:
    """Pay queued claims with what the fund holds now (it also happens whenever money arrives).
    Returns what was paid. ``key``: an idempotency key (a repeat returns the first outcome)."""

    def run(ctx: HookContext) -> Money:
        _lock(ctx)
        return Money.from_minor(sum(_settle(ctx).values()), ctx.currency)

    return platform.command("reserve.settle", run, key=key, payload=[], result_type=Money)


def _status(ctx: HookContext) -> ReserveStatus:
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
    return platform.command("reserve.status", _status)


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

    return platform.command("reserve.payouts", run)


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

    return platform.command("reserve.queue", run)


# -- hooks -------------------------------------------------------------------------------------------


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["reserve"]`` is structured into :class:`Settings` at open."""
    return PluginSettings(PLUGIN, Settings)


@lendkit.hookimpl
def lendkit_disbursement_deductions(
    ctx: HookContext, listing: ListingRecord, principal: Money
) -> Sequence[Deduction]:
    """Record the loan as covered; with ``contribution_from="borrower"`` take ``rates[grade]`` of
    the principal from the proceeds into the fund."""
    cfg: Settings = ctx.settings(PLUGIN)
    if cfg.products is not None and listing.product not in cfg.products:
        return []
    rate = cfg.rates.get(listing.grade or "", Decimal(0))
    contribution = principal.multiply(rate)
    ctx.conn.execute(
        loans.insert().values(
            listing_id=listing.id,
            loan_id=None,
            grade=listing.grade,
            principal=principal.minor,
            rate=str(rate),
            contribution=contribution.minor,
            source=cfg.contribution_from,
            outstanding=principal.minor,
            state="pending",
            created_at=ctx.now,
        )
    )
    if cfg.contribution_from == "borrower" and contribution.is_positive():
        return [Deduction("risk reserve contribution", contribution, fund_account(ctx).code)]
    return []


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """Start covering the loan; book its contribution (from revenue in ``fees`` mode) and settle
    the queue with it."""
    row = ctx.conn.execute(
        select(loans).where(loans.c.listing_id == loan.listing_id, loans.c.state == "pending")
    ).first()
    if row is None:
        return
    ctx.conn.execute(
        update(loans)
        .where(loans.c.listing_id == loan.listing_id)
        .values(loan_id=loan.id, state="open", outstanding=loan.outstanding_principal.minor)
    )
    if row.contribution <= 0:
        return
    _lock(ctx)
    amount = Money.from_minor(row.contribution, loan.principal.currency)
    if row.source == "fees":
        revenue = _revenue(ctx)
        have = ctx.balance(revenue)
        if have < amount:
            raise InsufficientFunds(
                f"reserve contribution {amount} for loan {loan.id} (grade {row.grade},"
                f" {Decimal(row.rate) * 100}% of {loan.principal}) exceeds platform revenue {have}:"
                " lower the rate, or take contributions from the borrower (contribution_from)"
            )
        ctx.transfer(
            "reserve.contribution", loan.id, [(revenue, -amount), (fund_account(ctx), amount)]
        )
    _record(ctx, "contribution", row.contribution, f"{row.source} {row.grade}", loan_id=loan.id)
    _settle(ctx)


@lendkit.hookimpl
def lendkit_cover_claim(ctx: HookContext, claim: Claim) -> Money | None:
    """Take on a covered loan's installment ``after_days`` overdue: queue its principal (and
    interest if configured) for the day's close, where the day's claims are paid together."""
    cfg: Settings = ctx.settings(PLUGIN)
    if claim.days_overdue < cfg.after_days or claim.period is None:
        return None
    if _covered(ctx, claim.loan_id) is None:
        return None
    want_p = claim.principal.minor
    want_i = claim.interest.minor if cfg.pay_interest else 0
    _lock(ctx)
    existing = ctx.conn.execute(
        select(claims).where(claims.c.loan_id == claim.loan_id, claims.c.period == claim.period)
    ).first()
    if existing is None:
        if want_p + want_i <= 0:
            return None
        ctx.conn.execute(
            claims.insert().values(
                loan_id=claim.loan_id,
                period=claim.period,
                queued_on=ctx.today,
                principal=want_p,
                interest=want_i,
                paid_principal=0,
                paid_interest=0,
                state=NEW,
                created_at=ctx.now,
            )
        )
    elif existing.state in (PAID, CLOSED) and want_p + want_i > 0:
        # owed again after it was closed (rare): take the new amount on, queued today
        ctx.conn.execute(
            update(claims)
            .where(claims.c.id == existing.id)
            .values(
                principal=existing.paid_principal + want_p,
                interest=existing.paid_interest + want_i,
                queued_on=ctx.today,
                state=NEW,
            )
        )
    # paid at the day's close (lendkit_cob_day), pro rata with the day's other claims
    return None


@lendkit.hookimpl
def lendkit_cob_day(ctx: HookContext, run_date: date) -> None:
    """The day's collections and waterfall are done: the claims taken on up to this business
    date join the queue, and the queue is paid with what the fund holds (oldest day first, the
    claims of one day pro rata by amount)."""
    _lock(ctx)
    ctx.conn.execute(
        update(claims)
        .where(claims.c.state == NEW, claims.c.queued_on <= run_date)
        .values(state=OPEN)
    )
    _settle(ctx)


@lendkit.hookimpl
def lendkit_repayment_received(ctx: HookContext, loan: LoanRecord, payment: PaymentRecord) -> None:
    """Follow the covered loan's outstanding principal (for the coverage ratio)."""
    ctx.conn.execute(
        update(loans)
        .where(loans.c.loan_id == loan.id, loans.c.state == "open")
        .values(outstanding=loan.outstanding_principal.minor)
    )


@lendkit.hookimpl
def lendkit_recovery_received(ctx: HookContext, loan: LoanRecord, amount: Money) -> None:
    """A recovery may have refilled the fund (its claims are paid back into it): settle the queue."""
    _lock(ctx)
    _settle(ctx)


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """A settled or written-off loan is no longer covered."""
    ctx.conn.execute(
        update(loans).where(loans.c.loan_id == loan.id).values(state="closed", outstanding=0)
    )


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Balance, coverage ratio, seeded, contributions, payouts, recoveries and queued shortfall."""
    s = _status(ctx)
    return [
        Disclosure(PLUGIN, "balance", str(s.balance)),
        Disclosure(PLUGIN, "outstanding principal of covered loans", str(s.outstanding_principal)),
        Disclosure(PLUGIN, "coverage ratio", _percent(s.coverage_ratio)),
        Disclosure(PLUGIN, "seeded", str(s.seeded)),
        Disclosure(PLUGIN, "contributions", str(s.contributions)),
        Disclosure(PLUGIN, "payouts", str(s.paid)),
        Disclosure(PLUGIN, "payout count", str(s.payouts)),
        Disclosure(PLUGIN, "recoveries", str(s.recoveries)),
        Disclosure(PLUGIN, "queued shortfall", str(s.queued_shortfall)),
        Disclosure(PLUGIN, "queued claims", str(s.queued_claims)),
        Disclosure(PLUGIN, "covered loans", str(s.covered_loans)),
    ]
