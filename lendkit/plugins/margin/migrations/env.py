"""Alembic environment of the ``margin`` plugin (version table ``lendkit_margin_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.margin.tables import metadata

run_env(metadata)
