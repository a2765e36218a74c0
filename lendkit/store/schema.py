"""Schema management through lendkit's packaged Alembic migrations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, delete, func, insert, inspect, select

from lendkit.core.errors import PluginsMismatch
from lendkit.migrations import PluginSchema
from lendkit.store.audit import init_audit_chains
from lendkit.store.ledger import init_head
from lendkit.store.tables import meta, parties

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "lendkit_alembic_version"
PLUGINS_KEY = "plugins"
#: what a database that remembers no plugins is opened with
DEFAULT_PLUGINS = ("online",)


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


def upgrade(
    engine: Engine, plugins: Sequence[PluginSchema] = (), remember: Sequence[str] | None = None
) -> list[str]:
    """Apply every pending migration (lendkit's, then each plugin's) and create the ledger head and
    the audit chains' heads.

    ``remember``: the names of the plugins the database is now used with, recorded in the same
    transaction (see :func:`remembered_plugins`).
    """
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
        init_audit_chains(conn)
        if remember is not None:
            remember_plugins(conn, remember)
    return applied


# -- the plugins a database remembers -------------------------------------------------------------


def party_count(conn: Connection) -> int:
    """Parties in the database (0 when it has no lendkit schema yet): whether it is empty."""
    if not inspect(conn).has_table(parties.name):
        return 0
    return int(conn.execute(select(func.count()).select_from(parties)).scalar_one())


def remembered_plugins(conn: Connection) -> list[str] | None:
    """The plugin names the database was created or last upgraded with; ``None`` if it has none.

    ``None`` for a database that has no lendkit schema yet or was created before lendkit kept
    this (it then remembers the plugins it is next upgraded with).
    """
    if not inspect(conn).has_table(meta.name):
        return None
    value = conn.execute(select(meta.c.value).where(meta.c.key == PLUGINS_KEY)).scalar()
    if value is None:
        return None
    names = json.loads(value)
    assert isinstance(names, list)
    return [str(n) for n in names]


def remember_plugins(conn: Connection, names: Sequence[str]) -> None:
    """Record ``names`` as the database's plugins (unless it remembers that set already)."""
    current = remembered_plugins(conn)
    if current is not None and set(current) == set(names):
        return
    conn.execute(delete(meta).where(meta.c.key == PLUGINS_KEY))
    conn.execute(
        insert(meta).values(
            key=PLUGINS_KEY, value=json.dumps(list(names)), updated_at=datetime.now(UTC)
        )
    )


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "(none)"


def check_plugins(
    remembered: Sequence[str] | None, requested: Sequence[str], *, adding: bool, database: str
) -> None:
    """``PluginsMismatch`` unless ``requested`` is the set of plugins the database remembers.

    With ``adding`` (the schema is being created or upgraded) more plugins than remembered are
    allowed: that is how a plugin is added to a database. A plugin the database remembers is
    never dropped silently: its loans, guarantees and accounts would lose their rules.
    """
    if remembered is None:
        return
    have, want = set(remembered), set(requested)
    if want == have or (adding and want > have):
        return
    missing = [n for n in remembered if n not in want]
    extra = [n for n in requested if n not in have]
    message = (
        f"database {database!r} remembers the plugins {_names(remembered)};"
        f" it is being opened with {_names(requested)}: "
    )
    if missing:
        message += (
            f"{_names(missing)} cannot be left out (open it with the plugins it remembers, e.g."
            " omit --plugins)"
        )
    else:
        every = ",".join([*remembered, *extra])
        message += (
            f"to add {_names(extra)}, upgrade it with them (`lendkit db upgrade --plugins {every}`"
            " or Platform.open with create=True)"
        )
    raise PluginsMismatch(message)
