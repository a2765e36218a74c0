"""``lendkit schedule``: print a repayment schedule as a table or as JSON.

Every option is taken as a string and parsed by lendkit's own functions, so bad input becomes a
``LendkitError`` (one line on stderr, exit status 2) and never a traceback.
"""

from __future__ import annotations

import json
import re
from datetime import date

import click

from lendkit.cli.base import main
from lendkit.core.errors import InvalidValue
from lendkit.core.money import RoundingPolicy
from lendkit.core.money import currency as lookup_currency
from lendkit.core.schedule import MAX_MONTHS, METHODS, MIN_MONTHS, Schedule, build_schedule

__all__ = ["parse_months", "parse_start_date", "render_table", "schedule_command"]

_INT = re.compile(r"[+-]?\d{1,6}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_months(text: str) -> int:
    """Parse a whole number of months (1..600) given as text; ``InvalidValue`` otherwise."""
    stripped = text.strip()
    if not _INT.fullmatch(stripped):
        raise InvalidValue(
            f"months {text!r} is not a whole number: allowed {MIN_MONTHS}..{MAX_MONTHS}"
        )
    return int(stripped)


def parse_start_date(text: str | None) -> date:
    """Parse ``YYYY-MM-DD`` (``None`` means today); ``InvalidValue`` for anything else."""
    if text is None:
        return date.today()
    stripped = text.strip()
    try:
        if not _ISO_DATE.fullmatch(stripped):
            raise ValueError(stripped)
        return date.fromisoformat(stripped)
    except ValueError:
        raise InvalidValue(f"start date {text!r} is not a valid date: use YYYY-MM-DD") from None


def render_table(schedule: Schedule) -> str:
    """The schedule as an aligned text table followed by its totals."""
    headers = ("period", "due date", "payment", "principal", "interest", "balance")
    body = [
        (
            str(row.period),
            row.due_date.isoformat(),
            row.payment.format(),
            row.principal.format(),
            row.interest.format(),
            row.balance.format(),
        )
        for row in schedule.installments
    ]
    total_payment = schedule.total_payment.format()
    total_principal = schedule.total_principal.format()
    total_interest = schedule.total_interest.format()
    totals = ("total", "", total_payment, total_principal, total_interest, "")
    widths = [max(len(r[i]) for r in (headers, totals, *body)) for i in range(len(headers))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].rjust(widths[0])
        second = cells[1].ljust(widths[1])
        rest = [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join([first, second, *rest]).rstrip()

    sep = "  ".join("-" * w for w in widths)
    code = schedule.principal.currency
    rate_pct = f"{(schedule.annual_rate * 100).normalize():f}%"
    title = (
        f"{schedule.method} schedule: principal {schedule.principal.format()} {code}, "
        f"annual rate {rate_pct}, {schedule.months} months, "
        f"rounding {schedule.rounding.mode.lower().replace('_', '-')}"
    )
    lines = [title, "", line(headers), sep]
    lines.extend(line(r) for r in body)
    lines.append(sep)
    lines.append(line(totals))
    return "\n".join(lines)


@main.command("schedule")
@click.option("--principal", required=True, help="Loan principal, e.g. 100000 or 100000.00.")
@click.option(
    "--annual-rate",
    required=True,
    help="Annual interest rate as a fraction (0.12) or a percentage (12%).",
)
@click.option("--months", required=True, help=f"Term in months ({MIN_MONTHS}..{MAX_MONTHS}).")
@click.option(
    "--method",
    default="equal-installment",
    show_default=True,
    help=f"Repayment method: {', '.join(METHODS)}.",
)
@click.option(
    "--rounding",
    default="half-up",
    show_default=True,
    help="Rounding mode: half-up, half-even or down.",
)
@click.option("--start-date", default=None, help="Start date YYYY-MM-DD (default: today).")
@click.option("--currency", default="CNY", show_default=True, help="Currency code.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def schedule_command(
    principal: str,
    annual_rate: str,
    months: str,
    method: str,
    rounding: str,
    start_date: str | None,
    currency: str,
    as_json: bool,
) -> None:
    """Compute a repayment schedule (exact, no database needed)."""
    code = currency.strip().upper()
    lookup_currency(code)
    method_name = method.strip().lower()
    if method_name not in METHODS:
        raise InvalidValue(f"unknown repayment method {method!r}: allowed {', '.join(METHODS)}")
    schedule = build_schedule(
        principal,
        annual_rate,
        parse_months(months),
        method_name,
        start_date=parse_start_date(start_date),
        rounding=RoundingPolicy.parse(rounding),
        currency=code,
    )
    if as_json:
        click.echo(json.dumps(schedule.to_dict()))
    else:
        click.echo(render_table(schedule))
