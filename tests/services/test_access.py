"""Actors, roles and permissions, four-eyes, and the audit trail (issue 14), on both databases."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, select, update

import lendkit
from lendkit import AccessDecision, Actor, FourEyesRequired, PermissionDenied
from lendkit.core.access import audit_chain_of
from lendkit.core.errors import InvalidValue
from lendkit.store.db import create_nullpool_engine
from lendkit.store.tables import audit_log
from tests.conftest import FixedClock, dump, party

ALICE = Actor.staff("alice")  # reviewer
BOB = Actor.staff("bob")  # customer service
CAROL = Actor.staff("carol")  # finance
DAVE = Actor.staff("dave")  # collections
EVE = Actor.staff("eve")  # operator


def staffed(p: lendkit.Platform) -> lendkit.Platform:
    for who, role in (
        ("alice", "reviewer"),
        ("bob", "customer_service"),
        ("carol", "finance"),
        ("dave", "collections"),
        ("eve", "operator"),
    ):
        p.staff.add(who, who.title(), [role])
    return p


def engine_of(url: str) -> Any:
    return create_engine(url) if "sqlite" in url else create_nullpool_engine(url)


def audit_rows(url: str) -> list[Any]:
    engine = engine_of(url)
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    engine.dispose()
    return list(rows)


def funded_listing(p: lendkit.Platform, approver: Actor | None = None) -> tuple[str, str, str]:
    """(listing, borrower, investor): approved (by ``approver``), published, fully bid."""
    borrower, investor = party(p, "b"), party(p, "i", "1000")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade="A", actor=approver)
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, investor, "1000")
    return listing.id, borrower, investor


# -- roles ---------------------------------------------------------------------------------------


def test_each_role_runs_what_it_grants_and_nothing_else(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = staffed(make_platform())
    borrower, investor = party(p, "b"), party(p, "i", "1000")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
    # a customer-service clerk may not approve; nothing changes; the refusal is audited
    before = dump(db_url)
    with pytest.raises(PermissionDenied) as refused:
        p.listings.approve(listing.id, grade="A", actor=BOB)
    message = str(refused.value)
    assert "staff:bob" in message and "listings.approve" in message
    assert "roles: customer_service" in message
    assert dump(db_url) == before
    assert p.listings.get(listing.id).state == "applied"
    last = audit_rows(db_url)[-1]
    assert (last.actor, last.action, last.subject, last.outcome, last.error_type) == (
        "staff:bob",
        "listings.approve",
        f"listing:{listing.id}",
        "refused",
        "PermissionDenied",
    )
    # the reviewer may; the operator desk publishes; the investor bids for itself
    p.listings.approve(listing.id, grade="A", actor=ALICE)
    with pytest.raises(PermissionDenied, match=r"listings\.publish"):
        p.listings.publish(listing.id, actor=ALICE)
    p.listings.publish(listing.id, actor=EVE)
    p.bidding.bid(listing.id, investor, "1000", actor=Actor.party(investor))
    loan = p.loans.disburse(listing.id, actor=BOB)
    assert loan.state == "active"
    ok = [(r.actor, r.action) for r in audit_rows(db_url) if r.outcome == "ok"]
    assert ("staff:alice", "listings.approve") in ok
    assert ("staff:eve", "listings.publish") in ok
    assert (f"party:{investor}", "bidding.bid") in ok
    assert ("staff:bob", "loans.disburse") in ok


@pytest.mark.parametrize(
    ("action", "run"),
    [
        ("parties.verify", lambda p, w: p.parties.verify(w["b"], actor=w["who"])),
        ("listings.approve", lambda p, w: p.listings.approve(w["listing"], actor=w["who"])),
        ("listings.reject", lambda p, w: p.listings.reject(w["listing"], "no", actor=w["who"])),
        ("listings.publish", lambda p, w: p.listings.publish(w["listing"], actor=w["who"])),
        ("listings.cancel", lambda p, w: p.listings.cancel(w["listing"], actor=w["who"])),
        ("custody.deposit", lambda p, w: p.custody.deposit(w["i"], "5", actor=w["who"])),
        ("custody.withdraw", lambda p, w: p.custody.withdraw(w["i"], "5", actor=w["who"])),
        (
            "custody.operator_freeze",
            lambda p, w: p.custody.operator_freeze(w["i"], "5", "court", actor=w["who"]),
        ),
        ("custody.refund", lambda p, w: p.custody.refund(w["i"], "5", actor=w["who"])),
        ("bidding.bid", lambda p, w: p.bidding.bid(w["listing"], w["i"], "5", actor=w["who"])),
        ("staff.add", lambda p, w: p.staff.add("zed", "Zed", ["admin"], actor=w["who"])),
        ("staff.set_roles", lambda p, w: p.staff.set_roles("lacks", "admin", actor=w["who"])),
        ("loans.disburse", lambda p, w: p.loans.disburse(w["listing"], actor=w["who"])),
        ("loans.repay", lambda p, w: p.loans.repay("loan_x", actor=w["who"])),
        (
            "loans.request_write_off",
            lambda p, w: p.loans.request_write_off("loan_x", actor=w["who"]),
        ),
        ("loans.write_off", lambda p, w: p.loans.write_off("loan_x", actor=w["who"])),
        ("custody.unfreeze", lambda p, w: p.custody.unfreeze("hold_x", actor=w["who"])),
        ("market.cancel", lambda p, w: p.market.cancel("trf_x", actor=w["who"])),
        ("cob.run", lambda p, w: p.cob.run(w["today"], actor=w["who"])),
    ],
)
def test_a_role_without_the_permission_is_refused_and_nothing_changes(
    make_platform: Callable[..., lendkit.Platform],
    db_url: str,
    action: str,
    run: Callable[[lendkit.Platform, dict[str, Any]], object],
) -> None:
    # a configured role that grants one unrelated action
    p = make_platform(config={"roles": {"almost": ("parties.register",)}})
    p.staff.add("lacks", "Lacks", ["almost"])
    b, i = party(p, "b"), party(p, "i", "100")
    listing = p.listings.apply(b, amount="100", annual_rate="12%", months=3).id
    world = {
        "b": b,
        "i": i,
        "listing": listing,
        "who": Actor.staff("lacks"),
        "today": p.clock().date(),
    }
    before = dump(db_url)
    rows = len(audit_rows(db_url))
    with pytest.raises(PermissionDenied, match=f"missing permission {action.replace('.', '[.]')}"):
        run(p, world)
    assert dump(db_url) == before
    after = audit_rows(db_url)
    assert len(after) == rows + 1
    assert (after[-1].action, after[-1].outcome) == (action, "refused")
    # an admin (every action) is let through (the command may still refuse on state or ids)
    p.staff.add("root", "Root", ["admin"])
    with contextlib.suppress(lendkit.InvalidState, lendkit.NotFound, FourEyesRequired):
        run(p, {**world, "who": Actor.staff("root")})
    allowed = (None, "InvalidState", "NotFound", "FourEyesRequired")
    assert audit_rows(db_url)[-1].error_type in allowed


def test_a_party_acts_only_on_its_own_accounts_listings_and_loans(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    listing, borrower, investor = funded_listing(p)
    other = party(p, "other", "100")
    me = Actor.party(other)
    before = dump(db_url)
    with pytest.raises(PermissionDenied, match=f"party {investor}'s accounts"):
        p.custody.withdraw(investor, "10", actor=me)
    with pytest.raises(PermissionDenied, match=f"party {borrower}'s"):
        p.listings.cancel(listing, actor=me)
    with pytest.raises(PermissionDenied, match="a party may not do this"):
        p.listings.approve(listing, actor=me)
    assert dump(db_url) == before
    # its own money: allowed
    p.custody.withdraw(other, "10", actor=me)
    assert p.custody.balance(other).available == lendkit.Money.of("90.00")
    loan = p.loans.disburse(listing)
    with pytest.raises(PermissionDenied, match=f"party {borrower}'s"):
        p.loans.repay(loan.id, actor=me)
    paid = p.as_actor(Actor.party(borrower)).loans.repay(loan.id)
    assert paid.amount.minor > 0


def test_the_staff_register_decides_a_staff_actors_roles(
    make_platform: Callable[..., lendkit.Platform],
) -> None:
    p = make_platform()
    b = party(p, "b")
    listing = p.listings.apply(b, amount="100", annual_rate="12%", months=3).id
    with pytest.raises(PermissionDenied, match="staff:ghost is not registered"):
        p.listings.approve(listing, actor="staff:ghost")
    p.staff.add("ghost", "Ghost", "reviewer")
    assert p.staff.get("ghost").roles == ("reviewer",)
    p.staff.set_active("ghost", False)
    with pytest.raises(PermissionDenied, match="deactivated"):
        p.listings.approve(listing, actor="staff:ghost")
    p.staff.set_active("ghost", True)
    assert p.listings.approve(listing, actor="staff:ghost").state == "approved"
    # roles given by a trusted host (its own identity system) are used as given
    with pytest.raises(PermissionDenied):
        p.listings.publish(listing, actor=Actor.staff("host-user", ["reviewer"]))
    p.listings.publish(listing, actor=Actor.staff("host-user", ["operator"]))
    with pytest.raises(InvalidValue, match="role 'pilot' is not a role"):
        p.staff.add("pilot", "P", ["pilot"])
    with pytest.raises(PermissionDenied, match=r"staff\.add"):
        p.staff.add("pilot", "P", ["admin"], actor="staff:ghost")
    with pytest.raises(InvalidValue, match="actor 'root' is not valid"):
        p.listings.cancel(listing, actor="root")


# -- four eyes -----------------------------------------------------------------------------------


def test_the_approver_may_not_disburse(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    p.staff.add("ann", "Ann", ["reviewer", "customer_service"])
    p.staff.add("bob", "Bob", ["customer_service"])
    listing, _, _ = funded_listing(p, approver=Actor.staff("ann"))
    before = dump(db_url)
    with pytest.raises(FourEyesRequired, match=f"staff:ann approved listing:{listing}"):
        p.loans.disburse(listing, actor="staff:ann")
    assert dump(db_url) == before
    assert audit_rows(db_url)[-1].error_type == "FourEyesRequired"
    assert p.loans.disburse(listing, actor="staff:bob").state == "active"


def test_four_eyes_can_be_switched_off(make_platform: Callable[..., lendkit.Platform]) -> None:
    p = make_platform(config={"four_eyes": False})
    p.staff.add("ann", "Ann", ["reviewer", "customer_service"])
    listing, _, _ = funded_listing(p, approver=Actor.staff("ann"))
    assert p.loans.disburse(listing, actor="staff:ann").state == "active"


def test_a_write_off_needs_two_staff_members(
    make_platform: Callable[..., lendkit.Platform], clock: FixedClock, db_url: str
) -> None:
    p = make_platform(config={"grace_days": 0, "default_after_days": 1})
    p.staff.add("dave", "Dave", ["collections"])
    p.staff.add("fay", "Fay", ["finance"])
    listing, borrower, _ = funded_listing(p)
    loan = p.loans.disburse(listing)
    p.custody.withdraw(borrower, p.custody.balance(borrower).available)
    with pytest.raises(lendkit.InvalidState, match="only a defaulted loan"):
        p.loans.request_write_off(loan.id, actor="staff:dave")
    due = p.loans.schedule(loan.id).installments[0].due_date
    for offset in (1, 3):
        p.cob.run(due + timedelta(days=offset), allow_future=True)
    assert p.loans.get(loan.id).state == "defaulted"
    before = dump(db_url)
    with pytest.raises(FourEyesRequired, match="needs a write-off request by another staff"):
        p.loans.write_off(loan.id, actor="staff:dave")
    p.loans.request_write_off(loan.id, actor="staff:dave")
    assert dump(db_url) == before  # a request changes nothing but the audit trail
    with pytest.raises(FourEyesRequired, match="requested by staff:dave only"):
        p.loans.write_off(loan.id, actor="staff:dave")
    assert p.loans.write_off(loan.id, actor="staff:fay").state == "written_off"


# -- the audit trail -----------------------------------------------------------------------------


def test_every_mutating_command_leaves_one_row_and_reads_none(
    make_platform: Callable[..., lendkit.Platform], db_url: str, clock: FixedClock
) -> None:
    p = make_platform()
    i = party(p, "i")  # register + verify: two rows
    p.custody.deposit(i, "50", key="dep-1")
    p.custody.deposit(i, "50", key="dep-1")  # a replay: one more row, no second deposit
    again = p.parties.register("j", key="reg-j")
    assert p.parties.register("j", key="reg-j") == again
    p.custody.balance(i)
    p.parties.get(i)
    p.audit()
    rows = audit_rows(db_url)
    assert [(r.action, r.subject, r.outcome, r.idempotency_key) for r in rows] == [
        ("parties.register", f"party:{i}", "ok", None),
        ("parties.verify", f"party:{i}", "ok", None),
        ("custody.deposit", f"party:{i}", "ok", "dep-1"),
        ("custody.deposit", f"party:{i}", "replayed", "dep-1"),
        ("parties.register", f"party:{again.id}", "ok", "reg-j"),
        ("parties.register", f"party:{again.id}", "replayed", "reg-j"),
    ]
    assert p.custody.balance(i).available == lendkit.Money.of("50.00")
    assert rows[2].args_digest == rows[3].args_digest and len(rows[2].args_digest) == 64
    assert {r.actor for r in rows} == {"system"}
    assert all(r.at == clock.now for r in rows)
    # p.audit filters and pages
    page = p.audit(subject=f"party:{i}", limit=3)
    assert [e.action for e in page] == ["parties.register", "parties.verify", "custody.deposit"]
    rest = p.audit(subject=f"party:{i}", after=page.next, limit=3)
    assert [e.outcome for e in rest] == ["replayed"] and rest.next is None
    assert [e.outcome for e in p.audit(outcome="replayed")] == ["replayed", "replayed"]
    assert len(p.audit(actor="staff:nobody")) == 0
    assert len(p.audit(since=clock.now + timedelta(seconds=1))) == 0


def test_verify_detects_an_edited_a_deleted_and_a_truncated_audit_row(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    b = party(p, "b")
    for n in range(3):
        p.parties.set_check(b, "email", "verified", f"try {n}")
    assert p.verify().ok
    rows = [r for r in audit_rows(db_url) if r.subject == f"party:{b}"]
    chain = audit_chain_of(f"party:{b}")
    assert {r.chain for r in rows} == {chain} and [r.seq for r in rows][:2] == [1, 2]
    engine = engine_of(db_url)
    # edited: a refused command made to look allowed
    with engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == rows[1].id).values(actor="staff:x"))
    report = p.verify()
    assert not report.ok
    assert any(f"audit chain {chain} row 2" in m and "edited" in m for m in report.problems)
    with engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.id == rows[1].id).values(actor="system"))
    assert p.verify().ok
    # deleted from the middle
    with engine.begin() as conn:
        saved = conn.execute(select(audit_log).where(audit_log.c.id == rows[2].id)).one()
        conn.execute(delete(audit_log).where(audit_log.c.id == rows[2].id))
    assert any(f"audit chain {chain}: row 3 is missing" in m for m in p.verify().problems)
    with engine.begin() as conn:
        conn.execute(audit_log.insert().values(**saved._mapping))
    assert p.verify().ok
    # the last row deleted: only the chain's head shows it
    with engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.id == rows[-1].id))
    assert any("rows were deleted or added" in m for m in p.verify().problems)
    engine.dispose()


def test_a_default_actor_from_open_as_actor_and_a_host_transaction(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    base = make_platform()
    base.staff.add("ann", "Ann", ["customer_service"])
    p = make_platform(actor="staff:ann")
    i = p.parties.register("i").id
    assert audit_rows(db_url)[-1].actor == "staff:ann"
    with pytest.raises(PermissionDenied, match=r"staff:ann may not parties\.verify"):
        p.parties.verify(i)
    base.as_actor("staff:ann").custody.deposit(i, "1")
    assert audit_rows(db_url)[-1].actor == "staff:ann"
    engine = engine_of(db_url)
    with engine.connect() as conn, conn.begin():
        host = base.as_actor(Actor.staff("ann")).using(conn)
        host.custody.deposit(i, "2")
        with pytest.raises(PermissionDenied):
            host.parties.verify(i)
    engine.dispose()
    last = audit_rows(db_url)[-2:]
    assert [(r.actor, r.action, r.outcome) for r in last] == [
        ("staff:ann", "custody.deposit", "ok"),
        ("staff:ann", "parties.verify", "refused"),
    ]
    assert p.verify().ok


def test_require_actor_refuses_commands_without_one(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform(config={"require_actor": True})
    with pytest.raises(PermissionDenied, match="without an actor"):
        p.parties.register("x")
    assert p.parties.register("x", actor="system").name == "x"
    assert p.parties.list().items[0].name == "x"  # reads need none


def test_an_integrators_authorize_hook_replaces_the_default_policy(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    class Desk:
        @lendkit.hookimpl
        def lendkit_authorize(
            self, ctx: Any, actor: Actor, action: str, subject: lendkit.Subject
        ) -> AccessDecision | None:
            if action == "custody.deposit" and actor.kind == "system":
                return AccessDecision.deny("custody.deposit", "deposits come from the bank desk")
            if actor.id == "desk":
                return AccessDecision.allow()
            return None

    p = make_platform(plugins=["online", Desk()])
    i = party(p, "i")
    with pytest.raises(PermissionDenied, match="deposits come from the bank desk"):
        p.custody.deposit(i, "5")
    p.custody.deposit(i, "5", actor=Actor.staff("desk"))  # unregistered, but the hook allows
    assert p.custody.balance(i).available == lendkit.Money.of("5.00")


def test_concurrent_commands_on_one_subject_keep_its_chain(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    if "postgresql" not in db_url:
        pytest.skip("concurrent writers: PostgreSQL")
    p = make_platform()
    i = party(p, "i")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                p.custody.deposit(i, "1")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    mine = [r for r in audit_rows(db_url) if r.subject == f"party:{i}"]
    assert sorted(r.seq for r in mine) == list(range(1, 43))
    assert p.custody.balance(i).available == lendkit.Money.of("40.00")
    assert p.verify().ok


def test_a_host_view_with_an_actor_runs_after_commit_work_once_per_commit(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    done: list[int] = []

    def command(n: int) -> None:
        def run(ctx: Any) -> None:
            assert ctx.actor == Actor.system("desk")
            ctx.after_commit(lambda: done.append(n))

        host.command("acme.note", run)

    engine = engine_of(db_url)
    with engine.connect() as conn:
        host = p.using(conn).as_actor(Actor.system("desk"))
        for n in (1, 2):  # two host transactions on one connection
            with conn.begin():
                command(n)
                assert done == [n - 1] if n > 1 else done == []
    engine.dispose()
    assert done == [1, 2]
    assert [r.actor for r in audit_rows(db_url)[-2:]] == ["system:desk", "system:desk"]
