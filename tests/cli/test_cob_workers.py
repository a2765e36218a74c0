"""``lendkit cob --workers N``: N shard processes on PostgreSQL, refused on SQLite; a worker
killed mid-run and the same command run again pay nobody twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import lendkit
from lendkit.cli import main
from lendkit.ops.cob import in_shard
from tests.conftest import fresh_database
from tests.reliability.test_crash import _build

#: runs shard 1/2 of a date one loan per chunk and SIGKILLs itself when its ``kill_at``-th
#: chunk writes its COB markers (the earlier chunks committed, that one not)
KILL_SHARD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import date, datetime, timezone
    from sqlalchemy import event
    import lendkit

    url, kill_at, day = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    p = lendkit.Platform.open(url, plugins=["online"], config={"cob_chunk": 1}, create=False,
                              clock=lambda: datetime(2026, 3, 1, 9, tzinfo=timezone.utc))
    seen = {"n": 0}

    @event.listens_for(p.engine, "before_cursor_execute")
    def die(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO lendkit_cob_steps"):
            seen["n"] += 1
            if seen["n"] >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    p.cob.run(date.fromisoformat(day), shard="1/2")
    print("finished without being killed")
    """
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lendkit.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--workers", "2"], "PostgreSQL only"),
        (["--workers", "0"], "1..64"),
        (["--workers", "two"], "1..64"),
        (["--workers", "65"], "1..64"),
    ],
)
def test_workers_refused_with_one_line(
    tmp_path: Path, sqlite_template: Path, args: list[str], fragment: str
) -> None:
    url = fresh_database("sqlite", tmp_path / "w.db", sqlite_template)
    with lendkit.Platform.open(url, plugins=["online"]):
        pass
    result = CliRunner().invoke(main, ["--db", url, "cob", "--date", "2026-01-02", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --workers"), result.stderr
    assert fragment in lines[0]
    assert result.stdout == ""


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_killed_worker_and_a_rerun_pay_nobody_twice(
    make_platform: Callable[..., lendkit.Platform], db_url: str, kill_at: int
) -> None:
    url = db_url
    p = make_platform()
    book = _build(p, loans=6, investors=3)
    while sum(in_shard(loan_id, 1, 2) for loan_id, _ in book) < 2:  # shard 1 dies mid-run
        book += _build(p, loans=1, investors=3)
    due = p.loans.schedule(book[0][0]).installments[0].due_date
    cash = {
        loan_id: p.custody.balance(p.loans.get(loan_id).borrower_id).available
        for loan_id, _ in book
    }
    assert {in_shard(loan_id, 1, 2) for loan_id, _ in book} == {True, False}  # both shards work
    killed = subprocess.run(
        [sys.executable, "-c", KILL_SHARD, url, str(kill_at), due.isoformat()],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    # the same command as every night: shard 2 runs, shard 1 resumes where it was killed
    done = cli("cob", "--db", url, "--date", due.isoformat(), "--workers", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shard 1/2: done" in done.stdout and "shard 2/2: done" in done.stdout
    again = cli("cob", "--db", url, "--date", due.isoformat(), "--workers", "2")
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("already done") == 2

    for loan_id, invs in book:
        first = p.loans.schedule(loan_id).installments[0]
        got = [p.loans.position(loan_id, inv).received_principal for inv in invs]
        assert got == lendkit.allocate(first.principal, [1] * len(invs))
        borrower = p.loans.get(loan_id).borrower_id
        assert p.custody.balance(borrower).available == cash[loan_id] - first.payment  # once
    assert p.verify().ok
