"""``--actor``, ``lendkit staff``, ``lendkit loan request-write-off|write-off`` and ``lendkit
audit`` (issue 14), on SQLite and PostgreSQL: JSON parsed, refusals one line with status 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

import lendkit
from lendkit.cli import main
from lendkit.cli.report import text_width


def run(db_url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args], env=env)


def ok_json(db_url: str, *args: str) -> Any:
    result = run(db_url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(db_url: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = run(db_url, *args, env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert result.stderr.count("\n") == 1
    return result.stderr


def test_staff_actors_and_the_audit_trail_from_the_cli(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform()
    borrower = p.parties.register("b").id
    p.parties.verify(borrower)
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3).id

    added = ok_json(db_url, "staff", "add", "ann", "--name", "Ann", "--role", "reviewer")
    assert (added["id"], added["roles"], added["active"]) == ("ann", ["reviewer"], True)
    ok_json(db_url, "staff", "add", "bob", "--name", "Bob", "--role", "customer_service")
    # --actor after the command, before it, or from the environment: the same actor
    message = refused(db_url, "listing", "approve", listing, "--actor", "staff:bob")
    assert message.startswith("Error: actor staff:bob may not listings.approve")
    assert "missing permission listings.approve" in message
    message = refused(db_url, "listing", "approve", listing, env={"LENDKIT_ACTOR": "staff:bob"})
    assert "staff:bob" in message
    approved = ok_json(db_url, "--actor", "staff:ann", "listing", "approve", listing)
    assert approved["state"] == "approved"
    assert "given twice" in refused(
        db_url, "--actor", "staff:ann", "listing", "publish", listing, "--actor", "staff:bob"
    )
    assert "actor 'root' is not valid" in refused(
        db_url, "listing", "publish", listing, "--actor", "root"
    )

    # the trail: refusals and successes with who did them, parsed from JSON
    page = ok_json(db_url, "audit", "--subject", f"listing:{listing}")
    rows = [(r["actor"], r["action"], r["outcome"], r["error_type"]) for r in page["items"]]
    assert rows == [
        ("system", "listings.apply", "ok", None),
        ("staff:bob", "listings.approve", "refused", "PermissionDenied"),
        ("staff:bob", "listings.approve", "refused", "PermissionDenied"),
        ("staff:ann", "listings.approve", "ok", None),
    ]
    by_ann = ok_json(db_url, "audit", "--by", "staff:ann")
    assert [r["action"] for r in by_ann["items"]] == ["listings.approve"]
    first = ok_json(db_url, "audit", "--limit", "2")
    rest = ok_json(db_url, "audit", "--after", first["next"], "--limit", "500")
    assert len(first["items"]) + len(rest["items"]) == len(p.audit(limit=500))
    result = run(db_url, "audit", "--outcome", "refused")
    assert result.exit_code == 0
    assert all(text_width(line) <= 80 for line in result.stdout.splitlines())
    assert "PermissionDenied" in result.stdout

    listed = ok_json(db_url, "staff", "list")
    assert [m["id"] for m in listed["items"]] == ["ann", "bob"]
    assert ok_json(db_url, "staff", "roles", "bob", "--role", "finance")["roles"] == ["finance"]
    assert ok_json(db_url, "staff", "deactivate", "bob")["active"] is False
    assert "deactivated" in refused(db_url, "deposit", borrower, "5", "--actor", "staff:bob")


@pytest.mark.parametrize("command", ["request-write-off", "write-off"])
def test_write_off_commands_refuse_a_loan_that_is_not_defaulted(
    make_platform: Callable[..., lendkit.Platform], db_url: str, command: str
) -> None:
    p = make_platform()
    b, i = p.parties.register("b").id, p.parties.register("i").id
    for x in (b, i):
        p.parties.verify(x)
    p.custody.deposit(i, "100")
    listing = p.listings.apply(b, amount="100", annual_rate="12%", months=3).id
    p.listings.approve(listing)
    p.listings.publish(listing)
    p.bidding.bid(listing, i, "100")
    loan = p.loans.disburse(listing).id
    assert "Error: " in refused(db_url, "loan", command, loan)
    assert p.loans.get(loan).state == "active"
