"""The secondary market under concurrency and over random books, on SQLite and PostgreSQL:
16 threads buying the last units never oversell; random chains of transfers (buyers of buyers)
then the loan repaid to the end pay every holder exactly its share, to the cent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import lendkit
from lendkit import Money
from lendkit.core.errors import InvalidState, LimitExceeded
from lendkit.core.transfer import Holding
from tests import conftest
from tests.conftest import FixedClock
from tests.conftest import party as _party
from tests.services.test_market import _at, _book, _collect, _sell

M = Money.of


def test_sixteen_threads_buying_the_last_units_never_oversell(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform()
    ids = _book(p, clock)
    loan = ids["loan"]
    buyers = [_party(p, f"buyer {n}", "100") for n in range(16)]
    t = p.market.offer(loan, ids["A"], "100", "99")
    p.market.buy(t.id, ids["C"], "30")  # 70.00 left for 16 buyers of 15.00 each
    barrier = threading.Barrier(16)

    def go(buyer: str) -> Money:
        barrier.wait()
        try:
            return p.market.buy(t.id, buyer, "15").principal
        except (LimitExceeded, InvalidState):
            return M(0)

    with ThreadPoolExecutor(16) as pool:
        fills = list(pool.map(go, buyers))
    assert sum(fills, M(0)) == M("70")
    assert sorted(f for f in fills if f.is_positive()) == [M("10")] + [M("15")] * 4  # trimmed
    after = p.market.get(t.id)
    assert (after.sold, after.state) == (M("100"), "filled")
    deals = p.market.agreements(transfer_id=t.id)
    assert sum((d.principal for d in deals), M(0)) == M("100")
    assert sum((d.price for d in deals), M(0)) == M("99")  # the fills' prices add up exactly
    for buyer, fill in zip(buyers, fills, strict=True):
        paid = sum((d.buyer_paid for d in deals if d.buyer_id == buyer), M(0))
        assert p.custody.balance(buyer).available == M("100") - paid
        assert paid.is_positive() == fill.is_positive()
    record = p.loans.get(loan)
    assert sum((x.outstanding_principal for x in record.positions), M(0)) == (
        record.outstanding_principal
    )
    assert p.loans.position(loan, ids["A"]).sold == M("100")
    assert p.verify().ok


@pytest.mark.parametrize(
    "backend",
    ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow])],
)
def test_random_books_and_chains_of_transfers_pay_every_holder_its_share(
    backend: str, tmp_path: Path, sqlite_template: Path
) -> None:
    counter = [0]

    def new_url() -> str:
        counter[0] += 1
        return conftest.fresh_database(backend, tmp_path / f"m{counter[0]}.db", sqlite_template)

    @settings(
        max_examples=6,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a shrink reruns whole books
    )
    @given(
        shares=st.lists(st.integers(1, 40), min_size=1, max_size=4),
        months=st.integers(2, 4),
        rounds=st.lists(
            st.lists(
                st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(1, 10**6)),
                max_size=3,
            ),
            min_size=4,
            max_size=4,
        ),
    )
    def check(shares: list[int], months: int, rounds: list[list[tuple[int, int, int]]]) -> None:
        clock = FixedClock()
        clock.set(_at(date(2026, 1, 1)))
        config = {"transfer_min_holding_days": 0, "transfer_blackout_days": 0}
        with lendkit.Platform.open(new_url(), ["online"], clock=clock, config=config) as p:
            amount = sum(shares) * 100
            borrower = _party(p, "borrower", str(amount))
            # investors buy too (buyers of buyers): each has twice the loan beside its bid
            investors = [
                _party(p, f"investor {n}", str(s * 100 + amount * 2)) for n, s in enumerate(shares)
            ]
            buyers = [_party(p, f"buyer {n}", str(amount * 2)) for n in range(3)]
            people = investors + buyers
            listing = p.listings.apply(
                borrower, amount=str(amount), annual_rate="12%", months=months
            )
            p.listings.approve(listing.id, grade="B")
            p.listings.publish(listing.id)
            for inv, s in zip(investors, shares, strict=True):
                p.bidding.bid(listing.id, inv, str(s * 100))
            loan = p.loans.disburse(listing.id).id
            plan = p.loans.schedule(loan).installments
            book = [
                (inv, Holding(s * 10000, 0, 0, None, Decimal("0.12")))
                for inv, s in zip(investors, shares, strict=True)
            ]
            got: dict[str, int] = {}
            since = date(2026, 1, 1)
            for k, row in enumerate(plan):
                clock.set(_at(since + timedelta(days=5)))
                for pick, buyer_pick, size in rounds[k]:
                    holders = sorted({w for w, h in book if h.outstanding > 0})
                    seller = holders[pick % len(holders)]
                    held = sum(h.outstanding for w, h in book if w == seller)
                    units = (
                        held if size % 3 == 0 else min(held, 100 * (1 + size % max(1, held // 100)))
                    )
                    low, high = -(-units * 90 // 100), units * 105 // 100
                    price = min(high, max(low, units * (90 + size % 16) // 100))
                    t = p.market.offer(
                        loan,
                        seller,
                        Money.from_minor(units, "CNY"),
                        Money.from_minor(price, "CNY"),
                    )
                    others = [x for x in people if x != seller]
                    buyer = others[buyer_pick % len(others)]
                    deal = p.market.buy(t.id, buyer, t.principal)
                    book = _sell(book, seller, buyer, deal.principal.minor)
                clock.set(_at(row.due_date))
                p.loans.repay(loan)
                book = _collect(book, row.interest.minor, row.principal.minor, got)
                since = row.due_date
            assert p.loans.get(loan).state == "settled"
            for who in people:
                try:
                    receipts = p.reports.position_history(loan, who)
                except lendkit.NotFound:
                    receipts = []
                paid = sum((r.amount for r in receipts if not r.kind.startswith("transfer")), M(0))
                assert paid.minor == got.get(who, 0)
            positions = p.loans.get(loan).positions
            gross = sum(
                (x.received_principal + x.received_interest + x.fees_paid for x in positions), M(0)
            )
            assert gross == sum((i.payment for i in plan), M(0))
            assert p.verify().ok

    check()
