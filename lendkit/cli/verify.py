"""``lendkit verify``: rebuild every balance from the journal and check the ledger's invariants.

Exit status 0 when the ledger is sound, 1 when it is not (the first bad journal entry named, then
every problem), 2 when it cannot be checked (bad URL, unreachable database, schema missing or
behind). The ledger is lendkit's own tables; the plugins the database remembers (or ``--plugins``,
which must agree with them) are loaded only to check that their tables are migrated too.

A sound ledger's head is printed as ``head: SEQ:HASH`` (one per hash chain, comma-separated). Kept somewhere else (a log, a ticket, a
notarised mail), it is an anchor: ``lendkit verify --anchor SEQ:HASH`` fails if the journal up to
SEQ was rewritten since, even if every later hash was recomputed to keep the chain consistent.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from lendkit.cli.base import database_option, db_url, main
from lendkit.cli.db import (
    check_schema,
    database_errors,
    database_plugins,
    display_url,
    plugin_schemas,
    plugins_option,
    sqlite_file,
    tool_engine,
)
from lendkit.core.errors import SchemaOutOfDate
from lendkit.store.ledger import VerifyReport, parse_anchors, verify_ledger

__all__ = ["problem_lines", "report_dict", "run_verify", "verify_command"]

_FIRST_BAD_PREFIX = "first bad entry:"


def run_verify(
    url: str, plugins: list[str] | None = None, anchor: str | None = None
) -> VerifyReport:
    """Check the ledger at ``url`` in one consistent read transaction (against ``anchor``).

    ``plugins``: as ``--plugins`` (``None``: the ones the database remembers).
    """
    kept = parse_anchors(anchor) if anchor is not None else None
    engine = tool_engine(url)  # checks the URL and driver; connects to nothing yet
    try:
        path = sqlite_file(url)
        if path is not None and not path.exists():
            raise SchemaOutOfDate(
                f"database file {str(path)!r} does not exist: run `lendkit db upgrade` to create it"
            )
        with database_errors(url), engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # one snapshot for every query, so concurrent writers cannot cause false alarms
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                check_schema(conn, plugin_schemas(database_plugins(conn, plugins, url)))
                return verify_ledger(conn, kept)
    finally:
        engine.dispose()


def problem_lines(report: VerifyReport) -> list[str]:
    """The report's problems without the summary line ``first bad entry: N``."""
    return [p for p in report.problems if not p.startswith(_FIRST_BAD_PREFIX)]


def report_dict(report: VerifyReport) -> dict[str, Any]:
    """The ``--json`` shape: ok, entries, accounts, first_bad_entry, problems, head."""
    return {
        "ok": report.ok,
        "entries": report.entries,
        "accounts": report.accounts,
        "first_bad_entry": report.first_bad_entry,
        "problems": problem_lines(report),
        "head": report.head,
    }


@main.command("verify")
@database_option
@plugins_option("Comma-separated plugins whose tables must be migrated too.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option(
    "--anchor",
    default=None,
    metavar="SEQ:HASH[,...]",
    help="A head printed by an earlier run (one SEQ:HASH per hash chain): fail if a chain up to"
    " its SEQ was rewritten since.",
)
@click.pass_context
def verify_command(
    ctx: click.Context, plugins: list[str] | None, as_json: bool, anchor: str | None
) -> None:
    """Rebuild balances from the journal and check every ledger invariant.

    Prints the head (SEQ:HASH) to keep elsewhere as an anchor for later runs. Exit status 0 if
    the ledger is sound, 1 if not, 2 if it could not be checked.
    """
    url = db_url(ctx)
    report = run_verify(url, plugins, anchor)
    if as_json:
        click.echo(json.dumps(report_dict(report)))
    elif report.ok:
        click.echo(f"OK: {report.entries} entries, {report.accounts} accounts verified")
        if anchor is not None:
            click.echo(f"anchor {anchor.strip()}: still in the chain")
        click.echo(f"head: {report.head}")
    else:
        problems = problem_lines(report)
        if report.first_bad_entry is not None:
            click.echo(f"FAILED: first bad entry {report.first_bad_entry}")
        else:
            click.echo(
                f"FAILED: {len(problems)} problem{'s' if len(problems) != 1 else ''}"
                " (every journal entry is sound; balances, holds or the anchor disagree with it)"
            )
        for line in problems:
            click.echo(f"  {line}")
        click.echo(f"database: {display_url(url)}")
    if not report.ok:
        sys.exit(1)
