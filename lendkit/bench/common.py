"""What every workload shares: results, timing, databases, machine facts, table and JSON output."""

from __future__ import annotations

import json
import os
import platform as py_platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from lendkit.platform import Platform
from lendkit.store.db import create_lendkit_engine, create_nullpool_engine, normalize_url

#: every result name ``--json`` writes, in the order the issue lists them
NAMES = (
    "schedules-vs-amortization",
    "bids-vs-core",
    "bids-8-clients-vs-1",
    "cob-distributions-vs-core",
    "ledger-postings-vs-core",
    "ledger-postings-vs-python-accounting",
    "scaling-bids-10k-vs-10",
    "scaling-cob-100k-vs-10k",
    "cob-peak-memory-mib",
    "cob-plugins-loaded-vs-online",
    "cob-mixed-book-vs-plain",
    "cob-2-workers-vs-1",
    "cob-1m-positions-seconds",
)
FIELDS = (
    "name",
    "database",
    "value",
    "unit",
    "baseline",
    "baseline_value",
    "ratio",
    "target",
    "better",
    "conditions",
)


@dataclass
class Result:
    """One workload on one database, as ``--json`` writes it."""

    name: str
    database: str  # sqlite | postgresql
    value: float | None
    unit: str
    baseline: str | None
    baseline_value: float | None
    ratio: float | None
    target: float
    better: str  # higher | lower
    conditions: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in FIELDS}

    @property
    def met(self) -> bool | None:
        """Whether the target is met (``ratio`` against it if there is one, else ``value``)."""
        figure = self.ratio if self.ratio is not None else self.value
        if figure is None:
            return None
        return figure >= self.target if self.better == "higher" else figure <= self.target


def unavailable(
    name: str, database: str, unit: str, baseline: str | None, target: float, better: str, why: str
) -> Result:
    """A workload that could not run: null figures and the reason in ``conditions``."""
    return Result(
        name, database, None, unit, baseline, None, None, target, better, {"unavailable": why}
    )


@dataclass(frozen=True)
class Sizes:
    """How big each workload is (``--quick`` shrinks everything)."""

    quick: bool
    rounds: int
    schedule_seconds: float
    bids: int
    bid_seconds: float
    bid_clients: int
    bids_per_client: int
    cob_loans: int
    cob_investors: int
    ledger_entries: int
    ledger_seconds: float
    ledger_batch: int
    ledger_batches: int
    pa_entries: int
    scale_bids_small: int
    scale_bids_large: int
    scale_bid_ops: int
    scale_small_positions: int
    scale_large_positions: int
    scale_due_loans: int
    memory_loans: int
    memory_investors: int


FULL = Sizes(
    quick=False,
    rounds=3,
    schedule_seconds=1.0,
    bids=600,
    bid_seconds=8.0,
    bid_clients=8,
    bids_per_client=150,
    cob_loans=1500,
    cob_investors=10,
    ledger_entries=800,
    ledger_seconds=6.0,
    ledger_batch=100,
    ledger_batches=20,
    pa_entries=150,
    scale_bids_small=10,
    scale_bids_large=10_000,
    scale_bid_ops=300,
    scale_small_positions=10_000,
    scale_large_positions=100_000,
    scale_due_loans=300,
    memory_loans=100_000,
    memory_investors=10,
)
QUICK = Sizes(
    quick=True,
    rounds=1,
    schedule_seconds=0.2,
    bids=60,
    bid_seconds=1.5,
    bid_clients=8,
    bids_per_client=15,
    cob_loans=60,
    cob_investors=5,
    ledger_entries=60,
    ledger_seconds=1.0,
    ledger_batch=50,
    ledger_batches=2,
    pa_entries=15,
    scale_bids_small=10,
    scale_bids_large=1_000,
    scale_bid_ops=40,
    scale_small_positions=1_000,
    scale_large_positions=10_000,
    scale_due_loans=30,
    memory_loans=1_000,
    memory_investors=10,
)


