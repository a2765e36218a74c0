"""``lendkit db upgrade`` and ``lendkit db pending``: manage the database schema.

Also the helpers every database command shares: :func:`tool_engine` (a short-lived engine that
holds no connections, with the URL checked up front) and :func:`database_errors` (turns a bad
URL, an unreachable server or a missing SQLite directory into one ``ConfigError`` line instead of
a traceback).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from lendkit.cli.base import F, database_option, db_url, main, parse_plugins
from lendkit.core.errors import ConfigError, SchemaOutOfDate
from lendkit.migrations import PluginSchema
from lendkit.plugin_manager import load_plugin
from lendkit.store import schema
from lendkit.store.db import create_nullpool_engine, normalize_url

__all__ = [
    "all_revisions",
    "check_schema",
    "database_errors",
    "database_plugins",
    "db_group",
    "display_url",
    "plugin_schemas",
    "plugins_option",
    "sqlite_file",
    "tool_engine",
]

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def _parse(url: str) -> URL:
    try:
        return make_url(normalize_url(url))
    except ArgumentError:
        raise ConfigError(
            f"database URL {url!r} is not a valid SQLAlchemy URL:"
            " use sqlite:///path/to/file.db or postgresql://user:password@host/dbname"
        ) from None


def display_url(url: str) -> str:
    """``url`` with any password masked, for messages."""
    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def sqlite_file(url: str) -> Path | None:
    """The file an ``sqlite:///`` URL names, or ``None`` for other backends."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def tool_engine(url: str) -> Engine:
    """A NullPool engine for ``url`` after checking the URL names a supported database."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"database backend {backend!r} in {display_url(url)!r} is not supported:"
            " use sqlite or postgresql"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError(
            "in-memory SQLite is not supported (nothing would persist);"
            " use a file URL such as sqlite:///lendkit.db"
        )
    with database_errors(url):
        return create_nullpool_engine(url)


def _first_line(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else orig.__class__.__name__


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Re-raise driver and URL errors as a one-line ``ConfigError`` naming the database."""
    try:
        yield
    except ArgumentError as exc:  # also NoSuchModuleError (unknown dialect or driver)
        raise ConfigError(
            f"database URL {display_url(url)!r} cannot be used: {_first_line(exc)}"
        ) from None
    except DBAPIError as exc:  # OperationalError, InterfaceError, ProgrammingError...
        raise ConfigError(f"cannot use database {display_url(url)!r}: {_first_line(exc)}") from None
    except ImportError as exc:  # the driver package is not installed
        raise ConfigError(
            f"database URL {display_url(url)!r} needs a driver that is not installed: {exc}"
        ) from None


def all_revisions(plugins: list[PluginSchema] | None = None) -> list[str]:
    """Every migration revision, oldest first (what an empty database has pending)."""
    out: list[str] = []
    for plugin in (None, *(plugins or [])):
        script = ScriptDirectory.from_config(schema.alembic_config(plugin=plugin))
        prefix = f"{plugin.name}:" if plugin else ""
        out.extend(prefix + r.revision for r in reversed(list(script.walk_revisions())))
    return out


def check_schema(conn: Connection, plugins: list[PluginSchema] | None = None) -> None:
    """``SchemaOutOfDate`` unless the database (and ``plugins``' tables) is at the code's head."""
    todo = schema.pending(conn, plugins or [])
    if not todo:
        return
    if schema.current_revision(conn) is None:
        raise SchemaOutOfDate("database has no lendkit schema: run `lendkit db upgrade`")
    raise SchemaOutOfDate(
        f"database schema is behind ({len(todo)} migration{'s' if len(todo) != 1 else ''}"
        f" pending: {', '.join(todo)}): run `lendkit db upgrade`"
    )


def database_plugins(
    conn: Connection | None, given: list[str] | None, url: str, *, adding: bool = False
) -> list[str]:
    """The plugins a command uses on the database: those it remembers unless ``--plugins`` given.

    A ``--plugins`` that disagrees with what the database remembers is ``PluginsMismatch``
    naming both (more plugins are allowed when ``adding``: ``lendkit db upgrade`` adds them).
    ``conn`` is ``None`` for a database that does not exist yet.
    """
    remembered = schema.remembered_plugins(conn) if conn is not None else None
    if given is None:
        return list(schema.DEFAULT_PLUGINS if remembered is None else remembered)
    schema.check_plugins(remembered, given, adding=adding, database=display_url(url))
    return given


@main.group("db")
@database_option
def db_group() -> None:
    """Manage the database schema (lendkit's own Alembic migrations)."""


def plugin_schemas(plugins: str | list[str]) -> list[PluginSchema]:
    """The schemas (tables + migrations) of the named plugins that own tables."""
    found = []
    for name in parse_plugins(plugins) if isinstance(plugins, str) else plugins:
        declared = getattr(load_plugin(name), "lendkit_schema", None)
        if isinstance(declared, PluginSchema):
            found.append(declared)
    return found


def plugins_option(help_text: str) -> Callable[[F], F]:
    """``--plugins a,b``: parsed to a list, ``None`` when not given (the database's own plugins)."""

    def parse(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
        return None if value is None else parse_plugins(value)

    return click.option(
        "--plugins",
        "plugins",
        default=None,
        metavar="NAME,...",
        callback=parse,
        help=f"{help_text} Default: the plugins the database remembers (online for a new one);"
        " a list that disagrees with them is refused.",
    )


@db_group.command("upgrade")
@database_option
@plugins_option(
    "Comma-separated plugins whose tables are migrated too; more than the database"
    " remembers adds them."
)
@click.pass_context
def upgrade_command(ctx: click.Context, plugins: list[str] | None) -> None:
    """Apply every pending migration, lendkit's then the plugins' (creates a SQLite file if needed).

    The database then remembers the plugins, so later commands use them without --plugins.
    """
    url = db_url(ctx)
    engine = tool_engine(url)
    try:
        with database_errors(url):
            with engine.connect() as conn:
                names = database_plugins(conn, plugins, url, adding=True)
            applied = schema.upgrade(engine, plugin_schemas(names), remember=names)
    finally:
        engine.dispose()
    if applied:
        click.echo(f"applied {len(applied)} migration{'s' if len(applied) != 1 else ''}:")
        for rev in applied:
            click.echo(f"  {rev}")
        click.echo(f"{display_url(url)} is up to date")
    else:
        click.echo(f"up to date: {display_url(url)} is at {schema.head_revision()} (head)")
    click.echo(f"plugins: {', '.join(names) or '(none)'}")


@db_group.command("pending")
@database_option
@plugins_option("Comma-separated plugins whose pending migrations are listed too.")
@click.pass_context
def pending_command(ctx: click.Context, plugins: list[str] | None) -> None:
    """List the migrations not yet applied, oldest first ("none" if up to date)."""
    url = db_url(ctx)
    engine = tool_engine(url)  # checks the URL and driver; connects to nothing yet
    try:
        path = sqlite_file(url)
        if path is not None and not path.exists():
            # do not create the file just to look at it
            todo = all_revisions(plugin_schemas(database_plugins(None, plugins, url)))
        else:
            with database_errors(url), engine.connect() as conn:
                names = database_plugins(conn, plugins, url, adding=True)
                todo = schema.pending(conn, plugin_schemas(names))
    finally:
        engine.dispose()
    if not todo:
        click.echo("none")
    for rev in todo:
        click.echo(rev)
