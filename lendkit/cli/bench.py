"""``lendkit bench``: the command line only; the harness (:mod:`lendkit.bench`) is imported when
the command runs, so the CLI's start-up (and ``lendkit bench --help``) never loads it."""

from __future__ import annotations

import click

from lendkit.cli.base import main


@main.command("bench")
@click.option(
    "--db",
    "pg_url",
    default=None,
    help="Also run on this PostgreSQL database. bench DROPS AND RECREATES its public schema for"
    " every workload, so it must be empty or used only by bench.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Small sizes (under a minute on SQLite): a smoke test, not a measurement.",
)
@click.option("--json", "json_path", default=None, help="Also write the results to this file.")
@click.option(
    "--skip-sqlite",
    is_flag=True,
    hidden=True,
    help="With --db: run PostgreSQL only (to split a long full run in two).",
)
@click.option(
    "--keep",
    "keep_dir",
    default=None,
    hidden=True,
    help="Keep the SQLite files in this directory (for profiling).",
)
def bench_command(
    pg_url: str | None,
    quick: bool,
    json_path: str | None,
    skip_sqlite: bool,
    keep_dir: str | None,
) -> None:
    """Measure bids, close of business, ledger postings, schedules, scaling and memory.

    SQLite (a temporary file, WAL, synchronous=FULL) always; PostgreSQL when --db is given.
    Every ratio is lendkit against a baseline measured in the same run on the same database.
    """
    # imported here: the benchmark harness (and its peers) load only when bench runs
    from lendkit.bench.cli import run_bench

    run_bench(pg_url, quick, json_path, skip_sqlite, keep_dir)
