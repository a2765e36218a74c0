"""The context is the plugin's whole world: reads (``ctx.loan``, ``ctx.schedule``, ``ctx.listing``,
``ctx.bids``, ``ctx.party``, ``ctx.settings``) and operations (``ctx.repay`` from a given source,
``ctx.apply_listing``) inside the current unit of work; plugin settings are structured once when
the Platform opens and bad configuration is refused there. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from attrs import field, frozen

import lendkit
from lendkit import Money
from lendkit.core.context import HookContext
from lendkit.core.errors import (
    ConfigError,
    Forbidden,
    InvalidAmount,
    InvalidState,
    InvalidValue,
    NotFound,
    PluginError,
)
from lendkit.core.ledger import FROZEN
from lendkit.core.money import allocate, parse_rate
from lendkit.core.records import ListingRecord, LoanRecord, PaymentRecord, PluginSettings
from tests.conftest import dump, party

M = Money.of


def _days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 90:
        raise InvalidValue(f"after_days {value!r} must be a whole number of days, 0..90")
    return value


@frozen
class AcmeSettings:
    after_days: int = field(default=30, converter=_days)
    rate: Decimal = field(default=Decimal("0.02"), converter=lambda v: parse_rate(v, "rate"))


class Acme:
    """A plugin with settings that records what its hooks read through the context."""

    lendkit_plugin_name = "acme"

    def __init__(self) -> None:
        self.seen: list[Any] = []

    @lendkit.hookimpl
    def lendkit_register_settings(self) -> PluginSettings:
        return PluginSettings("acme", AcmeSettings)

    @lendkit.hookimpl
    def lendkit_loan_disbursed(self, ctx: HookContext, loan: LoanRecord) -> None:
        self.seen.append(
            (
                ctx.settings("acme"),
                ctx.loan(loan.id).principal,
                ctx.loan_for_listing(loan.listing_id).id,
                ctx.listing(loan.listing_id).state,
                [b.state for b in ctx.bids(listing_id=loan.listing_id)],
            )
        )


def loan_of(p: lendkit.Platform, amount: str = "1000") -> tuple[str, str, str]:
    """A disbursed 3-month loan with two investors; (loan id, borrower, first investor)."""
    borrower, i1, i2 = party(p, "b"), party(p, "i1", amount), party(p, "i2", amount)
    listing = p.listings.apply(borrower, amount, "12%", months=3)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    half = Money.of(amount, "CNY").amount / 2
    p.bidding.bid(listing.id, i1, str(half))
    p.bidding.bid(listing.id, i2, str(half))
    return p.loans.disburse(listing.id).id, borrower, i1


def test_settings_are_structured_once_at_open(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    acme = Acme()
    p = make_platform(
        plugins=["online", acme], config={"plugins": {"acme": {"after_days": 5, "rate": "3%"}}}
    )
    loan_id, _b, _i = loan_of(p)
    settings, principal, same_loan, state, bid_states = acme.seen[0]
    assert settings == AcmeSettings(after_days=5, rate=Decimal("0.03"))
    assert (principal, same_loan, state, bid_states) == (
        M("1000"),
        loan_id,
        "disbursed",
        ["posted"] * 2,
    )
    # defaults when the integrator gives nothing; the builtins' settings are structured too
    plain = Acme()
    q = make_platform(plugins=["online", "guarantee", plain])
    assert q.settings["acme"] == AcmeSettings()
    assert q.settings["guarantee"].leverage == Decimal(10)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"acme": {"after_dayz": 3}},
            r"plugins\.acme has unknown keys \['after_dayz'\]; allowed: after_days, rate",
        ),
        (
            {"acme": {"after_days": 91}},
            r"plugins\.acme: after_days 91 must be a whole number of days, 0\.\.90",
        ),
        ({"acme": {"rate": "lots"}}, r"plugins\.acme: .*rate"),
        (
            {"guarantee": {"liability": "some"}},
            r"plugins\.guarantee: guarantee liability 'some' is not allowed: choose joint or general",
        ),
        (
            {"reserve": {"after_days": -1}},
            r"plugins\.reserve: after_days -1 must be a whole number",
        ),
        ({"collateral": {"ltv_caps": {}}}, r"plugins\.collateral: collateral ltv_caps must map"),
        (
            {"online": {"stages": {"sms": "soon"}}},
            r"plugins\.online: stages .* must map stage names",
        ),
    ],
)
def test_bad_settings_are_refused_at_open(
    make_platform: Callable[..., lendkit.Platform], config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_platform(
            plugins=["online", "guarantee", "reserve", "collateral", Acme()],
            config={"plugins": config, "waterfall": ["reserve"]},
        )


def test_two_plugins_declaring_one_settings_name_are_refused(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    other = Acme()
    other.lendkit_plugin_name = "acme-too"
    with pytest.raises(PluginError, match="settings 'acme' are declared by both plugin"):
        make_platform(plugins=["online", Acme(), other])


def test_reads_inside_a_command(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = make_platform()
    loan_id, borrower, i1 = loan_of(p)
    listing_id = p.loans.get(loan_id).listing_id
    applied = p.listings.apply(borrower, "100", "10%").id  # not disbursed: no loan

    def run(ctx: HookContext) -> dict[str, Any]:
        return {
            "loan": ctx.loan(loan_id),
            "for_listing": ctx.loan_for_listing(listing_id),
            "schedule": ctx.schedule(loan_id),
            "listing": ctx.listing(listing_id),
            "by_investor": ctx.bids(investor_id=i1),
            "posted": ctx.bids(listing_id=listing_id, state="posted"),
            "open": ctx.bids(state="open"),
            "party": ctx.party(borrower),
        }

    got = p.command("test.reads", run)
    assert got["loan"] == p.loans.get(loan_id)
    assert got["for_listing"] == p.loans.for_listing(listing_id)
    assert got["schedule"] == p.loans.schedule(loan_id)
    assert got["listing"] == p.listings.get(listing_id)
    assert [(b.investor_id, b.amount) for b in got["by_investor"]] == [(i1, M("500"))]
    assert got["posted"] == p.bidding.bids(listing_id)
    assert got["open"] == []
    assert got["party"] == p.parties.get(borrower)
    for bad in (
        lambda ctx: ctx.loan("loan_ghost"),
        lambda ctx: ctx.listing("lst_ghost"),
        lambda ctx: ctx.party("pty_ghost"),
        lambda ctx: ctx.loan_for_listing(applied),
    ):
        with pytest.raises(NotFound):
            p.command("test.reads", bad)
    with pytest.raises(InvalidValue, match="bid state 'gone'"):
        p.command("test.reads", lambda ctx: ctx.bids(state="gone"))


def test_loans_reads_many_loans_as_loan_reads_each(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    """``ctx.loans`` (for batch hooks) gives what ``ctx.loan`` gives for each id, after a
    partial repayment (the positions' received amounts and the interest still owed split over
    them), and leaves out ids with no loan."""
    p = make_platform()
    first, _b, _i = loan_of(p)
    second, _b2, _i2 = loan_of(p, "700")
    p.loans.repay(second, "30")

    def run(ctx: HookContext) -> tuple[dict[str, Any], list[Any]]:
        return ctx.loans([second, first, "loan_ghost", first]), [ctx.loan(first), ctx.loan(second)]

    got, each = p.command("test.loans", run)
    assert got == {first: each[0], second: each[1]}
    assert got[second].positions[0].received_interest.is_positive()
    with pytest.raises(InvalidValue):
        p.command("test.loans", lambda ctx: ctx.loans([""]))


def test_repay_from_a_plugins_account_pays_investors_as_the_borrower_would(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    loan_id, _borrower, i1 = loan_of(p)
    first = p.loans.schedule(loan_id).installments[0]
    fund_code = f"plugin:acme:fund:{p.config.currency}"

    def fund(ctx: HookContext) -> None:
        acct = ctx.account("plugin", "acme", "fund", ctx.currency)
        gateway = ctx.account("plugin", "acme", "source", ctx.currency, allow_negative=True)
        ctx.transfer("acme.fund", "f1", [(gateway, -M("400")), (acct, M("400"))])

    p.command("acme.fund", fund)

    def pay(amount: Money | None) -> Callable[[HookContext], PaymentRecord]:
        return lambda ctx: ctx.repay(loan_id, amount, source=ctx.existing_account(fund_code))

    paid = p.command("acme.pay", pay(None))
    assert paid.amount == first.payment  # the first installment in full
    assert paid.payer is None  # a plugin's account, not a party
    assert p.loans.position(loan_id, i1).received_principal == allocate(first.principal, [1, 1])[0]
    part = p.command("acme.pay", pay(M("10")))
    second = p.loans.schedule(loan_id).installments[1]
    # the allocation order (interest, then principal) of the next installment, as for the borrower
    assert (part.amount, part.interest, part.principal) == (
        M("10"),
        second.interest,
        M("10") - second.interest,
    )

    def balance(ctx: HookContext) -> Money:
        return ctx.balance(ctx.existing_account(fund_code))

    assert p.command("acme.balance", balance) == M("400") - first.payment - M("10")
    before = dump(db_url)
    with pytest.raises(InvalidAmount, match="exceeds everything owed"):
        p.command("acme.pay", pay(M("5000")))
    assert dump(db_url) == before


def test_repay_refuses_a_source_a_plugin_may_not_take_from(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    loan_id, borrower, _i = loan_of(p)
    stranger = p.parties.register("stranger").id  # registered, never verified
    p.custody.deposit(stranger, "500")
    p.custody.deposit(borrower, "500")
    before = dump(db_url)
    refusals: list[tuple[Callable[[HookContext], Any], type[Exception], str]] = [
        (lambda ctx: ctx.account("party", borrower, FROZEN, ctx.currency), Forbidden, "frozen"),
        (lambda ctx: ctx.party_account(stranger, ctx.currency), Forbidden, "not verified"),
        (
            lambda ctx: ctx.account("listing", "lst_x", "escrow", ctx.currency),
            Forbidden,
            "escrow",
        ),
    ]
    for source, error, message in refusals:
        with pytest.raises(error, match=message):
            p.command("acme.pay", lambda ctx, s=source: ctx.repay(loan_id, source=s(ctx)))
    assert dump(db_url) == before
    # the borrower's own account is always a source; the payment names the borrower
    paid = p.command(
        "acme.pay",
        lambda ctx: ctx.repay(loan_id, source=ctx.party_account(borrower, ctx.currency)),
    )
    assert paid.payer == borrower
    settle_all = lambda ctx: ctx.repay(  # noqa: E731
        loan_id, source=ctx.party_account(borrower, ctx.currency)
    )
    p.command("acme.pay", settle_all)
    p.command("acme.pay", settle_all)
    with pytest.raises(InvalidState, match="takes no more payments"):
        p.command("acme.pay", settle_all)


def test_apply_listing_inside_a_command(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    borrower = party(p, "b")

    def run(ctx: HookContext) -> ListingRecord:
        return ctx.apply_listing(borrower, "2000", annual_rate="10%", months=6)

    listing = p.command("acme.apply", run)
    assert (listing.state, listing.amount, listing.months) == ("applied", M("2000"), 6)
    assert p.listings.get(listing.id) == listing
    before = dump(db_url)
    with pytest.raises(InvalidValue, match="repayment method 'weekly'"):
        p.command(
            "acme.apply",
            lambda ctx: ctx.apply_listing(borrower, "100", annual_rate="10%", method="weekly"),
        )
    with pytest.raises(NotFound):
        p.command(
            "acme.apply", lambda ctx: ctx.apply_listing("pty_ghost", "100", annual_rate="10%")
        )
    assert dump(db_url) == before
