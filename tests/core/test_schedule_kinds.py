"""Products' own schedules: the day-count bases, the discount-bullet and rent builders, the one
validator every schedule passes before disbursement, and the default re-plan."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lendkit.core.errors import InvalidSchedule, InvalidValue, LendkitError, WrongType
from lendkit.core.money import Money
from lendkit.core.schedule import (
    METHODS,
    DayCount,
    Installment,
    Schedule,
    add_months,
    build_schedule,
    custom_rows,
    discount_bullet,
    replan_schedule,
    validate_schedule,
)

START = date(2026, 1, 1)


def cny(x: str) -> Money:
    return Money.of(x, "CNY")


# -- day counts ------------------------------------------------------------------------------


def test_day_counts() -> None:
    assert DayCount.parse("act/360") is DayCount.ACT_360
    assert DayCount.ACT_365.days(date(2028, 1, 1), date(2029, 1, 1)) == 366
    assert DayCount.ACT_365.year_days == 365 and DayCount.THIRTY_360.year_days == 360
    assert DayCount.THIRTY_360.days(date(2026, 1, 15), date(2026, 7, 15)) == 180
    assert DayCount.THIRTY_360.days(date(2026, 1, 31), date(2026, 3, 31)) == 60
    assert DayCount.THIRTY_360.days(date(2026, 1, 30), date(2026, 3, 31)) == 60
    assert DayCount.THIRTY_360.days(date(2026, 2, 28), date(2026, 3, 31)) == 33
    with pytest.raises(InvalidValue, match="allowed 30/360, ACT/360, ACT/365"):
        DayCount.parse("ACT/366")


# -- discount bullet ---------------------------------------------------------------------------


def test_discount_bullet_published_example() -> None:
    """DOMAIN.md "Bill discount": face x rate x days / 360, HALF_UP; price = face - discount."""
    s = discount_bullet("100000", "3.6%", START, date(2026, 4, 1))
    (row,) = s.installments
    assert s.principal == cny("99100.00") and row.interest == cny("900.00")
    assert row.payment == cny("100000.00") and row.principal == s.principal
    assert row.due_date == date(2026, 4, 1) and row.balance.is_zero()
    assert s.method == "discount-bullet" and s.annual_rate == Decimal("0.036")
    odd = discount_bullet("12345.67", "2.85%", START, date(2026, 7, 19), "ACT/365")
    # 199 days: 12345.67 x 0.0285 x 199 / 365 = 191.8289... -> 191.83
    assert odd.installments[0].interest == cny("191.83") and odd.principal == cny("12153.84")
    assert validate_schedule(odd) is odd


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("100000", "3%", START, START), InvalidValue),
        (("100000", "3%", START, date(2025, 12, 1)), InvalidValue),
        (("0", "3%", START, date(2026, 2, 1)), InvalidValue),
        (("100", "100%", START, date(2027, 6, 1)), InvalidValue),  # discount eats the face
        ((100000.0, "3%", START, date(2026, 2, 1)), WrongType),
        (("100000", "3%", "2026-01-01", date(2026, 2, 1)), WrongType),
        (("100000", "3%", START, date(2026, 2, 1), "ACT/366"), InvalidValue),
    ],
)
def test_discount_bullet_refuses(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        discount_bullet(*args)


faces = st.integers(min_value=1, max_value=10**11).map(lambda c: Money.from_minor(c, "CNY"))
rates = st.integers(min_value=0, max_value=300_000).map(lambda b: Decimal(b) / 1_000_000)
bases = st.sampled_from(list(DayCount))
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1))


@settings(max_examples=200, deadline=None)
@given(face=faces, rate=rates, start=starts, days=st.integers(1, 400), basis=bases)
def test_discount_bullet_properties(
    face: Money, rate: Decimal, start: date, days: int, basis: DayCount
) -> None:
    maturity = start + timedelta(days=days)
    counted = basis.days(start, maturity)
    exact = face.amount * rate * counted / basis.year_days
    discount = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if discount >= face.amount or counted <= 0:
        with pytest.raises(InvalidValue):
            discount_bullet(face, rate, start, maturity, basis)
        return
    s = discount_bullet(face, rate, start, maturity, basis)
    (row,) = s.installments
    assert row.interest.amount == discount
    assert s.principal + row.interest == face == row.payment  # price + discount == face
    assert s.total_principal == s.principal
    assert validate_schedule(s, start=start) is s


# -- rents ---------------------------------------------------------------------------------------


def test_custom_rows_level_rents_match_equal_installment() -> None:
    """Level rents on 30/360 monthly dates are the equal-installment schedule, cent for cent."""
    dates = [add_months(START, k) for k in range(1, 37)]
    rents = custom_rows("250000", dates, "7.2%", "30/360", start=START)
    standard = build_schedule("250000", "7.2%", 36, start_date=START)
    assert rents.installments == standard.installments
    assert rents.method == "custom" and validate_schedule(rents) is rents


def test_custom_rows_irregular_rents_and_buy_out() -> None:
    dates = [date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1)]
    rows: list[Any] = [(dates[0], "40000"), dates[1], dates[2]]
    s = custom_rows("100000", rows, "8%", "ACT/365", (date(2027, 1, 1), "100"), start=START)
    inst = s.installments
    assert [i.due_date for i in inst] == [*dates, date(2027, 1, 1)]
    assert inst[0].payment == cny("40000") and inst[1].payment == inst[2].payment
    assert inst[-1].payment == cny("100")  # the buy-out price stays as agreed
    # interest on the first rent: 100000 x 8% x 90 / 365 = 1972.602... -> 1972.60
    assert inst[0].interest == cny("1972.60")
    assert s.total_principal == cny("100000") and validate_schedule(s) is s
    merged = custom_rows("100000", dates, "8%", "30/360", "500", start=START)
    assert len(merged.installments) == 3 and merged.total_principal == cny("100000")
    assert merged.installments[-1].payment > merged.installments[0].payment  # rent + buy-out


@pytest.mark.parametrize(
    ("rows", "residual", "row", "rule"),
    [
        ([date(2026, 2, 1), date(2026, 2, 1)], None, 2, "due-date"),
        ([date(2025, 12, 1)], None, 1, "due-date"),
        ([(date(2026, 2, 1), "10"), date(2026, 3, 1)], None, 1, "negative"),  # below interest
        ([(date(2026, 2, 1), "1000"), (date(2026, 3, 1), "1000")], None, 2, "principal-sum"),
        ([date(2026, 2, 1)], (date(2026, 3, 1), "200000"), 2, "principal-sum"),
    ],
)
def test_custom_rows_refusals_name_the_row(
    rows: list[Any], residual: Any, row: int, rule: str
) -> None:
    with pytest.raises(InvalidSchedule) as err:
        custom_rows("100000", rows, "12%", "30/360", residual, start=START)
    assert (err.value.row, err.value.rule) == (row, rule)
    assert re.search(rf"\brow {row}\b", str(err.value))


def rent_schedules() -> st.SearchStrategy[Schedule]:
    @st.composite
    def build(draw: st.DrawFn) -> Schedule:
        principal = Money.from_minor(draw(st.integers(100_00, 10**10)), "CNY")
        start = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2060, 1, 1)))
        gaps = draw(st.lists(st.integers(1, 120), min_size=1, max_size=30))
        dates, d = [], start
        for gap in gaps:
            d += timedelta(days=gap)
            dates.append(d)
        rate = draw(rates)
        basis = draw(bases)
        rows: list[Any] = []
        for due in dates:
            if draw(st.booleans()) and len(rows) < len(dates) - 1:
                rows.append((due, Money.from_minor(draw(st.integers(0, principal.minor)), "CNY")))
            else:
                rows.append(due)
        residual: Any = draw(
            st.one_of(
                st.none(),
                st.integers(1, 100_000).map(lambda c: Money.from_minor(c, "CNY")),
                st.tuples(
                    st.just(d + timedelta(days=30)),
                    st.integers(1, 100_000).map(lambda c: Money.from_minor(c, "CNY")),
                ),
            )
        )
        try:
            return custom_rows(principal, rows, rate, basis, residual, start=start)
        except InvalidSchedule as exc:  # rents that cannot repay it (a rent below its interest,
            # too much or too little in total): refused, naming the row; monthly level rents do
            assert exc.row is not None and re.search(rf"\brow {exc.row}\b", str(exc))
            monthly = [add_months(start, k) for k in range(1, len(dates) + 1)]
            return custom_rows(principal, monthly, rate, basis, start=start)

    return build()


def standard_schedules() -> st.SearchStrategy[Schedule]:
    return st.builds(
        lambda c, rate, n, method, start: build_schedule(
            Money.from_minor(c, "CNY"), rate, n, method, start_date=start
        ),
        st.integers(1, 10**10),
        rates,
        st.integers(1, 60),
        st.sampled_from(METHODS),
        st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 1, 1)),
    )


def discount_schedules() -> st.SearchStrategy[Schedule]:
    return st.builds(
        lambda face, rate, start, days, basis: discount_bullet(
            face, rate, start, start + timedelta(days=days), basis
        ),
        st.integers(10**6, 10**11).map(lambda c: Money.from_minor(c, "CNY")),
        st.integers(0, 200_000).map(lambda b: Decimal(b) / 1_000_000),
        starts,
        st.integers(2, 360),  # one day from the 30th to the 31st counts 0 on 30/360: refused
        bases,
    )


any_schedule = st.one_of(rent_schedules(), standard_schedules(), discount_schedules())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=any_schedule)
def test_every_builder_output_validates(s: Schedule) -> None:
    assert validate_schedule(s) is s
    assert s.total_principal == s.principal
    assert all(i.payment == i.principal + i.interest for i in s.installments)


def tamper(s: Schedule, k: int, how: str, delta: int) -> Schedule:
    """``s`` with one field of row ``k`` (1-based) changed so that a rule breaks."""
    rows = list(s.installments)
    row = rows[k - 1]
    d = Money.from_minor(delta, "CNY")
    changed: Installment
    if how == "principal":  # and the payment with it: the row itself still adds up
        changed = attrs.evolve(row, principal=row.principal + d, payment=row.payment + d)
    elif how == "payment":
        changed = attrs.evolve(row, payment=row.payment + d)
    elif how == "interest":
        changed = attrs.evolve(row, interest=row.interest + d)
    elif how == "balance":
        changed = attrs.evolve(row, balance=row.balance + d)
    elif how == "negative":
        below = -row.interest - abs(d)  # negative, and the row still adds up
        changed = attrs.evolve(row, interest=below, payment=row.principal + below)
    elif how == "due_date":
        before = s.start_date if k == 1 else rows[k - 2].due_date
        changed = attrs.evolve(row, due_date=before - timedelta(days=abs(delta) % 5))
    elif how == "period":
        changed = attrs.evolve(row, period=row.period + delta)
    else:  # currency
        changed = attrs.evolve(row, interest=Money.from_minor(row.interest.minor, "USD"))
    rows[k - 1] = changed
    return attrs.evolve(s, installments=tuple(rows))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    s=any_schedule,
    data=st.data(),
    how=st.sampled_from(
        [
            "principal",
            "payment",
            "interest",
            "balance",
            "negative",
            "due_date",
            "period",
            "currency",
        ]
    ),
    delta=st.integers(1, 10**9) | st.integers(-(10**9), -1),
)
def test_any_single_row_tamper_is_refused_naming_the_row(
    s: Schedule, data: st.DataObject, how: str, delta: int
) -> None:
    k = data.draw(st.integers(1, len(s.installments)), label="row")
    bad = tamper(s, k, how, delta)
    with pytest.raises(InvalidSchedule) as err:
        validate_schedule(bad)
    assert err.value.row == k, (how, str(err.value))
    assert re.search(rf"^row {k} \(due ", str(err.value)), str(err.value)
    assert err.value.rule in {"period", "currency", "negative", "payment", "balance", "due-date"}


def test_the_99000_schedule_is_refused_on_its_last_row() -> None:
    """The issue's case: principal rows summing to 99,000 on a 100,000 loan."""
    s = build_schedule("100000", "8%", 3, start_date=START)
    last = s.installments[-1]
    short = attrs.evolve(
        last,
        principal=last.principal - cny("1000"),
        payment=last.payment - cny("1000"),
        balance=cny("1000"),
    )
    bad = attrs.evolve(s, installments=(*s.installments[:-1], short))
    with pytest.raises(InvalidSchedule, match=r"^row 3 \(due 2026-04-01\): 1000.00 CNY is still"):
        validate_schedule(bad)
    with pytest.raises(InvalidSchedule) as err:
        validate_schedule(s, principal=cny("100001"))
    assert err.value.rule == "principal" and err.value.row is None
    with pytest.raises(InvalidSchedule, match="after the start date"):
        validate_schedule(s, start=date(2026, 2, 1))
    with pytest.raises(InvalidSchedule, match="at least one row"):
        validate_schedule(attrs.evolve(s, installments=()))
    assert isinstance(InvalidSchedule("x"), LendkitError)


