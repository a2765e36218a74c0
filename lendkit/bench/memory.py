"""``python -m lendkit.bench.memory URL YYYY-MM-DD``: run COB once, print peak RSS as JSON."""

from __future__ import annotations

import json
import sys

from lendkit.bench.cob import child

if __name__ == "__main__":  # pragma: no cover - a subprocess of ``lendkit bench``
    print(json.dumps(child(sys.argv[1], sys.argv[2])))
