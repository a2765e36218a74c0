"""One self-contained HTML page of the disclosure (信息披露): ``lendkit report --html`` and
``lendkit simulate --html``.

The page has the figures as tables (each figure in a ``data-key`` row, exactly the string
``report --json`` prints) and charts drawn by plotly.js, which is inlined in the page (no CDN,
no fonts or images from elsewhere: the page opens without a network). plotly is the optional
extra ``lendkit[report]``; without it :func:`require_plotly` raises ``ConfigError`` naming the
extra. Chart coordinates are plotted as floats (display only); every figure a person reads in a
table is the exact decimal string.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lendkit.core.errors import ConfigError

if TYPE_CHECKING:
    from lendkit.platform import Platform

__all__ = ["gather_report", "report_page", "require_plotly", "simulation_page"]

GRADES = ("AA", "A", "B", "C", "D", "E", "HR")

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; text-align: left; }
.chart { width: 100%; max-width: 1000px; height: 380px; }
.note { color: #555; font-size: 0.85em; }
"""


def require_plotly() -> Any:
    """The ``plotly`` module, or ``ConfigError`` naming the extra that installs it."""
    try:
        import plotly
    except ImportError:
        raise ConfigError(
            "--html needs plotly: install the report extra, pip install 'lendkit[report]'"
        ) from None
    return plotly


def _num(text: str) -> float:
    """A figure (``"12.50%"``, ``"1000.00"``) as a chart coordinate (display only)."""
    return float(Decimal(text.rstrip("%")))  # float ok: a chart coordinate, never money


