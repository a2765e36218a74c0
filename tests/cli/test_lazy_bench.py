"""The CLI's start-up does not import the benchmark harness: ``lendkit bench`` loads it when it
runs, and ``lendkit bench --help`` works without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lendkit

#: the lendkit under test (a worktree or a checkout), ahead of any installed copy
SOURCE = str(Path(lendkit.__file__).resolve().parents[1])


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )


def test_importing_the_cli_loads_no_harness() -> None:
    proc = run_python(
        "import lendkit.cli, sys\n"
        f"assert lendkit.cli.__file__.startswith({SOURCE!r}), lendkit.cli.__file__\n"
        "print('lendkit.bench.run' in sys.modules)\n"
        "print(sorted(m for m in sys.modules if m.startswith('lendkit.bench')))\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False", "[]"]


def test_bench_help_works_without_the_harness() -> None:
    proc = run_python(
        "import sys\n"
        "from lendkit.cli import main\n"
        "try:\n"
        "    main(['bench', '--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('lendkit.bench')))\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout and "--json" in proc.stdout
    assert "Measure bids, close of business" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "[]"
