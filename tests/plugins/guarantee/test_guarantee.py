"""The guarantee plugin (担保): leverage cap, related parties, fee and deposit, joint and general
liability, compensation (代偿) and recovery (追偿), partners, disclosure -- on SQLite and PostgreSQL."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import lendkit
from lendkit import Money
from lendkit.core.errors import ConfigError, ValidationRefused
from lendkit.plugins import guarantee
from tests.conftest import FixedClock, party

M = Money.of


def open_platform(make: Callable[..., lendkit.Platform], **config: Any) -> lendkit.Platform:
    base: dict[str, Any] = {"waterfall": ["guarantee"], "grace_days": 0}
    base.update(config)
    return make(plugins=["online", "guarantee"], config=base)


def company(
    p: lendkit.Platform, name: str, capital: str, deposit: str = "1000", **kw: Any
) -> guarantee.Guarantor:
    pid = party(p, name, "5000")
    g = guarantee.register_guarantor(p, name, pid, capital, **kw)
    guarantee.fund_deposit(p, g.id, deposit)
    return g


def fund(
    p: lendkit.Platform, listing_id: str, shares: dict[str, str]
) -> lendkit.core.records.LoanRecord:
    p.listings.publish(listing_id)
    for inv, amount in shares.items():
        p.custody.deposit(inv, amount)
        p.bidding.bid(listing_id, inv, amount)
    return p.loans.disburse(listing_id)


def on(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=UTC)


def disclosed(p: lendkit.Platform) -> dict[str, str]:
    return {d.name: d.value for d in p.reports.disclosure() if d.plugin == "guarantee"}


def test_cap_refuses_at_the_limit_accepts_below_with_figures(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    borrower = party(p, "borrower")
    full = company(p, "Full Guarantee", capital="1000")  # cap 10 000.00
    assert full.cap == M("10000.00") and full.leverage == Decimal(10)
    a = p.listings.apply(borrower, amount="6000", annual_rate="10%", months=3)
    guarantee.guarantee_listing(p, a.id, full.id)
    p.listings.approve(a.id, grade="B")  # committed: 6000 of 10000
    b = p.listings.apply(borrower, amount="4000", annual_rate="10%", months=3)
    guarantee.guarantee_listing(p, b.id, full.id)
    p.listings.approve(b.id, grade="B")  # exactly at the cap: allowed
    g = guarantee.get_guarantor(p, full.id)
    assert g.committed == M("10000.00") and g.available_capacity == M(0)
    assert g.utilization == Decimal(1)

    # at its cap: the next listing, even 0.01, is refused with the figures
    c = p.listings.apply(borrower, amount="0.01", annual_rate="10%", months=3)
    with pytest.raises(lendkit.LimitExceeded) as refused:
        guarantee.guarantee_listing(p, c.id, full.id)
    text = str(refused.value)
    assert "outstanding 0.00 CNY + committed 10000.00 CNY + this listing 0.01 CNY" in text
    assert "cap 10000.00 CNY (10x registered capital 1000.00 CNY)" in text
    # a guarantor below its cap accepts it
    spare = company(p, "Spare Guarantee", capital="500")
    assert guarantee.guarantee_listing(p, c.id, spare.id).state == "pending"

    # refused at approval too: guaranteed while there was room, approved after the room was taken
    small = company(p, "Small Guarantee", capital="300", deposit="1000")  # cap 3000
    d = p.listings.apply(borrower, amount="2000", annual_rate="10%", months=3)
    e = p.listings.apply(borrower, amount="1500", annual_rate="10%", months=3)
    guarantee.guarantee_listing(p, d.id, small.id)
    guarantee.guarantee_listing(p, e.id, small.id)
    p.listings.approve(d.id, grade="B")
    with pytest.raises(ValidationRefused) as at_approval:
        p.listings.approve(e.id, grade="B")
    assert "committed 2000.00 CNY + this listing 1500.00 CNY exceeds its cap 3000.00 CNY" in str(
        at_approval.value
    )
    assert "at most 1000.00 CNY more" in str(at_approval.value)
    assert p.listings.get(e.id).state == "applied"  # the refused approval changed nothing
    # a failed listing (流标) gives its capacity back
    assert guarantee.get_guarantor(p, small.id).committed == M("2000.00")
    p.listings.publish(d.id)
    p.listings.close(d.id)
    assert guarantee.get_guarantor(p, small.id).committed == M(0)
    p.listings.approve(e.id, grade="B")
    assert guarantee.guarantee_of(p, e.id).state == "committed"
    # a guaranteed product cannot be approved without a guarantor
    f = p.listings.apply(borrower, amount="100", annual_rate="10%", months=3, product="guaranteed")
    with pytest.raises(ValidationRefused, match="has no guarantor"):
        p.listings.approve(f.id)
    assert p.verify().ok


def test_related_parties_are_refused(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform)
    borrower = party(p, "borrower")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="10%", months=3)
    owned = party(p, "Platform Guarantee Co")
    with pytest.raises(lendkit.Forbidden, match="controlled by the platform operator"):
        guarantee.register_guarantor(
            p, "Platform Guarantee Co", owned, "1000", controlled_by=["platform"]
        )
    # declared later, and through a holding company: still refused
    g = company(p, "Quiet Guarantee", "1000")
    holding = party(p, "Holding")
    guarantee.declare_control(p, guarantee.OPERATOR, holding)
    guarantee.declare_control(p, holding, g.id)
    with pytest.raises(lendkit.Forbidden, match="controlled by the platform operator"):
        guarantee.guarantee_listing(p, listing.id, g.id)
    # the borrower controls the guarantor
    h = company(p, "Family Guarantee", "1000")
    guarantee.declare_control(p, borrower, h.party_id)
    with pytest.raises(lendkit.Forbidden, match="controlled by the borrower"):
        guarantee.guarantee_listing(p, listing.id, h.id)
    # a relation declared after the guarantee is caught at approval
    k = company(p, "Clean Guarantee", "1000")
    guarantee.guarantee_listing(p, listing.id, k.id)
    guarantee.declare_control(p, guarantee.OPERATOR, k.id)
    with pytest.raises(ValidationRefused, match="controlled by the platform operator"):
        p.listings.approve(listing.id)
    assert guarantee.guarantee_of(p, listing.id).state == "pending"
    assert p.verify().ok


def test_joint_liability_pays_on_day_n_and_the_borrower_repays_the_guarantor(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = open_platform(make_platform)
    borrower = party(p, "borrower")
    i1, i2 = party(p, "i1"), party(p, "i2")
    g = company(p, "Joint Guarantee", "1000", fee_rate="2%", deposit_rate="10%", after_days=5)
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id, grade="B")
    loan = fund(p, listing.id, {i1: "2000", i2: "1000"})
    # fee 2 % to the guarantor, service fee 1 % to the platform, the rest to the borrower
    assert p.custody.balance(borrower).available == M("2910.00")
    assert p.custody.balance(g.party_id).available == M("4060.00")  # 5000 - 1000 deposit + 60 fee
    state = guarantee.get_guarantor(p, g.id)
    assert (state.deposit, state.deposit_frozen) == (M("700.00"), M("300.00"))
    assert state.outstanding == M("3000.00") and state.committed == M(0)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)

    inst = p.loans.schedule(loan.id).installments[0]
    p.cob.run(inst.due_date + timedelta(days=4), allow_future=True)
    assert guarantee.compensations(p) == []  # day 4 < N = 5
    p.cob.run(inst.due_date + timedelta(days=5), allow_future=True)
    paid = guarantee.compensations(p, g.id)
    assert len(paid) == 1
    assert (paid[0].principal, paid[0].interest, paid[0].period) == (
        inst.principal,
        inst.interest,
        1,
    )
    got = [p.loans.position(loan.id, i) for i in (i1, i2)]
    assert got[0].received_principal + got[1].received_principal == inst.principal
    assert sum((x.received_interest + x.fees_paid for x in got), M(0)) == inst.interest
    assert p.custody.balance(g.party_id).available == M("4060.00") - inst.payment
    p.cob.run(
        inst.due_date + timedelta(days=6), allow_future=True
    )  # nothing unpaid for investors: no second payment
    assert len(guarantee.compensations(p)) == 1

    # the borrower pays late: principal and interest reach the guarantor, penalty the investors
    clock.set(on(inst.due_date + timedelta(days=7)))
    before = [p.custody.balance(i).available for i in (i1, i2)]
    p.custody.deposit(borrower, "4000")
    pay = p.loans.repay(loan.id)
    assert pay.principal == inst.principal and pay.penalty.is_positive()
    after = [p.custody.balance(i).available for i in (i1, i2)]
    assert [a - b for a, b in zip(after, before, strict=True)] == lendkit.allocate(
        pay.penalty, [2, 1]
    )
    assert p.custody.balance(g.party_id).available == M("4060.00")
    # the frozen deposit follows the outstanding principal
    outstanding = p.loans.get(loan.id).outstanding_principal
    state = guarantee.get_guarantor(p, g.id)
    assert state.outstanding == outstanding
    assert state.deposit_frozen == outstanding.multiply("0.10")
    assert state.deposit + state.deposit_frozen == M("1000.00")
    figures = disclosed(p)
    who = f"Joint Guarantee ({g.id})"
    assert figures[f"{who} outstanding"] == str(outstanding)
    assert figures[f"{who} deposit frozen"] == str(state.deposit_frozen)
    assert figures[f"{who} compensation paid"] == str(inst.payment)
    assert (
        figures[f"{who} utilization"] == f"{(outstanding.amount / 100).quantize(Decimal('0.01'))}%"
    )
    # repaid in full: the deposit is free again and the capacity released
    for later in p.loans.schedule(loan.id).installments[1:]:
        clock.set(on(later.due_date))
        p.loans.repay(loan.id)
    assert p.loans.get(loan.id).state == "settled"
    state = guarantee.get_guarantor(p, g.id)
    assert (state.deposit, state.deposit_frozen, state.outstanding) == (M("1000.00"), M(0), M(0))
    assert guarantee.guarantee_of(p, loan.id).state == "closed"
    assert p.verify().ok


def test_general_liability_pays_only_after_default(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform, default_after_days=20)
    borrower = party(p, "borrower")
    inv = party(p, "inv")
    g = company(p, "General Guarantee", "1000", liability="general", cover="principal")
    listing = p.listings.apply(borrower, amount="1200", annual_rate="12%", months=2)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id, grade="A")
    loan = fund(p, listing.id, {inv: "1200"})
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    first = p.loans.schedule(loan.id).installments[0]
    for days in (1, 10, 19):  # overdue: general liability does not pay yet
        p.cob.run(first.due_date + timedelta(days=days), allow_future=True)
        assert guarantee.compensations(p) == []
    # day 20 defaults the loan; the waterfall runs after the default decision, so it pays today
    p.cob.run(first.due_date + timedelta(days=20), allow_future=True)
    assert p.loans.get(loan.id).state == "defaulted"
    assert guarantee.guarantee_of(p, loan.id).defaulted
    p.cob.run(first.due_date + timedelta(days=21), allow_future=True)  # and only once
    paid = guarantee.compensations(p)
    assert [(c.period, c.principal, c.interest) for c in paid] == [(1, first.principal, M(0))]
    position = p.loans.position(loan.id, inv)
    assert position.received_principal == first.principal
    assert position.received_interest == M(0)  # cover="principal": interest stays unpaid
    assert p.verify().ok


def test_compensation_draws_on_the_deposit_and_leaves_the_rest_down_the_waterfall(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    borrower, inv = party(p, "borrower"), party(p, "inv")
    g = company(p, "Thin Guarantee", "1000", deposit="400", deposit_rate="10%")
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id, grade="B")
    loan = fund(p, listing.id, {inv: "3000"})
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    # the guarantor empties its available balance: only its deposit (400) can pay
    p.custody.withdraw(g.party_id, p.custody.balance(g.party_id).available)
    inst = p.loans.schedule(loan.id).installments[0]
    p.cob.run(inst.due_date + timedelta(days=1), allow_future=True)
    [paid] = guarantee.compensations(p)
    assert paid.amount == M("400.00") and paid.principal == M("400.00")
    state = guarantee.get_guarantor(p, g.id)
    assert state.deposit == M(0) and state.deposit_frozen == M(0)
    assert p.loans.position(loan.id, inv).received_principal == M("400.00")
    assert p.verify().ok


def test_partner_guarantees_only_recommended_borrowers_in_full(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    borrower, stranger, inv = party(p, "borrower"), party(p, "stranger"), party(p, "inv")
    partner_party = party(p, "Small Loan Co", "5000")
    partner = guarantee.register_partner(p, "Small Loan Co", partner_party, "2000")
    guarantee.fund_deposit(p, partner.id, "1000")
    assert (partner.kind, partner.liability, partner.cover) == (
        "partner",
        "joint",
        "principal_and_interest",
    )
    with pytest.raises(lendkit.Forbidden, match="did not recommend"):
        guarantee.apply_recommended(p, partner.id, stranger, "1000", annual_rate="12%", months=3)
    assert p.listings.find() == []  # one command: a refused guarantee applies nothing
    guarantee.recommend(p, partner.id, borrower)
    listing, g = guarantee.apply_recommended(
        p, partner.id, borrower, "1000", annual_rate="12%", months=3
    )
    assert g.guarantor_id == partner.id
    with pytest.raises(lendkit.InvalidValue, match="100 %"):
        guarantee.guarantee_listing(p, listing.id, partner.id, cover="principal")
    p.listings.approve(listing.id, grade="C")
    loan = fund(p, listing.id, {inv: "1000"})
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    inst = p.loans.schedule(loan.id).installments[0]
    p.cob.run(inst.due_date + timedelta(days=1), allow_future=True)
    [paid] = guarantee.compensations(p)
    assert paid.amount == inst.payment  # 100 %: principal and interest
    assert p.verify().ok


def test_deposit_withdrawal_keeps_what_approved_listings_need(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    borrower = party(p, "borrower")
    g = company(p, "Careful Guarantee", "1000", deposit="500", deposit_rate="10%")
    listing = p.listings.apply(borrower, amount="3000", annual_rate="12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    p.listings.approve(listing.id)
    with pytest.raises(lendkit.LimitExceeded, match=r"at most 200\.00 CNY"):
        guarantee.withdraw_deposit(p, g.id, "201")
    assert guarantee.withdraw_deposit(p, g.id, "200") == M("300.00")
    too_big = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
    with pytest.raises(lendkit.LimitExceeded, match="free deposit"):
        guarantee.guarantee_listing(p, too_big.id, g.id)
    with pytest.raises(ConfigError, match="unknown keys"):
        guarantee.register_guarantor(
            open_platform(make_platform, plugins={"guarantee": {"levrage": "5"}}),
            "x",
            borrower,
            "1",
        )
    assert p.verify().ok


def test_migrations_match_the_tables(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform)
    tables = set(guarantee.lendkit_schema.metadata.tables)
    with p.engine.connect() as conn:
        mc = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, parent: kind != "table" or name in tables},
        )
        assert compare_metadata(mc, guarantee.lendkit_schema.metadata) == []


def test_readme_example_runs() -> None:
    doc = guarantee.__doc__ or ""
    code = textwrap.dedent(doc.split("Example::", 1)[1])
    exec(compile(code, "guarantee-example", "exec"), {})


class RefuseEveryApproval:
    """A second plugin whose validator refuses every approval."""

    lendkit_plugin_name = "refuse-approvals"

    @lendkit.hookimpl
    def lendkit_validate_listing(self, ctx: Any, listing: Any) -> list[str]:
        return ["refused by the other plugin"] if listing.state == "approved" else []


def test_a_refusal_by_another_validator_takes_no_capacity(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform(
        plugins=["online", "guarantee", RefuseEveryApproval()],
        config={"waterfall": ["guarantee"]},
    )
    g = company(p, "Acme", "1000")  # cap 10000.00
    listing = p.listings.apply(party(p, "b"), "3000", "12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    with pytest.raises(ValidationRefused, match="refused by the other plugin"):
        p.listings.approve(listing.id)
    assert guarantee.get_guarantor(p, g.id).available_capacity == M("10000")
    assert guarantee.guarantee_of(p, listing.id).state == "pending"
    # a caller checking the rules without approving (the validators alone) takes nothing either
    approved = attrs.evolve(p.listings.get(listing.id), state="approved")
    with p.transaction() as ctx:
        with pytest.raises(ValidationRefused):
            p.hooks.validate_listing(ctx, approved)
        assert guarantee.guarantee_of(p.using(ctx.conn), listing.id).state == "pending"
    assert guarantee.get_guarantor(p, g.id).committed == M("0")
    assert guarantee.get_guarantor(p, g.id).available_capacity == M("10000")


def test_approval_commits_capacity_once_every_validator_passed(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    g = company(p, "Acme", "1000")
    listing = p.listings.apply(party(p, "b"), "3000", "12%", months=3)
    guarantee.guarantee_listing(p, listing.id, g.id)
    assert guarantee.get_guarantor(p, g.id).committed == M("0")
    p.listings.approve(listing.id)
    assert guarantee.guarantee_of(p, listing.id).state == "committed"
    assert guarantee.get_guarantor(p, g.id).available_capacity == M("7000")