# -- re-plan after a partial prepayment ---------------------------------------------------------


def test_default_replan_keeps_a_custom_calendar_reduced() -> None:
    dates = [date(2026, 2, 1), date(2026, 5, 1), date(2026, 9, 1)]
    s = custom_rows("90000", dates, "9%", "ACT/360", "1000", start=START)
    for mode in ("shorten", "reduce"):
        plan = replan_schedule("custom", cny("60000"), Decimal("0.09"), START, mode, s.installments)
        assert [i.due_date for i in plan.installments] == dates
        assert plan.total_principal == cny("60000") and plan.method == "custom"
        for new, old in zip(plan.installments, s.installments, strict=True):
            assert abs(new.principal.minor * 3 - old.principal.minor * 2) <= 3
            assert abs(new.interest.minor * 3 - old.interest.minor * 2) <= 2
        assert validate_schedule(plan, principal=cny("60000"), start=START) is plan


@pytest.mark.parametrize("method", METHODS)
def test_default_replan_of_standard_methods_is_todays(method: str) -> None:
    s = build_schedule("120000", "12%", 12, method, start_date=START)
    plan = replan_schedule(method, cny("60000"), Decimal("0.12"), START, "reduce", s.installments)
    # as before this hook existed: the method rebuilt over as many months as rows were unpaid
    n = len(s.installments)
    assert plan == build_schedule("60000", "12%", n, method, start_date=START)
    short = replan_schedule(method, cny("60000"), Decimal("0.12"), START, "shorten", s.installments)
    if method in ("equal-installment", "equal-principal"):
        assert short.installments[0].payment <= s.installments[0].payment
        assert len(short.installments) < n
    assert validate_schedule(short, principal=cny("60000"), start=START) is short
