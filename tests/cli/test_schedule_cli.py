"""Tests for ``lendkit schedule``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lendkit.cli import main

BASE = ["schedule", "--principal", "100000", "--annual-rate", "12%", "--months", "12"]
START = ["--start-date", "2026-01-01"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_json_output_exact_shape() -> None:
    code, out, err = run(*BASE, *START, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == [
        "principal",
        "annual_rate",
        "months",
        "method",
        "installments",
        "total_payment",
        "total_interest",
    ]
    assert data["principal"] == "100000.00"
    assert data["annual_rate"] == "0.12"
    assert data["months"] == 12
    assert data["method"] == "equal-installment"
    assert len(data["installments"]) == 12
    assert data["installments"][0] == {
        "period": 1,
        "due_date": "2026-02-01",
        "payment": "8884.88",
        "principal": "7884.88",
        "interest": "1000.00",
        "balance": "92115.12",
    }
    assert data["installments"][-1]["balance"] == "0.00"
    assert data["installments"][-1]["due_date"] == "2027-01-01"
    assert data["total_payment"] == "106618.53"
    assert data["total_interest"] == "6618.53"
    assert out.count("\n") == 1  # exactly one JSON object


def test_rate_as_fraction_equals_percent() -> None:
    a = run(*BASE, *START, "--json")[1]
    b = run(
        "schedule",
        "--principal",
        "100000",
        "--annual-rate",
        "0.12",
        "--months",
        "12",
        *START,
        "--json",
    )[1]
    assert a == b


def test_table_output() -> None:
    code, out, err = run(*BASE, *START)
    assert code == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("period"))
    for col in ("period", "due date", "payment", "principal", "interest", "balance"):
        assert col in header
    row1 = next(line for line in lines if line.split()[:1] == ["1"])
    assert row1.split() == ["1", "2026-02-01", "8884.88", "7884.88", "1000.00", "92115.12"]
    row12 = next(line for line in lines if line.split()[:1] == ["12"])
    assert row12.split()[-1] == "0.00"
    total = next(line for line in lines if line.split()[:1] == ["total"])
    assert total.split() == ["total", "106618.53", "100000.00", "6618.53"]
    # columns are aligned: every data row has the same length as the header
    data_rows = [line for line in lines if line.split()[:1] and line.split()[0].isdigit()]
    assert len(data_rows) == 12
    assert len({len(line) for line in data_rows}) == 1


@pytest.mark.parametrize(
    ("method", "first_payment"),
    [
        ("equal-installment", "8884.88"),
        ("equal-principal", "9333.33"),
        ("interest-first", "1000.00"),
        ("bullet", "112000.00"),
    ],
)
def test_methods(method: str, first_payment: str) -> None:
    code, out, err = run(*BASE, *START, "--method", method, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["method"] == method
    assert data["installments"][0]["payment"] == first_payment


def test_rounding_and_currency_options() -> None:
    code, out, _ = run(*BASE, *START, "--rounding", "down", "--currency", "JPY", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["principal"] == "100000"
    assert data["installments"][0]["payment"] == "8884"
    code, out, _ = run(*BASE, *START, "--rounding", "half-even", "--json")
    assert code == 0


def test_default_start_date_today() -> None:
    import datetime

    from lendkit.core.schedule import add_months

    code, out, _ = run(*BASE, "--json")
    assert code == 0
    expected = add_months(datetime.date.today(), 1).isoformat()
    assert json.loads(out)["installments"][0]["due_date"] == expected


BAD_INPUTS = [
    ("--principal", "abc"),
    ("--principal", "-5"),
    ("--principal", "0"),
    ("--principal", "1e400"),
    ("--principal", "nan"),
    ("--principal", "inf"),
    ("--principal", "1.001"),
    ("--principal", ""),
    ("--annual-rate", "150%"),
    ("--annual-rate", "abc"),
    ("--annual-rate", "nan"),
    ("--annual-rate", "-1%"),
    ("--annual-rate", "1e400"),
    ("--months", "13 months"),
    ("--months", "0"),
    ("--months", "601"),
    ("--months", "1e400"),
    ("--months", "abc"),
    ("--months", "12.5"),
    ("--method", "balloon"),
    ("--rounding", "up"),
    ("--start-date", "2026-13-01"),
    ("--start-date", "yesterday"),
    ("--currency", "XXX"),
]


@pytest.mark.parametrize(("option", "value"), BAD_INPUTS)
def test_bad_input_one_line_exit_2(option: str, value: str) -> None:
    args = {
        "--principal": "100000",
        "--annual-rate": "12%",
        "--months": "12",
        "--start-date": "2026-01-01",
    }
    args[option] = value
    argv = ["schedule"]
    for k, v in args.items():
        argv += [k, v]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    err_lines = result.stderr.strip().splitlines()
    assert len(err_lines) == 1, result.stderr
    assert err_lines[0].startswith("Error: ")
    assert isinstance(result.exception, SystemExit)


def test_error_messages_name_the_value() -> None:
    _, _, err = run("schedule", "--principal", "abc", "--annual-rate", "12%", "--months", "12")
    assert "abc" in err and "principal" in err
    _, _, err = run("schedule", "--principal", "1", "--annual-rate", "150%", "--months", "12")
    assert "150%" in err and "0..100%" in err
    _, _, err = run("schedule", "--principal", "1", "--annual-rate", "1%", "--months", "13 months")
    assert "13 months" in err and "1..600" in err
    _, _, err = run(
        "schedule", "--principal", "1", "--annual-rate", "1%", "--months", "12", "--method", "x"
    )
    assert "equal-installment" in err and "bullet" in err


def test_missing_required_option_exits_2() -> None:
    result = CliRunner().invoke(main, ["schedule", "--principal", "1"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_a_rate_given_as_a_bare_percentage_suggests_the_percent_sign() -> None:
    code, out, err = run("schedule", "--principal", "1000", "--annual-rate", "12", "--months", "3")
    assert code == 2 and out == ""
    assert err.strip() == (
        "Error: annual rate 12 is out of range: allowed 0..100%; did you mean 12%? (a rate is a"
        " fraction such as 0.12 or a percentage such as 12%)"
    )
    # and the suggestion works
    code, out, err = run("schedule", "--principal", "1000", "--annual-rate", "12%", "--months", "3")
    assert code == 0 and "annual rate 12%" in out