class _Page:
    """Builds the page: sections of tables and charts, then :meth:`render`."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []
        self.charts = 0

    def h2(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def figures(self, name: str, rows: Sequence[tuple[str, str, str]]) -> None:
        """A two-column table; each row ``(json key, label, value)``."""
        body = "".join(
            f'<tr data-key="{html.escape(key)}"><th>{html.escape(label)}</th>'
            f'<td class="num" data-value>{html.escape(value)}</td></tr>'
            for key, label, value in rows
        )
        self.parts.append(f'<table data-table="{html.escape(name)}">{body}</table>')

    def table(self, name: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="num">{html.escape(str(c))}</td>'
                if _numeric(c)
                else f"<td>{html.escape(str(c))}</td>"
                for c in row
            )
            + "</tr>"
            for row in rows
        )
        self.parts.append(
            f'<table data-table="{html.escape(name)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )

    def chart(self, figure: Any) -> None:
        self.charts += 1
        figure.update_layout(
            template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50}, height=380
        )
        self.parts.append(
            figure.to_html(
                full_html=False,
                include_plotlyjs=False,
                include_mathjax=False,
                div_id=f"chart-{self.charts}",
                config={"displaylogo": False, "responsive": True},
                default_width="100%",
                default_height="380px",
            ).replace("<div>", '<div class="chart-box">', 1)
        )

    def render(self) -> str:
        from plotly.offline import get_plotlyjs

        return (
            "<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
            f"<style>{_STYLE}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
            f"<body><h1>{html.escape(self.title)}</h1>{''.join(self.parts)}"
            f'<p class="note">charts: {self.charts}</p></body></html>\n'
        )


def _numeric(value: object) -> bool:
    text = str(value).rstrip("%")
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return text != ""


# -- the disclosure page (``lendkit report --html``) -------------------------------------------------


def gather_report(platform: Platform) -> dict[str, Any]:
    """Everything the report page shows beyond ``report --json``: loans by month and by grade,
    concentration, and the risk plugins' figures, read through the public API."""
    cur = platform.config.currency
    from lendkit.core.money import Money

    zero = Money.zero(cur)
    by_month: dict[str, list[Money]] = {}
    by_grade: dict[str, dict[str, Any]] = {}
    borrowers: dict[str, Money] = {}
    for loan in platform.loans.find():
        month = loan.start_date.strftime("%Y-%m")
        volume, outstanding = by_month.get(month, [zero, zero])
        is_open = loan.state in ("active", "overdue", "defaulted")
        left = loan.outstanding_principal if is_open else zero
        by_month[month] = [volume + loan.principal, outstanding + left]
        grade = platform.listings.get(loan.listing_id).grade or "-"
        g = by_grade.setdefault(
            grade,
            {"loans": 0, "volume": zero, "outstanding": zero, "defaulted": zero, "rate_x": zero},
        )
        g["loans"] += 1
        g["volume"] += loan.principal
        g["outstanding"] += left
        if loan.state == "defaulted":
            g["defaulted"] += left
        g["rate_x"] += loan.principal.multiply(loan.annual_rate)
        if left.is_positive():
            borrowers[loan.borrower_id] = borrowers.get(loan.borrower_id, zero) + left
    total_out = sum(borrowers.values(), zero)
    top = sorted(borrowers.items(), key=lambda kv: (-kv[1].minor, kv[0]))[:10]
    out: dict[str, Any] = {
        "by_month": [
            {"month": m, "volume": v.format(), "outstanding": o.format()}
            for m, (v, o) in sorted(by_month.items())
        ],
        "by_grade": [
            {
                "grade": grade,
                "loans": g["loans"],
                "volume": g["volume"].format(),
                "outstanding": g["outstanding"].format(),
                "defaulted": g["defaulted"].format(),
                "bad_debt_rate": _pct(g["defaulted"].amount, g["outstanding"].amount),
                "average_rate": _pct(g["rate_x"].amount, g["volume"].amount),
            }
            for grade, g in sorted(
                by_grade.items(), key=lambda kv: GRADES.index(kv[0]) if kv[0] in GRADES else 99
            )
        ],
        "top_borrowers": [
            {
                "name": platform.parties.get(party).name,
                "outstanding": amount.format(),
                "share": _pct(amount.amount, total_out.amount),
            }
            for party, amount in top
        ],
    }
    names = set(platform.plugin_names)
    if "reserve" in names:
        from lendkit.plugins import reserve

        s = reserve.status(platform)
        out["reserve"] = {
            "balance": s.balance.format(),
            "covered_outstanding": s.outstanding_principal.format(),
            "coverage_ratio": _pct(s.balance.amount, s.outstanding_principal.amount),
        }
    if "guarantee" in names:
        from lendkit.plugins import guarantee

        out["guarantors"] = [
            {
                "name": g.name,
                "exposure": (g.outstanding + g.committed).format(),
                "cap": g.cap.format(),
                "utilisation": _pct((g.outstanding + g.committed).amount, g.cap.amount),
            }
            for g in sorted(guarantee.guarantors_of(platform), key=lambda g: g.name)
        ]
    if "supplychain" in names:
        from lendkit.plugins import supplychain

        out["core_enterprises"] = [
            {
                "name": c.name,
                "used": c.used.format(),
                "credit_limit": c.credit_limit.format(),
                "share": _pct(c.used.amount, total_out.amount),
            }
            for c in sorted(supplychain.core_enterprises_of(platform), key=lambda c: c.name)
        ]
    return out


def _pct(part: Decimal, whole: Decimal) -> str:
    if not whole:
        return "0.00%"
    return f"{(part * 100 / whole).quantize(Decimal('0.01'))}%"


_TOTALS = (
    ("volume", "volume (principal lent)"),
    ("loans", "loans"),
    ("outstanding_principal", "outstanding principal"),
    ("overdue_principal", "overdue principal"),
    ("defaulted_principal", "defaulted principal"),
    ("overdue_rate", "overdue rate"),
    ("bad_debt_rate", "bad-debt rate"),
    ("revenue", "platform revenue (fees)"),
)


