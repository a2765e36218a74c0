"""``lendkit bench``: lendkit measured against hand-written baselines in the same run.

See ``docs/performance.md``. The peers (``amortization``, ``numpy-financial``,
``python-accounting``) come with the ``bench`` extra: ``pip install 'lendkit[bench]'``.
"""

from lendkit.bench.common import FIELDS, NAMES, Result

__all__ = ["FIELDS", "NAMES", "Result"]
