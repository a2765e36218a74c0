"""Plugin commands run through the command runner like core commands (``Platform.command``): they
join a host transaction under ``platform.using(conn)``, take an idempotency key, are retried on
retryable errors; a replayed refusal raises the same class; every refusal class is in
``lendkit.core.errors`` and exported; a plugin's ``ctx.transfer`` cannot move one user's money to
another user. SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import random
from collections.abc import Callable
from typing import Any

import pytest

import lendkit
import lendkit.core.errors
from lendkit import Money
from lendkit.plugins import guarantee, insurance, reserve
from tests.conftest import FixedClock, party
from tests.plugins.test_plugin_inputs import dump_all
from tests.reliability.test_injected_errors import inject

M = Money.of
PLUGINS = ["online", "guarantee", "reserve", "insurance"]


@pytest.mark.parametrize("outcome", ["rollback", "commit"])
def test_a_plugin_command_joins_the_host_transaction(
    make_platform: Callable[..., lendkit.Platform], outcome: str
) -> None:
    p = make_platform(plugins=PLUGINS)
    operator = party(p, "operator", "500")
    g = guarantee.register_guarantor(p, "G", party(p, "g", "300"), "1000")
    with p.engine.connect() as conn:
        trans = conn.begin()
        host = p.using(conn)
        host.custody.deposit(operator, "100")  # the host's transaction holds the write lock
        assert reserve.seed(host, "250", from_party=operator) == M("250")
        assert guarantee.fund_deposit(host, g.id, "200", key="fund-1") == M("200")
        assert reserve.status(host).balance == M("250")
        if outcome == "rollback":
            trans.rollback()
        else:
            trans.commit()
    kept = outcome == "commit"
    assert reserve.status(p).balance == M("250" if kept else "0")
    assert guarantee.get_guarantor(p, g.id).deposit == M("200" if kept else "0")
    assert p.custody.balance(operator).available == M("350" if kept else "500")
    # after a rollback the key is free again; after a commit it replays the first outcome
    assert guarantee.fund_deposit(p, g.id, "200", key="fund-1") == M("200")
    assert guarantee.get_guarantor(p, g.id).deposit == M("200")
    assert p.verify().ok


def test_keyed_plugin_commands_have_one_effect(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform(plugins=PLUGINS)
    gp, operator = party(p, "g", "1000"), party(p, "operator", "1000")

    def once(call: Callable[[], Any]) -> Any:
        first = call()
        snapshot = dump_all(db_url)
        assert call() == first
        assert call() == first
        assert dump_all(db_url) == snapshot
        return first

    g = once(lambda: guarantee.register_guarantor(p, "G", gp, "1000", key="reg"))
    assert once(lambda: guarantee.fund_deposit(p, g.id, "300", key="dep")) == M("300")
    assert once(lambda: guarantee.withdraw_deposit(p, g.id, "100", key="wd")) == M("200")
    assert once(lambda: reserve.seed(p, "50", from_party=operator, key="seed")) == M("50")
    ins = once(lambda: insurance.register_insurer(p, "I", "5000", key="ins"))
    assert once(lambda: insurance.fund_insurer(p, ins.id, "70", key="fund")) == M("70")
    assert [x.id for x in guarantee.guarantors_of(p)] == [g.id]
    assert p.custody.balance(gp).available == M("800")
    assert p.custody.balance(operator).available == M("950")
    with pytest.raises(lendkit.IdempotencyConflict):
        guarantee.fund_deposit(p, g.id, "301", key="dep")
    with pytest.raises(lendkit.IdempotencyConflict):
        reserve.seed(p, "300", key="dep")  # another command
    assert guarantee.get_guarantor(p, g.id).deposit == M("200")
    assert p.verify().ok


def test_injected_retryable_errors_are_retried_in_plugin_commands(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock
) -> None:
    p = make_platform(plugins=PLUGINS)
    gp, operator = party(p, "g", "1000"), party(p, "operator", "1000")
    injected = inject(p, random.Random(7), per_statement=0.5)
    g = guarantee.register_guarantor(p, "G", gp, "1000", key="reg")
    for n in range(4):
        guarantee.fund_deposit(p, g.id, "100", key=f"dep-{n}")
        reserve.seed(p, "10", from_party=operator, key=f"seed-{n}")
    ins = insurance.register_insurer(p, "I", "5000")
    insurance.fund_insurer(p, ins.id, "70")
    assert injected[0] >= 3, "the injection must fire in plugin commands"
    assert guarantee.get_guarantor(p, g.id).deposit == M("400")
    assert reserve.status(p).balance == M("40")
    assert insurance.get_insurer(p, ins.id).balance == M("70")
    assert p.custody.balance(gp).available == M("600")
    assert p.custody.balance(operator).available == M("960")
    assert len(guarantee.guarantors_of(p)) == 1
    assert p.verify().ok


def test_a_replayed_plugin_refusal_raises_the_same_class(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform(plugins=PLUGINS)
    b, gp = party(p, "b"), party(p, "g", "1000")
    listing = p.listings.apply(b, "1000", "12%", months=3, product=guarantee.PRODUCT)
    for _ in range(2):  # a plugin's validator refused: ValidationRefused both times
        with pytest.raises(lendkit.ValidationRefused, match="no guarantor"):
            p.listings.approve(listing.id, key="approve")
    g = guarantee.register_guarantor(p, "G", gp, "1")  # cap 10.00
    for _ in range(2):
        with pytest.raises(lendkit.LimitExceeded, match="cap"):
            guarantee.guarantee_listing(p, listing.id, g.id, key="guarantee")
    assert p.listings.get(listing.id).state == "applied"


def test_every_refusal_class_lives_in_core_errors_and_is_exported() -> None:
    import lendkit.plugins

    for info in pkgutil.iter_modules(lendkit.plugins.__path__, "lendkit.plugins."):
        importlib.import_module(info.name)
    for name in ("lendkit.core.hooks", "lendkit.platform", "lendkit.uow"):
        importlib.import_module(name)

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        return found.union(*(subclasses(c) for c in found))

    ours = {c for c in subclasses(lendkit.LendkitError) if c.__module__.startswith("lendkit")}
    assert {c.__module__ for c in ours} == {"lendkit.core.errors"}
    in_errors = {
        c
        for _, c in inspect.getmembers(lendkit.core.errors, inspect.isclass)
        if issubclass(c, lendkit.LendkitError)
    }
    assert {c.__name__ for c in in_errors} <= set(lendkit.__all__)
    assert lendkit.ValidationRefused is lendkit.core.errors.ValidationRefused


def test_a_plugin_cannot_move_money_between_users(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform(plugins=PLUGINS)
    alice, bob = party(p, "alice", "100"), party(p, "bob", "100")
    borrower = party(p, "b")
    listing = p.listings.apply(borrower, "100", "12%", months=1)
    p.listings.approve(listing.id)
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, alice, "60")
    one = M("1")
    before = dump_all(db_url)
    forbidden: list[Callable[[Any], list[tuple[Any, Money]]]] = [
        lambda ctx: [(ctx.party_account(alice, "CNY"), -one), (ctx.party_account(bob, "CNY"), one)],
        lambda ctx: [  # through a plugin account in the same entry: still user to user
            (ctx.party_account(alice, "CNY"), -one),
            (ctx.account("plugin", "x", "fund", "CNY"), one - one),
            (ctx.party_account(bob, "CNY"), one),
        ],
        lambda ctx: [  # a user's frozen money (a bid's hold)
            (ctx.account("party", alice, "frozen", "CNY"), -one),
            (ctx.account("plugin", "x", "fund", "CNY"), one),
        ],
        lambda ctx: [  # a listing's escrow
            (ctx.account("listing", listing.id, "listing", "CNY"), one),
            (ctx.party_account(alice, "CNY"), -one),
        ],
        lambda ctx: [  # out of a loan's clearing account
            (ctx.account("loan", "loan_x", "loan", "CNY", allow_negative=True), -one),
            (ctx.account("plugin", "x", "fund", "CNY"), one),
        ],
        lambda ctx: [  # the platform's gateway (the bank side)
            (ctx.account("platform", "gateway", "gateway", "CNY", allow_negative=True), -one),
            (ctx.account("plugin", "x", "fund", "CNY"), one),
        ],
    ]
    for legs in forbidden:
        with pytest.raises(lendkit.Forbidden, match="a plugin may"), p.transaction() as ctx:
            ctx.transfer("test.move", "r", legs(ctx))
    assert dump_all(db_url) == before
    # what a plugin may do: take from a user into its own account and pay a user from it
    with p.transaction() as ctx:
        fund = ctx.account("plugin", "x", "fund", "CNY")
        ctx.transfer("test.take", "r", [(ctx.party_account(alice, "CNY"), -one), (fund, one)])
        ctx.transfer("test.pay", "r", [(fund, -one), (ctx.party_account(bob, "CNY"), one)])
    assert p.custody.balance(alice).available == M("39")
    assert p.custody.balance(bob).available == M("101")
    assert p.verify().ok
    # several movements at once: one forbidden refuses them all, and nothing is booked
    before = dump_all(db_url)
    with pytest.raises(lendkit.Forbidden, match=r"test\.many r2"), p.transaction() as ctx:
        fund = ctx.account("plugin", "x", "fund", "CNY")
        ctx.transfer_many(
            "test.many",
            [
                ("r1", [(ctx.party_account(alice, "CNY"), -one), (fund, one)]),
                ("r2", forbidden[0](ctx)),
            ],
        )
    assert dump_all(db_url) == before
    with p.transaction() as ctx:
        fund = ctx.account("plugin", "x", "fund", "CNY")
        seqs = ctx.transfer_many(
            "test.many",
            [
                ("r1", [(ctx.party_account(alice, "CNY"), -one), (fund, one)]),
                ("r2", [(fund, -one), (ctx.party_account(bob, "CNY"), one)]),
            ],
        )
    assert seqs[1] == seqs[0] + 1
    assert p.custody.balance(alice).available == M("38")
    assert p.custody.balance(bob).available == M("102")
    assert p.verify().ok


def test_platform_command_replays_its_result_and_needs_result_type_for_a_key(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform(plugins=PLUGINS)
    runs: list[int] = []

    def bump(ctx: Any) -> Money:
        runs.append(1)
        return M(len(runs))

    assert p.command("test.bump", bump, key="k1", payload=[1], result_type=Money) == M(1)
    assert p.command("test.bump", bump, key="k1", payload=[1], result_type=Money) == M(1)
    assert runs == [1]
    with pytest.raises(lendkit.IdempotencyConflict):
        p.command("test.bump", bump, key="k1", payload=[2], result_type=Money)
    before = dump_all(db_url)
    with pytest.raises(lendkit.PluginError, match="result_type"):
        p.command("test.bump", bump, key="k2", payload=[1])
    assert dump_all(db_url) == before  # the key was not taken
    with pytest.raises(lendkit.PluginError, match="command name"):
        p.command("", bump)
