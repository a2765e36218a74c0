"""The secondary market (debt transfer, 债权转让), on SQLite and PostgreSQL: a partial and a full
transfer with figures computed by hand, close of business paying the new holder, a chain of
three transfers (buyers of buyers) repaid to the end, refusals that change nothing, cancel and
expiry, idempotency, plugins' hooks, disclosure and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner

import lendkit
from lendkit import Money
from lendkit.cli import main
from lendkit.core.errors import (
    Forbidden,
    InvalidAmount,
    InvalidState,
    LimitExceeded,
    ValidationRefused,
)
from lendkit.core.payments import split_payment
from lendkit.core.transfer import Holding, split_weight, stake_of, take_from
from tests.conftest import FixedClock, dump
from tests.conftest import party as _party

M = Money.of
RATE = Decimal("0.12")


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=UTC)


def _book(
    p: lendkit.Platform, clock: FixedClock, months: int = 12, start: date = date(2026, 1, 1)
) -> dict[str, str]:
    """A 10000.00 CNY, 12 %, equal-installment loan disbursed on ``start`` (2026-01-01), held
    6000.00 by A and 4000.00 by B; C, D and E have 5000.00 each to buy with. Close of business
    collected the first installment (888.49 on a 12-month loan: 788.49 principal, 100.00
    interest) on its due date (2026-02-01); the clock is then 10 days later (2026-02-11)."""
    clock.set(_at(start))
    ids = {"borrower": _party(p, "borrower")}
    for name, cash in (("A", "6000"), ("B", "4000"), ("C", "5000"), ("D", "5000"), ("E", "5000")):
        ids[name] = _party(p, name, cash)
    listing = p.listings.apply(ids["borrower"], amount="10000", annual_rate="12%", months=months)
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, ids["A"], "6000")
    p.bidding.bid(listing.id, ids["B"], "4000")
    ids["loan"] = p.loans.disburse(listing.id).id
    due = p.loans.schedule(ids["loan"]).installments[0].due_date
    clock.set(_at(due))
    p.cob.run(due)
    clock.set(_at(due + timedelta(days=10)))
    return ids


def _available(p: lendkit.Platform, party_id: str) -> Money:
    return p.custody.balance(party_id).available


def _revenue(p: lendkit.Platform) -> Money:
    return p.reports.totals().revenue


def test_partial_transfer_by_hand_then_cob_pays_the_new_holder(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform()
    ids = _book(p, clock)
    loan, a, b, c = ids["loan"], ids["A"], ids["B"], ids["C"]
    # after the first installment: A received 473.09 principal + 60.00 interest - 6.00 fee
    assert _available(p, a) == M("527.09")
    revenue = _revenue(p)

    t = p.market.offer(loan, a, "1000", price="990")
    assert (t.state, t.principal, t.price, t.remaining) == ("open", M("1000"), M("990"), M("1000"))
    assert t.expires_at == _at(date(2026, 2, 18))
    deal = p.market.buy(t.id, c, "1000")
    # accrued: 1000.00 x 12 % x 10 days (Feb 1 -> Feb 11) / 360 = 3.33; fee: 990.00 x 0.5 % = 4.95
    assert (deal.principal, deal.price, deal.accrued_interest, deal.fee) == (
        M("1000"),
        M("990"),
        M("3.33"),
        M("4.95"),
    )
    assert deal.settled_on == date(2026, 2, 11)
    assert _available(p, a) == M("527.09") + M("988.38")  # 990.00 + 3.33 - 4.95
    assert _available(p, c) == M("5000") - M("993.33")
    assert _revenue(p) == revenue + M("4.95")
    assert p.market.get(t.id).state == "filled"
    seller, buyer = p.loans.position(loan, a), p.loans.position(loan, c)
    assert seller.outstanding_principal == M("4526.91")  # 6000.00 - 473.09 - 1000.00
    assert seller.sold == M("1000") and seller.received_principal == M("473.09")
    assert (buyer.principal, buyer.outstanding_principal, buyer.received_principal) == (
        M("1000"),
        M("1000"),
        M("0"),
    )
    # the agreement is stored and shown in both histories and the loan's agreements
    assert p.market.agreements(investor_id=a) == [deal] == p.market.agreements(investor_id=c)
    sale = p.reports.position_history(loan, a)[-1]
    purchase = p.reports.position_history(loan, c)[-1]
    assert (sale.kind, sale.amount, sale.payer_id) == ("transfer-sale", M("988.38"), c)
    assert (purchase.kind, purchase.amount) == ("transfer-purchase", M("-993.33"))
    terms = [t for t in p.loans.agreements(loan) if t.get("kind") == "transfer"]
    assert len(terms) == 1
    assert (terms[0]["seller"], terms[0]["buyer"], terms[0]["principal"]) == (a, c, "1000.00")
    assert (terms[0]["price"], terms[0]["accrued_interest"], terms[0]["fee"]) == (
        "990.00",
        "3.33",
        "4.95",
    )
    assert p.verify().ok

    # installment 2 on 2026-03-01: 796.37 principal, 92.12 interest (9.21 fee), split by hand:
    # principal by outstanding 4526.91 / 3684.60 / 1000.00 -> 391.37 / 318.55 / 86.45,
    # interest by weight 4914.40 / 4000.00 / 1085.60 -> 45.27 / 36.85 / 10.00, fee 4.53/3.68/1.00
    before = {x: _available(p, x) for x in (a, b, c)}
    clock.set(_at(date(2026, 3, 1)))
    p.cob.run(date(2026, 3, 1))
    assert _available(p, c) - before[c] == M("95.45")
    assert _available(p, a) - before[a] == M("432.11")
    assert _available(p, b) - before[b] == M("351.72")
    assert p.loans.position(loan, c).received_principal == M("86.45")
    assert p.verify().ok


def test_full_transfer_by_hand(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform()
    ids = _book(p, clock)
    loan, b, d = ids["loan"], ids["B"], ids["D"]
    before_b = _available(p, b)
    t = p.market.offer(loan, b, "3684.60")  # all B holds (4000.00 - 315.40), at par
    assert t.price == M("3684.60")
    deal = p.market.buy(t.id, d, "5000")  # trimmed to what remains
    # accrued 3684.60 x 12 % x 10 / 360 = 12.282 -> 12.28; fee 3684.60 x 0.5 % = 18.423 -> 18.42
    assert (deal.principal, deal.accrued_interest, deal.fee) == (
        M("3684.60"),
        M("12.28"),
        M("18.42"),
    )
    assert _available(p, b) == before_b + M("3678.46")
    assert _available(p, d) == M("5000") - M("3696.88")
    assert p.loans.position(loan, b).outstanding_principal == M("0")
    assert p.loans.position(loan, d).outstanding_principal == M("3684.60")
    with pytest.raises(Forbidden, match="holds no outstanding principal"):
        p.market.offer(loan, b, "1")
    assert p.verify().ok
    # D now receives what B would have: 318.55 + 36.85 - 3.68
    clock.set(_at(date(2026, 3, 1)))
    before_b, before_d = _available(p, b), _available(p, d)
    p.cob.run(date(2026, 3, 1))
    assert _available(p, d) - before_d == M("351.72")
    assert _available(p, b) == before_b
    assert p.verify().ok


def _sell(
    book: list[tuple[str, Holding]], seller: str, buyer: str, units: int
) -> list[tuple[str, Holding]]:
    """The model of a purchase: the seller's positions give up ``units`` oldest first."""
    rows = [k for k, (who, h) in enumerate(book) if who == seller and h.outstanding > 0]
    takes = take_from([book[k][1].outstanding for k in rows], units)
    out = list(book)
    for k, take in zip(rows, takes, strict=True):
        if take:
            who, h = book[k]
            kept, sold = split_weight(h.face, h.outstanding, take)
            out[k] = (
                who,
                Holding(
                    h.principal, h.received_principal, h.sold_principal + take, kept, h.annual_rate
                ),
            )
            out.append((buyer, Holding(take, 0, 0, sold, h.annual_rate)))
    return out


