"""The HTML pages of ``lendkit report --html`` and ``lendkit simulate --html`` in a real headless
browser (Playwright driving the system's Chromium, never a downloaded one).

Each page opens with no console error and no request but the file itself, every chart is drawn
(plotly's SVG traces present), the figures in its tables equal the ``--json`` output, and a
screenshot is kept under ``test-artifacts/``. Without Chromium or Playwright the tests skip,
unless ``LENDKIT_REQUIRE_BROWSER=1`` (CI sets it) makes them fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lendkit.cli import main

CHROMIUM = os.environ.get("LENDKIT_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("LENDKIT_REQUIRE_BROWSER", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def browser_or_skip() -> None:
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[test]')"
    if reason is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set LENDKIT_CHROMIUM)"
    if reason is None:
        try:
            import plotly  # noqa: F401
        except ImportError:
            reason = "plotly is not installed (pip install -e '.[report]')"
    if reason is not None:
        if REQUIRE:
            pytest.fail(f"LENDKIT_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, (args, result.stderr, result.exception)
    return result.stdout


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One small simulation: its JSON and page, then the report's JSON and page of its database."""
    browser_or_skip()
    where = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{where / 'sim.db'}"
    sim_json, sim_html, report_html = where / "sim.json", where / "sim.html", where / "report.html"
    cli(
        *("simulate", "--db", url, "--months", "4", "--loans", "16", "--seed", "4"),
        *("--scenario", "recession", "--json", str(sim_json), "--html", str(sim_html)),
    )
    cli("report", "--db", url, "--html", str(report_html))
    return {
        "simulation": json.loads(sim_json.read_text(encoding="utf-8")),
        "report": json.loads(cli("report", "--db", url, "--json")),
        "simulation_page": sim_html,
        "report_page": report_html,
    }


def open_page(path: Path, shot: str) -> dict[str, Any]:
    """Load ``path``; what the browser saw: errors, requests, charts and table cells."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function(
                "document.querySelectorAll('.plotly-graph-div').length > 0 &&"
                " [...document.querySelectorAll('.plotly-graph-div')]"
                ".every(d => d.querySelector('svg.main-svg'))",
                timeout=30_000,
            )
            charts = page.eval_on_selector_all(
                ".plotly-graph-div",
                "ds => ds.map(d => ({id: d.id,"
                " title: (d.querySelector('.gtitle') || {}).textContent || '',"
                " drawn: d.querySelectorAll('g.trace path, g.trace .point').length}))",
            )
            declared = page.eval_on_selector(
                "body", "b => b.textContent.match(/charts: (\\d+)/)[1]"
            )
            tables = page.eval_on_selector_all(
                "table[data-table]",
                "ts => Object.fromEntries(ts.map(t => [t.dataset.table, {"
                " keyed: Object.fromEntries([...t.querySelectorAll('tr[data-key]')]"
                ".map(r => [r.dataset.key, r.querySelector('td').textContent])),"
                " rows: [...t.querySelectorAll('tbody tr')]"
                ".map(r => [...r.querySelectorAll('td')].map(c => c.textContent))}]))",
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
            page.screenshot(path=str(path.with_suffix(".png")), full_page=True)
        finally:
            browser.close()
    return {
        "errors": errors,
        "requests": requests,
        "charts": charts,
        "declared": int(declared),
        "tables": tables,
    }


def check_page(seen: dict[str, Any], path: Path, min_charts: int) -> None:
    assert seen["errors"] == []
    assert seen["requests"] == [path.as_uri()]  # nothing from the network: plotly.js is inline
    assert len(seen["charts"]) == seen["declared"] >= min_charts
    for chart in seen["charts"]:
        assert chart["drawn"] > 0, chart  # every chart drew its traces


def test_report_page_in_a_browser(pages: dict[str, Any]) -> None:
    path = pages["report_page"]
    seen = open_page(path, "report.png")
    check_page(seen, path, min_charts=6)
    report = pages["report"]
    totals = seen["tables"]["totals"]["keyed"]
    for key in (
        "volume",
        "loans",
        "outstanding_principal",
        "overdue_principal",
        "defaulted_principal",
        "overdue_rate",
        "bad_debt_rate",
        "revenue",
        "currency",
    ):
        assert totals[key] == str(report[key]), key
    shown = seen["tables"]["disclosures"]["rows"]
    assert shown == [[d["plugin"], d["name"], d["value"]] for d in report["disclosures"]]
    titles = " ".join(c["title"] for c in seen["charts"])
    for expected in ("Volume and outstanding", "bad-debt rate by grade", "Reserve coverage"):
        assert expected in titles
    assert "Guarantor utilisation" in titles and "Top borrowers" in titles
    assert "Core enterprises" in titles


def test_simulation_page_in_a_browser(pages: dict[str, Any]) -> None:
    path = pages["simulation_page"]
    seen = open_page(path, "simulation.png")
    check_page(seen, path, min_charts=7)
    result = pages["simulation"]
    outcome = seen["tables"]["outcome"]["keyed"]
    assert outcome["counts.loans"] == str(result["counts"]["loans"])
    for key in ("principal_at_stop", "covered_total", "recovered", "lost"):
        assert outcome[f"defaults.{key}"] == result["defaults"][key]
    monthly = seen["tables"]["monthly"]["rows"]
    assert len(monthly) == len(result["monthly"])
    for row, month in zip(monthly, result["monthly"], strict=True):
        assert row[:9] == [
            str(month["month"]),
            month["date"],
            str(month["new_loans"]),
            str(month["borrowers_stopped"]),
            month["outstanding_principal"],
            month["overdue_rate"],
            month["bad_debt_rate"],
            month["pending_withdrawals"],
            month["revenue"],
        ]
        assert row[9:] == [month["reserve"]["balance"], month["reserve"]["coverage_ratio"]]
    yields = seen["tables"]["yield_by_grade"]["rows"]
    assert [r[0] for r in yields] == list(result["yield_by_grade"])
    titles = " ".join(c["title"] for c in seen["charts"])
    for expected in ("Risk reserve", "Guarantors' utilisation", "Insurer payouts", "XIRR"):
        assert expected in titles
