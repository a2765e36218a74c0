"""Tests for ``lendkit verify`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import text

import lendkit
from lendkit.cli import main
from lendkit.store.db import create_nullpool_engine


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def counts(url: str) -> tuple[int, int]:
    engine = create_nullpool_engine(url)
    with engine.connect() as conn:
        entries = conn.execute(text("SELECT COUNT(*) FROM lendkit_journal_entries")).scalar_one()
        accounts = conn.execute(text("SELECT COUNT(*) FROM lendkit_accounts")).scalar_one()
    engine.dispose()
    return int(entries), int(accounts)


def some_activity(platform: lendkit.Platform, funded: Callable[..., str]) -> None:
    alice = funded("1000.00", name="alice")
    bob = funded("250.50", name="bob")
    platform.custody.withdraw(alice, "300.25")
    platform.custody.deposit(bob, "49.50")
    platform.custody.withdraw(bob, "100")


def tamper_last_posting(url: str) -> int:
    """Add one minor unit to the newest posting; returns the journal entry it belongs to."""
    engine = create_nullpool_engine(url)
    with engine.begin() as conn:
        seq = conn.execute(
            text(
                "SELECT entry_seq FROM lendkit_postings"
                " WHERE id = (SELECT MAX(id) FROM lendkit_postings)"
            )
        ).scalar_one()
        conn.execute(
            text(
                "UPDATE lendkit_postings SET amount = amount + 1"
                " WHERE id = (SELECT MAX(id) FROM lendkit_postings)"
            )
        )
    engine.dispose()
    return int(seq)


def test_verify_ok_after_deposits_and_withdrawals(
    db_url: str, platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    some_activity(platform, funded)
    entries, accounts = counts(db_url)
    assert entries >= 5 and accounts >= 2

    head = platform.verify().head
    assert head.startswith(f"{entries}:")
    result = run("--db", db_url, "verify")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout == f"OK: {entries} entries, {accounts} accounts verified\nhead: {head}\n"
    assert result.stderr == ""

    data = json.loads(run("--db", db_url, "verify", "--json").stdout)
    assert data == {
        "ok": True,
        "entries": entries,
        "accounts": accounts,
        "first_bad_entry": None,
        "problems": [],
        "head": head,
    }


def test_verify_empty_database(db_url: str) -> None:
    result = run("--db", db_url, "verify")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"OK: 0 entries, 0 accounts verified\nhead: 0:{'0' * 64}\n"


def test_tampered_posting_fails_and_names_the_entry(
    db_url: str, platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    some_activity(platform, funded)
    entries, accounts = counts(db_url)
    bad = tamper_last_posting(db_url)
    assert bad == entries  # the newest posting belongs to the last entry

    result = run("--db", db_url, "verify")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert lines[0] == f"FAILED: first bad entry {bad}"
    problems = [line.strip() for line in lines[1:] if line.startswith("  ")]
    assert any(p.startswith(f"entry {bad} ") and "does not balance" in p for p in problems)
    assert any(p.startswith(f"entry {bad} ") and "hash mismatch" in p for p in problems)
    assert any("cached balance" in p and "journal fold" in p for p in problems)
    assert "Traceback" not in result.stdout + result.stderr

    as_json = run("--db", db_url, "verify", "--json")
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["ok"] is False
    assert data["first_bad_entry"] == bad
    assert data["entries"] == entries and data["accounts"] == accounts
    assert data["problems"] == problems
    assert platform.verify().first_bad_entry == bad  # the CLI agrees with the library


def test_missing_schema_says_run_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()  # a database without lendkit's tables
    result = run("--db", f"sqlite:///{path}", "verify")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: ")
    assert "run `lendkit db upgrade`" in result.stderr


def test_schema_behind_says_run_upgrade(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        return  # the shared PostgreSQL schema must stay migrated for the other tests
    engine = create_nullpool_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM lendkit_alembic_version"))
    engine.dispose()
    result = run("--db", db_url, "verify", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "run `lendkit db upgrade`" in result.stderr


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    result = run("--db", f"sqlite:///{path}", "verify")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "lendkit db upgrade" in result.stderr
    assert not path.exists()


def test_exit_status_in_a_real_process(
    db_url: str, platform: lendkit.Platform, funded: Callable[..., str]
) -> None:
    some_activity(platform, funded)
    cmd = [sys.executable, "-c", "from lendkit.cli import main; main()", "--db", db_url, "verify"]
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: "), ok.stderr
    bad = tamper_last_posting(db_url)
    failed = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stdout.startswith(f"FAILED: first bad entry {bad}\n")
    assert "Traceback" not in failed.stderr
