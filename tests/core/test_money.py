"""Tests for lendkit.core.money: parsing, Money arithmetic, rounding and allocation."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lendkit.core.errors import (
    CurrencyMismatch,
    InvalidAmount,
    InvalidRate,
    InvalidValue,
    UnknownCurrency,
)
from lendkit.core.money import (
    CURRENCIES,
    DEFAULT_ROUNDING,
    Currency,
    Money,
    RoundingPolicy,
    allocate,
    allocate_minor,
    currency,
    parse_rate,
    to_decimal,
)

# -- currencies ---------------------------------------------------------------------------


def test_known_currencies() -> None:
    assert currency("CNY") == Currency("CNY", 2)
    assert currency("JPY").exponent == 0
    assert {c: CURRENCIES[c].exponent for c in CURRENCIES} == {
        "CNY": 2,
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "JPY": 0,
    }


def test_unknown_currency_names_code_and_known() -> None:
    with pytest.raises(UnknownCurrency, match="XXX") as info:
        currency("XXX")
    assert "CNY" in str(info.value) and "JPY" in str(info.value)
    with pytest.raises(UnknownCurrency):
        Money.of("1", "XXX")
    with pytest.raises(UnknownCurrency):
        Money.from_minor(1, "XXX")


# -- to_decimal / parse_rate ------------------------------------------------------------


def test_to_decimal_accepts_str_int_decimal() -> None:
    assert to_decimal(" 12.50 ") == Decimal("12.50")
    assert to_decimal(7) == Decimal(7)
    assert to_decimal(Decimal("0.1")) == Decimal("0.1")


@pytest.mark.parametrize("bad", [0.1, 1.0, True, False, None, [1], object()])
def test_to_decimal_refuses_non_numbers_with_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        to_decimal(bad)


def test_float_message_names_value_and_says_use_str_or_decimal() -> None:
    with pytest.raises(TypeError, match=r"0\.1") as info:
        to_decimal(0.1, "fee")
    assert "str or Decimal" in str(info.value)
    assert "fee" in str(info.value)


@pytest.mark.parametrize(
    "bad", ["abc", "", "  ", "nan", "NaN", "Infinity", "-inf", "1.2.3", "1" * 65, "12%"]
)
def test_to_decimal_malformed_is_invalid_amount(bad: str) -> None:
    with pytest.raises(InvalidAmount) as info:
        to_decimal(bad, "principal")
    assert "principal" in str(info.value)


def test_to_decimal_refuses_non_finite_decimal() -> None:
    with pytest.raises(InvalidAmount):
        to_decimal(Decimal("NaN"))
    with pytest.raises(InvalidAmount):
        to_decimal(Decimal("Infinity"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12%", "0.12"),
        ("0.12", "0.12"),
        (" 12.0 % ", "0.12"),
        ("0.120", "0.12"),
        ("100%", "1"),
        ("1", "1"),
        ("0", "0"),
        ("0%", "0"),
        ("-0", "0"),
        ("4.35%", "0.0435"),
        (Decimal("0.05"), "0.05"),
        (0, "0"),
        (1, "1"),
    ],
)
def test_parse_rate(text: object, expected: str) -> None:
    rate = parse_rate(text)
    assert rate == Decimal(expected)
    assert str(rate) == expected


@pytest.mark.parametrize("bad", ["150%", "1.5", "-0.01", "-1%", "1e400", 2])
def test_parse_rate_out_of_range(bad: object) -> None:
    with pytest.raises(InvalidRate, match=r"out of range: allowed 0\.\.100%"):
        parse_rate(bad)


def test_parse_rate_message_exact() -> None:
    with pytest.raises(InvalidRate) as info:
        parse_rate("1.5")
    assert str(info.value) == (
        "annual rate 1.5 is out of range: allowed 0..100%; did you mean 1.5%? (a rate is a"
        " fraction such as 0.12 or a percentage such as 12%)"
    )
    with pytest.raises(InvalidRate) as info:
        parse_rate("150")  # no plausible percentage: no hint
    assert str(info.value) == "annual rate 150 is out of range: allowed 0..100%"


@pytest.mark.parametrize("bad", ["abc", "x%", "%", "nan", "inf%", ""])
def test_parse_rate_malformed(bad: str) -> None:
    with pytest.raises(InvalidRate):
        parse_rate(bad)


@pytest.mark.parametrize("bad", [0.12, True, None])
def test_parse_rate_refuses_float_and_bool(bad: object) -> None:
    with pytest.raises(TypeError):
        parse_rate(bad)


# -- Money construction -------------------------------------------------------------------


def test_money_of_quantizes_to_currency_places() -> None:
    m = Money.of("100")
    assert m.amount == Decimal("100.00")
    assert str(m.amount) == "100.00"
    assert m.currency == "CNY"
    assert Money.of("1.5").format() == "1.50"
    assert Money.of("1.500").format() == "1.50"
    assert Money.of(5, "JPY").format() == "5"
    assert Money.of(Decimal("2.1"), "USD") == Money.of("2.10", "USD")


def test_money_of_money_returns_it() -> None:
    m = Money.of("3.00", "USD")
    assert Money.of(m) is m
    assert Money.of(m, "USD") is m
    with pytest.raises(CurrencyMismatch):
        Money.of(m, "CNY")


@pytest.mark.parametrize("bad", ["1.001", "0.005", Decimal("1.234")])
def test_money_too_many_places(bad: object) -> None:
    with pytest.raises(InvalidAmount, match=r"\(2\)"):
        Money.of(bad)


def test_money_jpy_refuses_fraction() -> None:
    with pytest.raises(InvalidAmount, match="JPY"):
        Money.of("1.5", "JPY")


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", "1e400", "1" * 65])
def test_money_malformed(bad: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.of(bad)


@pytest.mark.parametrize("bad", [0.1, 10.0, True, None])
def test_money_refuses_float(bad: object) -> None:
    with pytest.raises(TypeError):
        Money.of(bad)
    with pytest.raises(TypeError):
        Money(bad, "CNY")  # type: ignore[arg-type]


def test_direct_construction_is_validated() -> None:
    assert Money(Decimal("1.5"), "CNY").amount == Decimal("1.50")
    assert str(Money(Decimal("1.5"), "CNY").amount) == "1.50"
    with pytest.raises(InvalidAmount):
        Money(Decimal("1.005"), "CNY")
    with pytest.raises(InvalidAmount):
        Money(Decimal("NaN"), "CNY")
    with pytest.raises(UnknownCurrency):
        Money(Decimal("1"), "XYZ")


def test_money_is_frozen_and_hashable() -> None:
    m = Money.of("1.00")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        m.amount = Decimal(2)  # type: ignore[misc]
    assert hash(m) == hash(Money.of("1"))
    assert {m, Money.of("1.0")} == {m}


def test_minor_units_roundtrip() -> None:
    assert Money.from_minor(150).format() == "1.50"
    assert Money.from_minor(-5).format() == "-0.05"
    assert Money.of("8884.88").minor == 888488
    assert Money.from_minor(7, "JPY").minor == 7
    assert Money.zero().format() == "0.00"
    assert Money.zero("JPY").format() == "0"
    with pytest.raises(TypeError):
        Money.from_minor(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.from_minor(True)


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_minor_roundtrip_property(units: int) -> None:
    m = Money.from_minor(units)
    assert m.minor == units
    assert Money.of(m.format()) == m
    assert Money(m.amount, "CNY") == m


def test_str_and_format() -> None:
    m = Money.of("8884.88")
    assert str(m) == "8884.88 CNY"
    assert m.format() == "8884.88"
    assert Money.of("1E+3").format() == "1000.00"
    assert Money.of("-0.00").format() == "0.00"
    assert (-Money.zero()).format() == "0.00"


# -- Money arithmetic ---------------------------------------------------------------------


def test_arithmetic() -> None:
    a, b = Money.of("10.05"), Money.of("0.96")
    assert a + b == Money.of("11.01")
    assert a - b == Money.of("9.09")
    assert b - a == Money.of("-9.09")
    assert -a == Money.of("-10.05")
    assert abs(Money.of("-3.10")) == Money.of("3.10")
    assert a > b and b < a and a >= a and a <= a and a != b
    assert bool(a) and not bool(Money.zero())
    assert Money.zero().is_zero() and not a.is_zero()
    assert a.is_positive() and (-a).is_negative() and not Money.zero().is_positive()


def test_currency_mismatch() -> None:
    cny, usd = Money.of("1"), Money.of("1", "USD")
    for op in (
        lambda: cny + usd,
        lambda: cny - usd,
        lambda: cny < usd,
        lambda: cny <= usd,
        lambda: cny > usd,
        lambda: cny >= usd,
    ):
        with pytest.raises(CurrencyMismatch):
            op()
    assert cny != usd  # equality never raises: different currencies are simply unequal


def test_multiply_rounding() -> None:
    m = Money.of("10.00")
    assert m.multiply("0.1234") == Money.of("1.23")
    assert m.multiply(Decimal("0.1235")) == Money.of("1.24")
    assert m.multiply("0.1235", RoundingPolicy("HALF_EVEN")) == Money.of("1.24")
    assert m.multiply("0.1225", RoundingPolicy("HALF_EVEN")) == Money.of("1.22")
    assert m.multiply("0.1239", RoundingPolicy("DOWN")) == Money.of("1.23")
    assert m.multiply(3) == Money.of("30.00")
    assert Money.of("100", "JPY").multiply("0.015") == Money.of("2", "JPY")
    with pytest.raises(TypeError):
        m.multiply(0.5)  # type: ignore[arg-type]


# -- rounding policy ----------------------------------------------------------------------


def test_rounding_modes() -> None:
    v = Decimal("2.345")
    assert RoundingPolicy("HALF_UP").quantize(v) == Decimal("2.35")
    assert RoundingPolicy("HALF_EVEN").quantize(v) == Decimal("2.34")
    assert RoundingPolicy("DOWN").quantize(Decimal("2.349")) == Decimal("2.34")
    assert RoundingPolicy("DOWN").quantize(Decimal("-2.349")) == Decimal("-2.34")
    assert RoundingPolicy("HALF_UP").quantize(Decimal("-2.345")) == Decimal("-2.35")
    assert DEFAULT_ROUNDING.quantize(Decimal("2.5"), "JPY") == Decimal("3")
    assert RoundingPolicy("HALF_UP", places=4).quantize(Decimal("0.123456")) == Decimal("0.1235")
    assert str(DEFAULT_ROUNDING.quantize(Decimal("-0.001"))) == "0.00"
    assert RoundingPolicy() == DEFAULT_ROUNDING


def test_rounding_policy_validation_and_parse() -> None:
    with pytest.raises(InvalidValue, match="UP"):
        RoundingPolicy("UP")
    with pytest.raises(InvalidValue):
        RoundingPolicy("HALF_UP", places=-1)
    for text, mode in [
        ("half_up", "HALF_UP"),
        ("half-up", "HALF_UP"),
        ("HALF-EVEN", "HALF_EVEN"),
        ("half_even", "HALF_EVEN"),
        (" Down ", "DOWN"),
    ]:
        assert RoundingPolicy.parse(text) == RoundingPolicy(mode)
    with pytest.raises(InvalidValue, match="half-even"):
        RoundingPolicy.parse("ceiling")


# -- allocation ---------------------------------------------------------------------------


def test_known_splits() -> None:
    assert allocate(Money.of("0.01"), [33, 66]) == [Money.of("0.00"), Money.of("0.01")]
    assert [m.format() for m in allocate(Money.of("100.00"), [1, 1, 1])] == [
        "33.34",
        "33.33",
        "33.33",
    ]
    assert [m.format() for m in allocate(Money.of("-100.00"), [1, 1, 1])] == [
        "-33.34",
        "-33.33",
        "-33.33",
    ]
    assert allocate_minor(0, [1, 2]) == [0, 0]
    assert allocate_minor(0, [0, 0]) == [0, 0]
    assert allocate_minor(5, [0, 1, 0]) == [0, 5, 0]
    assert allocate_minor(0, []) == []
    # 3 over [1, 2, 3, 0]: quotas 0.5, 1, 1.5, 0 -> remainder tie between #0 and #2: larger wins
    assert allocate_minor(3, [1, 2, 3, 0]) == [0, 1, 2, 0]
    # ties of remainder go to the larger weight first, then the earlier index
    assert allocate_minor(1, [1, 1]) == [1, 0]
    assert allocate_minor(2, [1, 1, 1]) == [1, 1, 0]
    assert allocate(Money.of("10", "JPY"), [1, 1, 1]) == [
        Money.of(4, "JPY"),
        Money.of(3, "JPY"),
        Money.of(3, "JPY"),
    ]


def test_allocate_decimal_weights_match_scaled_ints() -> None:
    weights: list[int | Decimal] = [Decimal("0.5"), 1, Decimal("1.25")]
    assert allocate_minor(1000, weights) == allocate_minor(1000, [50, 100, 125])
    assert allocate_minor(-10, weights) == [-2, -4, -4]


def test_allocate_refusals() -> None:
    with pytest.raises(InvalidValue, match="negative"):
        allocate_minor(10, [1, -1])
    with pytest.raises(InvalidValue, match="zero"):
        allocate_minor(10, [0, 0])
    with pytest.raises(InvalidValue):
        allocate_minor(10, [])
    with pytest.raises(TypeError):
        allocate_minor(10, [1, 0.5])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        allocate(Money.of("1"), [1.0, 2.0])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        allocate_minor(10, [True, 1])
    with pytest.raises(TypeError):
        allocate_minor(1.5, [1])  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        allocate_minor(10, [Decimal("NaN")])


weights_st = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=40)


@given(st.integers(min_value=-(10**12), max_value=10**12), weights_st)
def test_allocate_properties(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        if total:
            with pytest.raises(InvalidValue):
                allocate_minor(total, weights)
        else:
            assert allocate_minor(total, weights) == [0] * len(weights)
        return
    shares = allocate_minor(total, weights)
    assert len(shares) == len(weights)
    assert sum(shares) == total
    denom = sum(weights)
    for share, w in zip(shares, weights, strict=True):
        quota = Fraction(total * w, denom)
        assert share in {quota.__floor__(), quota.__ceil__()}
        if w == 0:
            assert share == 0
    assert allocate_minor(total, weights) == shares  # deterministic
    # equal weights: earlier index never gets less (in magnitude) than a later one
    for i in range(len(weights)):
        for j in range(i + 1, len(weights)):
            if weights[i] == weights[j]:
                assert abs(shares[i]) >= abs(shares[j])
                assert abs(shares[i]) - abs(shares[j]) <= 1


@given(st.integers(min_value=0, max_value=10**9), weights_st)
def test_allocate_money_matches_minor(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        return
    money = allocate(Money.from_minor(total, "USD"), weights)
    assert [m.minor for m in money] == allocate_minor(total, weights)
    assert all(m.currency == "USD" for m in money)
    assert sum((m.minor for m in money), 0) == total


def test_allocate_many_investors_is_fast() -> None:
    import time

    weights = [(i * 7919) % 100_000 + 1 for i in range(20_000)]
    start = time.perf_counter()
    shares = allocate_minor(10**11 + 7, weights)
    assert time.perf_counter() - start < 1.0
    assert sum(shares) == 10**11 + 7
