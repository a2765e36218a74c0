"""``lendkit bench``'s body: lendkit against hand-written baselines and PyPI peers, in the same
run. The click command (options, help) is :mod:`lendkit.cli.bench`, which imports this module only
when the command runs."""

from __future__ import annotations

import time

import click

from lendkit.bench.common import FULL, QUICK, render_table, workdir, write_json
from lendkit.bench.run import check_postgres, run_all


def run_bench(
    pg_url: str | None,
    quick: bool,
    json_path: str | None,
    skip_sqlite: bool,
    keep_dir: str | None,
) -> None:
    """Run every workload at the chosen sizes, print the table and optionally write JSON (see
    ``lendkit bench --help`` for the arguments)."""
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
