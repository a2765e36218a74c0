"""Alembic environment of the ``reserve`` plugin (version table ``lendkit_reserve_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.reserve.tables import metadata

run_env(metadata)
