"""Run every workload on each database and collect the results in the issue's order."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from lendkit.bench import bids, cob, ledger, mixed, schedules
from lendkit.bench.common import NAMES, Database, Result, Sizes
from lendkit.core.errors import ConfigError
from lendkit.store.db import create_nullpool_engine, normalize_url

MARKER = "lendkit_bench_marker"
Say = Callable[[str], None]


def check_postgres(url: str) -> None:
    """Refuse a URL that is not PostgreSQL, unreachable, or holds data bench did not write.

    ``lendkit bench`` drops and recreates the public schema for each workload, so it only runs
    on an empty database or one it used before (it leaves a ``lendkit_bench_marker`` table).
    """
    url = normalize_url(url)
    if not url.startswith("postgresql"):
        raise ConfigError(
            f"--db {url.split('://')[0]}://...: bench takes a PostgreSQL URL (SQLite always runs"
            " on a temporary file)"
        )
    engine = create_nullpool_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names(schema="public")
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"cannot reach PostgreSQL at {url.split('@')[-1]}: {exc.__class__.__name__}:"
            f" {str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}"
        ) from None
    finally:
        engine.dispose()
    if tables and MARKER not in tables:
        raise ConfigError(
            f"database {url.rsplit('/', 1)[-1]} has {len(tables)} tables bench did not create"
            f" (e.g. {sorted(tables)[0]}); bench wipes its public schema: give it an empty"
            " database of its own"
        )


class BenchDatabase(Database):
    """A :class:`Database` that marks PostgreSQL as used by bench after each reset."""

    def fresh(self, name: str) -> str:
        url = super().fresh(name)
        if self.kind == "postgresql":
            engine = create_nullpool_engine(url)
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"CREATE TABLE {MARKER} (created_at timestamptz)"))
            finally:
                engine.dispose()
        return url


#: unit, target and direction of each result, for a workload that fails before producing one
SPECS: dict[str, tuple[str, float, str]] = {
    "schedules-vs-amortization": ("schedules/s", 1.5, "higher"),
    "bids-vs-core": ("bids/s", 0.7, "higher"),
    "bids-8-clients-vs-1": ("bids/s", 3.0, "higher"),
    "cob-distributions-vs-core": ("distributions/s", 0.5, "higher"),
    "ledger-postings-vs-core": ("entries/s", 0.7, "higher"),
    "ledger-postings-vs-python-accounting": ("entries/s", 10.0, "higher"),
    "scaling-bids-10k-vs-10": ("ms/bid", 1.3, "lower"),
    "scaling-cob-100k-vs-10k": ("us/distribution", 1.3, "lower"),
    "cob-peak-memory-mib": ("MiB", 512.0, "lower"),
    "cob-plugins-loaded-vs-online": ("distributions/s", 0.8, "higher"),
    "cob-mixed-book-vs-plain": ("us/distribution", 1.5, "lower"),
    "cob-2-workers-vs-1": ("distributions/s", 1.6, "higher"),
    "cob-1m-positions-seconds": ("s", 60.0, "lower"),
}
#: the COB time over 1,000,000 positions each database should meet (seconds)
COB_1M_TARGET = {"sqlite": 60.0, "postgresql": 120.0}


def cob_seconds(memory: Result, kind: str) -> Result:
    """``cob-1m-positions-seconds``: the COB time of the memory workload (one run, timed in
    its subprocess), against the per-database target."""
    c = memory.conditions
    seconds = c.get("cob_seconds")
    return Result(
        "cob-1m-positions-seconds",
        kind,
        seconds,
        "s",
        None,
        None,
        None,
        COB_1M_TARGET.get(kind, 60.0),
        "lower",
        {
            "positions": c.get("positions"),
            "collected": c.get("collected"),
            "size": c.get("size"),
            "how": "platform.cob.run(date) in a fresh process over the memory workload's book"
            " (online plugin), as cob-peak-memory-mib",
            "durability": c.get("durability"),
        }
        if seconds is not None
        else {"unavailable": c.get("unavailable", "the memory workload produced no figure")},
    )


def _guard(name: str, database: str, say: Say, fn: Callable[[], Result]) -> Result:
    t = time.perf_counter()
    say(f"{name} on {database} ...")
    try:
        result = fn()
    except Exception as exc:  # one workload failing must not lose the others
        say(f"{name} on {database}: failed: {exc.__class__.__name__}: {exc}"[:300])
        unit, target, better = SPECS[name]
        return Result(
            name,
            database,
            None,
            unit,
            None,
            None,
            None,
            target,
            better,
            {"unavailable": f"error: {exc.__class__.__name__}: {exc}"[:300]},
        )
    met = {True: "met", False: "MISSED", None: "-"}[result.met]
    say(
        f"{name} on {database}: done in {time.perf_counter() - t:.1f} s: {result.value}"
        f" {result.unit}, baseline {result.baseline_value}, ratio {result.ratio},"
        f" target {result.target} ({met})"
    )
    return result


def run_database(db: Database, sizes: Sizes, say: Say) -> list[Result]:
    kind = db.kind
    out: dict[str, Result] = {}
    out["schedules-vs-amortization"] = _guard(
        "schedules-vs-amortization", kind, say, lambda: schedules.run(sizes, kind)
    )
    out["bids-vs-core"] = _guard("bids-vs-core", kind, say, lambda: bids.run_single(db, sizes))
    out["bids-8-clients-vs-1"] = _guard(
        "bids-8-clients-vs-1", kind, say, lambda: bids.run_clients(db, sizes)
    )
    out["cob-distributions-vs-core"] = _guard(
        "cob-distributions-vs-core", kind, say, lambda: cob.run_distributions(db, sizes)
    )
    holder: dict[str, float | None] = {"rate": None}

    def core_ledger() -> Result:
        result, lk = ledger.run_core(db, sizes)
        holder["rate"] = lk
        return result

    out["ledger-postings-vs-core"] = _guard("ledger-postings-vs-core", kind, say, core_ledger)
    batched = out["ledger-postings-vs-core"].conditions.get("batched")
    out["ledger-postings-vs-python-accounting"] = _guard(
        "ledger-postings-vs-python-accounting",
        kind,
        say,
        lambda: ledger.run_python_accounting(db, sizes, holder["rate"], batched),
    )
    out["scaling-bids-10k-vs-10"] = _guard(
        "scaling-bids-10k-vs-10", kind, say, lambda: bids.run_scaling(db, sizes)
    )
    out["scaling-cob-100k-vs-10k"] = _guard(
        "scaling-cob-100k-vs-10k", kind, say, lambda: cob.run_scaling(db, sizes)
    )
    out["cob-peak-memory-mib"] = _guard(
        "cob-peak-memory-mib", kind, say, lambda: cob.run_memory(db, sizes)
    )
    out["cob-1m-positions-seconds"] = cob_seconds(out["cob-peak-memory-mib"], kind)
    out["cob-plugins-loaded-vs-online"] = _guard(
        "cob-plugins-loaded-vs-online", kind, say, lambda: mixed.run_plugins_loaded(db, sizes)
    )
    out["cob-mixed-book-vs-plain"] = _guard(
        "cob-mixed-book-vs-plain", kind, say, lambda: mixed.run_mixed_book(db, sizes)
    )
    out["cob-2-workers-vs-1"] = _guard(
        "cob-2-workers-vs-1", kind, say, lambda: mixed.run_workers(db, sizes)
    )
    return [out[n] for n in NAMES]


def run_all(
    pg_url: str | None, sizes: Sizes, work: Path, say: Say, *, sqlite: bool = True
) -> list[Result]:
    results = run_database(BenchDatabase("sqlite", None, work), sizes, say) if sqlite else []
    if pg_url:
        results += run_database(BenchDatabase("postgresql", pg_url, work), sizes, say)
    return results
