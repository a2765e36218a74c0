"""``lendkit bench --quick`` completes and writes well-formed JSON (never thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lendkit.bench import FIELDS, NAMES


@pytest.mark.slow
def test_quick_bench_writes_every_result(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cli = [sys.executable, "-c", "from lendkit.cli import main; main()"]
    proc = subprocess.run(
        [*cli, "bench", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "workload" in proc.stdout  # the table
    doc = json.loads(out.read_text())
    assert set(doc) == {"date", "machine", "results"}
    assert isinstance(doc["date"], str)
    assert {"cpus", "memory_gib", "python"} <= set(doc["machine"])
    results = doc["results"]
    assert [r["name"] for r in results] == list(NAMES)
    for r in results:
        assert set(r) == set(FIELDS)
        assert r["database"] == "sqlite"
        assert r["better"] in ("higher", "lower")
        assert isinstance(r["conditions"], dict)
        assert isinstance(r["target"], int | float)
        for key in ("value", "baseline_value", "ratio"):
            assert r[key] is None or isinstance(r[key], int | float)
        # a figure, or the reason there is none
        assert r["value"] is not None or "unavailable" in r["conditions"]
        assert not str(r["conditions"].get("unavailable", "")).startswith("error:"), r


def test_bench_refuses_a_sqlite_db_url() -> None:
    from click.testing import CliRunner

    from lendkit.cli import main

    result = CliRunner().invoke(main, ["bench", "--db", "sqlite:///x.db", "--quick"])
    assert result.exit_code == 2
    assert "PostgreSQL URL" in result.output
    assert "Traceback" not in result.output
