"""Tests for ``lendkit report`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result

import lendkit
from lendkit import Money
from lendkit.cli import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def disbursed(p: lendkit.Platform, borrower: str, investor: str, amount: str) -> str:
    listing = p.listings.apply(borrower, amount=amount, annual_rate="12%", months=6)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, investor, amount)
    return p.loans.disburse(listing.id).id


def test_report_json_matches_python_api(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    p = platform
    borrower = funded("0", "借款人 Borrower")
    investor = funded("5000", "投资人 Investor")
    first = disbursed(p, borrower, investor, "1000")
    disbursed(p, borrower, investor, "2500.50")
    p.loans.repay(first)
    failing = p.listings.apply(borrower, amount="300", annual_rate="12%")
    p.listings.approve(failing.id, grade="B")
    p.listings.publish(failing.id)
    p.bidding.bid(failing.id, investor, "100")
    p.listings.close(failing.id)

    result = run("--db", db_url, "report", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    open_loans = [
        p.loans.get(loan.id)
        for loan in p.loans.find()
        if loan.state in ("active", "overdue", "defaulted")
    ]
    expected = sum((loan.outstanding_principal for loan in open_loans), Money.zero("CNY"))
    assert Money.of(data["outstanding_principal"], data["currency"]) == expected
    assert expected < Money.of("3500.50", "CNY")
    assert data["volume"] == "3500.50"
    assert data["loans"] == 2
    assert data["listings_by_state"] == {"disbursed": 2, "failed": 1}
    totals = p.reports.totals()
    assert data["revenue"] == totals.revenue.format()
    assert data["overdue_rate"] == totals.overdue_rate == "0.00%"
    assert data["bad_debt_rate"] == totals.bad_debt_rate
    names = [(d["plugin"], d["name"]) for d in data["disclosures"]]
    assert ("platform", "outstanding principal") in names
    assert {"plugin", "name", "value"} == set(data["disclosures"][0])


def test_report_table(platform: lendkit.Platform, funded: Callable[..., str], db_url: str) -> None:
    borrower, investor = funded("0"), funded("2000")
    disbursed(platform, borrower, investor, "2000")
    result = run("--db", db_url, "report")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for heading in ("Platform totals", "Listings by state", "Disclosures"):
        assert heading in out
    row = next(line for line in out.splitlines() if line.startswith("outstanding principal"))
    assert row.split()[-2:] == ["2000.00", "CNY"]
    assert any(line.split() == ["disbursed", "1"] for line in out.splitlines())
    # the rates are defined where they are printed, in the table and in the disclosures
    assert "overdue rate = overdue principal (unpaid principal of installments past due" in out
    assert "bad-debt rate = defaulted principal (outstanding principal of defaulted loans)" in out
    assert "bad-debt rate (defaulted / outstanding principal)" in out


def test_report_empty_database(platform: lendkit.Platform, db_url: str) -> None:
    result = run("--db", db_url, "report", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outstanding_principal"] == "0.00"
    assert data["loans"] == 0
    assert data["listings_by_state"] == {}
    text = run("--db", db_url, "report")
    assert text.exit_code == 0
    assert "(no listings)" in text.stdout


def test_report_missing_database_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = run("--db", f"sqlite:///{missing}", "report")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not missing.exists()


def test_report_unknown_plugin(platform: lendkit.Platform, db_url: str) -> None:
    result = run("--db", db_url, "report", "--plugins", "online,nope_plugin")
    assert result.exit_code == 2
    assert "nope_plugin" in result.stderr
    assert "Traceback" not in result.output


def test_report_position_history_names_who_paid(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    p = platform
    borrower, investor, payer = funded("0"), funded("1000"), funded("400")
    loan_id = disbursed(p, borrower, investor, "1000")
    p.loans.repay(loan_id)  # the borrower pays the first installment from the proceeds
    p.loans.repay(loan_id, payer=payer)  # a payer pays the second for it
    result = run("--db", db_url, "report", "--loan", loan_id, "--investor", investor, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = p.reports.position_history(loan_id, investor)
    assert [(d["kind"], d["payer_kind"], d["payer_id"]) for d in data] == [
        ("repayment", "borrower", borrower),
        ("repayment", "party", payer),
    ]
    assert [d["amount"] for d in data] == [r.amount.format() for r in expected]
    # 1,000.00 at 12 % over 6 months: 172.55 a month; interest 10.00 less the 10 % fee
    assert data[0]["amount"] == "171.55"
    text = run("--db", db_url, "report", "--loan", loan_id, "--investor", investor)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == f"Position of investor {investor} in loan {loan_id}: receipts"
    assert lines[1].split() == ["date", "kind", "received", "paid", "by"]
    assert lines[3].split()[-3:] == ["CNY", "borrower", borrower]
    assert lines[4].split()[-2:] == ["party", payer]
    lone = run("--db", db_url, "report", "--loan", loan_id)
    assert lone.exit_code == 2 and "--loan and --investor go together" in lone.output
    nobody = run("--db", db_url, "report", "--loan", loan_id, "--investor", borrower)
    assert nobody.exit_code == 2 and "has no position in loan" in nobody.stderr
