"""The ``margin`` plugin's public functions; each runs as one command (``Platform.command``):
retried on a serialization failure, with an idempotency ``key``, inside the host's transaction
on a view from ``platform.using``.

Inside a command's work only the ``HookContext`` is used (the plugin's own tables on
``ctx.conn``, ``ctx.apply_listing``, ``ctx.repay``/``ctx.repay_principal`` from the trading
account, the ledger's accounts), never a facade.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from sqlalchemy import Connection, delete, select, update

import lendkit
from lendkit.core.access import Actor, Subject
from lendkit.core.context import HookContext
from lendkit.core.errors import (
    InsufficientFunds,
    InvalidState,
    InvalidValue,
    NotFound,
    PluginError,
)
from lendkit.core.inputs import check_id, parse_amount
from lendkit.core.ledger import AccountRef
from lendkit.core.money import Money, parse_rate
from lendkit.core.records import PaymentRecord
from lendkit.plugins.margin import records as R
from lendkit.plugins.margin import rules
from lendkit.plugins.margin.records import (
    Fill,
    Liquidation,
    MarginAccount,
    Position,
    Quote,
    Valuation,
)
from lendkit.plugins.margin.settings import PLUGIN, SUBJECT, MarginSettings
from lendkit.plugins.margin.tables import accounts, positions, prices, trades

PRODUCT = "margin"
#: the listing method of a margin loan (an open-ended loan: docs/open-ended.md)
METHOD = "open-ended"


# -- reading (shared with the hooks) --------------------------------------------------------------


def account_row(conn: Connection, account_id: str, *, lock: bool = False) -> Any:
    """The account's row (``NotFound`` if none); ``lock`` takes it FOR UPDATE (PostgreSQL)."""
    stmt = select(accounts).where(accounts.c.id == account_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"margin account {account_id!r} does not exist")
    return row


def row_for(conn: Connection, *, listing_id: str | None = None, loan_id: str | None = None) -> Any:
    """The margin account financed by a listing or loan, or ``None``."""
    column = accounts.c.listing_id if listing_id is not None else accounts.c.loan_id
    return conn.execute(select(accounts).where(column == (listing_id or loan_id))).first()


def trading(ctx: HookContext, account_id: str, currency: str) -> AccountRef:
    """The account's controlled trading account (its cash; the trader cannot spend it freely)."""
    return ctx.account(PLUGIN, account_id, "trading", currency)


def market(ctx: HookContext, currency: str) -> AccountRef:
    """The market's side of buys and sells (cash paid for shares bought, received for shares
    sold; negative when sales raised more than buys cost)."""
    return ctx.account(PLUGIN, "market", "clearing", currency, allow_negative=True)


def held(conn: Connection, account_id: str) -> list[Position]:
    """The account's positions, by symbol."""
    rows = conn.execute(
        select(positions.c.symbol, positions.c.quantity)
        .where(positions.c.account_id == account_id, positions.c.quantity > 0)
        .order_by(positions.c.symbol)
    )
    return [Position(r.symbol, int(r.quantity)) for r in rows]


def borrowed(ctx: HookContext, row: Any) -> Money:
    """The borrowed funds still outstanding: the loan's outstanding principal (zero before
    disbursement and after the loan closed)."""
    if row.loan_id is None or row.state not in R.LIVE:
        return Money.zero(row.currency)
    return ctx.loan(row.loan_id).outstanding_principal


def _liquidation(row: Any) -> Liquidation | None:
    if row.liquidated_on is None:
        return None
    cur = row.currency

    def m(v: int | None) -> Money:
        return Money.from_minor(int(v or 0), cur)

    return Liquidation(
        row.id,
        row.liquidated_on,
        m(row.proceeds),
        m(row.investors_paid),
        m(row.fee),
        m(row.trader_paid),
        m(row.shortfall),
    )


def to_account(ctx: HookContext, row: Any) -> MarginAccount:
    """The public record of an account row (cash from the ledger, positions, last ratio)."""
    cur = row.currency
    return MarginAccount(
        row.id,
        row.trader_id,
        Money.from_minor(row.margin, cur),
        row.leverage,
        Money.from_minor(row.borrowed, cur),
        Decimal(row.annual_rate),
        row.state,
        ctx.balance(trading(ctx, row.id, cur)),
        tuple(held(ctx.conn, row.id)),
        row.listing_id,
        row.loan_id,
        None if row.ratio is None else Decimal(row.ratio),
        _liquidation(row),
    )


