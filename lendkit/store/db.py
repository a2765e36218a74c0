"""Engines, connection settings and the retry rule for lendkit-owned transactions.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL`` so that a command that
returned survives a process kill *and* a power loss, a busy timeout, foreign keys on, and every
transaction opened with ``BEGIN IMMEDIATE`` so that writers queue up front instead of failing on
upgrade from a read lock. PostgreSQL runs at READ COMMITTED; correctness under concurrency comes
from guarded single-statement updates with rowcount checks and row locks taken in id order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from lendkit.core.errors import ConfigError

#: SQLSTATEs PostgreSQL uses for "try the transaction again"
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
SQLITE_BUSY_WORDS = ("database is locked", "database table is locked", "busy")


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


#: what to install when the PostgreSQL driver is missing
POSTGRES_EXTRA = "pip install 'lendkit[postgres]'"


def sqlite_path(url: str | URL) -> Path | None:
    """The file a SQLite URL names (``None`` for other backends, memory and ``file:`` URIs)."""
    try:
        parsed = make_url(normalize_url(url)) if isinstance(url, str) else url
    except Exception:  # not a URL at all: create_lendkit_engine says so
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri") in ("true", "1") or str(parsed.database).startswith("file:"):
        return None
    return Path(str(parsed.database))


def check_sqlite_directory(url: str | URL) -> None:
    """``ConfigError`` naming the path if a SQLite file's directory does not exist.

    SQLite would fail later with a bare "unable to open database file"; the path says what is
    wrong.
    """
    path = sqlite_path(url)
    if path is None:
        return
    folder = path.absolute().parent
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise ConfigError(
            f"database file {str(path)!r} cannot be opened: its directory {str(folder)!r} {what}"
        )


def _create_engine(parsed: URL, **kwargs: Any) -> Engine:
    """``create_engine`` with a missing driver reported as the extra to install."""
    try:
        return create_engine(parsed, **kwargs)
    except ImportError as exc:
        if parsed.get_backend_name() == "postgresql":
            raise ConfigError(
                f"PostgreSQL needs the psycopg driver, which is not installed ({exc}):"
                f" {POSTGRES_EXTRA}"
            ) from exc
        raise ConfigError(
            f"database URL {parsed.render_as_string()!r} needs a driver that is not installed:"
            f" {exc}"
        ) from exc


def create_lendkit_engine(url: str, *, sqlite_synchronous: str = "FULL", **kwargs: Any) -> Engine:
    """Create an engine configured the way lendkit needs for ``url``."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(f"database URL {url!r} is not a valid SQLAlchemy URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if memory:
            raise ConfigError(
                "in-memory SQLite is not supported (each connection would see another database);"
                " use a file URL such as sqlite:///lendkit.db"
            )
        check_sqlite_directory(parsed)
        engine = _create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=kwargs.pop("pool_size", 8),
            max_overflow=kwargs.pop("max_overflow", 64),
            **kwargs,
        )
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 70)
        kwargs.setdefault("pool_pre_ping", True)
        return _create_engine(parsed, **kwargs)
    raise ConfigError(f"database backend {backend!r} is not supported: use sqlite or postgresql")


def create_nullpool_engine(url: str) -> Engine:
    """A short-lived engine for tooling (migrations, dumps) that holds no connections."""
    engine = _create_engine(make_url(normalize_url(url)), poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, "FULL")
    return engine


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
        raise ConfigError(f"sqlite synchronous {synchronous!r}: allowed FULL, EXTRA, NORMAL")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN IMMEDIATE instead of pysqlite's implicit BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_retryable(exc: BaseException) -> bool:
    """True for serialization failures, deadlocks and SQLITE_BUSY: run the unit of work again."""
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        text = str(orig).lower()
        if exc.__class__.__name__ == "OperationalError" and any(
            w in text for w in SQLITE_BUSY_WORDS
        ):
            return True
        if getattr(exc, "connection_invalidated", False):
            return True
    return False
