"""Guarantee (担保): a guarantee company backs chosen loans and pays investors when the borrower does not.

A guarantor is a registered party (it holds its money in custody like everybody else) plus a
record in ``lendkit_guarantee_guarantors``: registered capital, leverage cap (default 10x), fee
rate, deposit rate, liability (``joint`` or ``general``) and what it covers. The rules it enforces:

* **Leverage cap.** The principal a guarantor backs -- outstanding principal of its active loans
  plus the amount of listings approved under its guarantee but not yet disbursed -- never exceeds
  ``leverage x capital``. A listing that would breach it is refused by :func:`guarantee_listing`
  and again at approval (``lendkit_validate_listing``), with the figures in the message.
* **Related parties.** Declared control relations (:func:`declare_control`, or ``controlled_by``
  at registration) are followed transitively. A guarantor controlled by the platform operator
  (``"platform"``) may not guarantee at all (网赢天下); nor may it guarantee a borrower that controls
  it, that it controls, or that shares a controller with it.
* **Fee and deposit.** The guarantee fee (``fee_rate`` of principal) is taken from the borrower's
  proceeds at disbursement and paid to the guarantor's custody account. The guarantor keeps a
  deposit (保证金) with the platform (:func:`fund_deposit`: its available balance -> its deposit
  account ``guarantor:<id>:deposit``); ``deposit_rate`` of each guaranteed loan's principal is
  frozen (``guarantor:<id>:deposit-frozen``) at disbursement and released as principal is repaid
  (the frozen part follows ``deposit_rate x outstanding principal``), all at payoff.
* **Liability.** ``joint`` pays once an installment is ``after_days`` overdue (lendkit's
  ``grace_days`` and ``cover_after_days`` apply first); ``general`` pays only after the loan has
  defaulted (``default_after_days``, when collection is deemed to have failed), from the next close
  of business on. Compensation (代偿) pays investors the overdue principal and interest, or principal
  only (``cover="principal"``), through the configured waterfall (``waterfall=[..., "guarantee",
  ...]``). It is drawn from the guarantor's available custody balance first (the guarantee
  agreement authorises the debit, as a borrower's authorises collection), then from the deposit
  frozen for this loan, then from its free deposit; what it cannot pay passes down the waterfall.
  The guarantor then holds the claim: the borrower's later payments on those installments go to
  the guarantor's custody account (追偿), not to the investors.
* **Offline origination.** A partner (small-loan company, :func:`register_partner`) recommends
  borrowers (:func:`recommend`) and guarantees them 100 % (joint, principal and interest); it may
  guarantee only borrowers it recommended. :func:`apply_recommended` applies and guarantees in one go.

Flow: ``apply`` -> :func:`guarantee_listing` -> ``approve`` (cap re-checked by the validator,
capacity committed once every plugin's validator passed)
-> publish/bid -> ``disburse`` (fee, deposit frozen) -> repayments release the deposit; COB pays on
overdue. A listing of the product ``guaranteed`` cannot be approved without a guarantor.
A listing rejected, cancelled (``lendkit_listing_withdrawn``) or failed (流标,
``lendkit_listing_failed``) releases its guarantee by itself; :func:`release_listing` releases
the guarantee of an applied listing whose guarantor is being replaced.
Every public function runs as one command (``Platform.command``): retried, joining a host
transaction under ``platform.using(conn)``, and the mutating ones take an idempotency ``key=``.

Configuration (defaults for new guarantors; each may be overridden per guarantor/guarantee)::

    config={"waterfall": ["guarantee"],
            "plugins": {"guarantee": {"leverage": "10", "fee_rate": "0.02", "deposit_rate": "0.10",
                                      "liability": "joint", "after_days": 1,
                                      "cover": "principal_and_interest"}}}

Example::

    import tempfile
    from datetime import timedelta
    import lendkit
    from lendkit.plugins import guarantee

    url = f"sqlite:///{tempfile.mkdtemp()}/guarantee.db"
    p = lendkit.Platform.open(url, plugins=["online", "guarantee"],
                              config={"waterfall": ["guarantee"], "grace_days": 0})
    company = p.parties.register("Acme Guarantee", kind="enterprise").id
    borrower, investor = p.parties.register("b").id, p.parties.register("i").id
    for x in (company, borrower, investor):
        p.parties.verify(x)
    p.custody.deposit(company, "5000")
    g = guarantee.register_guarantor(p, "Acme Guarantee", company, capital="1000")  # cap 10000
    guarantee.fund_deposit(p, g.id, "1000")
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.custody.deposit(investor, "3000")
    p.bidding.bid(listing.id, investor, "3000")
    loan = p.loans.disburse(listing.id)            # fee 60.00 to Acme, 300.00 of deposit frozen
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    due = p.loans.schedule(loan.id).installments[0].due_date
    p.cob.run(due + timedelta(days=1), allow_future=True)  # joint liability: Acme pays
    assert p.loans.position(loan.id, investor).received_principal.is_positive()
    print(guarantee.get_guarantor(p, g.id))
    print([d for d in p.reports.disclosure() if d.plugin == "guarantee"])
    assert p.verify().ok
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from attrs import field, frozen
from sqlalchemy import Connection, Row, func, select, update

import lendkit
from lendkit.core.context import HookContext
from lendkit.core.errors import (
    Forbidden,
    InvalidState,
    InvalidValue,
    LendkitError,
    LimitExceeded,
    NotFound,
)
from lendkit.core.inputs import MAX_NAME_LENGTH, check_id, check_text, parse_amount
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money, parse_rate, to_decimal
from lendkit.core.records import (
    Claim,
    Deduction,
    Disclosure,
    ListingRecord,
    LoanRecord,
    PaymentRecord,
    PluginSettings,
    Product,
)
from lendkit.migrations import PluginSchema
from lendkit.plugins.guarantee.tables import (
    controls,
    guarantees,
    guarantors,
    metadata,
    payouts,
    recommendations,
)

__all__ = [
    "OPERATOR",
    "PRODUCT",
    "Compensation",
    "Guarantee",
    "Guarantor",
    "apply_recommended",
    "compensations",
    "declare_control",
    "fund_deposit",
    "get_guarantor",
    "guarantee_listing",
    "guarantee_of",
    "guarantors_of",
    "recommend",
    "register_guarantor",
    "register_partner",
    "release_listing",
    "withdraw_deposit",
]

PLUGIN = "guarantee"
#: the controller name that stands for the platform operator in control relations
OPERATOR = "platform"
#: product whose listings must be guaranteed before approval
PRODUCT = "guaranteed"
LIABILITIES = ("joint", "general")
COVERS = ("principal_and_interest", "principal")
KINDS = ("company", "partner")
DEPOSIT = "deposit"
DEPOSIT_FROZEN = "deposit-frozen"
OWNER_KIND = "guarantor"
DEFAULTS: Mapping[str, Any] = {
    "leverage": "10",
    "fee_rate": "0.02",
    "deposit_rate": "0.10",
    "liability": "joint",
    "after_days": 1,
    "cover": "principal_and_interest",
}
MAX_AFTER_DAYS = 3650
MAX_LEVERAGE = Decimal(100)

# guarantee states
PENDING, COMMITTED, ACTIVE, CLOSED, RELEASED = (
    "pending",
    "committed",
    "active",
    "closed",
    "released",
)

lendkit_schema = PluginSchema(PLUGIN, metadata, Path(__file__).parent / "migrations")


# -- records ---------------------------------------------------------------------------------------


@frozen
class Guarantor:
    """A guarantee company (or offline partner) and its capacity now.

    ``cap = leverage x capital``; ``outstanding`` is the principal still owed on its active loans,
    ``committed`` the amount of approved listings it guarantees that are not yet disbursed;
    ``outstanding + committed <= cap`` always holds. ``deposit`` is its free deposit and
    ``deposit_frozen`` what is frozen for its loans (both ledger balances).
    """

    id: str
    name: str
    party_id: str
    kind: str
    capital: Money
    leverage: Decimal
    cap: Money
    fee_rate: Decimal
    deposit_rate: Decimal
    liability: str
    after_days: int
    cover: str
    outstanding: Money
    committed: Money
    deposit: Money
    deposit_frozen: Money
    compensated: Money

    @property
    def available_capacity(self) -> Money:
        """What it may still guarantee: ``cap - outstanding - committed``."""
        return self.cap - self.outstanding - self.committed

    @property
    def utilization(self) -> Decimal:
        """``(outstanding + committed) / cap`` as a fraction (0 when the cap is 0)."""
        if self.cap.is_zero():
            return Decimal(0)
        return (self.outstanding + self.committed).amount / self.cap.amount


@frozen
class Guarantee:
    """One listing's guarantee; after disbursement also its loan's (``loan_id``).

    ``state``: ``pending`` (awaiting approval), ``committed`` (approved, counted against the cap),
    ``active`` (loan disbursed), ``closed`` (loan settled or written off) or ``released`` (the
    listing failed, was rejected or cancelled).
    """

    listing_id: str
    guarantor_id: str
    borrower_id: str
    loan_id: str | None
    amount: Money
    liability: str
    after_days: int
    cover: str
    fee_rate: Decimal
    deposit_rate: Decimal
    state: str
    fee: Money
    outstanding: Money
    frozen: Money
    defaulted: bool


@frozen
class Compensation:
    """One compensation (代偿) a guarantor paid to a loan's investors."""

    guarantor_id: str
    loan_id: str
    period: int | None
    principal: Money
    interest: Money
    paid_on: date

    @property
    def amount(self) -> Money:
        """Principal plus interest paid."""
        return self.principal + self.interest


