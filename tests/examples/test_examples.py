"""Every script in ``examples/`` runs to completion, on SQLite and on PostgreSQL.

The embedding example is also checked from the outside: after it ran, the host's table and
lendkit's ledger both lack the top-up whose transaction the host rolled back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

import lendkit
from lendkit.store.db import create_nullpool_engine
from lendkit.store.tables import external_movements, idempotency
from tests.conftest import PG_URL, REQUIRE_PG, _pg_available

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.py"))


def run_example(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / name), *args],
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("LENDKIT_")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{name}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a schema of their own (dropped afterwards)."""
    reason = _pg_available()
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"LENDKIT_REQUIRE_POSTGRES is set but {reason}")
        pytest.skip(reason)
    schema = f"example_{uuid.uuid4().hex[:10]}"
    engine = create_nullpool_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_the_examples_the_issue_asks_for_exist() -> None:
    assert set(EXAMPLES) >= {
        "embedding.py",
        "listings.py",
        "auto_bidding.py",
        "close_of_business.py",
        "credit_scoring_plugin.py",
    }


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_on_a_sqlite_file(name: str, tmp_path: Path) -> None:
    done = run_example(name, str(tmp_path / "example.db"))
    assert "ledger verified: True" in done.stdout
    assert (tmp_path / "example.db").exists()


@pytest.mark.postgres
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_on_postgresql(name: str, pg_schema_url: str) -> None:
    done = run_example(name, pg_schema_url)
    assert "ledger verified: True" in done.stdout


def test_example_defaults_to_a_temporary_database(tmp_path: Path) -> None:
    done = run_example("listings.py", cwd=tmp_path)
    assert "ledger verified: True" in done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left in the working directory


def test_embedding_rolls_back_host_row_and_ledger_together(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    done = run_example("embedding.py", str(db))
    assert "2. host failed after lendkit's deposit" in done.stdout
    assert "3. lendkit refused the withdrawal" in done.stdout

    url = f"sqlite:///{db}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, amount, status FROM shop_topups ORDER BY id"))
            # top-up 2 (250.00) was rolled back; 3 is the host's record of lendkit's refusal
            assert [tuple(r) for r in rows] == [
                (1, "100.00", "credited"),
                (3, "-1000.00", "refused"),
            ]
            deposits = conn.execute(
                select(external_movements.c.amount).where(external_movements.c.kind == "deposit")
            ).all()
            assert [r.amount for r in deposits] == [10000]  # minor units: only top-up 1
            keys = [r.key for r in conn.execute(select(idempotency.c.key))]
            assert any("topup-1" in k for k in keys)
            assert not any("topup-2" in k for k in keys)
            assert conn.execute(select(func.count()).select_from(external_movements)).scalar() == 1
    finally:
        engine.dispose()
    with lendkit.Platform.open(url, plugins=["online"], create=False) as platform:
        report = platform.verify()
        assert report.ok, report.problems
        assert report.entries == 1  # the one committed deposit


def test_docs_link_only_existing_examples() -> None:
    docs = EXAMPLES_DIR.parent / "docs"
    for page in ("embedding.md", "plugin-authors.md"):
        for name in re.findall(r"\(\.\./examples/([a-z_]+\.py)\)", (docs / page).read_text()):
            assert name in EXAMPLES, f"docs/{page} links examples/{name}, which does not exist"
    linked = set(
        re.findall(r"\(\.\./examples/([a-z_]+\.py)\)", (docs / "embedding.md").read_text())
    )
    assert linked == set(EXAMPLES), "docs/embedding.md's example table is not the examples/ folder"
