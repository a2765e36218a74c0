"""The ``lendkit`` command line (click).

Every command that opens a database takes its URL from ``--db`` (before or after the command:
one shared option, :func:`lendkit.cli.base.database_option`), else ``LENDKIT_DATABASE_URL``, and
defaults to a SQLite file ``lendkit.db`` in the working directory; it uses the plugins the database
remembers unless ``--plugins`` is given. Refusals (any ``LendkitError``) print one line
and exit with status 2, never a traceback.
"""

from __future__ import annotations

# Commands register themselves on ``main`` when their module is imported.
from lendkit.cli import access as _access  # noqa: F401  (staff, write-off, audit)
from lendkit.cli import bench as _bench  # noqa: F401  (registers ``lendkit bench``; harness loads lazily)
from lendkit.cli import cob as _cob  # noqa: F401  (registers ``lendkit cob``)
from lendkit.cli import custody as _custody  # noqa: F401  (registers ``lendkit custody flush``)
from lendkit.cli import db as _db  # noqa: F401  (registers ``lendkit db upgrade|pending``)
from lendkit.cli import demo as _demo  # noqa: F401  (registers ``lendkit demo``)
from lendkit.cli import market as _market  # noqa: F401  (registers ``lendkit market ...``)
from lendkit.cli import operations as _operations  # noqa: F401  (party, listing, loan, deposit...)
from lendkit.cli import plugins as _plugins  # noqa: F401  (registers ``lendkit plugins``)
from lendkit.cli import report as _report  # noqa: F401  (registers ``lendkit report``)
from lendkit.cli import scaffold as _scaffold  # noqa: F401  (registers ``lendkit new``, ``new-plugin``)
from lendkit.cli import schedule as _schedule  # noqa: F401  (registers ``lendkit schedule``)
from lendkit.cli import simulate as _simulate  # noqa: F401  (registers ``lendkit simulate``)
from lendkit.cli import verify as _verify  # noqa: F401  (registers ``lendkit verify``)
from lendkit.cli.base import main

__all__ = ["main"]