# -- small helpers ---------------------------------------------------------------------------------


def _choice(value: object, what: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValue(
            f"{what} {str(value)[:40]!r} is not allowed: choose {' or '.join(allowed)}"
        )
    return value


def _days(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AFTER_DAYS:
        raise InvalidValue(f"{what} {value!r} must be a whole number of days, 0..{MAX_AFTER_DAYS}")
    return value


def _leverage(value: object) -> Decimal:
    lev = to_decimal(value, "leverage")
    if not 0 < lev <= MAX_LEVERAGE:
        raise InvalidValue(
            f"leverage {lev} is out of range: allowed more than 0, at most {MAX_LEVERAGE}"
        )
    if lev != lev.quantize(Decimal("0.0001")):
        raise InvalidValue(f"leverage {lev} is too precise: at most 4 decimal places")
    return Decimal(format(lev.normalize(), "f"))  # "10", never "1E+1"


def _fee_rate(value: object) -> Decimal:
    return parse_rate(value, "guarantee fee_rate")


def _deposit_rate(value: object) -> Decimal:
    return parse_rate(value, "guarantee deposit_rate")


def _liability(value: object) -> str:
    return _choice(value, "guarantee liability", LIABILITIES)


def _after_days(value: object) -> int:
    return _days(value, "guarantee after_days")


def _cover(value: object) -> str:
    return _choice(value, "guarantee cover", COVERS)


@frozen
class Settings:
    """``config.plugins["guarantee"]``, structured when the Platform opens: the defaults of
    every guarantor registered without its own (see the module docs)."""

    leverage: Decimal = field(default=Decimal(DEFAULTS["leverage"]), converter=_leverage)
    fee_rate: Decimal = field(default=Decimal(DEFAULTS["fee_rate"]), converter=_fee_rate)
    deposit_rate: Decimal = field(
        default=Decimal(DEFAULTS["deposit_rate"]), converter=_deposit_rate
    )
    liability: str = field(default=DEFAULTS["liability"], converter=_liability)
    after_days: int = field(default=DEFAULTS["after_days"], converter=_after_days)
    cover: str = field(default=DEFAULTS["cover"], converter=_cover)


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def _lock(stmt: Any, conn: Connection) -> Any:
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt


def _guarantor_row(conn: Connection, guarantor_id: str, *, lock: bool = False) -> Row[Any]:
    stmt = select(guarantors).where(guarantors.c.id == guarantor_id)
    row = conn.execute(_lock(stmt, conn) if lock else stmt).first()
    if row is None:
        raise NotFound(f"guarantor {str(guarantor_id)[:50]!r} does not exist")
    return row


def _deposit_accounts(ctx: HookContext, g: Row[Any]) -> tuple[AccountRef, AccountRef]:
    return (
        ctx.account(OWNER_KIND, g.id, DEPOSIT, g.currency),
        ctx.account(OWNER_KIND, g.id, DEPOSIT_FROZEN, g.currency),
    )


def _exposure(
    conn: Connection, guarantor_id: str, exclude_listing: str | None = None
) -> tuple[int, int, int]:
    """(outstanding of active loans, amount committed, deposit needed by committed listings)."""
    rows = conn.execute(
        select(
            guarantees.c.listing_id,
            guarantees.c.state,
            guarantees.c.amount,
            guarantees.c.outstanding,
            guarantees.c.deposit_rate,
        ).where(
            guarantees.c.guarantor_id == guarantor_id, guarantees.c.state.in_((COMMITTED, ACTIVE))
        )
    ).all()
    outstanding = sum(r.outstanding for r in rows if r.state == ACTIVE)
    committed = [r for r in rows if r.state == COMMITTED and r.listing_id != exclude_listing]
    deposit = sum(_rate_of(r.amount, Decimal(r.deposit_rate)) for r in committed)
    return int(outstanding), int(sum(r.amount for r in committed)), int(deposit)


def _rate_of(amount_minor: int, rate: Decimal) -> int:
    """``amount x rate`` rounded HALF_UP to a whole minor unit."""
    return int((Decimal(amount_minor) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _controllers(conn: Connection, party: str) -> set[str]:
    """Everyone who controls ``party``, directly or through others (declared relations)."""
    found: set[str] = set()
    frontier = {party}
    while frontier:
        rows = conn.execute(
            select(controls.c.controller).where(controls.c.controlled.in_(sorted(frontier)))
        ).all()
        new = {r.controller for r in rows} - found - {party}
        found |= new
        frontier = new
    return found


def _related(conn: Connection, g: Row[Any], borrower_id: str) -> str | None:
    """Why guarantor ``g`` may not guarantee ``borrower_id`` (None if it may)."""
    who = f"guarantor {g.id} ({g.name})"
    above_g = _controllers(conn, g.party_id)
    if OPERATOR in above_g:
        return (
            f"{who} is controlled by the platform operator: a platform-related guarantor may not"
            " guarantee loans on the platform"
        )
    if borrower_id == g.party_id:
        return (
            f"{who} is the borrower {borrower_id} itself: a borrower may not guarantee its own loan"
        )
    if borrower_id in above_g:
        return (
            f"{who} is controlled by the borrower {borrower_id}: a related party may not guarantee"
        )
    above_b = _controllers(conn, borrower_id)
    if g.party_id in above_b:
        return f"{who} controls the borrower {borrower_id}: a related party may not guarantee"
    shared = sorted(above_g & above_b)
    if shared:
        return (
            f"{who} and the borrower {borrower_id} are both controlled by {shared[0]}: a related"
            " party may not guarantee"
        )
    return None


def _problems(
    ctx: HookContext, g: Row[Any], borrower_id: str, amount: int, listing_id: str
) -> list[tuple[type[LendkitError], str]]:
    """Every reason the guarantor may not (now) back ``amount`` for ``borrower_id``, each with the
    error it raises: ``Forbidden`` (relations, recommendation) or ``LimitExceeded`` (cap, deposit)."""
    conn, cur = ctx.conn, g.currency
    found: list[tuple[type[LendkitError], str]] = []
    related = _related(conn, g, borrower_id)
    if related:
        found.append((Forbidden, related))
    if g.kind == "partner":
        rec = conn.execute(
            select(recommendations.c.borrower_id).where(
                recommendations.c.partner_id == g.id, recommendations.c.borrower_id == borrower_id
            )
        ).first()
        if rec is None:
            found.append(
                (
                    Forbidden,
                    f"partner {g.id} ({g.name}) did not recommend borrower {borrower_id}: a partner"
                    " guarantees only the borrowers it recommended (recommend() first)",
                )
            )
    outstanding, committed, deposit_needed = _exposure(conn, g.id, exclude_listing=listing_id)
    capital = Money.from_minor(g.capital, cur)
    leverage = Decimal(g.leverage)
    cap = capital.multiply(leverage)
    total = outstanding + committed + amount
    if total > cap.minor:

        def m(units: int) -> Money:
            return Money.from_minor(units, cur)

        found.append(
            (
                LimitExceeded,
                f"guarantor {g.id} ({g.name}) would guarantee {m(total)}: outstanding {m(outstanding)}"
                f" + committed {m(committed)} + this listing {m(amount)} exceeds its cap {cap}"
                f" ({leverage}x registered capital {capital}); it can take at most"
                f" {m(max(0, cap.minor - outstanding - committed))} more",
            )
        )
    free, _frozen = _deposit_accounts(ctx, g)
    need = deposit_needed + _rate_of(amount, Decimal(g.deposit_rate))
    have = ctx.balance(free)
    if need > have.minor:
        found.append(
            (
                LimitExceeded,
                f"guarantor {g.id} ({g.name}) has a free deposit of {have} but {Money.from_minor(need, cur)}"
                f" is needed ({_percent(Decimal(g.deposit_rate))} of this and its other approved"
                " listings): fund_deposit() first",
            )
        )
    return found


def _guarantee_record(r: Row[Any], currency: str) -> Guarantee:
    def m(units: int) -> Money:
        return Money.from_minor(int(units), currency)

    return Guarantee(
        listing_id=r.listing_id,
        guarantor_id=r.guarantor_id,
        borrower_id=r.borrower_id,
        loan_id=r.loan_id,
        amount=m(r.amount),
        liability=r.liability,
        after_days=r.after_days,
        cover=r.cover,
        fee_rate=Decimal(r.fee_rate),
        deposit_rate=Decimal(r.deposit_rate),
        state=r.state,
        fee=m(r.fee),
        outstanding=m(r.outstanding),
        frozen=m(r.frozen),
        defaulted=bool(r.defaulted),
    )


def _guarantor_record(ctx: HookContext, g: Row[Any]) -> Guarantor:
    cur = g.currency
    outstanding, committed, _ = _exposure(ctx.conn, g.id)
    free, frozen_acct = _deposit_accounts(ctx, g)
    paid = ctx.conn.execute(
        select(func.coalesce(func.sum(payouts.c.principal + payouts.c.interest), 0)).where(
            payouts.c.guarantor_id == g.id
        )
    ).scalar_one()
    capital = Money.from_minor(g.capital, cur)
    leverage = Decimal(g.leverage)
    return Guarantor(
        id=g.id,
        name=g.name,
        party_id=g.party_id,
        kind=g.kind,
        capital=capital,
        leverage=leverage,
        cap=capital.multiply(leverage),
        fee_rate=Decimal(g.fee_rate),
        deposit_rate=Decimal(g.deposit_rate),
        liability=g.liability,
        after_days=g.after_days,
        cover=g.cover,
        outstanding=Money.from_minor(outstanding, cur),
        committed=Money.from_minor(committed, cur),
        deposit=ctx.balance(free),
        deposit_frozen=ctx.balance(frozen_acct),
        compensated=Money.from_minor(int(paid), cur),
    )


def _row_for_listing(conn: Connection, listing_id: str, *, lock: bool = False) -> Row[Any] | None:
    stmt = select(guarantees).where(guarantees.c.listing_id == listing_id)
    return conn.execute(_lock(stmt, conn) if lock else stmt).first()


def _row_for_loan(conn: Connection, loan_id: str) -> Row[Any] | None:
    return conn.execute(select(guarantees).where(guarantees.c.loan_id == loan_id)).first()


def _release_frozen(ctx: HookContext, g: Row[Any], row: Row[Any], target: int) -> int:
    """Move the loan's frozen deposit above ``target`` back to the free deposit; new frozen."""
    release = row.frozen - max(0, target)
    if release <= 0:
        return int(row.frozen)
    free, frozen_acct = _deposit_accounts(ctx, g)
    amount = Money.from_minor(int(release), g.currency)
    ctx.transfer(
        "guarantee.deposit_release",
        row.loan_id or row.listing_id,
        [(frozen_acct, -amount), (free, amount)],
    )
    return int(row.frozen - release)


# -- public API --------------------------------------------------------------------------------------


def _controlling_party(ctx: HookContext, who: str) -> str:
    """The party behind ``who`` in a control relation: a guarantor id stands for its party,
    :data:`OPERATOR` for the platform operator; anything else must be a registered party."""
    if who == OPERATOR:
        return who
    if who.startswith("gtr_"):
        return str(_guarantor_row(ctx.conn, who).party_id)
    ctx.party(who)  # NotFound names it
    return who


def _controllers_of(controlled_by: object) -> list[str]:
    if isinstance(controlled_by, (str, bytes)) or not isinstance(controlled_by, (list, tuple)):
        raise InvalidValue(
            f"controlled_by {str(controlled_by)[:50]!r} must be a list of party ids (or"
            f" {OPERATOR!r})"
        )
    return [c if c == OPERATOR else check_id(c, "controller") for c in controlled_by]


def _register(
    platform: lendkit.Platform,
    kind: str,
    name: str,
    party_id: str,
    capital: object,
    overrides: Mapping[str, Any],
    controlled_by: object,
    key: str | None,
) -> Guarantor:
    cfg: Settings = platform.settings.get(PLUGIN) or Settings()
    name = check_text(name, "guarantor name", MAX_NAME_LENGTH)
    party_id = check_id(party_id, "guarantor party id")
    cur = platform.config.currency
    cap_money = parse_amount(capital, cur, "registered capital")
    values = {
        "leverage": cfg.leverage
        if overrides.get("leverage") is None
        else _leverage(overrides["leverage"]),
        "fee_rate": cfg.fee_rate
        if overrides.get("fee_rate") is None
        else parse_rate(overrides["fee_rate"], "fee_rate"),
        "deposit_rate": cfg.deposit_rate
        if overrides.get("deposit_rate") is None
        else parse_rate(overrides["deposit_rate"], "deposit_rate"),
        "liability": cfg.liability
        if overrides.get("liability") is None
        else _choice(overrides["liability"], "liability", LIABILITIES),
        "after_days": cfg.after_days
        if overrides.get("after_days") is None
        else _days(overrides["after_days"], "after_days"),
        "cover": cfg.cover
        if overrides.get("cover") is None
        else _choice(overrides["cover"], "cover", COVERS),
    }
    if kind == "partner":
        values["liability"], values["cover"] = "joint", "principal_and_interest"
    controllers = _controllers_of(controlled_by)
    if OPERATOR in controllers:
        raise Forbidden(
            f"guarantor {name!r} is controlled by the platform operator: a platform-related"
            " guarantor may not guarantee loans on the platform"
        )
    guarantor_id = f"gtr_{uuid.uuid4().hex}"

    def run(ctx: HookContext) -> Guarantor:
        ctx.party(party_id)  # NotFound names it
        parties = [_controlling_party(ctx, c) for c in controllers]
        ctx.conn.execute(
            guarantors.insert().values(
                id=guarantor_id,
                name=name,
                party_id=party_id,
                kind=kind,
                currency=cur,
                capital=cap_money.minor,
                leverage=str(values["leverage"]),
                fee_rate=str(values["fee_rate"]),
                deposit_rate=str(values["deposit_rate"]),
                liability=values["liability"],
                after_days=values["after_days"],
                cover=values["cover"],
                created_at=ctx.now,
            )
        )
        for controller in parties:
            _insert_control(ctx, controller, party_id)
        row = _guarantor_row(ctx.conn, guarantor_id)
        _deposit_accounts(ctx, row)  # create the deposit accounts up front
        ctx.party_account(party_id, cur)
        return _guarantor_record(ctx, row)

    payload = [kind, name, party_id, cap_money.format(), {k: str(v) for k, v in values.items()}]
    return platform.command(
        f"guarantee.register_{kind}",
        run,
        key=key,
        payload=[*payload, controllers],
        result_type=Guarantor,
    )


def register_guarantor(
    platform: lendkit.Platform,
    name: str,
    party_id: str,
    capital: object,
    *,
    leverage: object = None,
    fee_rate: object = None,
    deposit_rate: object = None,
    liability: str | None = None,
    after_days: int | None = None,
    cover: str | None = None,
    controlled_by: Sequence[str] = (),
    key: str | None = None,
) -> Guarantor:
    """Register a guarantee company backed by the custody party ``party_id``.

    ``capital`` is its registered capital; the other settings default to the plugin configuration
    (``leverage`` 10, ``fee_rate`` 2 %, ``deposit_rate`` 10 %, ``joint`` liability after 1 day,
    principal and interest). ``controlled_by`` declares who controls it (a list of party ids, or
    :data:`OPERATOR` for the platform operator, which is refused with ``Forbidden``).
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    overrides = {
        "leverage": leverage,
        "fee_rate": fee_rate,
        "deposit_rate": deposit_rate,
        "liability": liability,
        "after_days": after_days,
        "cover": cover,
    }
    return _register(platform, "company", name, party_id, capital, overrides, controlled_by, key)


def register_partner(
    platform: lendkit.Platform,
    name: str,
    party_id: str,
    capital: object,
    *,
    leverage: object = None,
    fee_rate: object = None,
    deposit_rate: object = None,
    after_days: int | None = None,
    controlled_by: Sequence[str] = (),
    key: str | None = None,
) -> Guarantor:
    """Register an offline-origination partner (小贷公司): it recommends borrowers and guarantees
    them 100 % (joint liability, principal and interest). Otherwise as :func:`register_guarantor`."""
    overrides = {
        "leverage": leverage,
        "fee_rate": fee_rate,
        "deposit_rate": deposit_rate,
        "after_days": after_days,
    }
    return _register(platform, "partner", name, party_id, capital, overrides, controlled_by, key)


def _insert_control(ctx: HookContext, controller: str, controlled: str) -> None:
    exists = ctx.conn.execute(
        select(controls.c.controller).where(
            controls.c.controller == controller, controls.c.controlled == controlled
        )
    ).first()
    if exists is None:
        ctx.conn.execute(
            controls.insert().values(
                controller=controller, controlled=controlled, declared_at=ctx.now
            )
        )


def declare_control(
    platform: lendkit.Platform, controller: str, controlled: str, *, key: str | None = None
) -> None:
    """Declare that ``controller`` controls ``controlled`` (party ids, guarantor ids, or
    :data:`OPERATOR` for the platform operator as the controller). Relations are followed
    transitively when a guarantee is checked; declaring one twice is harmless. An id that names
    no party or guarantor is refused (``NotFound``)."""
    controller = controller if controller == OPERATOR else check_id(controller, "controller")
    controlled = check_id(controlled, "controlled party")

    def run(ctx: HookContext) -> None:
        ids = [_controlling_party(ctx, who) for who in (controller, controlled)]
        if ids[0] == ids[1]:
            raise InvalidValue(f"{controller} cannot be declared to control itself")
        _insert_control(ctx, ids[0], ids[1])

    platform.command("guarantee.declare_control", run, key=key, payload=[controller, controlled])


def recommend(
    platform: lendkit.Platform, partner_id: str, borrower_id: str, *, key: str | None = None
) -> None:
    """A partner recommends a borrower it originated offline; it may then guarantee their listings."""
    partner_id = check_id(partner_id, "partner id")
    borrower_id = check_id(borrower_id, "borrower id")

    def run(ctx: HookContext) -> None:
        ctx.party(borrower_id)  # NotFound names it
        g = _guarantor_row(ctx.conn, partner_id)
        if g.kind != "partner":
            raise InvalidState(
                f"guarantor {g.id} ({g.name}) is a {g.kind}, not a partner: only partners recommend"
                " borrowers (register_partner)"
            )
        exists = ctx.conn.execute(
            select(recommendations.c.partner_id).where(
                recommendations.c.partner_id == g.id, recommendations.c.borrower_id == borrower_id
            )
        ).first()
        if exists is None:
            ctx.conn.execute(
                recommendations.insert().values(
                    partner_id=g.id, borrower_id=borrower_id, recommended_at=ctx.now
                )
            )

    platform.command("guarantee.recommend", run, key=key, payload=[partner_id, borrower_id])


def fund_deposit(
    platform: lendkit.Platform, guarantor_id: str, amount: object, *, key: str | None = None
) -> Money:
    """The guarantor moves ``amount`` from its available custody balance into its deposit
    (保证金) with the platform. Returns the free deposit after the move.
    ``key``: an idempotency key (a repeat returns the first outcome)."""
    cur = platform.config.currency
    money = parse_amount(amount, cur, "deposit amount")
    guarantor_id = check_id(guarantor_id, "guarantor id")

    def run(ctx: HookContext) -> Money:
        g = _guarantor_row(ctx.conn, guarantor_id, lock=True)
        free, _ = _deposit_accounts(ctx, g)
        source = ctx.party_account(g.party_id, cur)
        ctx.transfer("guarantee.deposit", g.id, [(source, -money), (free, money)])
        return ctx.balance(free)

    return platform.command(
        "guarantee.fund_deposit",
        run,
        key=key,
        payload=[guarantor_id, money.format()],
        result_type=Money,
    )


def withdraw_deposit(
    platform: lendkit.Platform, guarantor_id: str, amount: object, *, key: str | None = None
) -> Money:
    """Return ``amount`` of the free deposit to the guarantor's available balance.

    Refused (``LimitExceeded``) if it would leave less than its approved, not yet disbursed
    listings will freeze. Returns the free deposit after the move.
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    cur = platform.config.currency
    money = parse_amount(amount, cur, "deposit withdrawal")
    guarantor_id = check_id(guarantor_id, "guarantor id")

    def run(ctx: HookContext) -> Money:
        g = _guarantor_row(ctx.conn, guarantor_id, lock=True)
        free, _ = _deposit_accounts(ctx, g)
        _, _, needed = _exposure(ctx.conn, g.id)
        have = ctx.balance(free)
        if have.minor - money.minor < needed:
            raise LimitExceeded(
                f"guarantor {g.id} ({g.name}) may withdraw at most"
                f" {Money.from_minor(max(0, have.minor - needed), cur)} of its free deposit {have}:"
                f" {Money.from_minor(needed, cur)} is reserved for its approved listings"
            )
        ctx.transfer(
            "guarantee.deposit_withdraw",
            g.id,
            [(free, -money), (ctx.party_account(g.party_id, cur), money)],
        )
        return ctx.balance(free)

    return platform.command(
        "guarantee.withdraw_deposit",
        run,
        key=key,
        payload=[guarantor_id, money.format()],
        result_type=Money,
    )


def _guarantee_in(
    ctx: HookContext,
    listing_id: str,
    guarantor_id: str,
    liability: str | None,
    after_days: int | None,
    cover: str | None,
) -> Guarantee:
    """Put a listing under a guarantee within the current unit of work (see guarantee_listing)."""
    listing = ctx.listing(listing_id)
    if listing.state not in ("applied", "approved"):
        raise InvalidState(
            f"listing {listing_id} is {listing.state}: a guarantee is added while it is applied or"
            " approved, before it is published"
        )
    g = _guarantor_row(ctx.conn, guarantor_id, lock=True)
    if listing.amount.currency != g.currency:
        raise InvalidValue(
            f"listing {listing_id} is in {listing.amount.currency}, guarantor in {g.currency}"
        )
    chosen_liability = g.liability if liability is None else liability
    chosen_cover = g.cover if cover is None else cover
    if g.kind == "partner" and (chosen_liability, chosen_cover) != (
        "joint",
        "principal_and_interest",
    ):
        raise InvalidValue(
            f"partner {g.id} guarantees 100 %: liability joint and cover principal_and_interest"
            f" (asked {chosen_liability}, {chosen_cover})"
        )
    if _row_for_listing(ctx.conn, listing_id) is not None:
        raise InvalidState(f"listing {listing_id} is already guaranteed")
    problems = _problems(ctx, g, listing.borrower_id, listing.amount.minor, listing_id)
    if problems:
        error = Forbidden if any(kind is Forbidden for kind, _ in problems) else LimitExceeded
        raise error("; ".join(text for _, text in problems))
    ctx.conn.execute(
        guarantees.insert().values(
            listing_id=listing_id,
            guarantor_id=g.id,
            borrower_id=listing.borrower_id,
            loan_id=None,
            amount=listing.amount.minor,
            liability=chosen_liability,
            after_days=g.after_days if after_days is None else after_days,
            cover=chosen_cover,
            fee_rate=g.fee_rate,
            deposit_rate=g.deposit_rate,
            state=COMMITTED if listing.state == "approved" else PENDING,
            fee=0,
            outstanding=0,
            frozen=0,
            defaulted=False,
            created_at=ctx.now,
        )
    )
    row = _row_for_listing(ctx.conn, listing_id)
    assert row is not None
    return _guarantee_record(row, g.currency)


def _guarantee_terms(
    liability: object, after_days: object, cover: object
) -> tuple[str | None, int | None, str | None]:
    return (
        None if liability is None else _choice(liability, "liability", LIABILITIES),
        None if after_days is None else _days(after_days, "after_days"),
        None if cover is None else _choice(cover, "cover", COVERS),
    )


def guarantee_listing(
    platform: lendkit.Platform,
    listing_id: str,
    guarantor_id: str,
    *,
    liability: str | None = None,
    after_days: int | None = None,
    cover: str | None = None,
    key: str | None = None,
) -> Guarantee:
    """Put ``listing_id`` (applied or approved, not yet published) under ``guarantor_id``'s guarantee.

    Refused with ``Forbidden`` for a related party (see the module docs) or a partner that did not
    recommend the borrower, with ``LimitExceeded`` naming the figures when the leverage cap or the
    free deposit would not hold. A listing already approved is committed against the cap at once;
    otherwise approval re-checks and commits. ``liability``, ``after_days`` and ``cover`` default to
    the guarantor's (a partner is always joint, principal and interest).
    ``key``: an idempotency key (a repeat returns the first outcome).
    """
    listing_id = check_id(listing_id, "listing id")
    guarantor_id = check_id(guarantor_id, "guarantor id")
    terms = _guarantee_terms(liability, after_days, cover)

    def run(ctx: HookContext) -> Guarantee:
        return _guarantee_in(ctx, listing_id, guarantor_id, *terms)

    return platform.command(
        "guarantee.guarantee_listing",
        run,
        key=key,
        payload=[listing_id, guarantor_id, *terms],
        result_type=Guarantee,
    )


def apply_recommended(
    platform: lendkit.Platform,
    partner_id: str,
    borrower_id: str,
    amount: object,
    *,
    key: str | None = None,
    **listing: Any,
) -> tuple[ListingRecord, Guarantee]:
    """Offline origination: apply for a listing for a recommended borrower and guarantee it by the
    partner, in one command. ``listing`` takes ``platform.listings.apply``'s keyword arguments.
    If the guarantee is refused nothing is applied and the refusal is raised.
    ``key``: an idempotency key (a repeat returns the first outcome)."""
    partner_id = check_id(partner_id, "partner id")
    borrower_id = check_id(borrower_id, "borrower id")
    parsed = parse_amount(amount, platform.config.currency, "listing amount")

    def run(ctx: HookContext) -> tuple[ListingRecord, Guarantee]:
        record = ctx.apply_listing(borrower_id, parsed, **listing)
        return record, _guarantee_in(ctx, record.id, partner_id, None, None, None)

    return platform.command(
        "guarantee.apply_recommended",
        run,
        key=key,
        payload=[partner_id, borrower_id, parsed.format(), listing],
        result_type=tuple[ListingRecord, Guarantee],
    )


def release_listing(
    platform: lendkit.Platform, listing_id: str, *, key: str | None = None
) -> Guarantee:
    """Release the guarantee of a listing, freeing the guarantor's committed capacity.

    Rejected, cancelled and failed listings release theirs automatically
    (``lendkit_listing_withdrawn`` / ``lendkit_listing_failed``); this is for an applied listing
    whose guarantor is being replaced. ``key``: an idempotency key.
    """
    listing_id = check_id(listing_id, "listing id")

    def run(ctx: HookContext) -> Guarantee:
        listing = ctx.listing(listing_id)
        if listing.state not in ("rejected", "cancelled", "failed", "applied"):
            raise InvalidState(
                f"listing {listing_id} is {listing.state}: only the guarantee of an applied,"
                " rejected, cancelled or failed listing can be released"
            )
        row = _row_for_listing(ctx.conn, listing_id, lock=True)
        if row is None:
            raise NotFound(f"listing {listing_id} has no guarantee")
        if row.state in (PENDING, COMMITTED):
            ctx.conn.execute(
                update(guarantees)
                .where(guarantees.c.listing_id == listing_id)
                .values(state=RELEASED)
            )
        row = _row_for_listing(ctx.conn, listing_id)
        assert row is not None
        return _guarantee_record(row, ctx.currency)

    return platform.command(
        "guarantee.release_listing", run, key=key, payload=[listing_id], result_type=Guarantee
    )


def get_guarantor(platform: lendkit.Platform, guarantor_id: str) -> Guarantor:
    """A guarantor with its capital, cap, outstanding, committed, deposits and compensation paid."""
    guarantor_id = check_id(guarantor_id, "guarantor id")
    return platform.command(
        "guarantee.get_guarantor",
        lambda ctx: _guarantor_record(ctx, _guarantor_row(ctx.conn, guarantor_id)),
    )


def guarantors_of(platform: lendkit.Platform) -> list[Guarantor]:
    """Every registered guarantor and partner, oldest first."""

    def run(ctx: HookContext) -> list[Guarantor]:
        rows = ctx.conn.execute(
            select(guarantors).order_by(guarantors.c.created_at, guarantors.c.id)
        ).all()
        return [_guarantor_record(ctx, r) for r in rows]

    return platform.command("guarantee.guarantors_of", run)


def guarantee_of(platform: lendkit.Platform, listing_or_loan_id: str) -> Guarantee:
    """The guarantee of a listing or of the loan it became; ``NotFound`` if there is none."""
    ident = check_id(listing_or_loan_id, "listing or loan id")

    def run(ctx: HookContext) -> Guarantee:
        row = _row_for_listing(ctx.conn, ident) or _row_for_loan(ctx.conn, ident)
        if row is None:
            raise NotFound(f"{ident} has no guarantee")
        return _guarantee_record(row, ctx.currency)

    return platform.command("guarantee.guarantee_of", run)


def compensations(
    platform: lendkit.Platform, guarantor_id: str | None = None
) -> list[Compensation]:
    """Every compensation paid (of one guarantor, or all), in order."""
    stmt = select(payouts).order_by(payouts.c.id)
    if guarantor_id is not None:
        stmt = stmt.where(payouts.c.guarantor_id == check_id(guarantor_id, "guarantor id"))

    def run(ctx: HookContext) -> list[Compensation]:
        cur = ctx.currency
        return [
            Compensation(
                r.guarantor_id,
                r.loan_id,
                r.period,
                Money.from_minor(r.principal, cur),
                Money.from_minor(r.interest, cur),
                r.paid_on,
            )
            for r in ctx.conn.execute(stmt).all()
        ]

    return platform.command("guarantee.compensations", run)


# -- hooks -------------------------------------------------------------------------------------------


@lendkit.hookimpl
def lendkit_register_settings() -> PluginSettings:
    """``config.plugins["guarantee"]`` is structured into :class:`Settings` at open."""
    return PluginSettings(PLUGIN, Settings)


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The ``guaranteed`` product: listings that need a guarantor before approval."""
    return [Product(name=PRODUCT, description="loan backed by a guarantee company (担保)")]


@lendkit.hookimpl
def lendkit_validate_listing(ctx: HookContext, listing: ListingRecord) -> Sequence[str]:
    """On approval: re-check the guarantor's leverage cap, deposit and relations (reads only: the
    capacity is committed in ``lendkit_listing_approved``, once every validator passed). A
    ``guaranteed`` listing without a guarantor is refused."""
    if listing.state != "approved":
        return []
    row = _row_for_listing(ctx.conn, listing.id, lock=True)
    if row is None:
        if listing.product == PRODUCT:
            return [
                f"listing {listing.id} is of product {PRODUCT!r} but has no guarantor:"
                " guarantee_listing() before approval"
            ]
        return []
    if row.state not in (PENDING, COMMITTED):
        return []
    g = _guarantor_row(ctx.conn, row.guarantor_id, lock=True)
    problems = _problems(ctx, g, listing.borrower_id, listing.amount.minor, listing.id)
    return [text for _, text in problems]


@lendkit.hookimpl
def lendkit_listing_approved(ctx: HookContext, listing: ListingRecord) -> None:
    """Every validator passed: commit the listing's guarantee against the guarantor's cap."""
    ctx.conn.execute(
        update(guarantees)
        .where(
            guarantees.c.listing_id == listing.id,
            guarantees.c.state.in_((PENDING, COMMITTED)),
        )
        .values(state=COMMITTED, amount=listing.amount.minor)
    )


@lendkit.hookimpl
def lendkit_listing_failed(ctx: HookContext, listing: ListingRecord) -> None:
    """A failed listing (流标) frees the capacity it had committed."""
    ctx.conn.execute(
        update(guarantees)
        .where(guarantees.c.listing_id == listing.id, guarantees.c.state.in_((PENDING, COMMITTED)))
        .values(state=RELEASED)
    )


@lendkit.hookimpl
def lendkit_listing_withdrawn(ctx: HookContext, listing: ListingRecord, reason: str) -> None:
    """A rejected or cancelled listing frees the capacity it had committed, like a failed one."""
    lendkit_listing_failed(ctx, listing)


@lendkit.hookimpl
def lendkit_disbursement_deductions(
    ctx: HookContext, listing: ListingRecord, principal: Money
) -> Sequence[Deduction]:
    """The guarantee fee (``fee_rate`` of principal) to the guarantor's custody account."""
    row = _row_for_listing(ctx.conn, listing.id)
    if row is None or row.state != COMMITTED:
        return []
    g = _guarantor_row(ctx.conn, row.guarantor_id)
    fee = principal.multiply(Decimal(row.fee_rate))
    ctx.conn.execute(
        update(guarantees).where(guarantees.c.listing_id == listing.id).values(fee=fee.minor)
    )
    if fee.is_zero():
        return []
    return [Deduction("guarantee fee", fee, ctx.party_account(g.party_id, principal.currency).code)]


@lendkit.hookimpl
def lendkit_loan_disbursed(ctx: HookContext, loan: LoanRecord) -> None:
    """Activate the guarantee and freeze ``deposit_rate`` of the principal from the free deposit
    (as much as there is: the guarantee holds even if the deposit has run short)."""
    row = _row_for_listing(ctx.conn, loan.listing_id, lock=True)
    if row is None or row.state != COMMITTED:
        return
    g = _guarantor_row(ctx.conn, row.guarantor_id, lock=True)
    free, frozen_acct = _deposit_accounts(ctx, g)
    want = _rate_of(loan.principal.minor, Decimal(row.deposit_rate))
    freeze = min(want, ctx.balance(free).minor)
    if freeze > 0:
        amount = Money.from_minor(freeze, g.currency)
        ctx.transfer("guarantee.deposit_freeze", loan.id, [(free, -amount), (frozen_acct, amount)])
    ctx.conn.execute(
        update(guarantees)
        .where(guarantees.c.listing_id == loan.listing_id)
        .values(
            state=ACTIVE,
            loan_id=loan.id,
            outstanding=loan.outstanding_principal.minor,
            frozen=max(0, freeze),
        )
    )


@lendkit.hookimpl
def lendkit_repayment_received(ctx: HookContext, loan: LoanRecord, payment: PaymentRecord) -> None:
    """Follow the loan's outstanding principal and release the deposit frozen above
    ``deposit_rate x outstanding``."""
    row = _row_for_loan(ctx.conn, loan.id)
    if row is None or row.state != ACTIVE:
        return
    g = _guarantor_row(ctx.conn, row.guarantor_id)
    outstanding = loan.outstanding_principal.minor
    frozen_left = _release_frozen(ctx, g, row, _rate_of(outstanding, Decimal(row.deposit_rate)))
    ctx.conn.execute(
        update(guarantees)
        .where(guarantees.c.loan_id == loan.id)
        .values(outstanding=outstanding, frozen=frozen_left)
    )


@lendkit.hookimpl
def lendkit_loan_closed(ctx: HookContext, loan: LoanRecord) -> None:
    """A settled or written-off loan releases the guarantor's capacity and its frozen deposit."""
    row = _row_for_loan(ctx.conn, loan.id)
    if row is None or row.state != ACTIVE:
        return
    g = _guarantor_row(ctx.conn, row.guarantor_id)
    _release_frozen(ctx, g, row, 0)
    ctx.conn.execute(
        update(guarantees)
        .where(guarantees.c.loan_id == loan.id)
        .values(state=CLOSED, outstanding=0, frozen=0)
    )


@lendkit.hookimpl
def lendkit_loan_defaulted(ctx: HookContext, loan: LoanRecord) -> None:
    """Mark the guarantee defaulted: a general-liability guarantor pays from now on."""
    ctx.conn.execute(
        update(guarantees).where(guarantees.c.loan_id == loan.id).values(defaulted=True)
    )


@lendkit.hookimpl
def lendkit_cover_claim(ctx: HookContext, claim: Claim) -> Money | None:
    """Compensate (代偿) the claim's investors if the guarantee's trigger is met.

    Joint liability: ``claim.days_overdue >= after_days``. General: the loan has defaulted.
    Pays principal and interest (or principal only) from the guarantor's available balance, then
    the deposit frozen for this loan, then its free deposit; returns what was paid.
    """
    row = _row_for_loan(ctx.conn, claim.loan_id)
    if row is None or row.state != ACTIVE:
        return None
    if row.liability == "joint":
        if claim.days_overdue < row.after_days:
            return None
    elif not (row.defaulted or claim.reason == "default"):
        return None
    want_p = claim.principal.minor
    want_i = claim.interest.minor if row.cover == "principal_and_interest" else 0
    if want_p + want_i <= 0:
        return None
    g = _guarantor_row(ctx.conn, row.guarantor_id, lock=True)
    cur = g.currency
    payer = ctx.party_account(g.party_id, cur)
    free, frozen_acct = _deposit_accounts(ctx, g)
    available = ctx.balance(payer).minor
    short = max(0, want_p + want_i - available)
    from_frozen = min(short, row.frozen)
    from_free = min(short - from_frozen, ctx.balance(free).minor)
    if from_frozen or from_free:
        ctx.transfer(
            "guarantee.deposit_draw",
            claim.loan_id,
            [
                (frozen_acct, Money.from_minor(-from_frozen, cur)),
                (free, Money.from_minor(-from_free, cur)),
                (payer, Money.from_minor(from_frozen + from_free, cur)),
            ],
        )
        if from_frozen:
            ctx.conn.execute(
                update(guarantees)
                .where(guarantees.c.loan_id == claim.loan_id)
                .values(frozen=row.frozen - from_frozen)
            )
    funds = available + from_frozen + from_free
    pay_p = min(want_p, funds)
    pay_i = min(want_i, funds - pay_p)
    if pay_p + pay_i <= 0:
        return None
    paid = ctx.pay_investors(
        claim.loan_id,
        payer,
        Money.from_minor(pay_p, cur),
        Money.from_minor(pay_i, cur),
        reason="guarantee",
        period=claim.period,
    )
    if paid.is_positive():
        paid_p = min(pay_p, paid.minor)
        ctx.conn.execute(
            payouts.insert().values(
                guarantor_id=g.id,
                loan_id=claim.loan_id,
                period=claim.period,
                principal=paid_p,
                interest=paid.minor - paid_p,
                paid_on=ctx.today,
                created_at=ctx.now,
            )
        )
    return paid


@lendkit.hookimpl
def lendkit_disclosures(ctx: HookContext) -> Sequence[Disclosure]:
    """Per guarantor: capital, cap, outstanding, committed, utilization, deposits, compensation;
    plus the totals over all guarantors."""
    rows = ctx.conn.execute(
        select(guarantors).order_by(guarantors.c.created_at, guarantors.c.id)
    ).all()
    out: list[Disclosure] = [Disclosure(PLUGIN, "guarantors", str(len(rows)))]
    cur = ctx.currency
    total_out = total_paid = Money.zero(cur)
    for r in rows:
        g = _guarantor_record(ctx, r)
        who = f"{g.name} ({g.id})"
        out += [
            Disclosure(PLUGIN, f"{who} capital", str(g.capital)),
            Disclosure(PLUGIN, f"{who} cap", f"{g.cap} ({g.leverage}x capital)"),
            Disclosure(PLUGIN, f"{who} outstanding", str(g.outstanding)),
            Disclosure(PLUGIN, f"{who} committed", str(g.committed)),
            Disclosure(PLUGIN, f"{who} utilization", _percent(g.utilization)),
            Disclosure(PLUGIN, f"{who} deposit", str(g.deposit)),
            Disclosure(PLUGIN, f"{who} deposit frozen", str(g.deposit_frozen)),
            Disclosure(PLUGIN, f"{who} compensation paid", str(g.compensated)),
        ]
        total_out, total_paid = total_out + g.outstanding, total_paid + g.compensated
    out += [
        Disclosure(PLUGIN, "outstanding guaranteed principal", str(total_out)),
        Disclosure(PLUGIN, "compensation paid", str(total_paid)),
    ]
    return out
