"""The notifications a plugin gets through public hooks only, on SQLite and PostgreSQL: bids placed
and released (with the reason), one ``lendkit_cob_day`` per date and shard, recoveries per
installment to the cent, and ``publish`` asking ``lendkit_validate_listing`` again.

The recording plugins note what they saw with ``ctx.after_commit``, so a list holds only what a
committed transaction told them, and read balances through ``ctx`` inside the hook, which proves
the hook runs in the transaction that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

import lendkit
from lendkit import Money
from lendkit.core.errors import Forbidden, PluginError, ValidationRefused
from lendkit.core.states import RELEASE_REASONS
from tests.conftest import FixedClock, dump

M = Money.of


class Recorder:
    """Records bids placed / released and the listing's end, in commit order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.bids: list[lendkit.Bid] = []

    def _note(self, ctx: Any, event: tuple[Any, ...]) -> None:
        ctx.after_commit(lambda: self.events.append(event))

    @lendkit.hookimpl
    def lendkit_bid_placed(self, ctx: Any, listing: Any, bid: lendkit.Bid) -> None:
        seen = ctx.balance(ctx.party_account(bid.investor_id, ctx.currency))
        ctx.after_commit(lambda: self.bids.append(bid))
        self._note(
            ctx,
            (
                "placed",
                bid.investor_id,
                listing.state,
                listing.bid_total,
                bid.amount,
                bid.requested,
                bid.state,
                bid.auto,
                seen,
            ),
        )

    @lendkit.hookimpl
    def lendkit_bid_released(self, ctx: Any, listing: Any, bid: lendkit.Bid, reason: str) -> None:
        assert reason in RELEASE_REASONS
        seen = ctx.balance(ctx.party_account(bid.investor_id, ctx.currency))
        self._note(
            ctx,
            (
                "released",
                bid.investor_id,
                listing.state,
                bid.amount,
                bid.requested,
                bid.state,
                reason,
                seen,
            ),
        )

    @lendkit.hookimpl
    def lendkit_listing_funded(self, ctx: Any, listing: Any) -> None:
        self._note(ctx, ("funded", listing.id))

    @lendkit.hookimpl
    def lendkit_listing_failed(self, ctx: Any, listing: Any) -> None:
        self._note(ctx, ("failed", listing.id))

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]


def party(p: lendkit.Platform, name: str, deposit: str = "0") -> str:
    pid = p.parties.register(name).id
    p.parties.verify(pid)
    if deposit != "0":
        p.custody.deposit(pid, deposit)
    return pid


def published(p: lendkit.Platform, borrower: str, amount: str = "1000", **terms: Any) -> str:
    terms.setdefault("annual_rate", None if terms.get("bidding") == "auction" else "12%")
    listing = p.listings.apply(borrower, amount=amount, months=3, **terms)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    return listing.id


def at(clock: FixedClock, day: date, hour: int = 20) -> None:
    clock.set(datetime.combine(day, time(hour), tzinfo=UTC))


# -- bids placed and released ------------------------------------------------------------------------


