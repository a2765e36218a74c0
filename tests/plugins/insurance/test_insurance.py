"""The insurance plugin: a claim pays investors and the insurer holds the claim (the borrower's late
payment reaches the insurer), premiums paid by the borrower vs out of the investors' yield,
capacity enforced, account and asset policies; SQLite and PostgreSQL, ledger verified."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

import lendkit
import lendkit.core.money
from lendkit import Money
from lendkit.plugins import insurance
from tests.conftest import party

M = Money.of


def open_platform(make_platform: Callable[..., lendkit.Platform]) -> Any:
    return make_platform(
        plugins=["online", "insurance"],
        config={"grace_days": 0, "waterfall": ["insurance"], "default_after_days": 60},
    )


def disclosed(p: lendkit.Platform) -> dict[str, str]:
    return {d.name: d.value for d in p.reports.disclosure() if d.plugin == "insurance"}


def insured_loan(
    p: lendkit.Platform, insurer_id: str, payer: str, trigger: int | str = 1, rate: str = "2%"
) -> tuple[str, str, str, Any, Any]:
    """A 3000.00 loan (3 months, 12 %) funded 2000/1000, insured at ``rate`` (2 %: 60.00)."""
    b = party(p, "borrower")
    i1, i2 = party(p, "i1", "2000"), party(p, "i2", "1000")
    listing = p.listings.apply(b, "3000", "12%", months=3)
    policy = insurance.insure_loan(
        p, listing.id, insurer_id, rate, payer=payer, trigger_days=trigger
    )
    assert policy.state == "pending"
    assert policy.premium == M("3000").multiply(lendkit.core.money.parse_rate(rate))
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i1, "2000")
    p.bidding.bid(listing.id, i2, "1000")
    loan = p.loans.disburse(listing.id)
    return b, i1, i2, loan, policy


def test_claim_pays_investors_and_the_insurer_holds_the_claim(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    ins = insurance.register_insurer(p, "Ping An P&C", capacity="1000000")
    assert insurance.fund_insurer(p, ins.id, "10000") == M("10000")
    b, i1, i2, loan, policy = insured_loan(p, ins.id, "borrower")
    # borrower paid the premium at disbursement: 3000 - 30 service fee - 60 premium
    assert p.custody.balance(b).available == M("2910")
    assert insurance.get_insurer(p, ins.id).balance == M("10060")
    p.custody.withdraw(b, "2910")
    inst = p.loans.schedule(loan.id).installments[0]
    assert inst.payment == M("1020.07") and inst.interest == M("30")
    p.cob.run(inst.due_date + timedelta(days=1), allow_future=True)

    # the insurer paid the investors the installment's principal and interest
    pos = [p.loans.position(loan.id, i) for i in (i1, i2)]
    assert [x.received_principal for x in pos] == lendkit.allocate(inst.principal, [2000, 1000])
    assert sum((x.received_principal for x in pos), M(0)) == inst.principal
    assert sum((x.received_interest + x.fees_paid for x in pos), M(0)) == inst.interest
    assert insurance.get_insurer(p, ins.id).balance == M("10060") - inst.payment
    assert insurance.get_policy(p, policy.id).claims_paid == inst.payment
    p.cob.run(
        inst.due_date + timedelta(days=2), allow_future=True
    )  # nothing unpaid is left: nobody pays twice
    assert insurance.get_policy(p, policy.id).claims_paid == inst.payment

    # the borrower pays late: principal and interest go to the insurer, penalty to the investors
    before = [p.custody.balance(i).available for i in (i1, i2)]
    p.custody.deposit(b, "2000")
    pay = p.loans.repay(loan.id)
    assert pay.principal == inst.principal and pay.penalty == M("1.02")
    assert insurance.get_insurer(p, ins.id).balance == M("10060")
    after = [p.custody.balance(i).available for i in (i1, i2)]
    assert [a - x for a, x in zip(after, before, strict=True)] == [M("0.68"), M("0.34")]

    d = disclosed(p)
    assert d["premiums"] == "60.00 CNY"
    assert d["claims paid"] == str(inst.payment)
    assert d["recoveries"] == str(inst.payment)
    assert d["loss ratio"] == "1700.12%"
    assert d["policies in force"] == "1"
    assert d["Ping An P&C custody balance"] == str(insurance.get_insurer(p, ins.id).balance)
    assert d["Ping An P&C insured"] == "3000.00 CNY" and d["Ping An P&C utilization"] == "0.30%"
    assert p.verify().ok


def test_premium_paid_by_borrower_vs_out_of_investors_yield(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    ins = insurance.register_insurer(p, "Insurer", capacity="100000")
    # investors pay: the borrower gets 3000 - 30; the premium comes out of the interest
    b, i1, i2, loan, policy = insured_loan(p, ins.id, "investors", rate="0.5%")
    assert p.custody.balance(b).available == M("2970")
    effect = insurance.yield_effect(p, policy.id)
    assert effect.scheduled_interest == M("60.20") and effect.premium == M("15")
    assert effect.premium_share == Decimal("0.249169")  # 15.00 / 60.20
    assert effect.net_rate == Decimal(
        "0.090100"
    )  # 12 % x (1 - 15.00 / 60.20)  # 12 % less the premium's share of it
    p.custody.deposit(b, "100")
    for _ in range(3):
        p.loans.repay(loan.id)
    got = insurance.get_policy(p, policy.id)
    assert got.premium_collected == M("15") and got.state == "expired"
    # investors received 3000 principal + 60.20 interest - 6.02 fee - 15.00 premium
    assert p.custody.balance(i1).available + p.custody.balance(i2).available == M("3039.18")
    assert insurance.get_insurer(p, ins.id).balance == M("15")
    assert insurance.get_insurer(p, ins.id).exposure == M(0)

    # borrower pays: investors keep their whole interest (less the platform fee)
    b2, j1, j2, loan2, policy2 = insured_loan(p, ins.id, "borrower", rate="0.5%")
    assert p.custody.balance(b2).available == M("2955")
    p.custody.deposit(b2, "200")
    for _ in range(3):
        p.loans.repay(loan2.id)
    assert p.custody.balance(j1).available + p.custody.balance(j2).available == M("3054.18")
    assert insurance.yield_effect(p, policy2.id).net_rate == Decimal("0.12")
    assert disclosed(p)["premiums"] == "30.00 CNY"
    assert p.verify().ok


def test_capacity_is_enforced(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = open_platform(make_platform)
    ins = insurance.register_insurer(p, "Small Insurer", capacity="5000")
    b = party(p, "b")
    first = p.listings.apply(b, "3000", "12%", months=3)
    second = p.listings.apply(b, "2500", "12%", months=3)
    insurance.insure_loan(p, first.id, ins.id, "1%")
    with pytest.raises(lendkit.LimitExceeded) as refused:
        insurance.insure_loan(p, second.id, ins.id, "1%")
    message = str(refused.value)
    assert "2500.00" in message and "3000.00" in message and "5000.00" in message
    assert "room 2000.00" in message
    assert insurance.insure_loan(p, second.id, ins.id, "1%", sum_insured="2000").state == "pending"
    assert insurance.get_insurer(p, ins.id).exposure == M("5000")
    with pytest.raises(lendkit.InvalidValue, match="premium payer"):
        insurance.insure_loan(p, first.id, ins.id, "1%", payer="platform")
    with pytest.raises(lendkit.InvalidState):
        insurance.register_insurer(p, "Small Insurer", capacity="1")
    assert disclosed(p)["Small Insurer utilization"] == "100.00%"
    assert p.verify().ok


def test_default_trigger_account_and_asset_policies(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    ins = insurance.register_insurer(p, "Insurer", capacity="100000")
    insurance.fund_insurer(p, ins.id, "5000")
    b, i1, i2, loan, policy = insured_loan(p, ins.id, "borrower", trigger="default")
    p.custody.withdraw(b, p.custody.balance(b).available)
    dues = [i.due_date for i in p.loans.schedule(loan.id).installments]
    p.cob.run(dues[0] + timedelta(days=1), allow_future=True)
    assert insurance.get_policy(p, policy.id).claims_paid == M(0)  # overdue is not default
    p.cob.run(dues[0] + timedelta(days=60), allow_future=True)
    assert p.loans.get(loan.id).state == "defaulted"
    # at default the insurer pays what is due, principal first, up to the sum insured (3000)
    assert insurance.get_policy(p, policy.id).claims_paid == M("3000")
    pos = [p.loans.position(loan.id, i) for i in (i1, i2)]
    assert sum((x.received_principal for x in pos), M(0)) == M("3000")
    assert sum((x.received_interest for x in pos), M(0)) == M(0)
    owed = M("3000")

    # account funds insurance: the investor pays the premium, a loss is paid into the account
    acct = insurance.insure_account(p, i2, ins.id, "500", "1%")
    assert acct.premium_collected == M("5")
    before = p.custody.balance(i2).available
    assert insurance.claim_account_loss(p, acct.id, "800") == M("500")  # capped by cover
    assert p.custody.balance(i2).available == before + M("500")
    with pytest.raises(lendkit.LimitExceeded):
        insurance.claim_account_loss(p, acct.id, "1")
    d = disclosed(p)
    assert d["claims paid"] == str(owed + M("500"))
    assert d["premiums"] == "65.00 CNY"
    assert p.verify().ok


def test_asset_policy_indemnity_pays_the_secured_loan(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    ins = insurance.register_insurer(p, "Insurer", capacity="100000")
    insurance.fund_insurer(p, ins.id, "5000")
    b = party(p, "b")
    i1 = party(p, "i1", "3000")
    listing = p.listings.apply(b, "3000", "12%", months=3)
    pol = insurance.insure_asset(p, listing.id, ins.id, "VIN-123", "4000", "0.5%")
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i1, "3000")
    loan = p.loans.disburse(listing.id)
    assert p.custody.balance(b).available == M("2950")  # 30 fee + 20 premium
    p.custody.withdraw(b, "2950")
    # the car burns: 4000 indemnity pays off the loan (3060.20), 939.80 stays with the borrower
    assert insurance.claim_asset_loss(p, pol.id, "4500") == M("4000")
    assert p.loans.get(loan.id).state == "settled"
    assert p.custody.balance(b).available == M("939.80")
    assert insurance.get_policy(p, pol.id).state == "expired"
    assert p.verify().ok


def test_readme_example_runs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module docstring (the README section) carries a runnable example: run it."""
    import textwrap

    doc = insurance.__doc__ or ""
    code = textwrap.dedent(doc.split("checked)::\n", 1)[1])
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "insurance-example", "exec"), {"__name__": "example"})


