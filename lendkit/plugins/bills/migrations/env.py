"""Alembic environment of the ``bills`` plugin (version table ``lendkit_bills_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.bills.tables import metadata

run_env(metadata)
