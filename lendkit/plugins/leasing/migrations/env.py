"""Alembic environment of the ``leasing`` plugin (version table
``lendkit_leasing_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.leasing.tables import metadata

run_env(metadata)