def report_page(report: dict[str, Any], extra: dict[str, Any], title: str) -> str:
    """The disclosure page: ``report`` is the ``report --json`` object, ``extra`` what
    :func:`gather_report` read."""
    require_plotly()
    import plotly.graph_objects as go

    cur = report["currency"]
    page = _Page(title)
    page.h2("Platform totals")
    page.figures(
        "totals",
        [(key, f"{label}", str(report[key])) for key, label in _TOTALS]
        + [("currency", "currency", cur)],
    )
    page.note(
        "overdue rate = overdue principal / outstanding principal (open loans); bad-debt rate ="
        " defaulted principal / outstanding principal"
    )
    months = extra["by_month"]
    if months:
        fig = go.Figure()
        fig.add_bar(
            x=[m["month"] for m in months], y=[_num(m["volume"]) for m in months], name="volume"
        )
        fig.add_bar(
            x=[m["month"] for m in months],
            y=[_num(m["outstanding"]) for m in months],
            name="still outstanding",
        )
        fig.update_layout(title=f"Volume and outstanding by month of origination ({cur})")
        page.chart(fig)
    grades = extra["by_grade"]
    page.h2("By grade")
    page.table(
        "by_grade",
        ("grade", "loans", "volume", "outstanding", "defaulted", "bad-debt rate", "average rate"),
        [
            (
                g["grade"],
                g["loans"],
                g["volume"],
                g["outstanding"],
                g["defaulted"],
                g["bad_debt_rate"],
                g["average_rate"],
            )
            for g in grades
        ],
    )
    if grades:
        fig = go.Figure()
        fig.add_bar(
            x=[g["grade"] for g in grades],
            y=[_num(g["bad_debt_rate"]) for g in grades],
            name="bad-debt rate %",
        )
        fig.add_bar(
            x=[g["grade"] for g in grades],
            y=[_num(g["average_rate"]) for g in grades],
            name="average rate (yield) %",
        )
        fig.add_hline(
            y=_num(report["overdue_rate"]),
            line_dash="dot",
            annotation_text="overdue rate (platform)",
        )
        fig.update_layout(title="Yield and bad-debt rate by grade (%)", barmode="group")
        page.chart(fig)
    if "reserve" in extra:
        r = extra["reserve"]
        page.h2("Risk reserve")
        page.figures(
            "reserve",
            [
                ("reserve.balance", "balance", r["balance"]),
                (
                    "reserve.covered_outstanding",
                    "covered outstanding principal",
                    r["covered_outstanding"],
                ),
                ("reserve.coverage_ratio", "coverage ratio", r["coverage_ratio"]),
            ],
        )
        fig = go.Figure()
        fig.add_bar(
            x=["reserve balance", "covered outstanding"],
            y=[_num(r["balance"]), _num(r["covered_outstanding"])],
            text=[r["balance"], r["covered_outstanding"]],
        )
        fig.update_layout(title=f"Reserve coverage: {r['coverage_ratio']} ({cur})")
        page.chart(fig)
    if extra.get("guarantors"):
        rows = extra["guarantors"]
        page.h2("Guarantors")
        page.table(
            "guarantors",
            ("guarantor", "exposure", "leverage cap", "utilisation"),
            [(g["name"], g["exposure"], g["cap"], g["utilisation"]) for g in rows],
        )
        fig = go.Figure()
        fig.add_bar(x=[g["name"] for g in rows], y=[_num(g["utilisation"]) for g in rows])
        fig.add_hline(y=100, line_dash="dash", annotation_text="leverage cap")
        fig.update_layout(title="Guarantor utilisation of the leverage cap (%)")
        page.chart(fig)
    page.h2("Concentration")
    top = extra["top_borrowers"]
    page.table(
        "top_borrowers",
        ("borrower", "outstanding", "share"),
        [(b["name"], b["outstanding"], b["share"]) for b in top],
    )
    if top:
        fig = go.Figure()
        fig.add_bar(x=[b["name"] for b in top], y=[_num(b["share"]) for b in top])
        fig.update_layout(title="Top borrowers: share of outstanding principal (%)")
        page.chart(fig)
    if extra.get("core_enterprises"):
        cores = extra["core_enterprises"]
        page.table(
            "core_enterprises",
            ("core enterprise", "used", "credit limit", "share of outstanding"),
            [(c["name"], c["used"], c["credit_limit"], c["share"]) for c in cores],
        )
        fig = go.Figure()
        fig.add_bar(x=[c["name"] for c in cores], y=[_num(c["used"]) for c in cores], name="used")
        fig.add_bar(
            x=[c["name"] for c in cores],
            y=[_num(c["credit_limit"]) for c in cores],
            name="credit limit",
        )
        fig.update_layout(title=f"Core enterprises: exposure and credit limit ({cur})")
        page.chart(fig)
    page.h2("Disclosures")
    page.table(
        "disclosures",
        ("plugin", "figure", "value"),
        [(d["plugin"], d["name"], d["value"]) for d in report["disclosures"]],
    )
    return page.render()


