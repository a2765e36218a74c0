"""Alembic environment of the ``guarantee`` plugin (version table ``lendkit_guarantee_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.guarantee.tables import metadata

run_env(metadata)