def quote(ctx: HookContext, settings: MarginSettings, symbol: str) -> Quote:
    """The current, checked price of ``symbol`` from the price feed (``lendkit_margin_price``):
    ``InvalidState`` when there is none or it is stale, ``InvalidValue`` when it is not a
    positive finite number."""
    answer = ctx.hook.lendkit_margin_price(ctx=ctx, symbol=symbol)
    if answer is None:
        raise InvalidState(f"there is no price of {symbol}: push one with margin.push_prices")
    return rules.check_quote(answer, symbol, ctx.now, settings.price_max_age_seconds)


def valuation(
    ctx: HookContext,
    settings: MarginSettings,
    row: Any,
    *,
    cash_change: Money | None = None,
    shares_change: tuple[str, int] | None = None,
) -> tuple[Valuation, dict[str, Quote]]:
    """The account marked to market (with a cash or share change applied, to test a
    withdrawal or unpledge before it is made) and the quotes used."""
    cur = row.currency
    cash = ctx.balance(trading(ctx, row.id, cur))
    if cash_change is not None:
        cash = cash + cash_change
    basket: dict[str, int] = {p.symbol: p.quantity for p in held(ctx.conn, row.id)}
    if shares_change is not None:
        symbol, change = shares_change
        basket[symbol] = basket.get(symbol, 0) + change
    quotes = {s: quote(ctx, settings, s) for s, q in sorted(basket.items()) if q > 0}
    worth = rules.basket_value([(q, quotes[s].price) for s, q in basket.items() if q > 0], cur)
    owed = borrowed(ctx, row)
    value = cash + worth
    return (
        Valuation(row.id, cash, worth, value, owed, rules.ratio(value, owed), row.state),
        quotes,
    )


def refuse_below_warning(settings: MarginSettings, v: Valuation, what: str) -> None:
    """``InvalidState`` naming the ratio and the line when ``v`` is below the warning line."""
    if rules.below(v.value, v.borrowed, settings.warning_line):
        raise InvalidState(
            f"{what} refused: margin account {v.account_id} would stand at"
            f" {rules.pct(v.ratio)} of its borrowed funds {v.borrowed} (value {v.value}),"
            f" below the warning line {rules.pct(settings.warning_line)}"
        )


def _trade(
    ctx: HookContext,
    account_id: str,
    kind: str,
    symbol: str,
    quantity: int,
    price: Decimal | None,
    money: Money,
) -> None:
    ctx.conn.execute(
        trades.insert().values(
            id=f"mtr_{uuid.uuid4().hex}",
            account_id=account_id,
            kind=kind,
            symbol=symbol,
            quantity=quantity,
            price=None if price is None else str(price),
            amount=money.minor,
            at=ctx.now,
        )
    )


def _add_shares(ctx: HookContext, account_id: str, symbol: str, change: int) -> None:
    current = ctx.conn.execute(
        select(positions.c.quantity).where(
            positions.c.account_id == account_id, positions.c.symbol == symbol
        )
    ).scalar()
    if current is None:
        ctx.conn.execute(
            positions.insert().values(account_id=account_id, symbol=symbol, quantity=change)
        )
        return
    ctx.conn.execute(
        update(positions)
        .where(positions.c.account_id == account_id, positions.c.symbol == symbol)
        .values(quantity=int(current) + change)
    )


def _shares(ctx: HookContext, row: Any, symbol: str, quantity: int) -> None:
    have = {p.symbol: p.quantity for p in held(ctx.conn, row.id)}.get(symbol, 0)
    if quantity > have:
        raise InvalidValue(
            f"margin account {row.id} holds {have} shares of {symbol}: {quantity} is more"
        )


def _live(row: Any, what: str) -> None:
    if row.state not in R.LIVE:
        raise InvalidState(
            f"margin account {row.id} is {row.state}: {what} needs an open account"
            " (its loan disbursed, not liquidated)"
        )


# -- marking to market ----------------------------------------------------------------------------