def _collect(
    book: list[tuple[str, Holding]], interest: int, principal: int, got: dict[str, int]
) -> list[tuple[str, Holding]]:
    split = split_payment([stake_of(h) for _w, h in book], 0, interest, principal, Decimal("0.1"))
    out = []
    for (who, h), p_, i_, f_ in zip(book, split.principal, split.interest, split.fees, strict=True):
        got[who] = got.get(who, 0) + p_ + i_ - f_
        out.append(
            (
                who,
                Holding(
                    h.principal,
                    h.received_principal + p_,
                    h.sold_principal,
                    h.weight,
                    h.annual_rate,
                ),
            )
        )
    return out


def test_chain_of_three_transfers_then_repaid_to_the_end(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform()
    ids = _book(p, clock, months=6)
    loan = ids["loan"]
    p.custody.deposit(ids["borrower"], "1000")  # 9900.00 proceeds + 1000.00 pay 6 x 1725.48
    plan = p.loans.schedule(loan).installments
    book = [
        (ids["A"], Holding(600000, 0, 0, None, RATE)),
        (ids["B"], Holding(400000, 0, 0, None, RATE)),
    ]
    got: dict[str, int] = {}
    book = _collect(book, plan[0].interest.minor, plan[0].principal.minor, got)

    def transfer(seller: str, buyer: str, amount: str | None) -> None:
        nonlocal book
        held = p.loans.position(loan, ids[seller]).outstanding_principal
        t = p.market.offer(loan, ids[seller], amount or held)
        deal = p.market.buy(t.id, ids[buyer], t.principal)
        book = _sell(book, ids[seller], ids[buyer], deal.principal.minor)
        assert p.verify().ok

    def cob(day: date, period: int) -> None:
        nonlocal book
        clock.set(_at(day))
        p.cob.run(day)
        row = plan[period - 1]
        book = _collect(book, row.interest.minor, row.principal.minor, got)
        assert p.verify().ok

    transfer("A", "C", "1000")  # 2026-02-11
    cob(date(2026, 3, 1), 2)
    clock.set(_at(date(2026, 3, 13)))
    transfer("C", "D", "500")  # a buyer sells on, 30 days after buying
    cob(date(2026, 4, 1), 3)
    clock.set(_at(date(2026, 4, 12)))
    transfer("D", "E", None)  # and its buyer sells all of it
    for period, day in ((4, date(2026, 5, 1)), (5, date(2026, 6, 1)), (6, date(2026, 7, 1))):
        cob(day, period)
    assert p.loans.get(loan).state == "settled"
    # every holder received exactly its share, payment by payment, to the cent
    for name in ("A", "B", "C", "D", "E"):
        receipts = p.reports.position_history(loan, ids[name])
        paid = sum((r.amount for r in receipts if not r.kind.startswith("transfer")), M("0"))
        assert paid.minor == got.get(ids[name], 0), name
    # and what the holders received (net plus fees) is what the borrower paid
    positions = p.loans.get(loan).positions
    gross = sum(
        (x.received_principal + x.received_interest + x.fees_paid for x in positions), M("0")
    )
    assert gross == sum((i.payment for i in plan), M("0"))
    assert sum((x.received_principal for x in positions), M("0")) == M("10000")
    assert all(x.outstanding_principal.is_zero() for x in positions)
    volume = {d.name: d.value for d in p.reports.disclosure()}
    assert volume["transfer volume (principal sold)"].startswith("1")  # 1000 + 500 + D's rest


def _refused(db_url: str, call: Callable[[], Any], error: type[Exception], match: str) -> None:
    before = dump(db_url)
    with pytest.raises(error, match=match):
        call()
    assert dump(db_url) == before


def test_refusals_change_nothing(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    p = make_platform()
    ids = _book(p, clock)
    loan, a, c = ids["loan"], ids["A"], ids["C"]
    offer = p.market.offer
    _refused(db_url, lambda: offer(loan, a, "1000", "899.99"), InvalidAmount, "out of bounds")
    _refused(db_url, lambda: offer(loan, a, "1000", "1050.01"), InvalidAmount, "out of bounds")
    _refused(db_url, lambda: offer(loan, a, "5526.92"), LimitExceeded, "more than the 5526.91")
    _refused(db_url, lambda: offer(loan, a, "1000.50"), InvalidAmount, "multiple of the transfer")
    _refused(db_url, lambda: offer(loan, c, "100"), Forbidden, "holds no outstanding")
    t = p.market.offer(loan, a, "5000")
    # the listed part is locked: 526.91 is all A may still offer
    _refused(db_url, lambda: offer(loan, a, "600"), LimitExceeded, "more than the 526.91")
    _refused(db_url, lambda: p.market.buy(t.id, a, "100"), Forbidden, "its own transfer")
    _refused(db_url, lambda: p.market.buy(t.id, ids["borrower"], "100"), Forbidden, "borrower")
    _refused(db_url, lambda: p.market.buy(t.id, c, "100.50"), InvalidAmount, "multiple")
    _refused(db_url, lambda: p.market.buy(t.id, c, "5000.00"), Exception, "insufficient|available")
    # within 3 days of the due date 2026-03-01, neither offers nor purchases
    clock.set(_at(date(2026, 2, 22)))  # the first offer has expired: its 5000.00 is free
    late = p.market.offer(loan, a, "5526.91")
    clock.set(_at(date(2026, 2, 26)))
    _refused(db_url, lambda: offer(loan, a, "100"), InvalidState, "within 3 days")
    _refused(db_url, lambda: p.market.buy(late.id, c, "100"), InvalidState, "within 3 days")
    assert p.verify().ok


def test_holding_period_and_overdue_loans_are_refused(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    p = make_platform()
    borrower, a = _party(p, "borrower"), _party(p, "A", "1000")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=6)
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, a, "1000")
    loan = p.loans.disburse(listing.id).id
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)  # it will not pay
    clock.set(_at(date(2026, 1, 20)))
    _refused(
        db_url,
        lambda: p.market.offer(loan, a, "100"),
        InvalidState,
        "30 days after it was acquired",
    )
    clock.set(_at(date(2026, 2, 1)))
    p.cob.run(date(2026, 2, 1))
    clock.set(_at(date(2026, 2, 11)))
    p.cob.run(date(2026, 2, 11))
    assert p.loans.get(loan).state == "overdue"
    _refused(db_url, lambda: p.market.offer(loan, a, "100"), InvalidState, "overdue|not current")


