"""Races: last units, cross-listing double spend, holds resolving once, expiry sweepers,
separate processes bidding on PostgreSQL."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

import lendkit
from lendkit import Money
from lendkit.core.errors import HoldResolved, InsufficientFunds, InvalidState, LimitExceeded
from lendkit.ops import holds as C
from lendkit.uow import UnitOfWork
from tests.conftest import FixedClock

SEED = 20261123


def cny(v: str | int) -> Money:
    return Money.of(v, "CNY")


def publish(p: lendkit.Platform, borrower: str, amount: str) -> str:
    listing = p.listings.apply(borrower, amount=amount, annual_rate="10%", months=6)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    return listing.id


def test_cross_listing_double_spend(platform: lendkit.Platform, funded: Callable[..., str]) -> None:
    p = platform
    borrower, investor = funded("0"), funded("100.00")
    listings = [publish(p, borrower, "1000") for _ in range(20)]
    barrier = threading.Barrier(20)

    def go(lid: str) -> Money:
        barrier.wait()
        try:
            return p.bidding.bid(lid, investor, "100.00").amount
        except InsufficientFunds:
            return cny(0)

    with ThreadPoolExecutor(20) as pool:
        fills = list(pool.map(go, listings))
    assert sum(fills, cny(0)) == cny(100)
    bal = p.custody.balance(investor)
    assert bal.frozen == cny(100) and bal.available == cny(0)
    assert p.verify().ok


@pytest.mark.parametrize("rounds", [pytest.param(100), pytest.param(1000, marks=pytest.mark.slow)])
def test_hold_resolves_exactly_once(
    platform: lendkit.Platform, funded: Callable[..., str], rounds: int
) -> None:
    p = platform
    owner, dest = funded(str(rounds * 10)), funded("0")
    rng = random.Random(SEED)

    def in_tx(fn: Callable[[UnitOfWork], object]) -> object:
        return p.runner.run("test", lambda tx: fn(tx))

    outcomes: dict[str, int] = {"post": 0, "void": 0, "expire": 0}
    with ThreadPoolExecutor(3) as pool:
        for _ in range(rounds):
            hold = in_tx(
                lambda ctx: C.freeze(
                    ctx, owner, cny(10), ctx.party_account(dest), reference="race", reason="test"
                )
            )
            hid = hold.id  # type: ignore[attr-defined]
            part = cny(rng.randint(0, 10))
            barrier = threading.Barrier(3)

            def attempt(
                kind: str, hid: str = hid, part: Money = part, barrier: threading.Barrier = barrier
            ) -> str | None:
                barrier.wait()
                try:
                    if kind == "post":
                        in_tx(lambda ctx: C.post_hold(ctx, hid, part))
                    elif kind == "void":
                        in_tx(lambda ctx: C.void_hold(ctx, hid))
                    else:
                        in_tx(lambda ctx: C.void_hold(ctx, hid, state="expired"))
                    return kind
                except HoldResolved:
                    return None

            won = [k for k in pool.map(attempt, ["post", "void", "expire"]) if k]
            assert len(won) == 1
            outcomes[won[0]] += 1
            # late resolutions are refused, a post cannot exceed or be redirected
            with pytest.raises(HoldResolved):
                in_tx(lambda ctx: C.void_hold(ctx, hid))
    a, b = p.custody.balance(owner), p.custody.balance(dest)
    assert a.frozen == cny(0)
    assert a.available + b.available == cny(rounds * 10)
    assert p.verify().ok


@pytest.mark.parametrize("count", [pytest.param(500), pytest.param(10_000, marks=pytest.mark.slow)])
def test_expiry_at_scale_two_sweepers(
    platform: lendkit.Platform, funded: Callable[..., str], clock: FixedClock, count: int
) -> None:
    p = platform
    owner, dest = funded(str(count)), funded("0")
    expires = clock.now + timedelta(hours=1)

    def many(tx: object) -> None:
        ctx = tx  # type: ignore[arg-type]
        d = ctx.party_account(dest)
        for _ in range(count):
            C.freeze(ctx, owner, cny(1), d, reference="bulk", reason="test", expires_at=expires)

    p.runner.run("test.bulk_freeze", many)
    assert p.custody.balance(owner).frozen == cny(count)
    clock.advance(hours=2)
    with ThreadPoolExecutor(2) as pool:
        released = list(pool.map(lambda _: p.custody.expire_holds(), range(2)))
    assert sum(released) == count
    bal = p.custody.balance(owner)
    assert bal.available == cny(count) and bal.frozen == cny(0)
    assert p.verify().ok


PROCESS_BIDDER = textwrap.dedent(
    """
    import sys
    import lendkit
    from lendkit.core.errors import LimitExceeded, InvalidState, InsufficientFunds
    url, listing, start, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    investors = sys.argv[5].split(",")
    p = lendkit.Platform.open(url, plugins=["online"], create=False)
    total = 0
    for k in range(n):
        who = investors[(start + k) % len(investors)]
        try:
            total += p.bidding.bid(listing, who, str(1 + (start * 7 + k) % 100)).amount.minor
        except (LimitExceeded, InvalidState, InsufficientFunds):
            pass
    print(total)
    """
)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # processes: the production DB
def test_last_units_race_across_processes(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str, clock: FixedClock
) -> None:
    clock.set(datetime.now(UTC))  # the bidder processes use the system clock
    p = platform
    borrower, big = funded("0"), funded("9900")
    lid = publish(p, borrower, "10000")
    p.bidding.bid(lid, big, "9900")
    investors = [funded("100") for _ in range(16)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_BIDDER, db_url, lid, str(i), "8", ",".join(investors)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    filled = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        filled += int(out.strip())
    assert filled == 100_00
    listing = p.listings.get(lid)
    assert listing.bid_total == cny(10000) and listing.state == "funded"
    frozen = sum((p.custody.balance(x).frozen for x in [big, *investors]), cny(0))
    assert frozen == cny(10000)
    for x in investors:
        assert p.custody.balance(x).available >= cny(0)
    assert p.verify().ok
    with pytest.raises((LimitExceeded, InvalidState)):
        p.bidding.bid(lid, investors[0], "1")
