"""Alembic environment of the ``insurance`` plugin (version table ``lendkit_insurance_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.insurance.tables import metadata

run_env(metadata)
