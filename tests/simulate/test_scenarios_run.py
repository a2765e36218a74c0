"""The builtin shocks on small runs: a core enterprise's failure stops every loan behind it at
once; a run on the platform leaves investors waiting in the withdrawal queue. The CLI's start-up
loads neither the engine nor plotly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import lendkit
from lendkit.cli import main
from lendkit.core.money import Money
from lendkit.simulate import SimulationSize, open_simulation, resolve_scenario


def test_core_enterprise_failure_stops_every_loan_behind_it(tmp_path: Path) -> None:
    size = SimulationSize(months=4, loans=16)
    scenario = resolve_scenario("core-enterprise-failure", size.months)
    month = scenario.core_enterprise_failure_month
    assert month == 2
    url = f"sqlite:///{tmp_path / 'ce.db'}"
    with open_simulation(url, scenario, size, 9, ["supplychain"]) as sim:
        result = sim.run()
        behind = [loan for loan in sim.loans if loan.core == 0]
        assert behind and any(loan.core == 1 for loan in sim.loans)
        for loan in behind:  # every one, the same month, whatever its grade
            assert loan.stopped == month, loan
        assert all(not loan.stopped for loan in sim.loans if loan.core != 0)
        assert result["monthly"][month - 1]["borrowers_stopped"] == len(behind)
        assert all(loan.start < sim.months_first(month) for loan in behind)
        assert result["ledger"]["ok"]
    last = result["monthly"][-1]
    assert Money.of(last["overdue_principal"]).is_positive()


def test_a_run_on_the_platform_fills_the_withdrawal_queue(tmp_path: Path) -> None:
    size = SimulationSize(months=4, loans=16)
    out = {}
    for name in ("base", "run-on-the-platform"):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        with open_simulation(url, resolve_scenario(name, size.months), size, 9, ["online"]) as sim:
            out[name] = sim.run()
    run, base = out["run-on-the-platform"], out["base"]
    queue = [Money.of(m["pending_withdrawals"]) for m in run["monthly"]]
    assert queue[-1].is_positive() and run["monthly"][-1]["investors_waiting"] > 0
    assert Money.of(base["monthly"][-1]["pending_withdrawals"]) < queue[-1]
    asked = [Money.of(m["withdrawals_requested"]) for m in run["monthly"]]
    assert asked[-1] - asked[-2] > asked[1] - asked[0]  # a growing share every month
    assert run["monthly"][-1]["new_deposits"] == "0.00"  # nobody brings money any more


def test_the_cli_start_up_loads_neither_the_engine_nor_plotly() -> None:
    source = str(Path(lendkit.__file__).resolve().parents[1])
    code = (
        f"import sys; sys.path.insert(0, {source!r})\n"
        "import lendkit.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'plotly'"
        " or m.startswith(('lendkit.simulate', 'lendkit.report_html'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_html_without_plotly_names_the_extra(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly -> ImportError
    page = tmp_path / "page.html"
    for args in (["report", "--db", db_url], ["simulate", "--db", db_url, "--quick"]):
        result = CliRunner().invoke(main, [*args, "--html", str(page)])
        assert result.exit_code == 2, result.output
        assert "pip install 'lendkit[report]'" in result.stderr
        assert "Traceback" not in result.output
    assert not page.exists()
