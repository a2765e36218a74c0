"""Tests for ``lendkit db upgrade|pending`` and the one-line errors every database command gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from lendkit.cli import main
from lendkit.cli.db import all_revisions, plugin_schemas
from lendkit.store import schema
from lendkit.store.db import create_nullpool_engine


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught error
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_pending_on_migrated_database_prints_none(db_url: str) -> None:
    result = run("--db", db_url, "db", "pending")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "none\n"


def test_upgrade_on_migrated_database_is_up_to_date(db_url: str) -> None:
    result = run("--db", db_url, "db", "upgrade")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("up to date")
    assert schema.head_revision() in result.stdout


def test_database_url_from_environment(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENDKIT_DATABASE_URL", db_url)
    result = run("db", "pending")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "none\n"


def test_fresh_sqlite_file_pending_upgrade_verify(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = f"sqlite:///{path}"
    revisions = all_revisions(plugin_schemas("online"))
    assert revisions[-1] == "online:online_0001"
    assert schema.head_revision() in revisions

    pending = run("--db", url, "db", "pending")
    assert pending.exit_code == 0, pending.stderr
    assert pending.stdout.split() == revisions
    assert not path.exists(), "looking at pending migrations must not create the database"

    upgraded = run("--db", url, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert upgraded.stdout.startswith(f"applied {len(revisions)} migration")
    for rev in revisions:
        assert f"  {rev}\n" in upgraded.stdout
    assert path.exists()

    engine = create_nullpool_engine(url)
    with engine.connect() as conn:
        assert schema.pending(conn) == []
        assert conn.execute(text("SELECT seq FROM lendkit_ledger_head")).scalar() == 0
    engine.dispose()

    assert run("--db", url, "db", "pending").stdout == "none\n"
    again = run("--db", url, "db", "upgrade")
    assert again.exit_code == 0 and again.stdout.startswith("up to date")

    verified = run("--db", url, "verify")
    assert verified.exit_code == 0, verified.stderr
    assert verified.stdout.startswith("OK: 0 entries, 0 accounts verified\n")


@pytest.mark.parametrize("command", [("db", "upgrade"), ("db", "pending"), ("verify",)])
@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "not a valid SQLAlchemy URL"),
        ("mysql://u:p@localhost/x", "'mysql' in"),
        ("sqlite+nosuchdriver:///x.db", "cannot be used"),
        ("sqlite://", "in-memory SQLite is not supported"),
    ],
)
def test_bad_url_is_one_line_exit_2(
    command: tuple[str, ...],
    url: str,
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run("--db", url, *command), fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [("db", "upgrade"), ("db", "pending"), ("verify",)])
def test_unreachable_postgres_is_one_line_without_password(command: tuple[str, ...]) -> None:
    url = "postgresql://someone:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=2"
    line = assert_one_line_error(run("--db", url, *command), "cannot use database", "127.0.0.1")
    assert "s3cret-pw" not in line
    assert "***" in line


def test_sqlite_in_missing_directory_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
    assert_one_line_error(run("--db", url, "db", "upgrade"), "unable to open database file")


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    """The installed entry point (not CliRunner) exits 2 with one line on stderr."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from lendkit.cli import main; sys.argv[0] = 'lendkit'; main()",
            "--db",
            "postgresql://u:pw@127.0.0.1:1/x?connect_timeout=2",
            "db",
            "upgrade",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("Error: cannot use database")
