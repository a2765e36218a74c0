"""Schema management through lendkit's packaged Alembic migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from lendkit.store.ledger import init_head

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "lendkit_alembic_version"


def alembic_config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def pending(conn: Connection) -> list[str]:
    """Revisions not yet applied, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    current = current_revision(conn)
    revs = [r.revision for r in script.iterate_revisions(script.get_current_head(), current)]
    return list(reversed(revs))


def upgrade(engine: Engine) -> list[str]:
    """Apply every pending migration and create the ledger head; returns what was applied."""
    from alembic import command

    with engine.begin() as conn:
        todo = pending(conn)
        if todo:
            command.upgrade(alembic_config(conn), "head")
        init_head(conn)
    return todo
