"""The operator's unfreeze and refund reach only what the operator may touch.

Unfreeze voids only holds made by ``operator_freeze``: a bid's hold (released by its listing) and
a pending withdrawal's hold (released by the gateway's answer) are refused and nothing changes.
A refund pays out available money only, never money frozen by a hold.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

import lendkit
from lendkit import Money
from lendkit.core.errors import Forbidden, InsufficientFunds
from lendkit.store.db import create_nullpool_engine
from tests.conftest import dump


def cny(v: str | int) -> Money:
    return Money.of(v, "CNY")


class SlowBank:
    """Deposits complete at once; withdrawals wait for the bank (``pending``)."""

    name = "slowbank"

    def deposit(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        return "completed", "bank-" + movement_id

    def withdraw(self, party_id: str, amount: Money, movement_id: str) -> tuple[str, str | None]:
        return "pending", "bank-" + movement_id


def _hold_of(db_url: str, movement_id: str) -> str:
    engine = create_nullpool_engine(db_url)
    with engine.connect() as conn:
        hold_id = conn.execute(
            text("SELECT hold_id FROM lendkit_external_movements WHERE id = :m"), {"m": movement_id}
        ).scalar_one()
    engine.dispose()
    return str(hold_id)


def test_unfreeze_and_refund_refuse_holds_the_operator_did_not_make(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform(gateway=SlowBank())
    borrower, investor = (p.parties.register(n).id for n in ("borrower", "investor"))
    for pid in (borrower, investor):
        p.parties.verify(pid)
    p.custody.deposit(investor, "1000")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="10%", months=6)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    bid = p.bidding.bid(listing.id, investor, "600")
    withdrawal = p.custody.withdraw(investor, "300")
    assert withdrawal.state == "pending"
    court = p.custody.operator_freeze(investor, "50", "court order")
    bal = p.custody.balance(investor)
    assert (bal.available, bal.frozen) == (cny(50), cny(950))

    before = dump(db_url)
    for hold_id, kind in ((bid.hold_id, "bid"), (_hold_of(db_url, withdrawal.id), "withdrawal")):
        with pytest.raises(Forbidden, match=f"hold {hold_id} is a {kind} hold.*operator_freeze"):
            p.custody.unfreeze(hold_id)
    with pytest.raises(InsufficientFunds):  # frozen money is out of a refund's reach
        p.custody.refund(investor, "50.01")
    assert dump(db_url) == before

    # the operator's own hold is released; the bid and the withdrawal keep theirs
    p.custody.unfreeze(court.id)
    bal = p.custody.balance(investor)
    assert (bal.available, bal.frozen) == (cny(100), cny(900))
    p.custody.complete_withdrawal(withdrawal.id)
    assert p.bidding.bids(listing.id)[0].state == "open"
    bal = p.custody.balance(investor)
    assert (bal.available, bal.frozen) == (cny(100), cny(600))
    assert p.verify().ok