def evaluate(ctx: HookContext, settings: MarginSettings, row: Any) -> Valuation:
    """Mark a live account to market and act on the lines: at or below the liquidation line it
    is liquidated; below the warning line it is warned (once per crossing); back above it, it
    is open again. Raises what :func:`quote` raises (nothing is then changed)."""
    v, quotes = valuation(ctx, settings, row)
    state = row.state
    values: dict[str, Any] = {"ratio": None if v.ratio is None else str(v.ratio)}
    values["valued_at"] = ctx.now
    if rules.at_or_below(v.value, v.borrowed, settings.liquidation_line):
        ctx.conn.execute(update(accounts).where(accounts.c.id == row.id).values(**values))
        liquidate(ctx, settings, account_row(ctx.conn, row.id), quotes)
        return attrs.evolve(v, state=R.LIQUIDATED)
    if rules.below(v.value, v.borrowed, settings.warning_line):
        if state == R.OPEN:
            state = R.WARNING
            values.update(state=state, warned_at=ctx.now)
    elif state == R.WARNING:
        state = R.OPEN
        values.update(state=state)
    ctx.conn.execute(update(accounts).where(accounts.c.id == row.id).values(**values))
    v = Valuation(v.account_id, v.cash, v.positions_value, v.value, v.borrowed, v.ratio, state)
    if state == R.WARNING and row.state == R.OPEN:
        account = to_account(ctx, account_row(ctx.conn, row.id))
        ctx.hook.lendkit_margin_warning(ctx=ctx, account=account, valuation=v)
    return v


def evaluate_quietly(ctx: HookContext, settings: MarginSettings, row: Any) -> Valuation | None:
    """:func:`evaluate` when every price is there and fresh; ``None`` (nothing changed) when one
    is missing, stale or bad (close of business and a price push go on with the others)."""
    try:
        valuation(ctx, settings, row)  # reads only: every price there, fresh and valid?
    except (InvalidState, InvalidValue):
        return None
    return evaluate(ctx, settings, row)


def _check_fills(answer: object, holding: Sequence[Position]) -> list[Fill]:
    if answer is None or isinstance(answer, str | bytes) or not isinstance(answer, Sequence):
        raise PluginError(f"lendkit_margin_liquidate returned {answer!r}: expected a list of Fill")
    have = {p.symbol: p.quantity for p in holding}
    sold: dict[str, int] = {}
    out: list[Fill] = []
    for fill in answer:
        if not isinstance(fill, Fill):
            raise PluginError(f"lendkit_margin_liquidate returned {fill!r}: expected Fill records")
        try:
            qty = rules.parse_quantity(fill.quantity, f"quantity of {fill.symbol} sold")
            price = rules.parse_price(fill.price, fill.symbol)
        except InvalidValue as exc:
            raise PluginError(f"lendkit_margin_liquidate: {exc}") from None
        sold[fill.symbol] = sold.get(fill.symbol, 0) + qty
        if sold[fill.symbol] > have.get(fill.symbol, 0):
            raise PluginError(
                f"lendkit_margin_liquidate sold {sold[fill.symbol]} shares of {fill.symbol};"
                f" the account holds {have.get(fill.symbol, 0)}"
            )
        out.append(Fill(fill.symbol, qty, price))
    return out


