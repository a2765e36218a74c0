"""Tests for ``lendkit demo``: the default SQLite file, reproducibility, and an explicit --db."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

import lendkit
from lendkit import Money
from lendkit.cli import main
from lendkit.cli.demo import report_hint
from lendkit.plugins import leasing
from lendkit.store.db import create_nullpool_engine


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def check_report(result: Result) -> str:
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Traceback" not in result.output
    assert "failed" in out  # listing 3: 流标
    assert "overdue" in out or "defaulted" in out
    assert re.search(r"^ledger verified: \d+ entries", out, re.MULTILINE)
    for name in ("Acme Trading Co.", "王芳 (Wang Fang)", "Emily Carter"):
        assert name in out
    # names, never the random ids
    assert not re.search(r"\b(pty|lst|loan|bid|hld|pos)_[0-9a-f]{8}", out)
    return out


def follow_report_hint(result: Result) -> list[str]:
    """The command the demo's last line suggests; it is run and must show the report."""
    [hint] = [line for line in result.stderr.splitlines() if "report`" in line]
    assert hint == result.stderr.strip().splitlines()[-1]  # the last thing the demo says
    args = shlex.split(hint.split("`")[1])
    assert args[0] == "lendkit"
    shown = run(*args[1:])
    assert shown.exit_code == 0, shown.output
    assert "loans" in shown.stdout
    return args


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LENDKIT_DATABASE_URL", raising=False)
    return tmp_path


