"""``lendkit cob``: run close of business (日终) for one business date.

Also the helpers the database commands that run the platform share: :func:`parse_plugins` and
:func:`open_platform` (opens an existing, migrated database; a missing SQLite file, a schema that is
behind or an unreachable server is one line and exit status 2, never a traceback).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import click

from lendkit.cli.base import database_option, db_url, main, parse_plugins
from lendkit.cli.db import database_errors, plugins_option, sqlite_file, tool_engine
from lendkit.core.errors import InvalidValue, SchemaOutOfDate
from lendkit.core.records import CobResult
from lendkit.platform import Platform
from lendkit.services.cob import parse_shard

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
@click.pass_context
def cob_command(
    ctx: click.Context,
    date_text: str | None,
    shard: str,
    plugins: list[str] | None,
    allow_future: bool,
) -> None:
    """Run close of business for one date: expire listings, collect, mark overdue, default.

    Idempotent: rerunning a finished date (and shard) changes nothing. Dates run in order: days
    skipped since the last completed run are closed first, one by one; a date before the last
    completed run, or after today without --allow-future, is refused.
    """
    run_date = parse_cob_date(date_text)
    i, n = parse_shard(shard.strip())
    url = db_url(ctx)
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
