"""The guarantee plugin's commands (each one unit of work through ``platform.command``) and the
helpers they share with its hooks; inside a command only ``ctx`` is used."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select, update

import lendkit
from lendkit.core.access import Actor
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
from lendkit.core.money import Money, parse_rate
from lendkit.core.records import (
    ListingRecord,
)
from lendkit.core.servicing import Page, check_limit
from lendkit.plugins.guarantee.records import (
    ACTIVE,
    COMMITTED,
    COVERS,
    DEPOSIT,
    DEPOSIT_FROZEN,
    LIABILITIES,
    OPERATOR,
    OWNER_KIND,
    PENDING,
    PLUGIN,
    RELEASED,
    Compensation,
    Guarantee,
    Guarantor,
)
from lendkit.plugins.guarantee.rules import (
    choice,
    controllers_of,
    days,
    guarantee_leverage,
    guarantee_record,
    guarantee_terms,
    percent,
    rate_of,
)
from lendkit.plugins.guarantee.settings import Settings
from lendkit.plugins.guarantee.tables import (
    controls,
    guarantees,
    guarantors,
    payouts,
    recommendations,
)


def _lock(stmt: Any, conn: Connection) -> Any:
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt


def guarantor_row(conn: Connection, guarantor_id: str, *, lock: bool = False) -> Row[Any]:
    stmt = select(guarantors).where(guarantors.c.id == guarantor_id)
    row = conn.execute(_lock(stmt, conn) if lock else stmt).first()
    if row is None:
        raise NotFound(f"guarantor {str(guarantor_id)[:50]!r} does not exist")
    return row


def deposit_accounts(ctx: HookContext, g: Row[Any]) -> tuple[AccountRef, AccountRef]:
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
    deposit = sum(rate_of(r.amount, Decimal(r.deposit_rate)) for r in committed)
    return int(outstanding), int(sum(r.amount for r in committed)), int(deposit)


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


def guarantee_problems(
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
    free, _frozen = deposit_accounts(ctx, g)
    need = deposit_needed + rate_of(amount, Decimal(g.deposit_rate))
    have = ctx.balance(free)
    if need > have.minor:
        found.append(
            (
                LimitExceeded,
                f"guarantor {g.id} ({g.name}) has a free deposit of {have} but {Money.from_minor(need, cur)}"
                f" is needed ({percent(Decimal(g.deposit_rate))} of this and its other approved"
                " listings): fund_deposit() first",
            )
        )
    return found


def guarantor_record(ctx: HookContext, g: Row[Any]) -> Guarantor:
    cur = g.currency
    outstanding, committed, _ = _exposure(ctx.conn, g.id)
    free, frozen_acct = deposit_accounts(ctx, g)
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


def row_for_listing(conn: Connection, listing_id: str, *, lock: bool = False) -> Row[Any] | None:
    stmt = select(guarantees).where(guarantees.c.listing_id == listing_id)
    return conn.execute(_lock(stmt, conn) if lock else stmt).first()


def row_for_loan(conn: Connection, loan_id: str) -> Row[Any] | None:
    return conn.execute(select(guarantees).where(guarantees.c.loan_id == loan_id)).first()


def release_frozen(ctx: HookContext, g: Row[Any], row: Row[Any], target: int) -> int:
    """Move the loan's frozen deposit above ``target`` back to the free deposit; new frozen."""
    release = row.frozen - max(0, target)
    if release <= 0:
        return int(row.frozen)
    free, frozen_acct = deposit_accounts(ctx, g)
    amount = Money.from_minor(int(release), g.currency)
    ctx.transfer(
        "guarantee.deposit_release",
        row.loan_id or row.listing_id,
        [(frozen_acct, -amount), (free, amount)],
    )
    return int(row.frozen - release)


def _controlling_party(ctx: HookContext, who: str) -> str:
    """The party behind ``who`` in a control relation: a guarantor id stands for its party,
    :data:`OPERATOR` for the platform operator; anything else must be a registered party."""
    if who == OPERATOR:
        return who
    if who.startswith("gtr_"):
        return str(guarantor_row(ctx.conn, who).party_id)
    ctx.party(who)  # NotFound names it
    return who


