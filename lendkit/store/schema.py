"""Schema management through lendkit's packaged Alembic migrations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from lendkit.migrations import PluginSchema
from lendkit.store.ledger import init_head

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "lendkit_alembic_version"


def alembic_config(conn: Connection | None = None, plugin: PluginSchema | None = None) -> Config:
    """Alembic config for lendkit's scripts, or for one plugin's (own version table)."""
    cfg = Config()
    location = plugin.script_location if plugin else MIGRATIONS
    cfg.set_main_option("script_location", str(location))
    cfg.attributes["version_table"] = plugin.version_table if plugin else VERSION_TABLE
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head_revision(plugin: PluginSchema | None = None) -> str:
    head = ScriptDirectory.from_config(alembic_config(plugin=plugin)).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection, plugin: PluginSchema | None = None) -> str | None:
    table = plugin.version_table if plugin else VERSION_TABLE
    ctx = MigrationContext.configure(conn, opts={"version_table": table})
    return ctx.get_current_revision()


def _pending_one(conn: Connection, plugin: PluginSchema | None) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(plugin=plugin))
    current = current_revision(conn, plugin)
    revs = [r.revision for r in script.iterate_revisions(script.get_current_head(), current)]
    return list(reversed(revs))


def pending(conn: Connection, plugins: Sequence[PluginSchema] = ()) -> list[str]:
    """Revisions not yet applied, oldest first (plugins' prefixed with ``name:``)."""
    out = _pending_one(conn, None)
    for plugin in plugins:
        out.extend(f"{plugin.name}:{r}" for r in _pending_one(conn, plugin))
    return out


def upgrade(engine: Engine, plugins: Sequence[PluginSchema] = ()) -> list[str]:
    """Apply every pending migration (lendkit's, then each plugin's) and create the ledger head."""
    from alembic import command

    applied: list[str] = []
    with engine.begin() as conn:
        for plugin in (None, *plugins):
            todo = _pending_one(conn, plugin)
            if todo:
                command.upgrade(alembic_config(conn, plugin), "head")
                prefix = f"{plugin.name}:" if plugin else ""
                applied.extend(prefix + r for r in todo)
        init_head(conn)
    return applied