# -- the simulation page (``lendkit simulate --html``) -----------------------------------------------


def simulation_page(result: dict[str, Any], title: str) -> str:
    """The page of a simulation: its scenario, the curves month by month, the yield
    distribution by grade and the investors' losses; ``result`` is ``simulate --json``."""
    require_plotly()
    import plotly.graph_objects as go

    cur = result["currency"]
    monthly = result["monthly"]
    x = [m["date"] for m in monthly]
    page = _Page(title)
    scenario = result["scenario"]
    page.note(
        f"scenario {scenario['name']}: {scenario['description']} — seed {result['seed']},"
        f" {result['months']} months, {result['counts']['loans']} loans,"
        f" plugins {', '.join(result['plugins'])}"
    )
    dry = result["reserve_dry_month"]
    page.h2("Outcome")
    defaults = result["defaults"]
    page.figures(
        "outcome",
        [
            ("counts.loans", "loans made", str(result["counts"]["loans"])),
            ("counts.unfunded", "listings not funded (流标)", str(result["counts"]["unfunded"])),
            ("defaults.loans", "borrowers who stopped paying", str(defaults["loans"])),
            (
                "defaults.principal_at_stop",
                "principal owed to investors when they stopped",
                defaults["principal_at_stop"],
            ),
            (
                "defaults.covered_total",
                "covered by guarantors, insurer and reserve",
                defaults["covered_total"],
            ),
            (
                "defaults.recovered",
                "recovered (collateral sales, borrowers)",
                defaults["recovered"],
            ),
            ("defaults.lost", "lost by investors", defaults["lost"]),
            (
                "reserve_dry_month",
                "month the reserve ran dry",
                "never" if dry is None else f"{dry} ({result['reserve_dry_date']})",
            ),
            ("ledger.ok", "ledger verified", "yes" if result["ledger"]["ok"] else "NO"),
        ],
    )
    fig = go.Figure()
    fig.add_scatter(x=x, y=[_num(m["volume"]) for m in monthly], name="volume (cumulative)")
    fig.add_scatter(x=x, y=[_num(m["outstanding_principal"]) for m in monthly], name="outstanding")
    fig.update_layout(title=f"Volume and outstanding principal ({cur})")
    page.chart(fig)
    fig = go.Figure()
    fig.add_scatter(x=x, y=[_num(m["overdue_rate"]) for m in monthly], name="overdue rate %")
    fig.add_scatter(x=x, y=[_num(m["bad_debt_rate"]) for m in monthly], name="bad-debt rate %")
    fig.update_layout(title="Overdue and bad-debt rates (%)")
    page.chart(fig)
    if monthly and "reserve" in monthly[0]:
        fig = go.Figure()
        fig.add_scatter(
            x=x, y=[_num(m["reserve"]["balance"]) for m in monthly], name=f"reserve balance ({cur})"
        )
        fig.add_scatter(
            x=x,
            y=[_num(m["reserve"]["queued_shortfall"]) for m in monthly],
            name=f"claims it could not pay ({cur})",
        )
        fig.add_scatter(
            x=x,
            y=[_num(m["reserve"]["coverage_ratio"]) for m in monthly],
            name="coverage ratio %",
            yaxis="y2",
        )
        fig.update_layout(
            title="Risk reserve: balance, shortfall and coverage ratio"
            + ("" if dry is None else f" (dry in month {dry})"),
            yaxis2={"overlaying": "y", "side": "right", "title": "%"},
        )
        page.chart(fig)
    if monthly and monthly[0].get("guarantors"):
        fig = go.Figure()
        for k, g in enumerate(monthly[0]["guarantors"]):
            fig.add_scatter(
                x=x, y=[_num(m["guarantors"][k]["utilisation"]) for m in monthly], name=g["name"]
            )
        fig.add_hline(y=100, line_dash="dash", annotation_text="leverage cap")
        fig.update_layout(title="Guarantors' utilisation of their leverage cap (%)")
        page.chart(fig)
    if monthly and monthly[0].get("insurers"):
        fig = go.Figure()
        for k, ins in enumerate(monthly[0]["insurers"]):
            fig.add_scatter(
                x=x, y=[_num(m["insurers"][k]["claims_paid"]) for m in monthly], name=ins["name"]
            )
        fig.update_layout(title=f"Insurer payouts, cumulative ({cur})")
        page.chart(fig)
    fig = go.Figure()
    fig.add_scatter(
        x=x, y=[_num(m["pending_withdrawals"]) for m in monthly], name="pending withdrawals"
    )
    fig.add_scatter(
        x=x, y=[_num(m["withdrawals_paid"]) for m in monthly], name="withdrawals paid (cumulative)"
    )
    fig.add_scatter(x=x, y=[_num(m["revenue"]) for m in monthly], name="platform revenue")
    fig.update_layout(title=f"Withdrawal queue and platform revenue ({cur})")
    page.chart(fig)
    yields = result["yield_by_grade"]
    if yields:
        grades = list(yields)
        fig = go.Figure()
        for q in ("p10", "p50", "p90"):
            fig.add_bar(x=grades, y=[_num(yields[g][q]) for g in grades], name=q)
        fig.update_layout(
            title="Investors' realised XIRR by grade: percentiles (%)", barmode="group"
        )
        page.chart(fig)
    losses = result["investor_losses"]["by_grade"]
    if losses:
        fig = go.Figure()
        fig.add_bar(x=list(losses), y=[_num(v) for v in losses.values()])
        fig.update_layout(title=f"Investors' losses by grade ({cur})")
        page.chart(fig)
    page.h2("Month by month")
    headers = [
        "month",
        "date",
        "new loans",
        "stopped",
        "outstanding",
        "overdue rate",
        "bad-debt rate",
        "pending withdrawals",
        "revenue",
    ]
    has_reserve = bool(monthly) and "reserve" in monthly[0]
    if has_reserve:
        headers += ["reserve balance", "coverage ratio"]
    rows = []
    for m in monthly:
        row = [
            m["month"],
            m["date"],
            m["new_loans"],
            m["borrowers_stopped"],
            m["outstanding_principal"],
            m["overdue_rate"],
            m["bad_debt_rate"],
            m["pending_withdrawals"],
            m["revenue"],
        ]
        if has_reserve:
            row += [m["reserve"]["balance"], m["reserve"]["coverage_ratio"]]
        rows.append(row)
    page.table("monthly", headers, rows)
    page.h2("Investors' realised XIRR by grade")
    page.table(
        "yield_by_grade",
        ("grade", "investors", "p10", "p25", "p50", "p75", "p90"),
        [
            (g, y["investors"], y["p10"], y["p25"], y["p50"], y["p75"], y["p90"])
            for g, y in yields.items()
        ],
    )
    page.h2("Scenario")
    page.table(
        "scenario",
        ("parameter", "value"),
        [
            (k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v)
            for k, v in scenario.items()
        ],
    )
    return page.render()
