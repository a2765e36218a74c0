"""``lendkit bench``: lendkit against hand-written baselines and PyPI peers, in the same run."""

from __future__ import annotations

import time

import click

from lendkit.bench.common import FULL, QUICK, render_table, workdir, write_json
from lendkit.bench.run import check_postgres, run_all
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
    if pg_url:
        check_postgres(pg_url)
    elif skip_sqlite:
        raise click.UsageError("--skip-sqlite needs --db")
    sizes = QUICK if quick else FULL
    started = time.perf_counter()

    def say(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:6.1f}s] {message}", err=True)

    with workdir(keep_dir) as work:
        results = run_all(pg_url, sizes, work, say, sqlite=not skip_sqlite)
    for line in render_table(results):
        click.echo(line)
    missed = [r for r in results if r.met is False]
    click.echo(
        f"\n{sum(r.met is True for r in results)} targets met, {len(missed)} missed,"
        f" {sum(r.met is None for r in results)} not measured"
        f" ({'quick sizes: a smoke test, not a measurement; ' if quick else ''}"
        f"{time.perf_counter() - started:.0f} s)"
    )
    if json_path:
        write_json(json_path, results)
        click.echo(f"wrote {json_path}")
