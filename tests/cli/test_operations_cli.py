"""The operations CLI (issue 14): ``lendkit party|listing|loan ...``, ``deposit``,
``withdraw``, ``disburse``, ``custody history`` and ``portfolio`` on SQLite and PostgreSQL:
``--json`` parsed and compared with the Python API, tables within 80 columns, refusals as one
line with a non-zero status, and ``--key`` making a repeat change nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner, Result

import lendkit
from lendkit import Money
from lendkit.cli import main
from lendkit.cli.report import text_width

M = Money.of
CONFIG = {"service_fee_rate": "0.01", "grace_days": 0}


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db_url, *args])


def ok_json(db_url: str, *args: str) -> Any:
    result = run(db_url, *args, "--json")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    return json.loads(result.stdout)


def ok_text(db_url: str, *args: str) -> list[str]:
    result = run(db_url, *args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(text_width(line) <= 80 for line in lines), lines
    return lines


def test_the_whole_flow_through_the_cli(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform(config=CONFIG)
    borrower = p.parties.register("Acme Trading 有限公司", kind="enterprise").id
    p.parties.verify(borrower)
    investor = p.parties.register("Emily Carter").id
    p.parties.verify(investor)
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)

    # deposit, with a key: the repeat changes nothing
    moved = ok_json(db_url, "deposit", investor, "1500.00", "--key", "dep-1")
    assert (moved["amount"], moved["currency"], moved["state"]) == ("1500.00", "CNY", "completed")
    again = ok_json(db_url, "deposit", investor, "1500.00", "--key", "dep-1")
    assert again["id"] == moved["id"]
    assert p.custody.balance(investor).available == M("1500.00")

    # parties
    page = ok_json(db_url, "party", "list")
    assert {x["id"] for x in page["items"]} == {borrower, investor} and page["next"] is None
    assert [x["id"] for x in ok_json(db_url, "party", "list", "--kind", "enterprise")["items"]] == [
        borrower
    ]
    first = ok_json(db_url, "party", "list", "--limit", "1")
    rest = ok_json(db_url, "party", "list", "--after", first["next"])
    assert len(first["items"]) == len(rest["items"]) == 1 and rest["next"] is None
    shown = ok_json(db_url, "party", "show", investor)
    assert (shown["name"], shown["available"], shown["verified"]) == (
        "Emily Carter",
        "1500.00",
        True,
    )
    table = ok_text(db_url, "party", "list")
    assert table[0].split() == ["id", "kind", "verified", "grade", "name"]
    assert any("Acme Trading" in line for line in table)

    # listings: approve, publish, show with the APR
    approved = ok_json(db_url, "listing", "approve", listing.id, "--grade", "B")
    assert approved["state"] == "approved" and approved["grade"] == "B"
    published = ok_json(db_url, "listing", "publish", listing.id, "--key", "pub-1")
    assert published["state"] == "published"
    assert ok_json(db_url, "listing", "publish", listing.id, "--key", "pub-1")["state"] == (
        "published"
    )
    cost = p.listings.cost(listing.id)
    assert cost is not None
    assert published["apr"] == str(cost.apr) and published["cost"]["fees"] == "10.00"
    assert published["annual_rate"] == "0.12"
    lines = ok_text(db_url, "listing", "show", listing.id)
    assert any("APR (all fees)" in line and line.endswith("%") for line in lines)
    listed = ok_json(db_url, "listing", "list", "--state", "published")
    assert [x["id"] for x in listed["items"]] == [listing.id]
    assert ok_text(db_url, "listing", "list")[0].split() == ["id", "state", "amount", "rate", "APR"]

    p.bidding.bid(listing.id, investor, "1000")
    loan = ok_json(db_url, "disburse", listing.id, "--reviewer", "risk-1")
    assert loan["principal"] == "1000.00" and len(loan["positions"]) == 1
    assert p.custody.balance(borrower).available == M("990.00")
    out = ok_json(db_url, "withdraw", borrower, "990")
    assert out["state"] == "completed" and p.custody.balance(borrower).available == M(0)

    # loans: list, show, payoff (the CLI runs on today's date: ask for the loan's own dates)
    start = p.loans.get(loan["id"]).start_date
    loans = ok_json(db_url, "loan", "list", "--borrower", borrower)
    assert [x["loan"]["id"] for x in loans["items"]] == [loan["id"]]
    status = ok_json(db_url, "loan", "show", loan["id"], "--as-of", start.isoformat())
    expected = p.loans.status(loan["id"], as_of=start)
    assert status["bucket"] == expected.bucket == "current"
    assert [i["owed"] for i in status["installments"]] == [
        i.owed.format() for i in expected.installments
    ]
    assert status["next_due_amount"] == expected.next_due_amount.format()  # type: ignore[union-attr]
    text = ok_text(db_url, "loan", "show", loan["id"], "--as-of", start.isoformat())
    assert text[0].startswith(f"loan {loan['id']}")
    quote = ok_json(db_url, "loan", "payoff", loan["id"], "--on", start.isoformat())
    assert quote["total"] == p.loans.payoff(loan["id"], on=start).total.format()
    assert ok_text(db_url, "loan", "payoff", loan["id"], "--on", start.isoformat())[-1].startswith(
        "total"
    )

    # statements and portfolio
    history = ok_json(db_url, "custody", "history", investor)
    assert history["items"][0]["description"] == "deposit"
    balance = sum((M(x["available"]) + M(x["frozen"]) for x in history["items"]), M(0))
    assert balance == p.custody.balance(investor).total
    assert ok_text(db_url, "custody", "history", investor)[2].split()[:2] == ["date", "movement"]
    folio = ok_json(db_url, "portfolio", investor)
    assert [x["loan_id"] for x in folio["positions"]] == [loan["id"]]
    assert folio["available"] == "500.00"
    assert ok_text(db_url, "portfolio", investor)[0].startswith(f"portfolio of {investor}")


def test_refusals_are_one_line_and_change_nothing(
    make_platform: Callable[..., lendkit.Platform], db_url: str
) -> None:
    p = make_platform(config=CONFIG)
    party = p.parties.register("Someone").id
    for args in (
        ("party", "show", "pty_nope"),
        ("loan", "show", "loan_nope"),
        ("loan", "payoff", "loan_nope"),
        ("listing", "publish", "lst_nope"),
        ("deposit", party, "12.345"),
        ("withdraw", party, "10"),
        ("disburse", "lst_nope"),
        ("loan", "show", "loan_nope", "--as-of", "2026-13-01"),
        ("party", "list", "--after", "pty_nope"),
    ):
        result = run(db_url, *args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output and result.output.startswith("Error:"), args
    assert p.custody.balance(party).total == M(0)
    empty = ok_text(db_url, "loan", "list")
    assert empty == ["(no loans)"]
