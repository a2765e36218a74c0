"""``lendkit simulate``: stress-test a synthetic platform on the real engine (issue 17).

The engine (:mod:`lendkit.simulate`) and the page (:mod:`lendkit.report_html`) are imported when
the command runs, so the CLI's start-up never loads them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from click._termui_impl import ProgressBar

from lendkit.cli.base import database_option, fail, given_db_url, main, parse_plugins
from lendkit.cli.db import database_errors, display_url
from lendkit.cli.demo import parties_at
from lendkit.cli.report import render_table
from lendkit.core.errors import InvalidValue

__all__ = ["SIMULATE_FILE", "simulate_command", "summary_lines"]

SIMULATE_FILE = "lendkit-simulate.db"


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The text a person reads: the month-by-month table, the outcome, the yields."""
    cur = result["currency"]
    s = result["scenario"]
    out = [
        f"lendkit simulate: scenario {s['name']} (seed {result['seed']}, {result['months']} months,"
        f" {result['counts']['loans']} loans, plugins {','.join(result['plugins'])})",
        f"  {s['description']}" if s["description"] else "",
        "",
    ]
    headers = ["month", "outstanding", "overdue", "bad debt", "queue", "revenue"]
    has_reserve = bool(result["monthly"]) and "reserve" in result["monthly"][0]
    if has_reserve:
        headers += ["reserve", "coverage"]
    rows = []
    for m in result["monthly"]:
        row = [
            m["date"],
            m["outstanding_principal"],
            m["overdue_rate"],
            m["bad_debt_rate"],
            m["pending_withdrawals"],
            m["revenue"],
        ]
        if has_reserve:
            row += [m["reserve"]["balance"], m["reserve"]["coverage_ratio"]]
        rows.append(row)
    out += render_table(headers, rows, [False] + [True] * (len(headers) - 1))
    if result["monthly"]:
        last = result["monthly"][-1]
        for g in last.get("guarantors", []):
            out.append(
                f"guarantor {g['name']}: {g['exposure']} of cap {g['cap']} ({g['utilisation']}),"
                f" compensated {g['compensated']} {cur}"
            )
        for ins in last.get("insurers", []):
            out.append(f"insurer {ins['name']}: claims paid {ins['claims_paid']} {cur}")
    dry = result["reserve_dry_month"]
    d = result["defaults"]
    out += [
        "",
        "reserve: "
        + (
            "never ran dry"
            if dry is None
            else f"ran dry in month {dry} ({result['reserve_dry_date']})"
        ),
        f"defaults: {d['loans']} borrowers stopped owing {d['principal_at_stop']} {cur};"
        f" covered {d['covered_total']}, recovered {d['recovered']}, lost {d['lost']}",
        "",
        "investors' realised XIRR by grade (percentiles over investors)",
    ]
    yields = result["yield_by_grade"]
    out += render_table(
        ("grade", "investors", "p10", "p25", "p50", "p75", "p90"),
        [
            (g, str(y["investors"]), y["p10"], y["p25"], y["p50"], y["p75"], y["p90"])
            for g, y in yields.items()
        ],
        (False, True, True, True, True, True, True),
    )
    out.append(
        f"ledger {'verified' if result['ledger']['ok'] else 'CHECK FAILED'}: {result['ledger']['entries']} entries"
    )
    return out


@main.command("simulate")
@click.option(
    "--months", type=click.IntRange(1, 120), default=None, help="Months to run [default: 24]."
)
@click.option(
    "--loans",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Listings to make [default: 2000].",
)
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Seed: the same seed, the same output."
)
@click.option(
    "--scenario",
    default="base",
    show_default=True,
    help="base, recession, core-enterprise-failure, run-on-the-platform, or a .toml file.",
)
@click.option(
    "--plugins",
    "plugins_text",
    default=None,
    help="Comma-separated plugins (online plus any of reserve, guarantee, insurance, collateral,"
    " supplychain) [default: all of them].",
)
@click.option(
    "--quick", is_flag=True, help="A small run (40 loans, 4 months) for tests and a first look."
)
@click.option(
    "--json",
    "json_path",
    default=None,
    metavar="FILE",
    help="Write the result as JSON ('-': stdout).",
)
@click.option(
    "--html", "html_path", default=None, metavar="FILE", help="Write one self-contained HTML page."
)
@database_option
@click.pass_context
def simulate_command(
    ctx: click.Context,
    months: int | None,
    loans: int | None,
    seed: int,
    scenario: str,
    plugins_text: str | None,
    quick: bool,
    json_path: str | None,
    html_path: str | None,
) -> None:
    """Stress-test a synthetic platform month by month on the real engine and close of business.

    Borrowers by grade, investors with auto-bid rules, products under the enabled risk plugins;
    each month repayments, prepayments, defaults drawn per grade, recoveries, new listings and
    withdrawals, shaped by the scenario. Prints the reserve, guarantors, insurers, rates, the
    withdrawal queue and revenue month by month, then investors' realised XIRR by grade.

    Uses --db (refusing a database that already has parties) or recreates lendkit-simulate.db here.
    """
    from lendkit.simulate import RISK_PLUGINS, SimulationSize, resolve_scenario, run_simulation

    if quick and (months is not None or loans is not None):
        raise InvalidValue("--quick sets --months and --loans: give either --quick or them")
    size = SimulationSize.quick() if quick else SimulationSize(months or 24, loans or 2000)
    chosen = ["online", *RISK_PLUGINS] if plugins_text is None else parse_plugins(plugins_text)
    unknown = [n for n in chosen if n not in ("online", *RISK_PLUGINS)]
    if unknown:
        raise InvalidValue(
            f"--plugins {unknown[0]!r} cannot be simulated: choose from online,"
            f" {', '.join(RISK_PLUGINS)}"
        )
    plan = resolve_scenario(scenario, size.months)
    if html_path is not None:
        from lendkit.report_html import require_plotly

        require_plotly()  # before an hour of simulation, not after
    url = given_db_url(ctx)
    if url is None:
        path = Path(SIMULATE_FILE).resolve()
        for extra in ("", "-wal", "-shm", "-journal", "-cob.lock"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        where = str(path)
    else:
        where = display_url(url)
        found = parties_at(url)
        if found:
            fail(
                f"database {where!r} already has {found} parties: a simulation needs an empty"
                " database (omit --db to use a new lendkit-simulate.db)"
            )
    click.echo(f"lendkit simulate: {plan.name} on {where}", err=True)
    bar: ProgressBar[int] = click.progressbar(length=size.months, label="months", file=sys.stderr)
    with bar, database_errors(url):
        result = run_simulation(url, plan, size, seed, chosen, progress=lambda _m: bar.update(1))
    if json_path is not None:
        text = json.dumps(result, ensure_ascii=False, indent=1)
        if json_path == "-":
            click.echo(text)
        else:
            Path(json_path).write_text(text + "\n", encoding="utf-8")
    if html_path is not None:
        from lendkit.report_html import simulation_page

        page = simulation_page(result, f"lendkit simulate: {plan.name} (seed {seed})")
        Path(html_path).write_text(page, encoding="utf-8")
        click.echo(f"wrote {html_path}", err=True)
    if json_path != "-":
        for line in summary_lines(result):
            click.echo(line)
    if not result["ledger"]["ok"]:
        ctx.exit(1)