def liquidate(
    ctx: HookContext, settings: MarginSettings, row: Any, quotes: Mapping[str, Quote]
) -> Liquidation:
    """Force the sale (``lendkit_margin_liquidate``) and pay from the trading account: the
    investors first (interest and principal due, then the outstanding principal, then the
    interest accrued to today; no prepayment fee), then the platform's fee on the proceeds, then
    the trader (the rest, and any shares left unsold). Done once: the account is liquidated."""
    cur = row.currency
    cash_account = trading(ctx, row.id, cur)
    holding = held(ctx.conn, row.id)
    account = to_account(ctx, row)
    answer = ctx.hook.lendkit_margin_liquidate(
        ctx=ctx,
        account=account,
        positions=holding,
        quotes=[quotes[p.symbol] for p in holding],
    )
    fills = _check_fills(answer, holding)
    proceeds = rules.fill_proceeds(fills, cur)
    for f in fills:
        _add_shares(ctx, row.id, f.symbol, -f.quantity)
        _trade(
            ctx,
            row.id,
            "liquidation",
            f.symbol,
            f.quantity,
            f.price,
            rules.amount(f.quantity, f.price, cur),
        )
    if proceeds.is_positive():
        ctx.transfer(
            "margin.liquidation", row.id, [(market(ctx, cur), -proceeds), (cash_account, proceeds)]
        )
    before = ctx.balance(cash_account)
    _pay_due(ctx, row.loan_id, cash_account)
    left = ctx.balance(cash_account)
    outstanding = ctx.loan(row.loan_id).outstanding_principal
    take = min(left, outstanding)
    if take.is_positive() and ctx.amount_due(row.loan_id).is_zero():
        ctx.repay_principal(row.loan_id, take, source=cash_account)
        _pay_due(ctx, row.loan_id, cash_account)  # the interest accrued to today
    cash = ctx.balance(cash_account)
    shortfall = ctx.loan(row.loan_id).outstanding_principal + ctx.amount_due(row.loan_id)
    unsold = held(ctx.conn, row.id)
    if shortfall.is_positive() and unsold:
        raise PluginError(
            f"lendkit_margin_liquidate left {', '.join(p.symbol for p in unsold)} unsold while"
            f" margin account {row.id}'s investors are still owed {shortfall}"
        )
    fee = min(proceeds.multiply(settings.liquidation_fee_rate), cash)
    if fee.is_positive():
        revenue = ctx.account("platform", "revenue", "revenue", cur)
        ctx.transfer("margin.liquidation_fee", row.id, [(cash_account, -fee), (revenue, fee)])
    rest = cash - fee
    if rest.is_positive():
        ctx.transfer(
            "margin.liquidation_rest",
            row.id,
            [(cash_account, -rest), (ctx.party_account(row.trader_id, cur), rest)],
        )
    for p in unsold:
        _trade(ctx, row.id, "returned", p.symbol, p.quantity, None, Money.zero(cur))
    ctx.conn.execute(delete(positions).where(positions.c.account_id == row.id))
    done = Liquidation(row.id, ctx.today, proceeds, before - cash, fee, rest, shortfall)
    ctx.conn.execute(
        update(accounts)
        .where(accounts.c.id == row.id)
        .values(
            state=R.LIQUIDATED,
            liquidated_on=ctx.today,
            proceeds=proceeds.minor,
            investors_paid=done.investors_paid.minor,
            fee=fee.minor,
            trader_paid=rest.minor,
            shortfall=shortfall.minor,
        )
    )
    after = to_account(ctx, account_row(ctx.conn, row.id))
    ctx.hook.lendkit_margin_liquidated(ctx=ctx, account=after, liquidation=done)
    return done


def _pay_due(ctx: HookContext, loan_id: str, source: AccountRef) -> None:
    pay = min(ctx.amount_due(loan_id), ctx.balance(source))
    if pay.is_positive():
        ctx.repay(loan_id, pay, source=source)


# -- commands -------------------------------------------------------------------------------------


T = TypeVar("T")


def _on_account(
    platform: lendkit.Platform,
    name: str,
    account_id: str,
    run: Callable[[HookContext], T],
    payload: list[Any],
    key: str | None,
    actor: Actor | str | None,
    result_type: Any = MarginAccount,
) -> T:
    """Run ``run`` as the command ``margin.<name>`` on the account: its subject is
    ``margin_account:<id>``, which the trader owns (``lendkit_subject_owner``)."""
    return platform.command(
        f"margin.{name}",
        run,
        key=key,
        actor=actor,
        subject=Subject(SUBJECT, account_id),
        payload=payload,
        result_type=result_type,
    )