def machine() -> dict[str, Any]:
    """CPUs, memory and Python of this machine (the JSON file's ``machine``)."""
    memory_gib: float | None = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": py_platform.python_version(),
    }


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[int], None], n: int, max_seconds: float) -> tuple[int, float]:
    """Call ``fn(i)`` for i in 0..n-1 or until ``max_seconds`` pass; (operations, seconds)."""
    start = time.perf_counter()
    done = 0
    for i in range(n):
        fn(i)
        done += 1
        if time.perf_counter() - start >= max_seconds:
            break
    return done, time.perf_counter() - start


def rate(ops: int, seconds: float) -> float:
    return ops / seconds if seconds > 0 else 0.0


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def rounded(x: float | None, places: int = 1) -> float | None:
    return None if x is None else round(x, places)


# -- databases --------------------------------------------------------------------------------------


class Database:
    """Where a workload runs: a fresh SQLite file per workload, or the PostgreSQL URL reset."""

    def __init__(self, kind: str, url: str | None, workdir: Path) -> None:
        self.kind = kind  # sqlite | postgresql
        self._url = url
        self._workdir = workdir
        self._counter = 0

    @property
    def label(self) -> str:
        if self.kind == "sqlite":
            return "SQLite file, WAL, synchronous=FULL"
        assert self._url is not None
        shown = make_url(normalize_url(self._url))
        return f"PostgreSQL {shown.host}:{shown.port}/{shown.database}"

    def fresh(self, name: str) -> str:
        """A URL for an empty database (a new file, or PostgreSQL with its public schema reset)."""
        self._counter += 1
        if self.kind == "sqlite":
            path = self._workdir / f"{self._counter:02d}-{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{path}"
        assert self._url is not None
        engine = create_nullpool_engine(self._url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
        return normalize_url(self._url)

    def engine(self, url: str) -> Engine:
        """An engine with lendkit's connection settings (same durability as the platform)."""
        return create_lendkit_engine(url)


def open_platform(url: str) -> Platform:
    """The platform with the default plugin set, creating the schema."""
    return Platform.open(url, ["online"])


@contextmanager
def workdir(keep: str | None = None) -> Iterator[Path]:
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="lendkit-bench-") as tmp:
        yield Path(tmp)


# -- output -----------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _conditions_text(c: dict[str, Any]) -> str:
    parts = []
    for k, v in c.items():
        if isinstance(v, dict):
            inner = ", ".join(f"{ik}={iv}" for ik, iv in v.items())
            parts.append(f"{k}: {{{inner}}}")
        else:
            parts.append(f"{k}={v}")
    return "; ".join(parts)


def render_table(results: list[Result]) -> list[str]:
    """The table ``lendkit bench`` prints: one row per result, conditions on the right."""
    head = ("workload", "database", "lendkit", "baseline", "ratio", "target", "met", "conditions")
    rows = []
    for r in results:
        target = f"{'>=' if r.better == 'higher' else '<='} {_fmt(r.target)}"
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        lendkit = f"{_fmt(r.value)} {r.unit}" if r.value is not None else "unavailable"
        base = "-"
        if r.baseline is not None:
            base = f"{_fmt(r.baseline_value)} ({r.baseline})"
        rows.append(
            (
                r.name,
                r.database,
                lendkit,
                base,
                _fmt(r.ratio),
                target,
                met,
                _conditions_text(r.conditions),
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head[:-1])]
    lines = []

    def fmt_row(row: tuple[str, ...]) -> str:
        return "  ".join([cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]])

    lines.append(fmt_row(head))
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 10)
    lines.extend(fmt_row(row) for row in rows)
    return lines


def write_json(path: str, results: list[Result]) -> None:
    doc = {"date": now_iso(), "machine": machine(), "results": [r.as_dict() for r in results]}
    Path(path).write_text(json.dumps(doc, indent=2, default=str) + "\n")