def test_fixed_rate_bids_notify_placed_and_the_trimmed_bid_holds_only_its_fill(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    rec = Recorder()
    p = make_platform(plugins=["online", rec])
    borrower, a, b = party(p, "b"), party(p, "a", "1000"), party(p, "c", "1000")
    listing_id = published(p, borrower)
    first = p.bidding.bid(listing_id, a, "600")
    second = p.bidding.bid(listing_id, b, "600")  # crosses the target: trimmed to 400
    assert rec.events == [
        ("placed", a, "published", M("600"), M("600"), M("600"), "open", False, M("400")),
        ("placed", b, "funded", M("1000"), M("400"), M("600"), "open", False, M("600")),
        ("funded", listing_id),
    ]
    assert rec.bids == [first, second]
    p.loans.disburse(listing_id)  # the holds are posted, not released
    assert rec.kinds() == ["placed", "placed", "funded"]


def test_auto_bids_notify_placed_at_publish(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    rec = Recorder()
    p = make_platform(plugins=["online", rec])
    borrower, a = party(p, "b"), party(p, "a", "1000")
    p.bidding.add_rule(a, "300")
    listing_id = published(p, borrower)
    assert rec.events == [
        ("placed", a, "published", M("300"), M("300"), M("300"), "open", True, M("700")),
    ]
    assert rec.bids == p.bidding.bids(listing_id)


def test_a_failed_listing_releases_every_bid_by_close_and_by_cob(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    rec = Recorder()
    p = make_platform(plugins=["online", rec])
    borrower, a, b = party(p, "b"), party(p, "a", "1000"), party(p, "c", "1000")
    listing_id = published(p, borrower)
    p.bidding.bid(listing_id, a, "300")
    p.bidding.bid(listing_id, b, "200")
    rec.events.clear()
    p.listings.close(listing_id)
    assert rec.events == [
        ("released", a, "failed", M("300"), M("300"), "voided", "listing_failed", M("1000")),
        ("released", b, "failed", M("200"), M("200"), "voided", "listing_failed", M("1000")),
        ("failed", listing_id),
    ]
    # the funding window ends short at close of business: the same releases
    other = published(p, borrower)
    p.bidding.bid(other, a, "450")
    rec.events.clear()
    at(clock, clock.now.date() + timedelta(days=8))
    assert p.cob.run(clock.now.date()).expired_listings == 1
    assert rec.events == [
        ("released", a, "failed", M("450"), M("450"), "voided", "listing_failed", M("1000")),
        ("failed", other),
    ]


def test_auction_losers_and_the_trimmed_marginal_bid_are_released(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    rec = Recorder()
    p = make_platform(plugins=["online", rec])
    borrower = party(p, "b")
    a, b, c, d = (party(p, n, "1000") for n in "adef")
    listing_id = published(p, borrower, bidding="auction", max_rate="12%")
    for investor, amount, rate in ((a, "600", "10%"), (b, "500", "8%"), (c, "300", "11%")):
        p.bidding.bid(listing_id, investor, amount, rate=rate)
    p.bidding.bid(listing_id, d, "200", rate="11.5%")
    assert [e[:5] for e in rec.events] == [
        ("placed", a, "published", M("600"), M("600")),
        ("placed", b, "published", M("1100"), M("500")),
        ("placed", c, "published", M("1400"), M("300")),
        ("placed", d, "published", M("1600"), M("200")),
    ]
    rec.events.clear()
    p.listings.close(listing_id)  # 8 % fills 500, 10 % fills the other 500 of its 600
    assert rec.events == [
        ("released", a, "funded", M("500"), M("600"), "won", "auction_trimmed", M("500")),
        ("released", c, "funded", M("300"), M("300"), "lost", "auction_lost", M("1000")),
        ("released", d, "funded", M("200"), M("200"), "lost", "auction_lost", M("1000")),
        ("funded", listing_id),
    ]
    assert [p.custody.balance(x).frozen for x in (a, b, c, d)] == [M(500), M(500), M(0), M(0)]


class Refuser:
    """Refuses (in the notification) every bid of one investor."""

    def __init__(self, investor: str) -> None:
        self.investor = investor

    @lendkit.hookimpl(trylast=True)
    def lendkit_bid_placed(self, ctx: Any, bid: lendkit.Bid) -> None:
        if bid.investor_id == self.investor:
            raise Forbidden(f"investor {bid.investor_id} is blocked")


def test_a_notification_runs_in_the_bids_transaction(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    """A refusal raised by ``lendkit_bid_placed`` undoes the bid; a refused auto-bid is skipped
    and what the other plugins registered for after commit is dropped with it."""
    rec = Recorder()
    p = make_platform(plugins=["online", rec])
    borrower, blocked, other = party(p, "b"), party(p, "x", "1000"), party(p, "y", "1000")
    p.pm.register(Refuser(blocked), name="refuser")
    listing_id = published(p, borrower)
    before = dump(db_url)
    with pytest.raises(Forbidden, match=f"investor {blocked} is blocked"):
        p.bidding.bid(listing_id, blocked, "100")
    assert dump(db_url) == before and rec.events == []
    p.bidding.add_rule(blocked, "100")
    p.bidding.add_rule(other, "200")
    second = published(p, borrower)
    assert [(e[0], e[1], e[4], e[7]) for e in rec.events] == [("placed", other, M(200), True)]
    assert [b.investor_id for b in p.bidding.bids(second)] == [other]
    assert p.custody.balance(blocked).frozen == M(0)


# -- close of business ------------------------------------------------------------------------------


class DayRecorder:
    def __init__(self) -> None:
        self.days: list[tuple[date, str]] = []

    @lendkit.hookimpl
    def lendkit_cob_day(self, ctx: Any, run_date: date, shard: str) -> None:
        assert ctx.today == run_date
        ctx.after_commit(lambda: self.days.append((run_date, shard)))


class Boom(Exception):
    pass


class CrashOverdue:
    @lendkit.hookimpl
    def lendkit_installment_overdue(self, ctx: Any) -> None:
        raise Boom("in a chunk")


class CrashDay:
    @lendkit.hookimpl(tryfirst=True)
    def lendkit_cob_day(self, run_date: date) -> None:
        raise Boom(run_date)


def disbursed(p: lendkit.Platform, name: str) -> tuple[str, date]:
    """A 3-month loan whose borrower keeps nothing (so it falls overdue); (loan id, first due)."""
    borrower, investor = party(p, f"b-{name}"), party(p, f"i-{name}", "1000")
    listing_id = published(p, borrower)
    p.bidding.bid(listing_id, investor, "1000")
    loan = p.loans.disburse(listing_id)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    return loan.id, p.loans.schedule(loan.id).installments[0].due_date


def test_cob_day_once_per_date_and_shard(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    rec = DayRecorder()
    p = make_platform(plugins=["online", rec], config={"grace_days": 0, "cob_chunk": 1})
    _, due = disbursed(p, "one")
    disbursed(p, "two")
    at(clock, due + timedelta(days=20))
    p.cob.run(due)
    assert rec.days == [(due, "1/1")]
    assert p.cob.run(due).already_done  # a rerun of a finished date
    assert rec.days == [(due, "1/1")]
    # three nights missed: each caught-up day closes once, in order
    p.cob.run(due + timedelta(days=3))
    assert rec.days == [(due + timedelta(days=k), "1/1") for k in range(4)]
    # a crash in a chunk, then in the day's close: the resumed run closes the day once
    rec.days.clear()
    day = due + timedelta(days=4)
    for crash in (CrashOverdue(), CrashDay()):
        p.pm.register(crash, name="crash")
        with pytest.raises(Boom):
            p.cob.run(day)
        p.pm.unregister(crash)
        assert rec.days == []
    assert not p.cob.run(day).already_done
    assert p.cob.run(day).already_done
    assert rec.days == [(day, "1/1")]


def test_cob_day_once_per_shard(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    rec = DayRecorder()
    p = make_platform(plugins=["online", rec])
    _, due = disbursed(p, "one")
    at(clock, due)
    for shard in ("2/2", "1/2", "2/2", "1/2"):
        p.cob.run(due, shard=shard)
    assert rec.days == [(due, "2/2"), (due, "1/2")]


def test_an_implementation_of_the_old_name_is_refused(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    class Old:
        @lendkit.hookimpl
        def lendkit_business_day_closed(self, ctx: Any, business_date: date) -> None:
            raise AssertionError("never called")

    with pytest.raises(
        PluginError,
        match=r"lendkit_business_day_closed, which is now lendkit_cob_day\(ctx, run_date, shard\)",
    ):
        make_platform(plugins=["online", Old()])


# -- recoveries -------------------------------------------------------------------------------------


class Cover:
    """Pays investors every claim in full from its own account (a third party, 代偿)."""

    lendkit_plugin_name = "cover"

    @lendkit.hookimpl
    def lendkit_cover_claim(self, ctx: Any, claim: lendkit.Claim) -> Money:
        paid: Money = ctx.pay_investors(
            claim.loan_id,
            ctx.account("plugin", "cover", "fund", ctx.currency, allow_negative=True),
            claim.principal,
            claim.interest,
            reason="test",
            period=claim.period,
        )
        return paid


class RecoveryRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, Money, Money, Money]] = []

    @lendkit.hookimpl
    def lendkit_recovery_received(
        self,
        ctx: Any,
        loan: Any,
        amount: Money,
        payer: Any,
        period: int,
        principal: Money,
        interest: Money,
    ) -> None:
        assert payer == ctx.party_account(loan.borrower_id, ctx.currency)
        ctx.after_commit(
            lambda: self.calls.append((payer.code, period, principal, interest, amount))
        )


class OldRecovery:
    """An implementation written before the hook gained arguments still works."""

    def __init__(self) -> None:
        self.amounts: list[Money] = []

    @lendkit.hookimpl
    def lendkit_recovery_received(self, amount: Money) -> None:
        self.amounts.append(amount)


def test_recovery_received_per_installment_exact_to_the_cent(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    rec, old = RecoveryRecorder(), OldRecovery()
    p = make_platform(
        plugins=["online", Cover(), rec, old],
        config={"waterfall": ["cover"], "grace_days": 0, "penalty_daily_rate": "0"},
    )
    borrower = party(p, "b")
    investors = [party(p, f"i{k}", "1000") for k in range(3)]
    listing_id = published(p, borrower, amount="3000")
    for investor in investors:
        p.bidding.bid(listing_id, investor, "1000")
    loan = p.loans.disburse(listing_id)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    first, second, _ = p.loans.schedule(loan.id).installments
    assert (first.principal, first.interest) == (M("990.07"), M("30.00"))
    assert (second.principal, second.interest) == (M("999.97"), M("20.10"))
    p.cob.run(first.due_date + timedelta(days=1), allow_future=True)  # the cover pays both
    p.cob.run(second.due_date + timedelta(days=1), allow_future=True)
    with p.transaction() as ctx:
        fund = ctx.account("plugin", "cover", "fund", "CNY", allow_negative=True)
        payer = ctx.party_account(borrower, "CNY").code
        assert ctx.balance(fund) == -(first.payment + second.payment)
    assert rec.calls == []
    p.custody.deposit(borrower, "2100")
    # the first installment in full, then the second's interest and 1.00 of its principal
    pay = p.loans.repay(loan.id, first.payment + second.interest + M("1.00"))
    assert pay.amount == M("1041.17")
    assert rec.calls == [
        (payer, 1, M("990.07"), M("30.00"), M("1020.07")),
        (payer, 2, M("1.00"), M("20.10"), M("21.10")),
    ]
    p.loans.repay(loan.id, second.principal - M("1.00"))
    assert rec.calls[2:] == [(payer, 2, M("998.97"), M("0.00"), M("998.97"))]
    assert old.amounts == [M("1020.07"), M("21.10"), M("998.97")]
    with p.transaction() as ctx:
        assert ctx.balance(fund).is_zero()  # it got back exactly what it paid
    assert p.verify().ok


# -- publish validates again -----------------------------------------------------------------------


class BillCheck:
    """Refuses a listing whose bill was revoked; notes the states it was asked in."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.asked: list[str] = []

    @lendkit.hookimpl
    def lendkit_validate_listing(self, listing: Any) -> list[str]:
        self.asked.append(listing.state)
        if listing.id in self.revoked:
            return [f"the bill behind listing {listing.id} was revoked"]
        return []


def test_publish_validates_again_and_a_refusal_changes_nothing(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    check, rec = BillCheck(), Recorder()
    p = make_platform(plugins=["online", check, rec])
    borrower, investor = party(p, "b"), party(p, "i", "1000")
    p.bidding.add_rule(investor, "500")  # would bid at publication
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade="A")
    assert check.asked == ["applied", "approved"]
    check.revoked.add(listing.id)  # cloned or revoked after approval
    before = dump(db_url)
    with pytest.raises(ValidationRefused) as refused:
        p.listings.publish(listing.id)
    assert f"the bill behind listing {listing.id} was revoked" in str(refused.value)
    assert dump(db_url) == before
    assert p.listings.get(listing.id).state == "approved"
    assert p.custody.balance(investor).available == M(1000) and rec.events == []
    check.revoked.clear()
    assert p.listings.publish(listing.id).bid_total == M(500)
    assert check.asked == ["applied", "approved", "published", "published"]
    assert [e[:2] for e in rec.events] == [("placed", investor)]