def test_cancel_and_expiry_release_the_locked_principal_once(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform()
    ids = _book(p, clock)
    loan, a, c = ids["loan"], ids["A"], ids["C"]
    t = p.market.offer(loan, a, "1000")
    p.market.buy(t.id, c, "400")
    assert p.market.get(t.id).remaining == M("600")
    assert p.market.cancel(t.id).state == "cancelled"
    with pytest.raises(InvalidState, match="cancelled"):
        p.market.cancel(t.id)
    with pytest.raises(InvalidState, match="cancelled"):
        p.market.buy(t.id, c, "100")
    # what it did not sell is free again: all of A's 5126.91
    t2 = p.market.offer(loan, a, "5126.91")
    clock.set(_at(date(2026, 2, 18)))  # expires_at: 7 days after the offer
    with pytest.raises(InvalidState, match="expired"):
        p.market.buy(t2.id, c, "100")
    p.cob.run(date(2026, 2, 18))
    assert p.market.get(t2.id).state == "expired"
    assert [x.id for x in p.market.transfers(loan_id=loan, state="expired")] == [t2.id]
    assert p.market.offer(loan, a, "100").state == "open"
    assert p.verify().ok


def test_a_repeated_purchase_with_a_key_has_one_effect(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform()
    ids = _book(p, clock)
    t = p.market.offer(ids["loan"], ids["A"], "1000", key="offer-1")
    assert p.market.offer(ids["loan"], ids["A"], "1000", key="offer-1") == t
    first = p.market.buy(t.id, ids["C"], "300", key="buy-1")
    again = p.market.buy(t.id, ids["C"], "300", key="buy-1")
    assert again == first
    assert p.market.get(t.id).sold == M("300")
    assert _available(p, ids["C"]) == M("5000") - first.buyer_paid
    assert p.verify().ok


class _NoTransfers:
    """A plugin that keeps its product's loans off the market and records settlements."""

    def __init__(self) -> None:
        self.settled: list[str] = []
        self.asked: list[str | None] = []

    @lendkit.hookimpl
    def lendkit_validate_transfer(self, loan: Any, buyer_id: str | None) -> list[str]:
        self.asked.append(buyer_id)
        return ["this product stays with who funded it"] if self.closed else []

    @lendkit.hookimpl
    def lendkit_transfer_settled(self, agreement: Any, transfer: Any) -> None:
        self.settled.append(f"{agreement.id}:{transfer.state}")

    closed = False


def test_plugins_validate_and_are_told(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    plugin = _NoTransfers()
    p = make_platform(plugins=["online", plugin])
    ids = _book(p, clock)
    t = p.market.offer(ids["loan"], ids["A"], "1000")
    deal = p.market.buy(t.id, ids["C"], "1000")
    assert plugin.asked == [None, ids["C"]]
    assert plugin.settled == [f"{deal.id}:filled"]
    plugin.closed = True
    _refused(
        db_url,
        lambda: p.market.offer(ids["loan"], ids["A"], "1000"),
        ValidationRefused,
        "stays with who funded it",
    )


def test_disclosure(make_platform: Callable[..., lendkit.Platform], clock: FixedClock) -> None:
    p = make_platform()
    ids = _book(p, clock)
    t = p.market.offer(ids["loan"], ids["A"], "1000", "980")
    p.market.buy(t.id, ids["C"], "1000")
    found = {d.name: d.value for d in p.reports.disclosure()}
    assert found["transfer volume (principal sold)"] == "1000.00 CNY"
    assert found["average transfer discount (1 - price / principal sold)"] == "2.00%"
    # 1 of 3 positions (A's, B's, C's) sold principal
    assert (
        found["positions transferred (positions that sold principal / all positions)"] == "33.33%"
    )


def test_cli_offer_buy_list_cancel(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    """The CLI runs on the real clock: the loan starts 40 days before today."""
    p = make_platform()
    ids = _book(p, clock, start=datetime.now(UTC).date() - timedelta(days=40))
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(main, ["market", *args, "--db", db_url], catch_exceptions=False)

    out = cli("offer", ids["loan"], ids["A"], "1000", "--price", "990", "--json", "--key", "o1")
    assert out.exit_code == 0, out.output
    offered = json.loads(out.output)
    assert (offered["principal"], offered["price"], offered["state"]) == (
        "1000.00",
        "990.00",
        "open",
    )
    again = cli("offer", ids["loan"], ids["A"], "1000", "--price", "990", "--json", "--key", "o1")
    assert json.loads(again.output)["id"] == offered["id"]
    bought = cli("buy", offered["id"], ids["C"], "400", "--json", "--key", "b1")
    assert bought.exit_code == 0, bought.output
    deal = json.loads(bought.output)
    assert (deal["principal"], deal["price"], deal["fee"]) == ("400.00", "396.00", "1.98")
    text = cli("buy", offered["id"], ids["D"], "100")
    assert text.exit_code == 0 and "bought 100.00 CNY" in text.output
    listed = json.loads(cli("list", "--loan", ids["loan"], "--json").output)
    assert [(t["id"], t["sold"], t["remaining"]) for t in listed] == [
        (offered["id"], "500.00", "500.00")
    ]
    assert "cancelled" in cli("cancel", offered["id"]).output
    for args in (("buy", offered["id"], ids["C"], "100"), ("buy", "trf_nope", ids["C"], "1")):
        bad = cli(*args)
        assert bad.exit_code != 0 and "Traceback" not in bad.output
        assert bad.output.startswith("Error: ")
    assert "no transfers" in cli("list", "--state", "open").output
    assert p.verify().ok


def test_a_cover_after_the_transfer_pays_the_holder_and_recoveries_the_payer(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    from lendkit.plugins import guarantee
    from tests.services.test_positions import _guaranteed_loan

    p = make_platform(
        plugins=["online", "guarantee"],
        config={"waterfall": ["guarantee"], "grace_days": 0, "transfer_min_holding_days": 10},
    )
    loan, borrower, investors, _ = _guaranteed_loan(p, liability="joint", after_days=1)
    buyer = _party(p, "buyer", "2000")
    clock.set(_at(date(2026, 1, 20)))
    t = p.market.offer(loan, investors[0], "1500")  # all of investor 1's half of the loan
    p.market.buy(t.id, buyer, "1500")
    due = p.loans.schedule(loan).installments[0].due_date
    seller_before = p.custody.balance(investors[0]).available
    buyer_before = p.custody.balance(buyer).available
    clock.set(_at(due + timedelta(days=1)))
    p.cob.run(due + timedelta(days=1))  # joint: the guarantor pays period 1 on day 1
    [paid] = guarantee.compensations(p)
    covered = [r for r in p.reports.position_history(loan, buyer) if r.kind == "cover"]
    assert len(covered) == 1 and covered[0].payer_id not in (borrower, buyer)
    # the holder on the payment date gets half of the cover (net of the management fee)
    gain = p.custody.balance(buyer).available - buyer_before
    assert gain == covered[0].amount
    exact = (paid.principal.minor + paid.interest.minor * Decimal("0.9")) / 2
    assert abs(gain.minor - exact) < 1  # the largest-remainder share of the cover
    assert p.custody.balance(investors[0]).available == seller_before
    # the borrower pays period 1 late: it recovers the guarantor, not the holders
    clock.set(_at(due + timedelta(days=3)))
    p.custody.deposit(borrower, "5000")
    before = p.custody.balance(buyer).available
    payment = p.loans.repay(loan)
    # its principal and interest recover the guarantor's cover; the holder gets only its half
    # of the penalty (penalty is never covered, it stays the investors')
    gain = p.custody.balance(buyer).available - before
    assert abs(gain.minor - payment.penalty.minor / 2) < 1
    assert payment.principal + payment.interest == paid.principal + paid.interest
    assert p.verify().ok


class _LockedProduct:
    """A plugin offering a product whose loans never change hands."""

    @lendkit.hookimpl
    def lendkit_register_products(self) -> list[Any]:
        return [lendkit.Product(name="locked", plugin="locked", transferable=False)]


def test_a_product_that_is_not_transferable_is_refused(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    p = make_platform(plugins=["online", _LockedProduct()], config={"transfer_min_holding_days": 0})
    borrower, a = _party(p, "borrower"), _party(p, "A", "1000")
    listing = p.listings.apply(
        borrower, amount="1000", annual_rate="12%", months=6, product="locked"
    )
    p.listings.approve(listing.id, grade="B")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, a, "1000")
    loan = p.loans.disburse(listing.id).id
    clock.set(_at(date(2026, 1, 10)))  # current, 22 days before the first due date
    _refused(
        db_url,
        lambda: p.market.offer(loan, a, "100"),
        InvalidState,
        r"refused: loan \S+ is a locked loan: that product is not transferable$",
    )


def test_a_prepayment_while_a_transfer_is_open_caps_what_can_be_bought(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    p = make_platform()
    ids = _book(p, clock)
    loan, a, b, c = ids["loan"], ids["A"], ids["B"], ids["C"]
    t = p.market.offer(loan, a, "5526.91", price="5526.91")  # all A holds, at par
    # the borrower prepays 5000.00 of principal (+ 16.67 interest for 10 days, 50.00 fee);
    # A's share by outstanding 5526.91 / 3684.60: 3000.00, B's 2000.00
    paid = p.loans.prepay(loan, "5000")
    assert paid.amount == M("5066.67")
    assert p.loans.position(loan, a).outstanding_principal == M("2526.91")
    cash = _available(p, c)
    # C asks for the whole offer: it gets what A still holds, at the offer's unit price; no
    # interest has accrued since the prepayment paid it to date; fee 0.5 % of the price
    deal = p.market.buy(t.id, c, "5526.91")
    assert (deal.principal, deal.price, deal.accrued_interest, deal.fee) == (
        M("2526.91"),
        M("2526.91"),
        M("0"),
        M("12.63"),
    )
    assert _available(p, c) == cash - M("2526.91")
    assert p.market.get(t.id).state == "filled"
    assert p.loans.position(loan, a).outstanding_principal == M("0")
    assert p.loans.position(loan, c).outstanding_principal == M("2526.91")
    assert p.loans.position(loan, b).outstanding_principal == M("1684.60")
    assert p.loans.get(loan).outstanding_principal == M("4211.51")  # 2526.91 + 1684.60
    before = dump(db_url)
    with pytest.raises(InvalidState, match="is filled; only open transfers are bought"):
        p.market.buy(t.id, ids["D"], "1")
    assert dump(db_url) == before
    assert p.verify().ok
