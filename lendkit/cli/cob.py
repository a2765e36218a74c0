"""``lendkit cob``: run close of business (日终) for one business date.

Also the helpers the database commands that run the platform share: :func:`parse_plugins` and
:func:`open_platform` (opens an existing, migrated database; a missing SQLite file, a schema that is
behind or an unreachable server is one line and exit status 2, never a traceback).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import click

from lendkit.cli.base import database_option, db_url, given_actor, main, parse_plugins
from lendkit.cli.db import database_errors, plugins_option, sqlite_file, tool_engine
from lendkit.core.errors import CobWorkersFailed, InvalidValue, SchemaOutOfDate
from lendkit.core.records import CobResult
from lendkit.platform import Platform
from lendkit.services.cob import parse_shard
from lendkit.store.db import normalize_url

__all__ = [
    "cob_command",
    "open_platform",
    "parse_cob_date",
    "parse_plugins",
    "render_cob_result",
]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_cob_date(text: str | None) -> date:
    """``YYYY-MM-DD`` (``None``: today, UTC, the platform clock's zone); ``InvalidValue`` otherwise."""
    if text is None:
        return datetime.now(UTC).date()
    stripped = text.strip()
    try:
        if not _ISO_DATE.fullmatch(stripped):
            raise ValueError(stripped)
        return date.fromisoformat(stripped)
    except ValueError:
        raise InvalidValue(f"COB date {text!r} is not a valid date: use YYYY-MM-DD") from None


@contextmanager
def open_platform(url: str, plugins: list[str] | None, **kwargs: Any) -> Iterator[Platform]:
    """Open the platform on an existing database that is migrated to the current schema.

    ``plugins=None``: the plugins the database remembers; a list that disagrees with them is
    ``PluginsMismatch`` naming both.
    """
    tool_engine(url).dispose()  # checks the URL and the driver up front
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise SchemaOutOfDate(
            f"database file {str(path)!r} does not exist: run `lendkit db upgrade` to create it"
        )
    kwargs.setdefault("actor", given_actor())
    with database_errors(url):
        platform = Platform.open(url, plugins, create=False, **kwargs)
    try:
        with database_errors(url):
            yield platform
    finally:
        platform.close()


def render_cob_result(result: CobResult) -> list[str]:
    """The summary lines ``lendkit cob`` prints."""
    head = f"COB {result.date.isoformat()} shard {result.shard}"
    if result.already_done:
        return [f"{head}: already done (nothing changed; each date runs once per shard)"]
    rows = (
        ("listings closed at window end", result.expired_listings),
        ("loans collected from", result.collected),
        ("installments overdue", result.overdue),
        ("loans defaulted", result.defaulted),
        ("holds expired", result.expired_holds),
    )
    width = max(len(label) for label, _ in rows)
    done = f"{head}: done"
    skipped = [d for d in result.days if d != result.date]
    if skipped:
        span = skipped[0].isoformat()
        if len(skipped) > 1:
            span += f"..{skipped[-1].isoformat()}"
        done += f" (caught up {span} first; the figures cover {len(result.days)} days)"
    return [done, *(f"  {label.ljust(width)}  {n}" for label, n in rows)]


def stderr_progress(label: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress callback writing ``label: done/total loans`` on one stderr line, and its end."""
    shown = {"any": False}

    def progress(done: int, total: int) -> None:
        shown["any"] = True
        click.echo(f"\r{label}: {done}/{total} loans", err=True, nl=False)

    def finish() -> None:
        if shown["any"]:
            click.echo("", err=True)

    return progress, finish


#: the most COB worker processes ``--workers`` starts
MAX_WORKERS = 64
_WORKERS = re.compile(r"\d{1,3}")


def parse_workers(text: str) -> int:
    """``--workers``: a whole number 1..64; ``InvalidValue`` otherwise."""
    stripped = str(text).strip()
    if not _WORKERS.fullmatch(stripped) or not 1 <= int(stripped) <= MAX_WORKERS:
        raise InvalidValue(
            f"--workers {text!r} is not allowed: a whole number of processes, 1..{MAX_WORKERS}"
        )
    return int(stripped)


def check_workers(url: str, workers: int, shard: tuple[int, int]) -> None:
    """``InvalidValue`` unless ``workers`` processes may run COB on ``url``: several need
    PostgreSQL (SQLite has one writer), and they are the shards (no ``--shard`` with them)."""
    if workers == 1:
        return
    if not url.startswith("postgresql"):
        raise InvalidValue(
            f"--workers {workers}: close of business runs in several processes against"
            f" PostgreSQL only; {url.split(':', 1)[0]} has a single writer: run --workers 1"
            " (the default)"
        )
    if shard != (1, 1):
        raise InvalidValue(
            f"--workers {workers} with --shard {shard[0]}/{shard[1]}: the workers are the"
            " shards 1/N..N/N; give one of the two options"
        )


def run_workers(
    url: str, run_date: date, workers: int, plugins: list[str] | None, allow_future: bool
) -> list[str]:
    """Run shards ``1/workers``..``workers/workers`` of ``run_date`` in as many processes (each
    ``lendkit cob --shard i/N``) and wait for all; their summary lines. A worker that fails is
    named with its last error line and the run exits non-zero: each shard commits a chunk with
    its loans' markers, so the same command run again skips what is done (finished shards say
    so) and resumes the rest: nobody is paid twice."""
    base = [sys.executable, "-c", "from lendkit.cli import main; main()", "cob"]
    args = ["--date", run_date.isoformat()]
    if plugins is not None:
        args += ["--plugins", ",".join(plugins)]
    if allow_future:
        args.append("--allow-future")
    env = {**os.environ, "LENDKIT_DATABASE_URL": url}  # not on the command line: a password
    actor = given_actor()
    if actor is not None:
        env["LENDKIT_ACTOR"] = actor  # every worker runs for the actor this command runs for
    procs = [
        subprocess.Popen(
            [*base, *args, "--shard", f"{i}/{workers}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(1, workers + 1)
    ]
    lines: list[str] = []
    failed: list[str] = []
    for i, proc in enumerate(procs, start=1):
        out, err = proc.communicate()
        lines += out.strip().splitlines()
        if proc.returncode != 0:
            tail = [ln.strip() for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
            failed.append(
                f"worker {i}/{workers}: {tail[-1] if tail else f'exit {proc.returncode}'}"
            )
    if failed:
        raise CobWorkersFailed(
            f"COB {run_date.isoformat()}: {len(failed)} of {workers} workers failed ("
            + "; ".join(failed)
            + "): run the same command again; finished shards are skipped and the others"
            " resume where they stopped (nobody is paid twice)"
        )
    return lines


@main.command("cob")
@database_option
@click.option(
    "--date", "date_text", default=None, help="Business date YYYY-MM-DD (default: today, UTC)."
)
@click.option(
    "--shard",
    default="1/1",
    show_default=True,
    help="Run one shard i/n of the loans (several processes may share a date on PostgreSQL).",
)
@plugins_option("Comma-separated plugins to enable, as the application enables them.")
@click.option(
    "--allow-future",
    is_flag=True,
    default=False,
    help="Allow a date after today (simulations); otherwise such a date is refused.",
)
@click.option(
    "--workers",
    "workers_text",
    default="1",
    metavar="N",
    show_default=True,
    help="Run the date in N processes, shards 1/N..N/N by loan id (PostgreSQL only).",
)
@click.pass_context
def cob_command(
    ctx: click.Context,
    date_text: str | None,
    shard: str,
    plugins: list[str] | None,
    allow_future: bool,
    workers_text: str,
) -> None:
    """Run close of business for one date: expire listings, collect, mark overdue, default.

    Idempotent: rerunning a finished date (and shard) changes nothing. Dates run in order: days
    skipped since the last completed run are closed first, one by one; a date before the last
    completed run, or after today without --allow-future, is refused. With --workers N, N
    processes share the date (PostgreSQL); if one fails, run the same command again.
    """
    run_date = parse_cob_date(date_text)
    i, n = parse_shard(shard.strip())
    workers = parse_workers(workers_text)
    url = db_url(ctx)
    check_workers(normalize_url(url), workers, (i, n))
    if workers > 1:
        with open_platform(url, plugins):
            pass  # the database, its schema and plugins are checked once, up front
        for line in run_workers(url, run_date, workers, plugins, allow_future):
            click.echo(line)
        return
    label = f"COB {run_date.isoformat()} shard {i}/{n}"
    progress, finish = stderr_progress(label)
    with open_platform(url, plugins) as platform:
        try:
            result = platform.cob.run(
                run_date, f"{i}/{n}", progress=progress, allow_future=allow_future
            )
        finally:
            finish()
    for line in render_cob_result(result):
        click.echo(line)
