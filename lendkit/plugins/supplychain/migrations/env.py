"""Alembic environment of the ``supplychain`` plugin (version table
``lendkit_supplychain_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.supplychain.tables import metadata

run_env(metadata)