def test_platform_policy_covers_any_loan_and_reimburses_an_earlier_payer(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = open_platform(make_platform)
    ins = insurance.register_insurer(p, "Insurer", capacity="100000")
    insurance.fund_insurer(p, ins.id, "5000")
    b = party(p, "b")
    i1 = party(p, "i1", "3000")
    listing = p.listings.apply(b, "3000", "12%", months=3)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, i1, "3000")
    loan = p.loans.disburse(listing.id)  # 30.00 service fee: platform revenue
    p.custody.withdraw(b, p.custody.balance(b).available)
    pol = insurance.insure_platform(p, ins.id, "500", "2%", trigger_days=1)
    assert pol.premium_collected == M("10")  # paid from the platform's revenue
    assert p.reports.totals().revenue == M("20")
    inst = p.loans.schedule(loan.id).installments[0]
    p.cob.run(inst.due_date + timedelta(days=1), allow_future=True)
    # the loan has no policy of its own: the platform policy pays, up to its 500.00 cover
    assert insurance.get_policy(p, pol.id).claims_paid == M("500")
    assert p.loans.position(loan.id, i1).received_principal == M("500")
    first_payer = f"insurer:{ins.id}:plugin:CNY"  # the insurer that paid the investors
    with pytest.raises(lendkit.LimitExceeded, match="no cover"):
        insurance.reimburse(p, pol.id, first_payer, loan.id, "100")
    other = insurance.register_insurer(p, "Reinsurer", capacity="100000")
    insurance.fund_insurer(p, other.id, "1000")
    pol2 = insurance.insure_platform(p, other.id, "300", "0", trigger_days=90)
    paid = insurance.reimburse(p, pol2.id, first_payer, loan.id, "120.50")
    assert paid == M("120.50")
    assert insurance.get_insurer(p, ins.id).balance == M("4630.50")  # 5000 + 10 - 500 + 120.50
    with pytest.raises(lendkit.InvalidValue, match="must be a code"):
        insurance.reimburse(p, pol2.id, "reserve", loan.id, "1")
    assert disclosed(p)["claims paid"] == "620.50 CNY"
    assert p.verify().ok
