"""Alembic environment for lendkit's own migrations (version table ``lendkit_alembic_version``)."""

from alembic import context

from lendkit.store.tables import metadata

VERSION_TABLE = "lendkit_alembic_version"


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=lambda name, type_, parent: (
            type_ != "table" or str(name).startswith("lendkit_")
        ),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