def _register(
    platform: lendkit.Platform,
    kind: str,
    name: str,
    party_id: str,
    capital: object,
    overrides: Mapping[str, Any],
    controlled_by: object,
    key: str | None,
    actor: Actor | str | None,
) -> Guarantor:
    cfg: Settings = platform.settings.get(PLUGIN) or Settings()
    name = check_text(name, "guarantor name", MAX_NAME_LENGTH)
    party_id = check_id(party_id, "guarantor party id")
    cur = platform.config.currency
    cap_money = parse_amount(capital, cur, "registered capital")
    values = {
        "leverage": cfg.leverage
        if overrides.get("leverage") is None
        else guarantee_leverage(overrides["leverage"]),
        "fee_rate": cfg.fee_rate
        if overrides.get("fee_rate") is None
        else parse_rate(overrides["fee_rate"], "fee_rate"),
        "deposit_rate": cfg.deposit_rate
        if overrides.get("deposit_rate") is None
        else parse_rate(overrides["deposit_rate"], "deposit_rate"),
        "liability": cfg.liability
        if overrides.get("liability") is None
        else choice(overrides["liability"], "liability", LIABILITIES),
        "after_days": cfg.after_days
        if overrides.get("after_days") is None
        else days(overrides["after_days"], "after_days"),
        "cover": cfg.cover
        if overrides.get("cover") is None
        else choice(overrides["cover"], "cover", COVERS),
    }
    if kind == "partner":
        values["liability"], values["cover"] = "joint", "principal_and_interest"
    controllers = controllers_of(controlled_by)
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
        row = guarantor_row(ctx.conn, guarantor_id)
        deposit_accounts(ctx, row)  # create the deposit accounts up front
        ctx.party_account(party_id, cur)
        return guarantor_record(ctx, row)

    payload = [kind, name, party_id, cap_money.format(), {k: str(v) for k, v in values.items()}]
    return platform.command(
        f"guarantee.register_{kind}",
        run,
        key=key,
        actor=actor,
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
    actor: Actor | str | None = None,
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
    return _register(
        platform, "company", name, party_id, capital, overrides, controlled_by, key, actor
    )


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
    actor: Actor | str | None = None,
) -> Guarantor:
    """Register an offline-origination partner (小贷公司): it recommends borrowers and guarantees
    them 100 % (joint liability, principal and interest). Otherwise as :func:`register_guarantor`."""
    overrides = {
        "leverage": leverage,
        "fee_rate": fee_rate,
        "deposit_rate": deposit_rate,
        "after_days": after_days,
    }
    return _register(
        platform, "partner", name, party_id, capital, overrides, controlled_by, key, actor
    )


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
    platform: lendkit.Platform,
    controller: str,
    controlled: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
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

    platform.command(
        "guarantee.declare_control", run, key=key, actor=actor, payload=[controller, controlled]
    )