def open_account(
    platform: lendkit.Platform,
    trader_id: str,
    margin: object,
    leverage: object,
    annual_rate: object,
    *,
    window_days: int = 7,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> MarginAccount:
    """Open a margin account: the trader's ``margin`` moves from its available balance to the
    account's controlled trading account, and a listing (product ``margin``, method
    ``open-ended``) asks investors for ``margin x leverage`` at ``annual_rate``. Once it is
    funded and disbursed (``listings.approve``/``publish``, bids, ``loans.disburse``), the
    borrowed funds go to the trading account, never to the trader's free balance.

    :param trader_id: the trader, a registered, verified party (the borrower).
    :param margin: the trader's own margin (str/int/Decimal; floats refused).
    :param leverage: ``"1:3"`` or ``3``: from 1:1 up to the configured cap (``max_leverage``).
    :param annual_rate: the investors' annual rate on the borrowed funds (``"9%"``).
    :param window_days: the listing's funding window.
    :param key: an idempotency key (a repeat returns the first outcome).
    :raises InvalidValue: a leverage above the cap (naming it and the cap), a bad amount or rate.
    :raises NotFound: the trader is not a registered party.
    :raises InsufficientFunds: the trader's available balance is below the margin.
    """
    trader = check_id(trader_id, "trader")
    cur = platform.config.currency
    money = parse_amount(margin, cur, "margin")
    lev = rules.parse_leverage(leverage)  # the cap is checked in the command
    rate = parse_rate(annual_rate, "annual rate")
    if rate <= 0:
        raise InvalidValue(f"annual rate {annual_rate} must be more than 0%")
    account_id = f"mgn_{uuid.uuid4().hex[:24]}"

    def run(ctx: HookContext) -> MarginAccount:
        settings: MarginSettings = ctx.settings(PLUGIN)
        rules.parse_leverage(lev, settings.max_leverage)
        ctx.party(trader)
        loan_amount = money.multiply(lev)
        ctx.conn.execute(
            accounts.insert().values(
                id=account_id,
                trader_id=trader,
                currency=cur,
                margin=money.minor,
                leverage=lev,
                borrowed=loan_amount.minor,
                annual_rate=str(rate),
                state=R.APPLYING,
                created_at=ctx.now,
            )
        )
        available = ctx.party_account(trader, cur)
        if ctx.balance(available) < money:
            raise InsufficientFunds(
                f"trader {trader} has {ctx.balance(available)} available: the margin {money}"
                " cannot be paid"
            )
        ctx.transfer(
            "margin.deposit",
            account_id,
            [(available, -money), (trading(ctx, account_id, cur), money)],
        )
        listing = ctx.apply_listing(
            trader,
            loan_amount.format(),
            annual_rate=rate,
            method=METHOD,
            product=PRODUCT,
            window_days=window_days,
        )
        ctx.conn.execute(
            update(accounts).where(accounts.c.id == account_id).values(listing_id=listing.id)
        )
        return to_account(ctx, account_row(ctx.conn, account_id))

    return platform.command(
        "margin.open_account",
        run,
        key=key,
        actor=actor,
        subject=Subject("party", trader),
        payload=[trader, money.format(), lev, str(rate), window_days],
        result_type=MarginAccount,
    )


def get_account(platform: lendkit.Platform, account_id: str) -> MarginAccount:
    """The account as it is now (cash, positions, last ratio, liquidation). Reads only."""
    account_id = check_id(account_id, "margin account")
    return platform.query(
        "margin.get_account", lambda ctx: to_account(ctx, account_row(ctx.conn, account_id))
    )


def value(platform: lendkit.Platform, account_id: str) -> Valuation:
    """The account marked to market at current prices, without acting on the lines. Reads
    only; refused when a price is missing or stale."""
    account_id = check_id(account_id, "margin account")

    def run(ctx: HookContext) -> Valuation:
        return valuation(ctx, ctx.settings(PLUGIN), account_row(ctx.conn, account_id))[0]

    return platform.query("margin.value", run)


def add_margin(
    platform: lendkit.Platform,
    account_id: str,
    amount: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> MarginAccount:
    """The trader tops the trading account up from its available balance (e.g. to climb back
    above the warning line); a live account is marked to market again when its prices are
    fresh."""
    account_id = check_id(account_id, "margin account")
    money = parse_amount(amount, platform.config.currency, "margin top-up")

    def run(ctx: HookContext) -> MarginAccount:
        row = account_row(ctx.conn, account_id, lock=True)
        _live(row, "a top-up")
        ctx.transfer(
            "margin.deposit",
            account_id,
            [
                (ctx.party_account(row.trader_id, row.currency), -money),
                (trading(ctx, account_id, row.currency), money),
            ],
        )
        evaluate_quietly(ctx, ctx.settings(PLUGIN), account_row(ctx.conn, account_id))
        return to_account(ctx, account_row(ctx.conn, account_id))

    return _on_account(
        platform, "add_margin", account_id, run, [account_id, money.format()], key, actor
    )


def withdraw(
    platform: lendkit.Platform,
    account_id: str,
    amount: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> MarginAccount:
    """Move cash from the trading account to the trader's available balance. Refused, with
    nothing changed, when the account would stand below the warning line afterwards (naming
    the ratio and the line), when a price is missing or stale, or above the cash held."""
    account_id = check_id(account_id, "margin account")
    money = parse_amount(amount, platform.config.currency, "withdrawal")

    def run(ctx: HookContext) -> MarginAccount:
        settings: MarginSettings = ctx.settings(PLUGIN)
        row = account_row(ctx.conn, account_id, lock=True)
        if row.state in (R.APPLYING, R.WITHDRAWN):
            raise InvalidState(f"margin account {account_id} is {row.state}: nothing to withdraw")
        cash = trading(ctx, account_id, row.currency)
        if ctx.balance(cash) < money:
            raise InsufficientFunds(
                f"margin account {account_id} holds {ctx.balance(cash)} in cash: {money} cannot"
                " be withdrawn"
            )
        if row.state in R.LIVE:
            after, _ = valuation(ctx, settings, row, cash_change=-money)
            refuse_below_warning(settings, after, f"withdrawal of {money}")
        ctx.transfer(
            "margin.withdrawal",
            account_id,
            [(cash, -money), (ctx.party_account(row.trader_id, row.currency), money)],
        )
        return to_account(ctx, account_row(ctx.conn, account_id))

    return _on_account(
        platform, "withdraw", account_id, run, [account_id, money.format()], key, actor
    )


def pledge(
    platform: lendkit.Platform,
    account_id: str,
    symbol: str,
    quantity: int,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> MarginAccount:
    """The trader brings ``quantity`` shares of ``symbol`` into the account as collateral (the
    integrator moved them into the controlled securities account)."""
    account_id = check_id(account_id, "margin account")
    sym = rules.parse_symbol(symbol)
    qty = rules.parse_quantity(quantity)

    def run(ctx: HookContext) -> MarginAccount:
        row = account_row(ctx.conn, account_id, lock=True)
        if row.state not in (R.APPLYING, *R.LIVE):
            raise InvalidState(
                f"margin account {account_id} is {row.state}: nothing can be pledged"
            )
        _add_shares(ctx, account_id, sym, qty)
        _trade(ctx, account_id, "pledge", sym, qty, None, Money.zero(row.currency))
        return to_account(ctx, account_row(ctx.conn, account_id))

    return _on_account(platform, "pledge", account_id, run, [account_id, sym, qty], key, actor)


def unpledge(
    platform: lendkit.Platform,
    account_id: str,
    symbol: str,
    quantity: int,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> MarginAccount:
    """Release ``quantity`` shares of ``symbol`` to the trader. Refused, with nothing changed,
    when the account would stand below the warning line afterwards (naming the ratio and the
    line) or a price is missing or stale."""
    account_id = check_id(account_id, "margin account")
    sym = rules.parse_symbol(symbol)
    qty = rules.parse_quantity(quantity)

    def run(ctx: HookContext) -> MarginAccount:
        settings: MarginSettings = ctx.settings(PLUGIN)
        row = account_row(ctx.conn, account_id, lock=True)
        if row.state in (R.LIQUIDATED, R.WITHDRAWN):
            raise InvalidState(f"margin account {account_id} is {row.state}: it holds no shares")
        _shares(ctx, row, sym, qty)
        if row.state in R.LIVE:
            after, _ = valuation(ctx, settings, row, shares_change=(sym, -qty))
            refuse_below_warning(settings, after, f"unpledge of {qty} {sym}")
        _add_shares(ctx, account_id, sym, -qty)
        _trade(ctx, account_id, "unpledge", sym, qty, None, Money.zero(row.currency))
        return to_account(ctx, account_row(ctx.conn, account_id))

    return _on_account(platform, "unpledge", account_id, run, [account_id, sym, qty], key, actor)


def buy(
    platform: lendkit.Platform,
    account_id: str,
    symbol: str,
    quantity: int,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> MarginAccount:
    """Buy ``quantity`` shares of ``symbol`` with the trading account's cash at the current
    price (``quantity x price`` HALF_UP to the cent). Refused, with nothing changed, while the
    account stands below the warning line, above the cash held, or without a fresh price."""
    account_id = check_id(account_id, "margin account")
    sym = rules.parse_symbol(symbol)
    qty = rules.parse_quantity(quantity)

    def run(ctx: HookContext) -> MarginAccount:
        settings: MarginSettings = ctx.settings(PLUGIN)
        row = account_row(ctx.conn, account_id, lock=True)
        _live(row, "a buy")
        now, _ = valuation(ctx, settings, row)
        if row.state == R.WARNING or rules.below(now.value, now.borrowed, settings.warning_line):
            raise InvalidState(
                f"buy of {qty} {sym} refused: margin account {account_id} stands at"
                f" {rules.pct(now.ratio)}, below the warning line"
                f" {rules.pct(settings.warning_line)}: new buys are blocked"
            )
        price = quote(ctx, settings, sym).price
        cost = rules.amount(qty, price, row.currency)
        cash = trading(ctx, account_id, row.currency)
        if ctx.balance(cash) < cost:
            raise InsufficientFunds(
                f"buy of {qty} {sym} at {price} costs {cost}; margin account {account_id} holds"
                f" {ctx.balance(cash)} in cash"
            )
        ctx.transfer("margin.buy", account_id, [(cash, -cost), (market(ctx, row.currency), cost)])
        _add_shares(ctx, account_id, sym, qty)
        _trade(ctx, account_id, "buy", sym, qty, price, cost)
        return to_account(ctx, account_row(ctx.conn, account_id))

    return _on_account(platform, "buy", account_id, run, [account_id, sym, qty], key, actor)


def sell(
    platform: lendkit.Platform,
    account_id: str,
    symbol: str,
    quantity: int,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> MarginAccount:
    """Sell ``quantity`` shares of ``symbol`` at the current price; the proceeds stay in the
    trading account (allowed below the warning line too: selling does not lower the value)."""
    account_id = check_id(account_id, "margin account")
    sym = rules.parse_symbol(symbol)
    qty = rules.parse_quantity(quantity)

    def run(ctx: HookContext) -> MarginAccount:
        settings: MarginSettings = ctx.settings(PLUGIN)
        row = account_row(ctx.conn, account_id, lock=True)
        if row.state not in (*R.LIVE, R.REPAID):
            raise InvalidState(f"margin account {account_id} is {row.state}: nothing can be sold")
        _shares(ctx, row, sym, qty)
        price = quote(ctx, settings, sym).price
        got = rules.amount(qty, price, row.currency)
        cash = trading(ctx, account_id, row.currency)
        ctx.transfer("margin.sell", account_id, [(market(ctx, row.currency), -got), (cash, got)])
        _add_shares(ctx, account_id, sym, -qty)
        _trade(ctx, account_id, "sell", sym, qty, price, got)
        return to_account(ctx, account_row(ctx.conn, account_id))

    return _on_account(platform, "sell", account_id, run, [account_id, sym, qty], key, actor)


def repay_principal(
    platform: lendkit.Platform,
    account_id: str,
    amount: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> PaymentRecord:
    """Repay ``amount`` of the borrowed funds early from the trading account's cash (the
    open-ended loan's ``repay_principal``: interest accrues to today at the old balance
    first, investors receive the principal pro rata, no prepayment fee)."""
    account_id = check_id(account_id, "margin account")
    money = parse_amount(amount, platform.config.currency, "principal repayment")

    def run(ctx: HookContext) -> PaymentRecord:
        row = account_row(ctx.conn, account_id, lock=True)
        _live(row, "a principal repayment")
        return ctx.repay_principal(
            row.loan_id, money, source=trading(ctx, account_id, row.currency)
        )

    return _on_account(
        platform,
        "repay_principal",
        account_id,
        run,
        [account_id, money.format()],
        key,
        actor,
        result_type=PaymentRecord,
    )


def _quotes(value: object) -> list[tuple[str, Decimal, datetime]]:
    items: list[tuple[object, object, object]]
    if isinstance(value, Mapping):
        items = []
        for symbol, pair in value.items():
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise InvalidValue(f"price of {symbol!r} must be (price, as_of), got {pair!r}")
            items.append((symbol, pair[0], pair[1]))
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for q in value:
            if not isinstance(q, Quote):
                raise InvalidValue(f"prices must be Quote records, got {q!r}")
            items.append((q.symbol, q.price, q.as_of))
    else:
        raise InvalidValue("prices must be a list of Quote or a {symbol: (price, as_of)} mapping")
    if not items:
        raise InvalidValue("push at least one price")
    out: dict[str, tuple[str, Decimal, datetime]] = {}
    for symbol, price, as_of in items:
        sym = rules.parse_symbol(symbol)
        if not isinstance(as_of, datetime) or as_of.tzinfo is None:
            raise InvalidValue(f"the price of {sym} needs a timezone-aware time, got {as_of!r}")
        if sym in out:
            raise InvalidValue(f"{sym} is priced twice in one push")
        out[sym] = (sym, rules.parse_price(price, sym), as_of)
    return list(out.values())


def push_prices(
    platform: lendkit.Platform,
    quotes: object,
    *,
    key: str | None = None,
    actor: Actor | str | None = None,
) -> list[Valuation]:
    """The integrator pushes prices (``[Quote(...)]`` or ``{symbol: (price, as_of)}``): they
    are stored (``margin``'s own price feed answers them) and every live account holding one
    of the symbols is marked to market and acted on: warned below the warning line, liquidated
    at the liquidation line. Refused as a whole, with nothing changed, for a price of 0,
    negative, NaN or stale (older than ``price_max_age_seconds``). Accounts whose other prices
    are missing or stale are left for later.

    :returns: the valuations of the accounts marked (by account id).
    """
    parsed = _quotes(quotes)

    def run(ctx: HookContext) -> list[Valuation]:
        settings: MarginSettings = ctx.settings(PLUGIN)
        for sym, price, as_of in parsed:
            rules.check_quote(
                Quote(sym, price, as_of), sym, ctx.now, settings.price_max_age_seconds
            )
        for sym, price, as_of in parsed:
            stored = ctx.conn.execute(
                update(prices).where(prices.c.symbol == sym).values(price=str(price), as_of=as_of)
            )
            if stored.rowcount == 0:
                ctx.conn.execute(prices.insert().values(symbol=sym, price=str(price), as_of=as_of))
        symbols = [sym for sym, _, _ in parsed]
        ids = ctx.conn.execute(
            select(accounts.c.id)
            .join(positions, positions.c.account_id == accounts.c.id)
            .where(
                accounts.c.state.in_(R.LIVE),
                positions.c.symbol.in_(symbols),
                positions.c.quantity > 0,
            )
            .distinct()
            .order_by(accounts.c.id)
        ).scalars()
        done: list[Valuation] = []
        for account_id in list(ids):
            row = account_row(ctx.conn, account_id, lock=True)
            if row.state in R.LIVE:
                v = evaluate_quietly(ctx, settings, row)
                if v is not None:
                    done.append(v)
        return done

    payload = [[s, str(p), a.isoformat()] for s, p, a in parsed]
    return platform.command(
        "margin.push_prices",
        run,
        key=key,
        actor=actor,
        payload=payload,
        result_type=list[Valuation],
    )


def evaluate_all(ctx: HookContext) -> int:
    """Mark every live account to market (close of business); how many were valued."""
    settings: MarginSettings = ctx.settings(PLUGIN)
    ids = list(
        ctx.conn.execute(
            select(accounts.c.id).where(accounts.c.state.in_(R.LIVE)).order_by(accounts.c.id)
        ).scalars()
    )
    valued = 0
    for account_id in ids:
        row = account_row(ctx.conn, account_id, lock=True)
        if row.state in R.LIVE and evaluate_quietly(ctx, settings, row) is not None:
            valued += 1
    return valued


def stored_price(ctx: HookContext, symbol: str) -> Quote | None:
    """The price last pushed for ``symbol`` (``margin``'s own price feed), or ``None``."""
    row = ctx.conn.execute(select(prices).where(prices.c.symbol == symbol)).first()
    if row is None:
        return None
    as_of = row.as_of if row.as_of.tzinfo is not None else row.as_of.replace(tzinfo=UTC)
    return Quote(row.symbol, Decimal(row.price), as_of)