def test_demo_default_file_is_reproducible(in_tmp: Path) -> None:
    first = run("demo", "--seed", "1")
    out1 = check_report(first)
    demo_file = in_tmp / "lendkit-demo.db"
    assert demo_file.exists()
    assert str(demo_file.resolve()) in out1
    assert follow_report_hint(first) == [
        "lendkit",
        "--db",
        f"sqlite:///{demo_file.resolve()}",
        "report",
    ]
    # the second run deletes and recreates the file: the same seed prints the same report
    second = run("demo", "--seed", "1")
    assert check_report(second) == out1
    # the file holds exactly one demo (the first run's parties are gone)
    engine = create_nullpool_engine(f"sqlite:///{demo_file}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM lendkit_parties")).scalar_one() == 8
    engine.dispose()
    # the database the demo leaves behind verifies with the CLI too
    verified = run("--db", f"sqlite:///{demo_file}", "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith("OK:")


def section(out: str, title: str) -> list[list[str]]:
    """The rows (split on whitespace) of the table under ``title``, header and rule dropped."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 3 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_demo_story_states(in_tmp: Path) -> None:
    out = check_report(run("demo", "--seed", "7"))
    assert "trimmed to the" in out
    assert "lowest rates win" in out
    listings = {row[0]: row[-1] for row in section(out, "Listings")}
    assert listings == {"1": "disbursed", "2": "disbursed", "3": "failed"}
    loans = section(out, "Loans")
    assert [row[0] for row in loans] == ["1", "2"]
    assert loans[0][-3:] == ["settled", "0", "0.00"]
    state, days, penalty = loans[1][-3:]
    assert state == "defaulted"
    assert int(days) > 90 and float(penalty) > 0
    investors = section(out, "Investors")
    assert len(investors) == 7 and investors[-1][0] == "total"
    # "still owed" is everything the borrowers have not paid the investors: principal, interest
    # and penalty (not principal only)
    assert "still owed: principal, interest and penalty" in out
    with lendkit.Platform.open(f"sqlite:///{in_tmp / 'lendkit-demo.db'}", create=False) as p:
        positions = [pos for loan in p.loans.find() for pos in p.loans.get(loan.id).positions]
    zero = Money.zero("CNY")
    principal = sum((pos.outstanding_principal for pos in positions), zero)
    interest = sum((pos.outstanding_interest for pos in positions), zero)
    penalty_due = sum((Money.of(row[-1], "CNY") for row in loans), zero)
    assert principal.is_positive() and interest.is_positive() and penalty_due.is_positive()
    assert Money.of(investors[-1][-2], "CNY") == principal + interest + penalty_due
    # the rates are defined where they are printed; collection stages count loans
    assert "overdue rate (overdue / outstanding principal)" in out
    stages = [line.split() for line in out.splitlines() if "collection stage" in line]
    assert stages and all(row[-1] == "1" for row in stages)  # one loan went overdue


def figure(out: str, name: str) -> str:
    """The value of the Platform table's figure ``name`` (columns are two or more spaces apart)."""
    [line] = [line for line in out.splitlines() if line.strip().startswith(name)]
    return re.split(r"\s{2,}", line.strip())[-1]


def test_demo_asset_backed_bills_receivables_and_a_lease(tmp_path: Path, in_tmp: Path) -> None:
    url = f"sqlite:///{tmp_path / 'asset.db'}"
    out = check_report(run("demo", "--asset-backed", "--db", url))
    listings = {row[0]: row[-1] for row in section(out, "Listings")}
    assert listings == {
        "1": "disbursed",
        "2": "disbursed",
        "3": "failed",
        "B1": "disbursed",
        "S1": "disbursed",
        "B2": "disbursed",
        "S2": "disbursed",
        "L1": "disbursed",
    }
    # the acceptor bank paid bill B1 and the core enterprise receivable S1 through COB; the
    # second of each falls due after the year's end
    loans = {row[0]: tuple(row[-5:-2]) for row in section(out, "Loans")}
    assert loans["B1"] == ("1/1", "0.00", "settled")
    assert loans["S1"] == ("1/1", "0.00", "settled")
    assert loans["B2"] == ("0/1", "99100.00", "active")
    assert loans["S2"] == ("0/1", "80000.00", "active")
    assert "COB: loan B1 is now settled" in out and "COB: loan S1 is now settled" in out
    # the lessee paid its ten rents (the last with the buy-out price): the lease is bought out
    assert loans["L1"] == ("10/10", "0.00", "settled")
    assert "COB: loan L1 is now settled" in out
    assert figure(out, "leases bought out (leasing)") == "1"
    assert figure(out, "live leases (leasing)") == "0"
    # the plugins' disclosure, parties by name
    acceptor = "outstanding with acceptor Bank of Qiantang 钱塘银行 (bills)"
    assert figure(out, acceptor) == "1 bills, 100000.00 CNY"
    assert figure(out, "face outstanding (bills)") == "100000.00 CNY"
    assert figure(out, "overdue bills (bills)") == "0"
    assert figure(out, "Eastern Motors Group outstanding (supplychain)") == "80000.00 CNY"
    assert figure(out, "overdue loans (supplychain)") == "0 (0.00 CNY)"
    # margin M1: 1:3, warned, then liquidated: investors first, the fee, then the trader
    assert "the account stands at 108.68% of its borrowed funds (warning)" in out
    assert (
        "margin M1 liquidated: proceeds 287500.00 CNY; investors 301050.00 CNY, fee 1437.50 CNY,"
        " trader 1312.50 CNY, shortfall 0.00 CNY"
    ) in out
    assert figure(out, "liquidations (margin)") == "1"
    plugins = ["online", "bills", "supplychain", "leasing", "margin"]
    with lendkit.Platform.open(url, plugins, create=False) as p:
        assert p.verify().ok
        # the acceptor and the core enterprise paid exactly what fell due: nothing left
        with p.engine.connect() as conn:
            rows = conn.execute(text("SELECT name, id FROM lendkit_parties")).all()
        names = {str(name): str(party) for name, party in rows}
        for name in (
            "Bank of Qiantang 钱塘银行",
            "Eastern Motors Group 东方汽车",
            "Greenfield Farms",
        ):
            assert p.custody.balance(names[name]).total == Money.zero("CNY")
        harvester = leasing.get_asset(p, "HV-2026-0001")  # the buy-out passed ownership
        assert harvester.owner_id == names["Greenfield Farms"]


def test_demo_with_explicit_db(db_url: str, in_tmp: Path) -> None:
    result = run("demo", "--seed", "3", "--db", db_url)
    check_report(result)
    assert follow_report_hint(result) == ["lendkit", "--db", db_url, "report"]
    assert not (in_tmp / "lendkit-demo.db").exists()
    with lendkit.Platform.open(db_url, create=False) as p:
        assert p.verify().ok
        assert p.reports.totals().loans == 2
        states = sorted(lst.state for lst in p.listings.find())
        assert states == ["disbursed", "disbursed", "failed"]
    # the database now has parties: a second demo there is refused, one line, exit 2
    again = run("demo", "--db", db_url)
    assert again.exit_code == 2
    assert "already has 8 parties" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert "Traceback" not in again.output


def test_demo_uses_root_db_option(tmp_path: Path, in_tmp: Path) -> None:
    target = tmp_path / "elsewhere.db"
    result = run("--db", f"sqlite:///{target}", "demo", "--seed", "2")
    check_report(result)
    assert follow_report_hint(result) == ["lendkit", "--db", f"sqlite:///{target}", "report"]
    assert target.exists()
    assert not (in_tmp / "lendkit-demo.db").exists()


def test_demo_bad_db_url_is_one_line(in_tmp: Path) -> None:
    result = run("demo", "--db", "nosuchdb://x/y")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_report_hint_does_not_echo_a_url_from_the_environment() -> None:
    secret = "postgresql://u:secret@db/x"
    assert "secret" not in report_hint(secret, from_environment=True)
    assert report_hint(secret, from_environment=False) == (
        f"next: `lendkit --db {secret} report` shows this database's totals again"
    )
