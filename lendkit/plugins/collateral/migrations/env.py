"""Alembic environment of the ``collateral`` plugin (version table ``lendkit_collateral_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.collateral.tables import metadata

run_env(metadata)
