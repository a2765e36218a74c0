"""Tests for lendkit.core.schedule: published figures, exact cross-checks and invariants."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendkit.core.errors import CurrencyMismatch, InvalidAmount, InvalidRate, InvalidValue
from lendkit.core.money import Money, RoundingPolicy
from lendkit.core.schedule import METHODS, Schedule, add_months, build_schedule

START = date(2026, 1, 1)


def cents(m: Money) -> int:
    return m.minor


# -- independent reference implementation (Fractions, not lendkit's integer code) ----------


def round_fraction(x: Fraction, mode: str) -> int:
    """Round a non-negative Fraction to an integer."""
    assert x >= 0
    floor = x.numerator // x.denominator
    frac = x - floor
    if mode == "DOWN" or frac == 0:
        return floor
    if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and (mode == "HALF_UP" or floor % 2)):
        return floor + 1
    return floor


def reference_rows(
    p_cents: int, annual: Fraction, n: int, method: str, mode: str
) -> list[tuple[int, int, int, int]]:
    """(payment, principal, interest, balance) rows in cents."""
    r = annual / 12
    if method == "bullet":
        interest = round_fraction(Fraction(p_cents) * annual * n / 12, mode)
        return [(p_cents + interest, p_cents, interest, 0)]
    rows = []
    bal = p_cents
    if method == "equal-installment":
        if r == 0:
            level = round_fraction(Fraction(p_cents, n), mode)
        else:
            g = (1 + r) ** n
            level = round_fraction(p_cents * r * g / (g - 1), mode)
    for k in range(1, n + 1):
        interest = round_fraction(bal * r, mode)
        if k == n:
            part = bal
        elif method == "equal-installment":
            part = min(max(level - interest, 0), bal)
        elif method == "equal-principal":
            part = min(round_fraction(Fraction(p_cents, n), mode), bal)
        else:
            part = 0
        bal -= part
        rows.append((part + interest, part, interest, bal))
    return rows


def as_rows(s: Schedule) -> list[tuple[int, int, int, int]]:
    return [
        (cents(i.payment), cents(i.principal), cents(i.interest), cents(i.balance))
        for i in s.installments
    ]


# -- published figures -----------------------------------------------------------------------


def test_equal_installment_published_figures() -> None:
    s = build_schedule("100000", "12%", 12, start_date=START)
    assert s.method == "equal-installment"
    assert len(s.installments) == 12
    first = s.installments[0]
    assert first.period == 1
    assert first.due_date == date(2026, 2, 1)
    assert first.payment == Money.of("8884.88")
    assert first.interest == Money.of("1000.00")
    assert first.principal == Money.of("7884.88")
    assert first.balance == Money.of("92115.12")
    assert all(row.payment == Money.of("8884.88") for row in s.installments[:-1])
    last = s.installments[-1]
    assert last.balance == Money.zero()
    assert last.due_date == date(2027, 1, 1)
    # last row cross-checked by an independent exact Fraction computation
    ref = reference_rows(10_000_000, Fraction(12, 100), 12, "equal-installment", "HALF_UP")
    assert as_rows(s) == ref
    assert ref[-1] == (888485, 879688, 8797, 0)  # 8884.85 = 8796.88 + 87.97
    assert s.total_principal == Money.of("100000")
    assert s.total_payment == Money.of("106618.53")
    assert s.total_interest == Money.of("6618.53")


def test_equal_principal_published_figures() -> None:
    s = build_schedule("120000", "0.12", 12, "equal-principal", start_date=START)
    first, last = s.installments[0], s.installments[-1]
    assert (first.principal, first.interest, first.payment) == (
        Money.of("10000.00"),
        Money.of("1200.00"),
        Money.of("11200.00"),
    )
    assert last.interest == Money.of("100.00")
    assert last.payment == Money.of("10100.00")
    assert all(row.principal == Money.of("10000") for row in s.installments)
    assert s.total_interest == Money.of("7800.00")  # 1200 + 1100 + ... + 100
    assert as_rows(s) == reference_rows(
        12_000_000, Fraction(12, 100), 12, "equal-principal", "HALF_UP"
    )


def test_equal_principal_last_row_absorbs_remainder() -> None:
    s = build_schedule("100000", "12%", 3, "equal-principal", start_date=START)
    assert [r.principal.format() for r in s.installments] == ["33333.33", "33333.33", "33333.34"]
    assert s.total_principal == Money.of("100000")


def test_interest_first() -> None:
    s = build_schedule("100000", "12%", 3, "interest-first", start_date=START)
    assert [r.to_dict() for r in s.installments] == [
        {
            "period": 1,
            "due_date": "2026-02-01",
            "payment": "1000.00",
            "principal": "0.00",
            "interest": "1000.00",
            "balance": "100000.00",
        },
        {
            "period": 2,
            "due_date": "2026-03-01",
            "payment": "1000.00",
            "principal": "0.00",
            "interest": "1000.00",
            "balance": "100000.00",
        },
        {
            "period": 3,
            "due_date": "2026-04-01",
            "payment": "101000.00",
            "principal": "100000.00",
            "interest": "1000.00",
            "balance": "0.00",
        },
    ]


def test_bullet() -> None:
    s = build_schedule("100000", "12%", 18, "bullet", start_date=START)
    assert len(s.installments) == 1
    row = s.installments[0]
    assert row.period == 1
    assert row.due_date == date(2027, 7, 1)
    assert row.interest == Money.of("18000.00")
    assert row.payment == Money.of("118000.00")
    assert row.balance == Money.zero()
    odd = build_schedule("1000.01", "7%", 5, "bullet", start_date=START).installments[0]
    # 1000.01 * 0.07 * 5 / 12 = 29.16695833... -> 29.17
    assert odd.interest == Money.of("29.17")


def test_zero_rate() -> None:
    s = build_schedule("100", "0", 3, start_date=START)
    assert [r.payment.format() for r in s.installments] == ["33.33", "33.33", "33.34"]
    assert s.total_interest == Money.zero()
    b = build_schedule("100", "0%", 3, "bullet", start_date=START)
    assert b.total_payment == Money.of("100")


def test_rounding_modes_change_results() -> None:
    # 0.50 * 12% * 1/12 = 0.005 exactly: a tie at the cent
    s = build_schedule(
        "0.50", "12%", 1, "bullet", start_date=START, rounding=RoundingPolicy("HALF_EVEN")
    )
    assert s.installments[0].interest == Money.of("0.00")  # 0.005 -> 0.00 (even)
    s = build_schedule("0.50", "12%", 1, "bullet", start_date=START)
    assert s.installments[0].interest == Money.of("0.01")  # 0.005 -> 0.01 (half up)
    s = build_schedule(
        "0.50", "12%", 1, "bullet", start_date=START, rounding=RoundingPolicy("DOWN")
    )
    assert s.installments[0].interest == Money.of("0.00")


def test_rounding_places_coarser_than_currency() -> None:
    s = build_schedule("1000", "10%", 6, start_date=START, rounding=RoundingPolicy(places=0))
    for row in s.installments:
        assert row.interest.minor % 100 == 0
    assert s.total_principal == Money.of("1000")
    with pytest.raises(InvalidValue, match="places"):
        build_schedule("1000", "10%", 6, start_date=START, rounding=RoundingPolicy(places=3))


def test_to_dict_shape() -> None:
    d = build_schedule("100000", "12%", 12, start_date=START).to_dict()
    assert list(d) == [
        "principal",
        "annual_rate",
        "months",
        "method",
        "installments",
        "total_payment",
        "total_interest",
    ]
    assert d["principal"] == "100000.00"
    assert d["annual_rate"] == "0.12"
    assert d["months"] == 12
    assert d["method"] == "equal-installment"
    assert d["installments"][0] == {
        "period": 1,
        "due_date": "2026-02-01",
        "payment": "8884.88",
        "principal": "7884.88",
        "interest": "1000.00",
        "balance": "92115.12",
    }
    assert d["total_payment"] == "106618.53"
    assert d["total_interest"] == "6618.53"
    tiny = build_schedule("1", "0.0000001", 1, start_date=START).to_dict()
    assert tiny["annual_rate"] == "0.0000001"


def test_jpy_schedule() -> None:
    s = build_schedule("100000", "12%", 12, start_date=START, currency="JPY")
    assert s.installments[0].payment == Money.of("8885", "JPY")
    assert s.total_principal == Money.of("100000", "JPY")
    assert s.to_dict()["principal"] == "100000"


def test_money_principal_and_currency() -> None:
    s = build_schedule(Money.of("500", "USD"), "5%", 2, start_date=START)
    assert s.principal.currency == "USD"
    assert s.installments[0].payment.currency == "USD"
    with pytest.raises(CurrencyMismatch):
        build_schedule(Money.of("500", "USD"), "5%", 2, start_date=START, currency="CNY")


def test_default_start_date_is_today() -> None:
    s = build_schedule("1000", "12%", 1)
    assert s.start_date == date.today()
    assert s.installments[0].due_date == add_months(date.today(), 1)


# -- month ends --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 1, 31), 2, date(2026, 3, 31)),
        (date(2026, 1, 31), 3, date(2026, 4, 30)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 5, 30), 9, date(2027, 2, 28)),
        (date(2026, 1, 1), 600, date(2076, 1, 1)),
        (date(2026, 8, 31), 0, date(2026, 8, 31)),
    ],
)
def test_add_months(start: date, n: int, expected: date) -> None:
    assert add_months(start, n) == expected


def test_schedule_due_dates_clamp_but_keep_anchor_day() -> None:
    s = build_schedule("1200", "12%", 4, start_date=date(2026, 1, 31))
    assert [r.due_date for r in s.installments] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["0", "-5", 0, "0.00", Money.zero()])
def test_principal_must_be_positive(bad: object) -> None:
    with pytest.raises(InvalidAmount, match="principal"):
        build_schedule(bad, "12%", 12, start_date=START)


@pytest.mark.parametrize("bad", ["abc", "nan", "1e400", "1.001"])
def test_principal_malformed(bad: str) -> None:
    with pytest.raises(InvalidAmount, match="principal"):
        build_schedule(bad, "12%", 12, start_date=START)


def test_float_refused_everywhere() -> None:
    with pytest.raises(TypeError):
        build_schedule(1000.0, "12%", 12, start_date=START)
    with pytest.raises(TypeError):
        build_schedule("1000", 0.12, 12, start_date=START)
    with pytest.raises(TypeError):
        build_schedule("1000", "12%", 12.0, start_date=START)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        build_schedule("1000", "12%", True, start_date=START)


@pytest.mark.parametrize("bad", ["150%", "-1%", "1.01"])
def test_rate_range(bad: str) -> None:
    with pytest.raises(InvalidRate):
        build_schedule("1000", bad, 12, start_date=START)


@pytest.mark.parametrize("bad", [0, -1, 601, 10**6])
def test_months_range(bad: int) -> None:
    with pytest.raises(InvalidValue, match=r"1\.\.600") as info:
        build_schedule("1000", "12%", bad, start_date=START)
    assert str(bad) in str(info.value)


def test_unknown_method_lists_methods() -> None:
    with pytest.raises(InvalidValue) as info:
        build_schedule("1000", "12%", 12, "balloon", start_date=START)
    for m in METHODS:
        assert m in str(info.value)


# -- invariants ------------------------------------------------------------------------------

rates = st.one_of(
    st.just(Decimal(0)),
    st.just(Decimal(1)),
    st.integers(min_value=0, max_value=10_000).map(lambda bp: Decimal(bp) / 10_000),
    st.decimals(min_value=0, max_value=1, places=8, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=300, deadline=None)
@given(
    p_cents=st.integers(min_value=1, max_value=10**11),
    rate=rates,
    months=st.integers(min_value=1, max_value=600),
    method=st.sampled_from(METHODS),
    mode=st.sampled_from(["HALF_UP", "HALF_EVEN", "DOWN"]),
)
def test_schedule_invariants(
    p_cents: int, rate: Decimal, months: int, method: str, mode: str
) -> None:
    principal = Money.from_minor(p_cents)
    s = build_schedule(
        principal, rate, months, method, start_date=START, rounding=RoundingPolicy(mode)
    )
    rows = s.installments
    assert len(rows) == (1 if method == "bullet" else months)
    assert sum(r.principal.minor for r in rows) == p_cents
    assert s.total_principal == principal
    assert rows[-1].balance.is_zero()
    bal = p_cents
    for k, row in enumerate(rows, 1):
        assert row.period == k
        assert row.payment == row.principal + row.interest
        assert not row.principal.is_negative()
        assert not row.interest.is_negative()
        assert not row.balance.is_negative()
        bal -= row.principal.minor
        assert row.balance.minor == bal
    assert s.total_payment == s.total_principal + s.total_interest


@settings(max_examples=150, deadline=None)
@given(
    p_cents=st.integers(min_value=1, max_value=10**11),
    bp=st.integers(min_value=0, max_value=10_000),
    months=st.integers(min_value=1, max_value=120),
    method=st.sampled_from(METHODS),
    mode=st.sampled_from(["HALF_UP", "HALF_EVEN", "DOWN"]),
)
def test_matches_fraction_reference(
    p_cents: int, bp: int, months: int, method: str, mode: str
) -> None:
    s = build_schedule(
        Money.from_minor(p_cents),
        Decimal(bp) / 10_000,
        months,
        method,
        start_date=START,
        rounding=RoundingPolicy(mode),
    )
    assert as_rows(s) == reference_rows(p_cents, Fraction(bp, 10_000), months, method, mode)
