"""``lendkit simulate``: a tiny run on the real engine verifies and reconciles; same seed, same
output; the recession drains a small reserve and names the month; bad scenarios are refused."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from lendkit.cli import main
from lendkit.core.errors import ConfigError
from lendkit.core.money import Money
from lendkit.plugins import guarantee, insurance, reserve
from lendkit.simulate import (
    SCENARIO_KEYS,
    SimulationSize,
    open_simulation,
    resolve_scenario,
    scenario_from_dict,
)

#: defaults early and often, every defaulted loan recovers something: each path is exercised
SHOCK = {
    "base": "recession",
    "default_multiplier": "15",
    "shock_from_month": 1,
    "recovery_rate": "1",
}


def test_tiny_simulation_verifies_and_every_default_reconciles(db_url: str) -> None:
    size = SimulationSize(months=5, loans=24)
    scenario = scenario_from_dict(SHOCK, size.months)
    with open_simulation(db_url, scenario, size, seed=11) as sim:
        result = sim.run()
        p = sim.p
        assert p.verify().ok and result["ledger"]["ok"]
        cur = p.config.currency
        zero = Money.zero(cur)
        stopped = [loan for loan in sim.loans if loan.stopped]
        assert stopped and any(loan.recovered for loan in stopped)
        assert result["defaults"]["loans"] == len(stopped) == result["counts"]["stopped"]

        # every default is covered, recovered or lost, loan by loan, from the plugins' own books
        comp = guarantee.compensations(p)
        pays = reserve.payouts(p)
        totals = {"covered": zero, "recovered": zero, "lost": zero, "owed": zero}
        for loan in stopped:
            covered = sum((c.principal for c in comp if c.loan_id == loan.loan_id), zero)
            covered += sum((x.amount for x in pays if x.loan_id == loan.loan_id), zero)
            if loan.policy is not None:
                covered += insurance.get_policy(p, loan.policy).claims_paid
            record = p.loans.get(loan.loan_id)
            lost = sum((pos.outstanding_principal for pos in record.positions), zero)
            assert loan.owed_at_stop is not None
            recovered = loan.owed_at_stop - covered - lost
            assert not recovered.is_negative(), loan
            if not loan.recovered:
                assert recovered.is_zero(), loan  # nothing but the covers reached investors
            totals["covered"] += covered
            totals["recovered"] += recovered
            totals["lost"] += lost
            totals["owed"] += loan.owed_at_stop
        d = result["defaults"]
        assert d["principal_at_stop"] == totals["owed"].format()
        assert d["covered_total"] == totals["covered"].format()
        assert d["recovered"] == totals["recovered"].format()
        assert d["lost"] == result["investor_losses"]["total"] == totals["lost"].format()
        assert totals["owed"] == totals["covered"] + totals["recovered"] + totals["lost"]
        assert totals["covered"].is_positive() and totals["lost"].is_positive()

        # each investor's custody balance is the ledger's answer to what the engine did
        for investor in sim.investors:
            moved = investor.deposited - investor.withdrawn
            for loan in sim.loans:
                for pos in p.loans.get(loan.loan_id).positions:
                    if pos.investor_id == investor.party:
                        moved -= pos.principal.minor
                        moved += pos.received_principal.minor + pos.received_interest.minor
                        moved += pos.received_penalty.minor
            assert p.custody.balance(investor.party).total.minor == moved, investor.name
            assert investor.requested - investor.withdrawn == investor.queued
        last = result["monthly"][-1]
        queued = sum(i.queued for i in sim.investors)
        assert last["pending_withdrawals"] == Money.from_minor(queued, cur).format()

        # the reserve's balance is its seed, contributions and recoveries less what it paid
        status = reserve.status(p)
        assert status.balance == status.seeded + status.contributions + status.recoveries - (
            status.paid
        )
        assert last["reserve"]["balance"] == status.balance.format()
        totals_now = p.reports.totals()
        assert last["revenue"] == totals_now.revenue.format()
        assert last["outstanding_principal"] == totals_now.outstanding_principal.format()


def run_cli(args: list[str], tmp_path: Path, name: str) -> tuple[int, str, str]:
    db = f"sqlite:///{tmp_path / (name + '.db')}"
    result = CliRunner().invoke(main, ["simulate", "--db", db, *args])
    return result.exit_code, result.stdout, result.stderr


def test_same_seed_same_json_another_seed_differs(tmp_path: Path) -> None:
    outputs = []
    for k, seed in enumerate(("5", "5", "6")):
        out = tmp_path / f"run{k}.json"
        code, _stdout, stderr = run_cli(
            ["--months", "2", "--loans", "8", "--seed", seed, "--json", str(out)], tmp_path, f"r{k}"
        )
        assert code == 0, stderr
        assert "months" in stderr  # the progress bar's label
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]
    data = json.loads(outputs[0])
    assert data["seed"] == 5 and len(data["monthly"]) == 2 and data["ledger"]["ok"]


def test_recession_drains_a_small_reserve_and_names_the_month(tmp_path: Path) -> None:
    shock = tmp_path / "small-reserve.toml"
    shock.write_text(
        (Path(__file__).parent / "small-reserve.toml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    out = tmp_path / "r.json"
    code, stdout, stderr = run_cli(
        [
            *("--months", "5", "--loans", "20", "--seed", "3", "--plugins", "online,reserve"),
            *("--scenario", str(shock), "--json", str(out)),
        ],
        tmp_path,
        "recession",
    )
    assert code == 0, stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    month = data["reserve_dry_month"]
    assert month is not None
    shortfalls = [Money.of(m["reserve"]["queued_shortfall"]) for m in data["monthly"]]
    assert shortfalls[month - 1].is_positive()
    assert all(s.is_zero() for s in shortfalls[: month - 1])
    assert f"ran dry in month {month} ({data['reserve_dry_date']})" in stdout
    assert data["scenario"]["name"] == "recession, small reserve"


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("boom", "scenario 'boom' is not known: use one of base, recession"),
        ("missing.toml", "cannot be read"),
        ("bad-key.toml", "unknown key 'default_rate'; allowed keys: name, description"),
        ("float.toml", "'withdrawal_share': 0.05 is a float"),
        ("grade.toml", "default_rates has unknown grade 'Z'; allowed: AA, A"),
        ("month.toml", "'shock_to_month' 99 must be a month number 0..3"),
        ("syntax.toml", "is not valid TOML"),
    ],
)
def test_a_bad_scenario_is_refused_with_a_clear_error(
    scenario: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    files = {
        "bad-key.toml": 'default_rate = "0.1"\n',
        "float.toml": "withdrawal_share = 0.05\n",
        "grade.toml": '[default_rates]\nZ = "0.1"\n',
        "month.toml": "shock_to_month = 99\n",
        "syntax.toml": "name = \n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    code, stdout, stderr = run_cli(["--months", "3", "--scenario", scenario], tmp_path, "bad")
    assert code == 2, stdout
    assert expected in stderr, stderr
    assert "Traceback" not in stderr + stdout
    assert not (tmp_path / "bad.db").exists()  # refused before anything was created


def test_every_scenario_key_is_accepted_and_builtins_resolve() -> None:
    data = {
        "name": "all keys",
        "description": "every key once",
        "base": "run-on-the-platform",
        "default_rates": {"HR": "3%"},
        "default_multiplier": "2.5",
        "withdrawal_share": "2%",
        "withdrawal_growth": "0.01",
        "prepayment_rate": "0",
        "recovery_rate": "0.5",
        "recovery_share": "0.3",
        "reserve_seed_share": "0.01",
        "reserve_contribution": "0.5%",
        "shock_from_month": 2,
        "shock_to_month": 4,
        "core_enterprise_failure_month": 3,
        "withdrawal_from_month": 2,
        "deposits_stop_month": 5,
    }
    assert set(data) == set(SCENARIO_KEYS)
    s = scenario_from_dict(data, 6)
    assert s.default_rate("HR", 3) == Decimal("0.075")  # 3 % x 2.5 inside the window
    assert s.default_rate("HR", 5) == Decimal("0.03")
    assert not s.deposits_open(5) and s.deposits_open(4)
    for name in ("base", "recession", "core-enterprise-failure", "run-on-the-platform"):
        assert resolve_scenario(name, 12).name == name
    with pytest.raises(ConfigError, match="shock_from_month 4 is after shock_to_month 2"):
        scenario_from_dict({"shock_from_month": 4, "shock_to_month": 2}, 6)
