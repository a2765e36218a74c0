"""Alembic environment for lendkit's own migrations (version table ``lendkit_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.store.tables import metadata

run_env(metadata)
