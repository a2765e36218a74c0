"""Alembic environment of the ``online`` plugin (version table ``lendkit_online_alembic_version``)."""

from lendkit.migrations import run_env
from lendkit.plugins.online.tables import metadata

run_env(metadata)
