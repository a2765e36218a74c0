"""The margin plugin (股票配资), exact to the cent, on SQLite and PostgreSQL.

The account of every scenario: the trader's margin 100,000.00 at 1:3 borrows 300,000.00 from
two investors (180,000.00 and 120,000.00: every payment splits 6:4) at 8.75 % a year, ACT/360,
disbursed on 2026-01-07 into the controlled trading account (400,000.00); the trader buys
39,000 shares of 600000.SH at 10.00 (390,000.00), leaving 10,000.00 in cash. Interest to date
= the sum of principal x days x 8.75 % / 360, rounded once; each monthly charge (the 1st) takes
the interest to date less what earlier charges took. No service or management fee.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine

import lendkit
from lendkit import Money, hookimpl
from lendkit.core.errors import (
    IdempotencyConflict,
    InvalidState,
    InvalidValue,
    LendkitError,
    NotFound,
)
from lendkit.plugins import margin
from lendkit.plugins.margin.tables import metadata as margin_metadata
from lendkit.store.db import create_nullpool_engine
from tests.conftest import FixedClock, dump, party

M = Money.of
SYMBOL = "600000.SH"
START = date(2026, 1, 7)
CONFIG = {"service_fee_rate": "0", "management_fee_rate": "0", "grace_days": 0}


class Watcher:
    """An integrator: records warnings and liquidations; optionally a price feed of its own."""

    lendkit_plugin_name = "watcher"

    def __init__(self) -> None:
        self.warnings: list[tuple[str, Decimal | None]] = []
        self.liquidations: list[margin.Liquidation] = []
        self.feed: dict[str, Decimal] = {}

    @hookimpl
    def lendkit_margin_warning(self, account: Any, valuation: Any) -> None:
        self.warnings.append((account.id, valuation.ratio))

    @hookimpl
    def lendkit_margin_liquidated(self, liquidation: Any) -> None:
        self.liquidations.append(liquidation)

    @hookimpl
    def lendkit_margin_price(self, ctx: Any, symbol: str) -> Any:
        if symbol not in self.feed:
            return None
        return margin.Quote(symbol, self.feed[symbol], ctx.now)


def at(clock: FixedClock, day: date, hour: int = 15) -> None:
    clock.set(datetime.combine(day, time(hour), tzinfo=UTC))


def everything(p: lendkit.Platform) -> list[Any]:
    """Every row of lendkit's and the plugin's tables: equal before and after = nothing changed."""
    url = p.engine.url.render_as_string(hide_password=False)
    engine = create_engine(url) if "sqlite" in url else create_nullpool_engine(url)
    out: list[Any] = []
    with engine.connect() as conn:
        for table in margin_metadata.sorted_tables:
            out.append(sorted((tuple(r) for r in conn.execute(table.select())), key=repr))
    engine.dispose()
    return [*dump(url), *out]


def available(p: lendkit.Platform, who: str) -> Money:
    return p.custody.balance(who).available


def disclosed(p: lendkit.Platform) -> dict[str, str]:
    return {d.name: d.value for d in p.reports.disclosure() if d.plugin == "margin"}


def open_funded(
    make_platform: Callable[..., lendkit.Platform],
    clock: FixedClock,
    watcher: Watcher,
    **settings: Any,
) -> tuple[lendkit.Platform, margin.MarginAccount, str, str, str]:
    """The account of the module docstring, with its 39,000 shares bought at 10.00."""
    at(clock, START, 9)
    p = make_platform(
        plugins=["margin", watcher], config={**CONFIG, "plugins": {"margin": settings}}
    )
    trader = party(p, "trader", "105000")
    i1, i2 = party(p, "i1", "180000"), party(p, "i2", "120000")
    acct = margin.open_account(p, trader, "100000", "1:3", "8.75%")
    assert acct.state == "applying" and acct.borrowed == M("300000") and acct.cash == M("100000")
    assert available(p, trader) == M("5000")
    p.listings.approve(acct.listing_id, grade="A")
    p.listings.publish(acct.listing_id)
    p.bidding.bid(acct.listing_id, i1, "180000")
    p.bidding.bid(acct.listing_id, i2, "120000")
    loan = p.loans.disburse(acct.listing_id)
    assert loan.method == "open-ended"
    acct = margin.get_account(p, acct.id)
    # the borrowed funds are in the trading account, not the trader's free balance
    assert (acct.state, acct.cash, acct.loan_id) == ("open", M("400000"), loan.id)
    assert available(p, trader) == M("5000")
    margin.push_prices(p, {SYMBOL: ("10.00", clock.now)})
    acct = margin.buy(p, acct.id, SYMBOL, 39000)
    assert acct.cash == M("10000") and acct.positions == (margin.Position(SYMBOL, 39000),)
    assert p.verify().ok
    return p, acct, trader, i1, i2


def test_a_margin_account_through_interest_repayment_warning_and_liquidation(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    watcher = Watcher()
    p, acct, trader, i1, i2 = open_funded(make_platform, clock, watcher)
    assert margin.value(p, acct.id).ratio == Decimal("1.3333")

    # a month of interest: 300,000.00 x 25 days (01-07 to 02-01) x 8.75 % / 360 = 1,822.9166..
    # -> 1,822.92, charged from the trading account on 02-01; investors 1,093.75 / 729.17
    at(clock, date(2026, 2, 1), 20)
    p.cob.run(date(2026, 2, 1))
    assert margin.get_account(p, acct.id).cash == M("8177.08")
    assert available(p, i1) == M("1093.75") and available(p, i2) == M("729.17")
    assert available(p, trader) == M("5000")  # the free balance is not charged
    assert p.verify().ok

    # principal repaid early from the trading account (sold 10,000 shares at 10.00 first)
    at(clock, date(2026, 2, 11))
    margin.push_prices(p, {SYMBOL: ("10.00", clock.now)})
    margin.sell(p, acct.id, SYMBOL, 10000)
    paid = margin.repay_principal(p, acct.id, "100000", key="early-1")
    again = margin.repay_principal(p, acct.id, "100000", key="early-1")
    assert again == paid and paid.principal == M("100000") and paid.interest == M("0")
    with pytest.raises(IdempotencyConflict):
        margin.repay_principal(p, acct.id, "1", key="early-1")
    assert p.loans.get(acct.loan_id).outstanding_principal == M("200000")
    assert available(p, i1) == M("61093.75") and available(p, i2) == M("40729.17")
    assert margin.get_account(p, acct.id).cash == M("8177.08")
    assert p.verify().ok

    # 03-01: to date (300,000 x 35 + 200,000 x 18) x 8.75 % / 360 = 3,427.0833.. -> 3,427.08;
    # less 1,822.92 already charged = 1,604.16 (not 1,604.17: the residual carries)
    at(clock, date(2026, 3, 1), 20)
    p.cob.run(date(2026, 3, 1))
    assert margin.get_account(p, acct.id).cash == M("6572.92")
    assert available(p, i1) == M("62056.25") and available(p, i2) == M("41370.83")
    assert p.verify().ok

    # 7.30: 29,000 x 7.30 + 6,572.92 = 218,272.92 / 200,000 = 109.136 % < 110 %: warned
    at(clock, date(2026, 3, 2))
    [warned] = margin.push_prices(p, {SYMBOL: ("7.30", clock.now)})
    assert (warned.state, warned.value, warned.ratio) == (
        "warning",
        M("218272.92"),
        Decimal("1.0913"),
    )
    assert watcher.warnings == [(acct.id, Decimal("1.0913"))]
    margin.push_prices(p, {SYMBOL: ("7.30", clock.now)})
    assert len(watcher.warnings) == 1  # once per crossing
    before = everything(p)
    with pytest.raises(InvalidState, match=r"109\.13%.*below the warning line 110\.00%"):
        margin.withdraw(p, acct.id, "1")
    with pytest.raises(InvalidState, match="warning line"):
        margin.unpledge(p, acct.id, SYMBOL, 1)
    with pytest.raises(InvalidState, match="new buys are blocked"):
        margin.buy(p, acct.id, SYMBOL, 1)
    assert everything(p) == before
    assert disclosed(p)["accounts near the warning line"] == "1"
    assert p.verify().ok

    # the price gaps down to 6.00 (at or below 105 %): forced sale of 29,000 at 6.00 =
    # 174,000.00; the trading account's 180,572.92 all goes to the investors as principal
    # (108,343.75 / 72,229.17); nothing to the platform's fee or the trader; 19,427.08 short
    at(clock, date(2026, 3, 3))
    [sold] = margin.push_prices(p, {SYMBOL: ("6.00", clock.now)})
    assert sold.state == "liquidated"
    [done] = watcher.liquidations
    assert (done.proceeds, done.investors_paid, done.fee, done.trader_paid, done.shortfall) == (
        M("174000"),
        M("180572.92"),
        M("0"),
        M("0"),
        M("19427.08"),
    )
    acct = margin.get_account(p, acct.id)
    assert (acct.state, acct.cash, acct.positions, acct.liquidation) == (
        "liquidated",
        M("0"),
        (),
        done,
    )
    assert available(p, i1) == M("170400.00") and available(p, i2) == M("113600.00")
    assert available(p, trader) == M("5000")
    assert p.loans.get(acct.loan_id).outstanding_principal == M("19427.08")
    d = disclosed(p)
    assert d["liquidations"] == "1" and d["liquidation shortfall"] == "19427.08 CNY"
    assert d[f"liquidation of account {acct.id}"] == (
        "on 2026-03-03, proceeds 174000.00 CNY, shortfall 19427.08 CNY"
    )
    assert p.verify().ok

    # close of business of that day, twice: nothing is sold or paid again
    at(clock, date(2026, 3, 3), 20)
    p.cob.run(date(2026, 3, 3))
    before = everything(p)
    p.cob.run(date(2026, 3, 3))
    assert everything(p) == before and len(watcher.liquidations) == 1
    assert p.verify().ok


def test_close_of_business_liquidates_from_the_integrators_feed_once(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    watcher = Watcher()
    p, acct, trader, i1, i2 = open_funded(make_platform, clock, watcher)
    # the integrator's feed says 7.80 at close of business on 01-08: 39,000 x 7.80 = 304,200.00
    # + 10,000.00 cash = 314,200.00 / 300,000.00 = 104.73 %, at or below 105 %: sold
    watcher.feed[SYMBOL] = Decimal("7.80")
    at(clock, date(2026, 1, 8), 20)
    p.cob.run(date(2026, 1, 8))
    # investors: principal 300,000.00, then one day's interest 300,000 x 8.75 % / 360 =
    # 72.9166.. -> 72.92 (43.75 / 29.17); the platform's fee 0.5 % of 304,200.00 = 1,521.00;
    # the trader the rest: 314,200.00 - 300,072.92 - 1,521.00 = 12,606.08
    [done] = watcher.liquidations
    assert (done.proceeds, done.investors_paid, done.fee, done.trader_paid, done.shortfall) == (
        M("304200"),
        M("300072.92"),
        M("1521"),
        M("12606.08"),
        M("0"),
    )
    assert available(p, i1) == M("180043.75") and available(p, i2) == M("120029.17")
    assert available(p, trader) == M("17606.08")
    assert p.loans.get(acct.loan_id).state == "settled"
    assert margin.get_account(p, acct.id).state == "liquidated"
    assert p.verify().ok
    before = everything(p)
    p.cob.run(date(2026, 1, 8))  # a rerun pays nobody twice
    watcher.feed[SYMBOL] = Decimal("5")
    at(clock, date(2026, 1, 9), 20)
    p.cob.run(date(2026, 1, 9))  # nor does the next day: the account is liquidated
    assert len(watcher.liquidations) == 1
    assert available(p, i1) == M("180043.75") and available(p, trader) == M("17606.08")
    assert margin.get_account(p, acct.id).cash == M("0")
    assert everything(p)[-4:] == before[-4:]  # the plugin's tables did not change
    assert p.verify().ok


def test_a_withdrawal_above_the_warning_line_and_stale_prices(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p, acct, trader, _, _ = open_funded(make_platform, clock, Watcher(), price_max_age_seconds=3600)
    # 32,999 x 10.00 + 70,010 = 400,000: withdrawing 70,000 leaves 330,000 = 110 %, allowed;
    # one cent more would leave 109.99 %
    margin.sell(p, acct.id, SYMBOL, 6001)
    with pytest.raises(InvalidState, match=r"109\.99%.*below the warning line 110\.00%"):
        margin.withdraw(p, acct.id, "70000.01")
    assert margin.withdraw(p, acct.id, "70000").cash == M("10")
    assert available(p, trader) == M("75000")
    margin.add_margin(p, acct.id, "10000")
    # an hour and a second later the pushed price is stale: refused, nothing changed
    clock.set(clock.now + timedelta(seconds=3601))
    before = everything(p)
    with pytest.raises(InvalidState, match=r"price of 600000\.SH .* is stale.*3600 seconds"):
        margin.withdraw(p, acct.id, "1")
    with pytest.raises(InvalidState, match="stale"):
        margin.push_prices(p, {SYMBOL: ("10.00", clock.now - timedelta(seconds=3601))})
    with pytest.raises(InvalidState, match="stale"):
        margin.buy(p, acct.id, SYMBOL, 1)
    assert everything(p) == before
    # close of business leaves an account with a stale price unvalued (and goes on)
    at(clock, date(2026, 1, 8), 20)
    p.cob.run(date(2026, 1, 8))
    assert margin.get_account(p, acct.id).state == "open"
    assert p.verify().ok


@pytest.mark.parametrize(
    ("price", "error", "message"),
    [
        ("0", InvalidValue, r"price of 600000\.SH 0 is not allowed: a price must be more than 0"),
        ("-1.5", InvalidValue, "must be more than 0"),
        ("NaN", InvalidValue, "'NaN' is not allowed: a price is a positive finite number"),
        (Decimal("NaN"), InvalidValue, "positive finite number"),
        (float("nan"), InvalidValue, "is a float"),
        ("10.00001", InvalidValue, "more than 4 decimal places"),
    ],
)
def test_bad_prices_are_refused_and_nothing_changes(
    make_platform: Callable[..., lendkit.Platform],
    clock: FixedClock,
    price: object,
    error: type[LendkitError],
    message: str,
) -> None:
    p, _acct, _, _, _ = open_funded(make_platform, clock, Watcher())
    before = everything(p)
    with pytest.raises(error, match=message):
        margin.push_prices(p, {"601398.SH": ("5.00", clock.now), SYMBOL: (price, clock.now)})
    assert everything(p) == before


def test_bad_input_is_refused_and_nothing_changes(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p, acct, trader, _, _ = open_funded(make_platform, clock, Watcher())
    before = everything(p)
    with pytest.raises(InvalidValue, match=r"leverage 1:6 is not allowed: allowed 1:1 up to 1:5"):
        margin.open_account(p, trader, "1000", "1:6", "9%")
    with pytest.raises(InvalidValue, match=r"leverage 1:11 is not allowed: allowed 1:1 up to 1:5"):
        margin.open_account(p, trader, "1000", 11, "9%")
    with pytest.raises(InvalidValue, match=r"leverage 1:0"):
        margin.open_account(p, trader, "1000", 0, "9%")
    with pytest.raises(InvalidValue, match="not a leverage like '1:3'"):
        margin.open_account(p, trader, "1000", "3x", "9%")
    with pytest.raises(InvalidValue, match="float"):
        margin.open_account(p, trader, 1000.0, 2, "9%")
    with pytest.raises(NotFound, match="margin account 'mgn_nope' does not exist"):
        margin.withdraw(p, "mgn_nope", "1")
    with pytest.raises(NotFound, match="does not exist"):
        margin.buy(p, "mgn_nope", SYMBOL, 1)
    with pytest.raises(NotFound, match="does not exist"):
        margin.get_account(p, "mgn_nope")
    with pytest.raises(InvalidValue, match="whole number of shares"):
        margin.buy(p, acct.id, SYMBOL, 0)
    with pytest.raises(InvalidValue, match="symbol"):
        margin.pledge(p, acct.id, "bad symbol!", 1)
    with pytest.raises(InvalidValue, match="holds 39000 shares"):
        margin.sell(p, acct.id, SYMBOL, 39001)
    with pytest.raises(InvalidState, match=r"no price of 601398\.SH"):
        margin.buy(p, acct.id, "601398.SH", 1)
    with pytest.raises(NotFound):
        margin.open_account(p, "nobody", "1000", 2, "9%")
    assert everything(p) == before


def test_the_cap_is_configurable_and_checked_at_review(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(
        plugins=["margin"], config={**CONFIG, "plugins": {"margin": {"max_leverage": 2}}}
    )
    trader = party(p, "trader", "1000")
    with pytest.raises(InvalidValue, match=r"leverage 1:3 is not allowed: allowed 1:1 up to 1:2"):
        margin.open_account(p, trader, "1000", "1:3", "9%")
    with pytest.raises(lendkit.ConfigError, match="max_leverage"):
        make_platform(plugins=["margin"], config={"plugins": {"margin": {"max_leverage": 11}}})
    with pytest.raises(lendkit.ConfigError, match="liquidation_line"):
        make_platform(
            plugins=["margin"], config={"plugins": {"margin": {"liquidation_line": "1.2"}}}
        )
    # a margin listing is filed by open_account only
    with pytest.raises(InvalidState, match=r"filed with margin\.open_account"):
        p.listings.apply(trader, "2000", annual_rate="9%", method="open-ended", product="margin")


def test_a_failed_listing_returns_the_margin_and_a_host_transaction_is_joined(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    at(clock, START, 9)
    p = make_platform(plugins=["margin"], config=CONFIG)
    trader = party(p, "trader", "1000")
    acct = margin.open_account(p, trader, "1000", 2, "9%", key="open-1")
    assert margin.open_account(p, trader, "1000", 2, "9%", key="open-1") == acct
    assert available(p, trader) == M("0")
    p.listings.reject(acct.listing_id, reason="no")
    assert margin.get_account(p, acct.id).state == "withdrawn"
    assert available(p, trader) == M("1000")
    # inside the host's transaction: rolled back with it
    before = everything(p)
    with p.engine.connect() as conn, conn.begin():
        margin.open_account(p.using(conn), trader, "500", 2, "9%")
        conn.rollback()
    assert everything(p) == before
    assert p.verify().ok


def test_a_margin_loans_lenders_stay_who_funded_it(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    """The secondary market refuses an open-ended loan's claim: a margin account's lenders
    cannot sell it on (the account's lines are watched for them), and nothing changes."""
    p, acct, _trader, i1, _i2 = open_funded(make_platform, clock, Watcher())
    day = START + timedelta(days=40)  # past the holding period, 13 days before the next charge
    at(clock, day, 9)
    p.cob.run(day - timedelta(days=1))
    assert acct.loan_id is not None
    before = everything(p)
    with pytest.raises(InvalidState, match="open-ended: its claim is not transferable"):
        p.market.offer(acct.loan_id, i1, "1000")
    assert everything(p) == before
    assert p.verify().ok


def test_a_trader_acts_for_itself_on_its_own_account_only(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    watcher = Watcher()
    p, acct, trader, i1, _ = open_funded(make_platform, clock, watcher)
    me = lendkit.Actor.party(trader)
    # by default a party may not run the plugin's commands at all
    with pytest.raises(lendkit.PermissionDenied, match="a party may not do this"):
        margin.add_margin(p, acct.id, "100", actor=me)
    # the integrator lets traders manage their own accounts: the plugin names the owner
    q = make_platform(
        plugins=["margin", watcher],
        config={
            **CONFIG,
            "party_actions": [*lendkit.core.access.DEFAULT_PARTY_ACTIONS, "margin.*"],
        },
    )
    before = everything(q)
    with pytest.raises(lendkit.PermissionDenied, match=f"party {trader}'s accounts"):
        margin.add_margin(q, acct.id, "100", actor=lendkit.Actor.party(i1))
    assert everything(q) == before
    assert margin.add_margin(q, acct.id, "100", actor=me).cash == acct.cash + M("100")
    rows = q.audit(subject=f"margin_account:{acct.id}")
    assert [(r.actor, r.outcome) for r in rows][-2:] == [
        (f"party:{i1}", "refused"),
        (f"party:{trader}", "ok"),
    ]
