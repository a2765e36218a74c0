"""Schema migrations for lendkit and for plugins that own tables.

lendkit's own Alembic scripts ship in ``lendkit/store/migrations`` with the version table
``lendkit_alembic_version``. A plugin that owns tables (prefixed ``lendkit_<plugin>_``) ships its
own script directory and version table and declares it with a module attribute::

    lendkit_schema = PluginSchema("online", metadata, Path(__file__).parent / "migrations")

Its ``migrations/env.py`` is two lines::

    from lendkit.migrations import run_env
    from lendkit.plugins.online.tables import metadata
    run_env(metadata)

``Platform.open`` (and ``lendkit db upgrade --plugins ...``) applies every enabled plugin's
migrations after lendkit's own.
"""

from __future__ import annotations

from pathlib import Path

from attrs import frozen
from sqlalchemy import MetaData


@frozen
class PluginSchema:
    """A plugin's tables and the Alembic script directory that creates them."""

    name: str
    metadata: MetaData
    script_location: Path

    @property
    def version_table(self) -> str:
        return f"lendkit_{self.name}_alembic_version"


def run_env(metadata: MetaData) -> None:
    """Body of an ``env.py``: migrate on the connection lendkit passes, own version table."""
    from alembic import context

    config = context.config
    connection = config.attributes["connection"]
    version_table = config.attributes.get("version_table", "lendkit_alembic_version")
    tables = set(metadata.tables)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table,
        include_name=lambda name, type_, parent: type_ != "table" or name in tables,
    )
    with context.begin_transaction():
        context.run_migrations()