def recommend(
    platform: lendkit.Platform,
    partner_id: str,
    borrower_id: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> None:
    """A partner recommends a borrower it originated offline; it may then guarantee their listings."""
    partner_id = check_id(partner_id, "partner id")
    borrower_id = check_id(borrower_id, "borrower id")

    def run(ctx: HookContext) -> None:
        ctx.party(borrower_id)  # NotFound names it
        g = guarantor_row(ctx.conn, partner_id)
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

    platform.command(
        "guarantee.recommend", run, key=key, actor=actor, payload=[partner_id, borrower_id]
    )


def fund_deposit(
    platform: lendkit.Platform,
    guarantor_id: str,
    amount: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> Money:
    """The guarantor moves ``amount`` from its available custody balance into its deposit
    (保证金) with the platform. Returns the free deposit after the move.
    ``key``: an idempotency key (a repeat returns the first outcome)."""
    cur = platform.config.currency
    money = parse_amount(amount, cur, "deposit amount")
    guarantor_id = check_id(guarantor_id, "guarantor id")

    def run(ctx: HookContext) -> Money:
        g = guarantor_row(ctx.conn, guarantor_id, lock=True)
        free, _ = deposit_accounts(ctx, g)
        source = ctx.party_account(g.party_id, cur)
        ctx.transfer("guarantee.deposit", g.id, [(source, -money), (free, money)])
        return ctx.balance(free)

    return platform.command(
        "guarantee.fund_deposit",
        run,
        key=key,
        actor=actor,
        payload=[guarantor_id, money.format()],
        result_type=Money,
    )


def withdraw_deposit(
    platform: lendkit.Platform,
    guarantor_id: str,
    amount: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
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
        g = guarantor_row(ctx.conn, guarantor_id, lock=True)
        free, _ = deposit_accounts(ctx, g)
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
        actor=actor,
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
    g = guarantor_row(ctx.conn, guarantor_id, lock=True)
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
    if row_for_listing(ctx.conn, listing_id) is not None:
        raise InvalidState(f"listing {listing_id} is already guaranteed")
    problems = guarantee_problems(ctx, g, listing.borrower_id, listing.amount.minor, listing_id)
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
    row = row_for_listing(ctx.conn, listing_id)
    assert row is not None
    return guarantee_record(row, g.currency)


def guarantee_listing(
    platform: lendkit.Platform,
    listing_id: str,
    guarantor_id: str,
    *,
    liability: str | None = None,
    after_days: int | None = None,
    cover: str | None = None,
    key: str | None = None,
    actor: Actor | str | None = None,
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
    terms = guarantee_terms(liability, after_days, cover)

    def run(ctx: HookContext) -> Guarantee:
        return _guarantee_in(ctx, listing_id, guarantor_id, *terms)

    return platform.command(
        "guarantee.guarantee_listing",
        run,
        key=key,
        actor=actor,
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
    actor: Actor | str | None = None,
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
        actor=actor,
        payload=[partner_id, borrower_id, parsed.format(), listing],
        result_type=tuple[ListingRecord, Guarantee],
    )


def release_listing(
    platform: lendkit.Platform,
    listing_id: str,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
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
        row = row_for_listing(ctx.conn, listing_id, lock=True)
        if row is None:
            raise NotFound(f"listing {listing_id} has no guarantee")
        if row.state in (PENDING, COMMITTED):
            ctx.conn.execute(
                update(guarantees)
                .where(guarantees.c.listing_id == listing_id)
                .values(state=RELEASED)
            )
        row = row_for_listing(ctx.conn, listing_id)
        assert row is not None
        return guarantee_record(row, ctx.currency)

    return platform.command(
        "guarantee.release_listing",
        run,
        key=key,
        actor=actor,
        payload=[listing_id],
        result_type=Guarantee,
    )


def get_guarantor(platform: lendkit.Platform, guarantor_id: str) -> Guarantor:
    """A guarantor with its capital, cap, outstanding, committed, deposits and compensation paid."""
    guarantor_id = check_id(guarantor_id, "guarantor id")
    return platform.query(
        "guarantee.get_guarantor",
        lambda ctx: guarantor_record(ctx, guarantor_row(ctx.conn, guarantor_id)),
    )


def guarantors_of(platform: lendkit.Platform) -> list[Guarantor]:
    """Every registered guarantor and partner, oldest first."""

    def run(ctx: HookContext) -> list[Guarantor]:
        rows = ctx.conn.execute(
            select(guarantors).order_by(guarantors.c.created_at, guarantors.c.id)
        ).all()
        return [guarantor_record(ctx, r) for r in rows]

    return platform.query("guarantee.guarantors_of", run)


def guarantee_of(platform: lendkit.Platform, listing_or_loan_id: str) -> Guarantee:
    """The guarantee of a listing or of the loan it became; ``NotFound`` if there is none."""
    ident = check_id(listing_or_loan_id, "listing or loan id")

    def run(ctx: HookContext) -> Guarantee:
        row = row_for_listing(ctx.conn, ident) or row_for_loan(ctx.conn, ident)
        if row is None:
            raise NotFound(f"{ident} has no guarantee")
        return guarantee_record(row, ctx.currency)

    return platform.query("guarantee.guarantee_of", run)


def guarantees_by(
    platform: lendkit.Platform,
    guarantor_id: str,
    *,
    state: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[Guarantee]:
    """The guarantees of one guarantor (optionally in one ``state``), oldest first, a page at
    a time: ``after`` is the previous page's ``next`` (a listing id)."""
    guarantor_id = check_id(guarantor_id, "guarantor id")
    after = None if after is None else check_id(after, "page cursor")
    limit = check_limit(limit)
    g = guarantees.c

    def run(ctx: HookContext) -> Page[Guarantee]:
        guarantor_row(ctx.conn, guarantor_id)
        stmt = select(guarantees).where(g.guarantor_id == guarantor_id)
        if state is not None:
            stmt = stmt.where(g.state == state)
        if after is not None:
            mark = ctx.conn.execute(
                select(g.created_at).where(g.listing_id == after, g.guarantor_id == guarantor_id)
            ).scalar()
            if mark is None:
                raise InvalidValue(f"page cursor {after!r} is not a guarantee of {guarantor_id}")
            stmt = stmt.where(
                or_(g.created_at > mark, and_(g.created_at == mark, g.listing_id > after))
            )
        rows = ctx.conn.execute(stmt.order_by(g.created_at, g.listing_id).limit(limit + 1)).all()
        items = tuple(guarantee_record(r, ctx.currency) for r in rows[:limit])
        return Page(items, rows[limit - 1].listing_id if len(rows) > limit else None)

    return platform.query("guarantee.guarantees_by", run)


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

    return platform.query("guarantee.compensations", run)
