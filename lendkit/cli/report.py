"""``lendkit report``: the platform's headline totals and its disclosures (信息披露).

Also :func:`render_table`, the aligned text table the reporting commands share; it measures East
Asian wide characters (Chinese names) as two columns so that columns line up in a terminal.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from lendkit.cli.base import database_option, db_url, main
from lendkit.cli.cob import open_platform
from lendkit.cli.db import plugins_option
from lendkit.core.records import Disclosure, Receipt
from lendkit.services.reports import BAD_DEBT_RATE, OVERDUE_RATE, PlatformTotals

__all__ = [
    "history_dict",
    "history_lines",
    "render_table",
    "report_command",
    "report_dict",
    "text_width",
]


def text_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide and full-width characters count two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - text_width(text))
    return gap + text if right else text + gap


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None
) -> list[str]:
    """Rows under a header and a rule; columns in ``right`` are right-aligned (numbers)."""
    align = list(right) if right is not None else [False] * len(headers)
    widths = [max(text_width(r[i]) for r in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            _pad(c, w, a) for c, w, a in zip(cells, widths, align, strict=True)
        ).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def report_dict(totals: PlatformTotals, disclosures: Sequence[Disclosure]) -> dict[str, Any]:
    """The ``--json`` shape: amounts as decimal strings in ``currency``, rates as percentages."""
    return {
        "currency": totals.volume.currency,
        "volume": totals.volume.format(),
        "loans": totals.loans,
        "outstanding_principal": totals.outstanding_principal.format(),
        "overdue_principal": totals.overdue_principal.format(),
        "defaulted_principal": totals.defaulted_principal.format(),
        "overdue_rate": totals.overdue_rate,
        "bad_debt_rate": totals.bad_debt_rate,
        "revenue": totals.revenue.format(),
        "listings_by_state": dict(sorted(totals.listings_by_state.items())),
        "disclosures": [
            {"plugin": d.plugin, "name": d.name, "value": d.value} for d in disclosures
        ],
    }


def report_lines(totals: PlatformTotals, disclosures: Sequence[Disclosure]) -> list[str]:
    """The text report: totals, listings by state, disclosures."""
    cur = totals.volume.currency
    figures = [
        ("volume (principal lent)", f"{totals.volume.format()} {cur}"),
        ("loans", str(totals.loans)),
        ("outstanding principal", f"{totals.outstanding_principal.format()} {cur}"),
        ("overdue principal", f"{totals.overdue_principal.format()} {cur}"),
        ("defaulted principal", f"{totals.defaulted_principal.format()} {cur}"),
        ("overdue rate", totals.overdue_rate),
        ("bad-debt rate", totals.bad_debt_rate),
        ("platform revenue (fees)", f"{totals.revenue.format()} {cur}"),
    ]
    lines = ["Platform totals", *render_table(("figure", "value"), figures, (False, True))]
    lines += [f"  {OVERDUE_RATE}", f"  {BAD_DEBT_RATE}"]
    states = sorted(totals.listings_by_state.items())
    lines += ["", "Listings by state"]
    if states:
        lines += render_table(
            ("state", "listings"), [(s, str(n)) for s, n in states], (False, True)
        )
    else:
        lines.append("  (no listings)")
    lines += ["", "Disclosures"]
    lines += render_table(
        ("plugin", "figure", "value"), [(d.plugin, d.name, d.value) for d in disclosures]
    )
    return lines


def history_dict(receipts: Sequence[Receipt]) -> list[dict[str, str]]:
    """The ``--loan/--investor --json`` shape: one object per receipt, amounts as decimals."""
    return [
        {
            "payment": r.payment_id,
            "paid_on": r.paid_on.isoformat(),
            "kind": r.kind,
            "amount": r.amount.format(),
            "currency": r.amount.currency,
            "payer_kind": r.payer_kind,
            "payer_id": r.payer_id,
            "payer_account": r.payer_account,
        }
        for r in receipts
    ]


def history_lines(loan_id: str, investor_id: str, receipts: Sequence[Receipt]) -> list[str]:
    """The text history of an investor's position: one row per receipt, with who paid."""
    lines = [f"Position of investor {investor_id} in loan {loan_id}: receipts"]
    if not receipts:
        return [*lines, "  (nothing received yet)"]
    rows = [
        (r.paid_on.isoformat(), r.kind, f"{r.amount.format()} {r.amount.currency}", r.paid_by)
        for r in receipts
    ]
    return lines + render_table(
        ("date", "kind", "received", "paid by"), rows, (False, False, True, False)
    )


@main.command("report")
@database_option
@plugins_option("Comma-separated plugins whose disclosures to include.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--loan", "loan_id", help="With --investor: that investor's receipts on this loan.")
@click.option("--investor", "investor_id", help="With --loan: whose position's receipts to show.")
@click.option(
    "--html",
    "html_path",
    default=None,
    metavar="FILE",
    help="Also write the disclosure as one self-contained HTML page with charts (lendkit[report]).",
)
@click.pass_context
def report_command(
    ctx: click.Context,
    plugins: list[str] | None,
    as_json: bool,
    loan_id: str | None,
    investor_id: str | None,
    html_path: str | None,
) -> None:
    """Platform totals (volume, outstanding, overdue and bad-debt rates, revenue) and disclosures.

    The disclosures are those of every plugin the database remembers (or of --plugins). With
    --loan and --investor: the history of that investor's position instead, every payment it
    received and who paid it (the borrower, a party paying for it, a guarantor, an insurer, the
    reserve...).
    """
    if (loan_id is None) != (investor_id is None):
        raise click.UsageError("--loan and --investor go together")
    if html_path is not None and loan_id is not None:
        raise click.UsageError("--html writes the whole platform's disclosure: not with --loan")
    if html_path is not None:
        from lendkit.report_html import require_plotly

        require_plotly()
    if loan_id is not None and investor_id is not None:
        with open_platform(db_url(ctx), plugins) as platform:
            receipts = platform.reports.position_history(loan_id, investor_id)
        if as_json:
            click.echo(json.dumps(history_dict(receipts), ensure_ascii=False))
        else:
            for line in history_lines(loan_id, investor_id, receipts):
                click.echo(line)
        return
    with open_platform(db_url(ctx), plugins) as platform:
        totals = platform.reports.totals()
        disclosures = platform.reports.disclosure()
        if html_path is not None:
            from lendkit.report_html import gather_report, report_page

            page = report_page(
                report_dict(totals, disclosures), gather_report(platform), "lendkit disclosure"
            )
            Path(html_path).write_text(page, encoding="utf-8")
            click.echo(f"wrote {html_path}", err=True)
    if as_json:
        click.echo(json.dumps(report_dict(totals, disclosures), ensure_ascii=False))
    else:
        for line in report_lines(totals, disclosures):
            click.echo(line)
