"""Tests for ``lendkit cob`` on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import lendkit
from lendkit import Money
from lendkit.cli import main
from tests.conftest import dump


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_funded_loan(p: lendkit.Platform, funded: Callable[..., str]) -> tuple[str, str, date]:
    """A disbursed 3-month loan whose borrower keeps the proceeds (enough for installment 1)."""
    borrower = funded("0", "borrower")
    investor = funded("1000", "investor")
    listing = p.listings.apply(borrower, amount="1000", annual_rate="12%", months=3)
    p.listings.approve(listing.id, grade="A")
    p.listings.publish(listing.id)
    p.bidding.bid(listing.id, investor, "1000")
    loan = p.loans.disburse(listing.id)
    first_due = p.loans.schedule(loan.id).installments[0].due_date
    return loan.id, investor, first_due


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


def test_cob_collects_then_rerun_is_already_done(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    p = platform
    loan_id, investor, first_due = one_funded_loan(p, funded)
    due = first_due.isoformat()
    result = run("--db", db_url, "cob", "--date", due)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"COB {due} shard 1/1: done"
    figures = {" ".join(line.split()[:-1]): int(line.split()[-1]) for line in lines[1:]}
    assert figures["loans collected from"] == 1
    assert figures["installments overdue"] == 0
    assert figures["listings closed at window end"] == 0
    assert "1/1 loans" in result.stderr  # progress
    position = p.loans.position(loan_id, investor)
    assert position.received_principal.is_positive()
    assert position.received_interest.is_positive()
    first = p.loans.schedule(loan_id).installments[0]
    assert p.loans.get(loan_id).outstanding_principal == Money.of("1000", "CNY") - first.principal
    assert p.verify().ok

    before = dump(db_url)
    again = run("--db", db_url, "cob", "--date", due)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [
        f"COB {due} shard 1/1: already done (nothing changed; each date runs once per shard)"
    ]
    assert dump(db_url) == before


def test_cob_shards_cover_the_loan_once(
    platform: lendkit.Platform, funded: Callable[..., str], db_url: str
) -> None:
    loan_id, _investor, first_due = one_funded_loan(platform, funded)
    due = first_due.isoformat()
    collected = 0
    for shard in ("1/2", "2/2"):
        result = run("--db", db_url, "cob", "--date", due, "--shard", shard)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"COB {due} shard {shard}: done")
        collected += int(
            next(line for line in result.stdout.splitlines() if "collected" in line).split()[-1]
        )
    assert collected == 1
    assert platform.loans.get(loan_id).outstanding_principal < Money.of("1000", "CNY")


def test_cob_nothing_due(platform: lendkit.Platform, db_url: str) -> None:
    # the fixture's Platform.open brought the plugins' tables to head; cob itself never migrates
    result = run("--db", db_url, "cob", "--date", "2026-03-01", "--plugins", "online")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("COB 2026-03-01 shard 1/1: done")
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--date", "2026-13-01"], "'2026-13-01' is not a valid date"),
        (["--date", "tomorrow"], "use YYYY-MM-DD"),
        (["--date", "2026-2-1"], "use YYYY-MM-DD"),
        (["--shard", "3/2"], "shard '3/2'"),
        (["--shard", "x"], "must look like i/n"),
        (["--shard", "0/4"], "need 1 <= i <= n"),
        (["--plugins", "nope_plugin"], "nope_plugin"),
        (["--plugins", ","], "names no plugin"),
    ],
)
def test_cob_bad_input_is_one_line(
    platform: lendkit.Platform, db_url: str, args: list[str], fragment: str
) -> None:
    before = dump(db_url)
    assert_one_line_error(run("--db", db_url, "cob", *args), fragment)
    assert dump(db_url) == before


def test_cob_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = run("--db", f"sqlite:///{missing}", "cob", "--date", "2026-01-01")
    assert_one_line_error(result, "does not exist", "lendkit db upgrade")
    assert not missing.exists()


def test_cob_unmigrated_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = run("--db", f"sqlite:///{empty}", "cob", "--date", "2026-01-01")
    assert_one_line_error(result, "lendkit db upgrade")


def test_cob_unreachable_server() -> None:
    url = "postgresql+psycopg://nobody:pw@127.0.0.1:1/none"
    result = run("--db", url, "cob", "--date", "2026-01-01")
    assert_one_line_error(result, "cannot use database")
    assert ":pw@" not in result.stderr


def test_cob_refuses_a_future_date_unless_allowed(platform: lendkit.Platform, db_url: str) -> None:
    ahead = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    before = dump(db_url)
    assert_one_line_error(
        run("--db", db_url, "cob", "--date", ahead),
        f"COB date {ahead} is after today",
        "--allow-future",
    )
    assert dump(db_url) == before
    result = run("--db", db_url, "cob", "--date", ahead, "--allow-future")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"COB {ahead} shard 1/1: done")


@pytest.mark.parametrize("extra", [[], ["--allow-future"]])
def test_cob_for_the_last_date_is_one_line(
    platform: lendkit.Platform, db_url: str, extra: list[str]
) -> None:
    before = dump(db_url)
    result = run("--db", db_url, "cob", "--date", "9999-12-31", *extra)
    assert_one_line_error(result, "COB date 9999-12-31 is out of range")
    assert dump(db_url) == before


def test_cob_catches_up_and_never_goes_back(platform: lendkit.Platform, db_url: str) -> None:
    assert run("--db", db_url, "cob", "--date", "2026-03-01").exit_code == 0
    result = run("--db", db_url, "cob", "--date", "2026-03-04")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "COB 2026-03-04 shard 1/1: done"
        " (caught up 2026-03-02..2026-03-03 first; the figures cover 3 days)"
    )
    assert [r["state"] for r in platform.cob.status(date(2026, 3, 2))] == ["done"]
    before = dump(db_url)
    again = run("--db", db_url, "cob", "--date", "2026-03-02")  # caught up: done
    assert again.exit_code == 0 and "already done" in again.stdout
    assert_one_line_error(
        run("--db", db_url, "cob", "--date", "2026-02-27"),
        "before the last completed close of business (2026-03-04",
    )
    assert dump(db_url) == before
