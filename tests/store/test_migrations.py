"""The packaged migrations create exactly the tables the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lendkit.plugins.online import lendkit_schema as online_schema
from lendkit.store import schema
from lendkit.store.db import create_nullpool_engine
from lendkit.store.tables import metadata


def test_migrations_match_metadata(db_url: str) -> None:
    engine = create_nullpool_engine(db_url)
    schema.upgrade(engine, [online_schema])
    with engine.connect() as conn:
        for meta in (metadata, online_schema.metadata):
            tables = set(meta.tables)
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, type_, parent, t=tables: (
                        type_ != "table" or name in t
                    ),
                },
            )
            assert compare_metadata(ctx, meta) == []
        assert schema.pending(conn, [online_schema]) == []
        assert schema.current_revision(conn) == schema.head_revision()
    engine.dispose()
