"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``LENDKIT_TEST_POSTGRES_URL`` (default: the local cluster's ``lendkit``
database as set up by ``.ci/run``). Without a server the PostgreSQL variants skip with the reason
printed, unless ``LENDKIT_REQUIRE_POSTGRES=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

import lendkit
from lendkit.plugins.online import lendkit_schema as online_schema
from lendkit.store import schema
from lendkit.store.audit import init_audit_chains
from lendkit.store.db import create_nullpool_engine
from lendkit.store.tables import metadata
from lendkit.testing import make_party

BASE_PG_URL = os.environ.get(
    "LENDKIT_TEST_POSTGRES_URL", "postgresql+psycopg://lendkit:lendkit@127.0.0.1:5432/lendkit"
)
#: each pytest-xdist worker gets its own database (lendkit_gw0, lendkit_gw1, ...)
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PG_URL = (
    make_url(BASE_PG_URL)
    .set(database=f"{make_url(BASE_PG_URL).database}_{WORKER}")
    .render_as_string(hide_password=False)
    if WORKER
    else BASE_PG_URL
)
REQUIRE_PG = os.environ.get("LENDKIT_REQUIRE_POSTGRES", "") in {"1", "true", "yes"}

_pg_state: dict[str, Any] = {}


def _pg_available() -> str | None:
    """None if PostgreSQL is reachable and migrated, else the reason it is not."""
    if "reason" in _pg_state:
        return _pg_state["reason"]  # type: ignore[no-any-return]
    reason = None
    try:
        if WORKER:
            admin = create_nullpool_engine(BASE_PG_URL).execution_options(
                isolation_level="AUTOCOMMIT"
            )
            name = make_url(PG_URL).database
            with admin.connect() as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
        engine = create_nullpool_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        schema.upgrade(engine, [online_schema])
        engine.dispose()
    except Exception as exc:  # pragma: no cover - depends on the machine
        reason = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}: {exc}"[:300]
    _pg_state["reason"] = reason
    return reason


def _truncate_pg() -> None:
    engine = create_nullpool_engine(PG_URL)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        extra = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                    " AND tablename LIKE 'lendkit_%' AND tablename NOT LIKE '%alembic_version'"
                )
            )
        ]
        all_names = ", ".join(sorted(set(names.split(", ")) | set(extra)))
        conn.execute(text(f"TRUNCATE {all_names} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO lendkit_ledger_head (id, seq, hash) VALUES (1, 0, :h)"),
            {"h": "0" * 64},
        )
        init_audit_chains(conn)
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_nullpool_engine(f"sqlite:///{path}")
    schema.upgrade(engine, [online_schema])
    engine.dispose()  # the last connection's close checkpoints the WAL into the file
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated, empty database URL (SQLite file, then PostgreSQL)."""
    return fresh_database(request.param, tmp_path / "lendkit.db", sqlite_template)


def fresh_database(backend: str, sqlite_path: Path, sqlite_template: Path) -> str:
    """Make a fresh, migrated, empty database and return its URL: a copy of the migrated
    template at ``sqlite_path``, or the worker's PostgreSQL database emptied (skipped, or failed
    under ``LENDKIT_REQUIRE_POSTGRES``, without a server). Tests that need several databases in
    one run (Hypothesis examples) call it once per example."""
    if backend == "sqlite":
        shutil.copy(sqlite_template, sqlite_path)
        return f"sqlite:///{sqlite_path}"
    reason = _pg_available()
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"LENDKIT_REQUIRE_POSTGRES is set but {reason}")
        pytest.skip(reason)
    _truncate_pg()
    return PG_URL


class FixedClock:
    """A settable clock for deterministic tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now = self.now + timedelta(**kwargs)

    def set(self, value: datetime) -> None:
        self.now = value


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def make_platform(db_url: str, clock: FixedClock) -> Iterator[Callable[..., lendkit.Platform]]:
    opened: list[lendkit.Platform] = []

    def make(plugins: list[str] | None = None, **kwargs: Any) -> lendkit.Platform:
        kwargs.setdefault("clock", clock)
        p = lendkit.Platform.open(db_url, plugins=plugins or ["online"], **kwargs)
        opened.append(p)
        return p

    yield make
    for p in opened:
        p.close()


@pytest.fixture
def platform(make_platform: Callable[..., lendkit.Platform]) -> lendkit.Platform:
    return make_platform()


#: the audit trail records every command, refused or not: a refusal's one intended change
#: (tests/services/test_access.py checks those rows); the dumps below leave it out
AUDIT_TABLES = frozenset({"lendkit_audit_log", "lendkit_audit_chains"})


def dump(url: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Every lendkit table's rows but the audit trail's, sorted: compare before/after to prove
    a refusal changed nothing."""
    engine = create_engine(url) if "sqlite" in url else create_nullpool_engine(url)
    out = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in AUDIT_TABLES:
                continue
            rows = conn.execute(table.select()).all()
            out.append((table.name, sorted((tuple(r) for r in rows), key=repr)))
    engine.dispose()
    return out


@pytest.fixture
def funded(platform: lendkit.Platform) -> Callable[..., str]:
    """Factory: a verified party with ``amount`` deposited; returns its id."""

    def make(amount: str = "0", name: str = "party") -> str:
        party = platform.parties.register(name)
        platform.parties.verify(party.id)
        if amount != "0":
            platform.custody.deposit(party.id, amount)
        return party.id

    return make


def party(p: lendkit.Platform, name: str, deposit: str | None = None) -> str:
    """A registered, verified party with ``deposit`` (if any) in its account; its id."""
    return make_party(p, deposit or "0", name)


@contextmanager
def statements(p: lendkit.Platform) -> Iterator[list[tuple[str, bool]]]:
    """Every statement the platform's engine executes inside the block: (sql, executemany)."""
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        seen.append((sql, many))

    event.listen(p.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(p.engine, "before_cursor_execute", record)
